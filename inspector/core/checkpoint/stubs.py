"""Inert stand-ins for the classes and functions a file names but that are not on the allowlist.

An untrusted pickle of an ``nn.Module`` names its classes (``mypkg.models.Net``, ``torch.nn.Conv2d``). The safe
unpickler never imports them: each such global becomes a fresh subclass of :class:`Stub` that records its name,
and building, calling or setting state on it only records what it was given. So the module tree
(``_modules``/``_parameters``/``_buffers``) and every tensor are recovered while no code of the file runs.
Stub classes are made per reference, so nothing a file does to one can reach another load.
"""

from __future__ import annotations

from typing import Any


class Stub:
    """Inert instance of a class the file names.

    Calling it, ``__new__``, ``__setstate__``, item and append calls only record what they were given:
    ``stub_args``, ``stub_state``, ``stub_items``, ``stub_list``. ``stub_name`` is the referenced global.
    """

    stub_name = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.__dict__.update(stub_args=args, stub_kwargs=kwargs, stub_state=None, stub_items={}, stub_list=[])
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__["stub_state"] = state

    def __setitem__(self, key, value):
        self.stub_items[key] = value

    def __getitem__(self, key):
        return self.stub_items[key]

    def append(self, value):
        self.stub_list.append(value)

    def extend(self, values):
        self.stub_list.extend(values)

    def __call__(self, *args, **kwargs):
        return stub_class(f"{self.stub_name}()")(*args, **kwargs)

    def __repr__(self):
        return f"<{self.stub_name}>"

    @property
    def state_dict_like(self) -> dict | None:
        """The object's attribute dict (``__setstate__``/BUILD state or ``__dict__`` pairs), if any.

        A quantized conv module's ``__getstate__`` tuple is read as the module it stands for (once: the dict
        replaces the tuple), so its packed weight is listed under it (``packed_params.py``)."""
        state = self.stub_state
        if isinstance(state, tuple) and state and not isinstance(state[0], dict | type(None)):
            from inspector.core.checkpoint.packed_params import conv_module_state

            converted = conv_module_state(state)
            if converted is not None:
                self.__dict__["stub_state"] = state = converted
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict | type(None)):
            merged = dict(state[0] or {})
            if isinstance(state[1], dict):
                merged.update(state[1])
            return merged
        if isinstance(state, dict):
            return state
        if self.stub_kwargs:
            return dict(self.stub_kwargs)
        if "graph_module" in self.stub_name and self.stub_args and _is_module_dict(self.stub_args[0]):
            return self.stub_args[0]  # torch.fx's reduce_graph_module(body, import_block): body is __dict__
        return None


def _is_module_dict(value: Any) -> bool:
    return isinstance(value, dict) and "_modules" in value and "_parameters" in value


def stub_class(qualified_name: str) -> type[Stub]:
    """A new inert class standing for the global ``qualified_name``."""
    return type(qualified_name.rpartition(".")[2] or "Stub", (Stub,), {"stub_name": qualified_name})


def is_stub(obj: Any) -> bool:
    """An inert stub instance or class."""
    return isinstance(obj, Stub) or (isinstance(obj, type) and issubclass(obj, Stub))


def stub_attribute(owner: Any, name: str) -> Stub:
    """``getattr(stub, name)`` as a pickle asks for it (a method reference such as ``Detect.forward``): one more
    inert stub, named after the attribute, so nothing real is ever reached through a stub."""
    owner_name = owner.stub_name if is_stub(owner) else "?"
    return stub_class(f"{owner_name}.{name}")()


def stub_module_state(obj: Any) -> dict | None:
    """The attribute dict of a stubbed ``nn.Module`` (it has ``_modules`` and ``_parameters``), else None."""
    if isinstance(obj, Stub):
        state = obj.state_dict_like
        if isinstance(state, dict) and "_modules" in state and "_parameters" in state:
            return state
    return None
