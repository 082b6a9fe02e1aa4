"""The allowlist is ours and small: this test names every callable and class on it, so growing it is a visible
decision (add the name here, with the argument checks it needs in allowlist.py/allowlist_torch.py)."""

from inspector.core.checkpoint.allowlist import Constant, SafeCall, TypeRef, allowlist, is_dangerous

CALLABLES = {
    "_codecs.encode", "builtins.bool", "builtins.bytearray", "builtins.complex", "builtins.dict",
    "builtins.float", "builtins.frozenset", "builtins.getattr", "builtins.int", "builtins.list", "builtins.set",
    "builtins.slice", "builtins.str", "builtins.tuple", "collections.Counter", "collections.OrderedDict",
    "collections.defaultdict", "collections.deque", "copyreg._reconstructor", "datetime.date",
    "datetime.datetime", "datetime.time", "datetime.timedelta", "datetime.timezone", "decimal.Decimal",
    "fractions.Fraction", "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy.dtype", "pathlib.Path",
    "pathlib.PosixPath", "pathlib.PurePosixPath", "pathlib.PureWindowsPath", "pathlib.WindowsPath",
    "torch.Size", "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_wrapper_subclass", "torch._utils._rebuild_xla_tensor",
    "torch.device", "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_complexlist",
    "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.restore_type_tag", "torch.serialization._get_layout", "torch.storage._load_from_bytes",
    "torch.torch_version.TorchVersion",
}  # fmt: skip
CLASSES = {
    "builtins.object", "numpy.ndarray", "torch.nn.Parameter", "torch.nn.parameter.Buffer",
    "torch.nn.parameter.Parameter", "torch.Tensor", "torch._tensor.Tensor",
}  # fmt: skip


def test_callables_are_exactly_the_reviewed_ones():
    table = allowlist()
    assert {k for k, v in table.items() if isinstance(v, SafeCall)} == CALLABLES


def test_classes_are_type_references_only():
    table = allowlist()
    refs = {k for k, v in table.items() if isinstance(v, TypeRef) and not k.endswith(("Storage", "Tensor"))}
    assert refs | {"torch.Tensor", "torch._tensor.Tensor"} == CLASSES
    storage_like = [
        k for k, v in table.items() if isinstance(v, TypeRef) and k.endswith(("Storage", "Tensor"))
    ]
    assert all(k.startswith(("torch.", "torch.cuda.")) for k in storage_like)


def test_constants_are_plain_torch_values():
    import torch

    for name, entry in allowlist().items():
        if isinstance(entry, Constant) and name.startswith("torch."):
            assert isinstance(entry.value, torch.dtype | torch.qscheme | torch.layout | torch.memory_format)
            assert not callable(entry.value)


def test_nothing_on_the_list_is_dangerous_and_the_classics_are():
    assert not [name for name in allowlist() if is_dangerous(name)]
    for name in ("os.system", "posix.system", "builtins.eval", "builtins.exec", "subprocess.Popen",
                 "torch.jit.load", "torch.load", "torch.from_file", "operator.attrgetter", "builtins.__import__"):  # fmt: skip
        assert is_dangerous(name), name
