"""The torch and numpy part of the allowlist: rebuilders that check shapes against storages before building.

torch's own rebuilders trust their arguments (``set_`` with any size and stride, ``_empty_affine_quantized``
of any size, numpy arrays of any dtype). Each wrapper below checks first, with the storage the file really
holds in hand: sizes and strides are non-negative integers, the view stays inside its storage, a quantized
tensor is no larger than its storage, numpy values are plain numbers (never object arrays) whose byte count
matches their shape. Only then is the real function called.
"""

from __future__ import annotations

import re
from typing import Any

from inspector.core.checkpoint.allowlist import (
    Constant,
    Refused,
    SafeCall,
    TypeRef,
    check_view_in_storage,
    integer,
    ints,
    numel,
    one_of,
)
from inspector.core.checkpoint.stubs import is_stub, stub_class

STORAGE_DTYPES = {
    "Double": "float64", "Float": "float32", "Half": "float16", "BFloat16": "bfloat16", "Long": "int64",
    "Int": "int32", "Short": "int16", "Char": "int8", "Byte": "uint8", "Bool": "bool",
    "ComplexDouble": "complex128", "ComplexFloat": "complex64", "QInt8": "qint8", "QUInt8": "quint8",
    "QInt32": "qint32", "QUInt4x2": "quint4x2", "QUInt2x4": "quint2x4",
}  # fmt: skip
DEVICE_RE = re.compile(r"^[a-z_]{1,32}(:\d{1,4})?$")


# -- storages -----------------------------------------------------------------------------------------------
def storage_parts(storage: Any) -> tuple[Any, Any]:
    """(untyped storage, dtype) of what a persistent id gave; refuses anything else."""
    import torch

    if isinstance(storage, torch.storage.TypedStorage):
        return storage._untyped_storage, storage.dtype
    if isinstance(storage, torch.UntypedStorage):
        return storage, torch.uint8
    raise Refused("a tensor rebuilt from something that is not a storage of the file")


def _element_size(dtype) -> int:
    import torch

    return torch._utils._element_size(dtype)


def _view(storage, offset, size, stride, dtype=None):
    """Checked (untyped, dtype, offset, size, stride) of a tensor over ``storage``."""
    untyped, storage_dtype = storage_parts(storage)
    dtype = storage_dtype if dtype is None else dtype
    size = ints(size, "a tensor's size")
    stride = ints(stride, "a tensor's stride", count=len(size))
    offset = integer(offset, "a tensor's storage offset")
    check_view_in_storage(untyped.nbytes(), _element_size(dtype), offset, size, stride, "a tensor")
    return untyped, dtype, offset, size, stride


def _set_requires_grad(tensor, requires_grad) -> Any:
    if requires_grad is True and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    return tensor


def _apply_metadata(tensor, metadata) -> None:
    import torch

    if not (isinstance(metadata, dict) and metadata and set(metadata) <= {"conj", "neg"}):
        return
    if all(type(v) is bool for v in metadata.values()):
        try:
            torch._utils.set_tensor_metadata(tensor, metadata)
        except (RuntimeError, TypeError) as exc:
            raise Refused(f"tensor metadata {metadata}: {exc}") from None


def _rebuild_tensor(ctx, storage, offset, size, stride):
    import torch

    untyped, dtype, offset, size, stride = _view(storage, offset, size, stride)
    return torch.empty((0,), dtype=dtype, device=untyped.device).set_(untyped, offset, size, stride)


def _rebuild_tensor_v2(ctx, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    tensor = _rebuild_tensor(ctx, storage, offset, size, stride)
    _apply_metadata(tensor, metadata)
    return _set_requires_grad(tensor, requires_grad)


def _rebuild_tensor_v3(ctx, storage, offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    import torch

    one_of(dtype, (torch.dtype,), "a tensor's dtype")
    untyped, dtype, offset, size, stride = _view(storage, offset, size, stride, dtype)
    tensor = torch.empty((0,), dtype=dtype, device=untyped.device).set_(untyped, offset, size, stride)
    _apply_metadata(tensor, metadata)
    return _set_requires_grad(tensor, requires_grad)


def _rebuild_parameter(ctx, data, requires_grad=True, hooks=None, state=None):
    import torch

    one_of(data, (torch.Tensor,), "a parameter's data")
    grad = requires_grad is True and (data.is_floating_point() or data.is_complex())
    return torch.nn.Parameter(data, requires_grad=grad)


def _rebuild_qtensor(ctx, storage, offset, size, stride, quantizer_params, requires_grad=False, hooks=None):
    import torch

    untyped, dtype, offset, size, stride = _view(storage, offset, size, stride)
    if numel(size) * _element_size(dtype) > untyped.nbytes():
        raise Refused("a quantized tensor larger than its storage")  # torch allocates it whole first
    if not isinstance(quantizer_params, tuple) or not quantizer_params:
        raise Refused("quantizer parameters must be a tuple")
    scheme = quantizer_params[0]
    if scheme == torch.per_tensor_affine:
        if len(quantizer_params) != 3:
            raise Refused("per-tensor quantizer parameters must be (scheme, scale, zero_point)")
        one_of(quantizer_params[1], (float, int), "a quantizer scale")
        one_of(quantizer_params[2], (int,), "a quantizer zero point")
    elif scheme in (torch.per_channel_affine, torch.per_channel_affine_float_qparams):
        if len(quantizer_params) != 4:
            raise Refused("per-channel quantizer parameters must be (scheme, scales, zero_points, axis)")
        for value in quantizer_params[1:3]:
            one_of(value, (torch.Tensor, list), "per-channel scales and zero points")
        integer(quantizer_params[3], "a per-channel axis", 0, max(len(size), 1))
    else:
        raise Refused(f"unknown quantization scheme {scheme!r}")
    if untyped.device.type == "meta":  # the legacy reader's sizing pass
        return torch.empty(size, device="meta")
    typed = torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)
    try:
        return torch._utils._rebuild_qtensor(typed, offset, size, stride, quantizer_params, False, None)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise Refused(f"a quantized tensor: {exc}") from None


def _rebuild_sparse_tensor(ctx, layout, data):
    import torch

    if not isinstance(data, tuple) or not 3 <= len(data) <= 4:
        raise Refused("sparse tensor data must be a tuple")
    try:
        if layout == torch.sparse_coo:
            indices, values, size = data[:3]
            coalesced = data[3] if len(data) == 4 else None
            return torch.sparse_coo_tensor(
                one_of(indices, (torch.Tensor,), "sparse indices"), one_of(values, (torch.Tensor,), "values"),
                ints(size, "a sparse tensor's size"), check_invariants=True, is_coalesced=coalesced,
            )  # fmt: skip
        if layout in (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc):
            compressed, plain, values, size = data
            return torch.sparse_compressed_tensor(
                compressed, plain, values, ints(size, "a sparse tensor's size"), layout=layout,
                check_invariants=True,
            )  # fmt: skip
    except (RuntimeError, ValueError, TypeError) as exc:
        raise Refused(f"a sparse tensor with inconsistent indices: {exc}") from None
    raise Refused(f"sparse layout {layout!r}")


def _meta(dtype, size, stride):
    import torch

    one_of(dtype, (torch.dtype,), "a tensor's dtype")
    size = ints(size, "a tensor's size")
    return torch.empty_strided(size, ints(stride, "a tensor's stride", len(size)), dtype=dtype, device="meta")


def _rebuild_meta_tensor_no_storage(ctx, dtype, size, stride, requires_grad=False):
    return _meta(dtype, size, stride)


def _rebuild_wrapper_subclass(ctx, cls, dtype, size, stride, offset, layout, device, requires_grad):
    return _meta(dtype, size, stride)  # a subclass we will not import: its shape, no data


def _rebuild_device_tensor_from_numpy(ctx, data, dtype, device, requires_grad=False):
    import numpy as np
    import torch

    one_of(data, (np.ndarray,), "numpy data")
    one_of(dtype, (torch.dtype,), "a tensor's dtype")
    if data.dtype.kind not in "biufc":
        raise Refused("a tensor from a non-numeric numpy array")
    return torch.from_numpy(np.array(data)).to(dtype)


def _rebuild_device_tensor_from_cpu_tensor(ctx, data, dtype, device, requires_grad=False):
    import torch

    one_of(data, (torch.Tensor,), "tensor data")
    one_of(dtype, (torch.dtype,), "a tensor's dtype")
    return data.to(dtype)


def _rebuild_nested_tensor(ctx, *args):
    return stub_class("torch.nested.NestedTensor")()  # listed by name, not rebuilt


REBUILDERS = {
    "_rebuild_tensor": _rebuild_tensor,
    "_rebuild_tensor_v2": _rebuild_tensor_v2,
    "_rebuild_tensor_v3": _rebuild_tensor_v3,
    "_rebuild_parameter": _rebuild_parameter,
    "_rebuild_parameter_with_state": _rebuild_parameter,
    "_rebuild_qtensor": _rebuild_qtensor,
    "_rebuild_sparse_tensor": _rebuild_sparse_tensor,
    "_rebuild_meta_tensor_no_storage": _rebuild_meta_tensor_no_storage,
    "_rebuild_wrapper_subclass": _rebuild_wrapper_subclass,
    "_rebuild_device_tensor_from_numpy": _rebuild_device_tensor_from_numpy,
    "_rebuild_xla_tensor": _rebuild_device_tensor_from_numpy,
    "_rebuild_device_tensor_from_cpu_tensor": _rebuild_device_tensor_from_cpu_tensor,
    "_rebuild_nested_tensor": _rebuild_nested_tensor,
}


def _rebuild_from_type_v2(ctx, func, new_type, args, state=None):
    """A tensor subclass (``Parameter``, or a class we do not import): rebuild the plain tensor, then make it a
    Parameter when asked; the subclass's state is not applied."""
    import torch

    if not isinstance(func, SafeCall) or func.fn not in REBUILDERS.values():
        raise Refused("_rebuild_from_type_v2 with something that is not a tensor rebuilder")
    if not isinstance(args, tuple):
        raise Refused("_rebuild_from_type_v2's arguments must be a tuple")
    result = func.fn(ctx, *args)
    if isinstance(new_type, TypeRef) and new_type.value is torch.nn.Parameter:
        if isinstance(result, torch.Tensor) and not isinstance(result, torch.nn.Parameter):
            result = _rebuild_parameter(ctx, result, result.requires_grad)
    elif not (isinstance(new_type, TypeRef) or is_stub(new_type)):
        raise Refused("_rebuild_from_type_v2 of something that is not a class")
    return result


def _size(ctx, dims=()):
    import torch

    return torch.Size(ints(dims, "torch.Size"))


def _device(ctx, kind, index=None):
    import torch

    if not isinstance(kind, str) or not DEVICE_RE.match(kind) or not (index is None or type(index) is int):
        raise Refused("torch.device takes a device name")
    try:
        return torch.device(kind) if index is None else torch.device(kind, index)
    except (RuntimeError, ValueError) as exc:
        raise Refused(f"torch.device({kind!r}): {exc}") from None


def _get_layout(ctx, name):
    import torch

    layouts = {str(v): v for v in vars(torch).values() if isinstance(v, torch.layout)}
    if name not in layouts:
        raise Refused(f"unknown layout {name!r}")
    return layouts[name]


def _load_from_bytes(ctx, data):
    """A storage pickled on its own (``torch.save`` inside the pickle): read by the same safe readers."""
    one_of(data, (bytes, bytearray), "_load_from_bytes's payload")
    return ctx.load_nested(bytes(data))


def torch_table() -> dict[str, Any]:
    import torch

    table: dict[str, Any] = {}
    for name in dir(torch):
        value = getattr(torch, name, None)
        if isinstance(value, torch.dtype | torch.qscheme | torch.layout | torch.memory_format):
            table[f"torch.{name}"] = Constant(f"torch.{name}", value)
    for prefix, dtype_name in STORAGE_DTYPES.items():
        dtype = getattr(torch, dtype_name)
        for module in ("torch", "torch.cuda"):
            table[f"{module}.{prefix}Storage"] = TypeRef(f"{module}.{prefix}Storage", None, dtype)
            table[f"{module}.{prefix}Tensor"] = TypeRef(f"{module}.{prefix}Tensor", torch.Tensor, dtype)
    for name in ("torch.UntypedStorage", "torch.storage.UntypedStorage", "torch.ByteStorage"):
        table[name] = TypeRef(name, None, torch.uint8)
    for name in ("torch.Tensor", "torch._tensor.Tensor"):
        table[name] = TypeRef(name, torch.Tensor)
    for name in ("torch.nn.parameter.Parameter", "torch.nn.Parameter"):
        table[name] = TypeRef(name, torch.nn.Parameter)
    table["torch.nn.parameter.Buffer"] = TypeRef("torch.nn.parameter.Buffer", torch.Tensor)
    for name, fn in REBUILDERS.items():
        table[f"torch._utils.{name}"] = SafeCall(f"torch._utils.{name}", fn)
    table["torch._tensor._rebuild_from_type_v2"] = SafeCall("torch._tensor._rebuild_from_type_v2",
                                                            _rebuild_from_type_v2)  # fmt: skip
    table["torch.Size"] = SafeCall("torch.Size", _size)
    table["torch.device"] = SafeCall("torch.device", _device)
    table["torch.serialization._get_layout"] = SafeCall("torch.serialization._get_layout", _get_layout)
    table["torch.storage._load_from_bytes"] = SafeCall("torch.storage._load_from_bytes", _load_from_bytes)
    return table


# -- numpy --------------------------------------------------------------------------------------------------
DTYPE_CODE_RE = re.compile(r"^[<>|=]?[a-zA-Z?]\d{0,7}$")
NUMPY_KINDS = "biufcSUMm"  # never 'O' (objects) or 'V' (raw void, any size)
MAX_ITEMSIZE = 1 << 16


def _np_dtype(ctx, code, align=False, copy=True):
    import numpy as np

    if not isinstance(code, str) or not DTYPE_CODE_RE.match(code):
        raise Refused(f"numpy dtype {code!r:.40}")
    try:
        dtype = np.dtype(code, bool(align), True)  # always a copy: BUILD must never reach a shared dtype
    except (TypeError, ValueError) as exc:
        raise Refused(f"numpy dtype {code!r}: {exc}") from None
    if dtype.kind not in NUMPY_KINDS or dtype.itemsize > MAX_ITEMSIZE:
        raise Refused(f"numpy dtype {code!r} (object, void or huge items)")
    return ctx.fresh(dtype)


def build_numpy_dtype(dtype, state) -> None:
    """BUILD on a dtype this load just made: byte order and sizes only, no fields or sub-arrays."""
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise Refused("numpy dtype state")
    version, order, subarray, names, fields, elsize, alignment, flags = state[:8]
    if version not in (3, 4) or order not in ("<", ">", "|", "=") or (subarray, names, fields) != (None,) * 3:
        raise Refused("numpy dtype state with fields or sub-arrays")
    if elsize not in (-1, dtype.itemsize) or type(alignment) is not int or type(flags) is not int:
        raise Refused("numpy dtype state with another item size")
    dtype.__setstate__(state)


def _np_reconstruct(ctx, cls, shape, code):
    import numpy as np

    if not (isinstance(cls, TypeRef) and cls.value is np.ndarray):
        raise Refused("numpy _reconstruct of something that is not an ndarray")
    if numel(ints(shape, "numpy shape")) > 1 or not isinstance(code, bytes | str):
        raise Refused("numpy _reconstruct with a shape")
    return ctx.fresh(np.ndarray((0,), dtype=np.int8))


def build_numpy_array(array, state) -> None:
    """BUILD on an array this load just made: the bytes must be exactly its shape times its item size."""
    import numpy as np

    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise Refused("numpy array state")
    version, shape, dtype, fortran, raw = state if len(state) == 5 else (1, *state)
    shape = ints(shape, "numpy shape")
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMPY_KINDS:
        raise Refused("numpy array of objects or void items")
    if isinstance(raw, str):
        raw = raw.encode("latin1")
    if not isinstance(raw, bytes | bytearray) or len(raw) != numel(shape) * dtype.itemsize:
        raise Refused("numpy array whose data does not match its shape")
    array.__setstate__((version, shape, dtype, bool(fortran), raw))


def _np_scalar(ctx, dtype, data=None):
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMPY_KINDS:
        raise Refused("numpy scalar of objects or void items")
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise Refused("numpy scalar whose data does not match its dtype")
    return np.frombuffer(data, dtype=dtype)[0].copy()


def numpy_table() -> dict[str, Any]:
    import numpy as np

    table: dict[str, Any] = {
        "numpy.ndarray": TypeRef("numpy.ndarray", np.ndarray),
        "numpy.dtype": SafeCall("numpy.dtype", _np_dtype),
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[f"{module}._reconstruct"] = SafeCall(f"{module}._reconstruct", _np_reconstruct)
        table[f"{module}.scalar"] = SafeCall(f"{module}.scalar", _np_scalar)
    return table
