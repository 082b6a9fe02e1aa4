"""One forward pass that keeps every leaf layer's output, on the CPU or the GPU, and optionally zeroes channels.

Forward hooks on every leaf module record its output while the model runs once under
``torch.inference_mode()``; the hooks are removed in ``finally`` whatever happens. On CUDA the outputs stay on
the device until the pass is over, then all of them go to the CPU in one copy (one flat buffer), and the time
on the device is measured with CUDA events. Ablation is another hook: it zeroes the chosen output channels of a
layer (the weights are untouched), so the rest of the network sees the change.

Out of GPU memory is a clear :class:`InspectorError` after the memory is released; the caller may retry on the
CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from inspector.core.errors import Fix, InspectorError
from inspector.core.jobs import Job, Progress, run_job

OOM_ADVICE = Fix(cli="run it on the CPU (--device cpu, or Retry on CPU in the Features tab)",
                 gui="run it on the CPU: press Retry on CPU")  # fmt: skip


@dataclass
class LayerOutput:
    """A leaf module's output for the one input (batch dimension removed), on the CPU."""

    name: str  # module name, as in named_modules(): "conv1", "layer4.1.conv2"
    type: str  # class name: "Conv2d"
    output: Any  # torch.Tensor

    def summary(self) -> dict[str, Any]:
        t = self.output.float()
        finite = t[t.isfinite()]
        return {
            "name": self.name, "type": self.type, "output_shape": list(self.output.shape),
            "min": float(finite.min()) if finite.numel() else None,
            "max": float(finite.max()) if finite.numel() else None,
            "mean": float(finite.mean()) if finite.numel() else None,
        }  # fmt: skip


@dataclass
class FeatureResult:
    """Every layer's output, the model's output as probabilities, and where and how fast it ran."""

    layers: list[LayerOutput]
    logits: Any  # [K] on the CPU
    device: str
    forward_ms: float
    total_ms: float
    input_shape: tuple[int, ...]
    ablated: dict[str, list[int]] = field(default_factory=dict)

    @property
    def probabilities(self):
        import torch

        return torch.softmax(self.logits.double(), dim=0).float()

    def layer(self, name: str) -> LayerOutput:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise InspectorError(
            f"no layer named '{name}'; layers: {', '.join(out.name for out in self.layers[:8])}..."
        )

    def prediction(self, labels: tuple[str, ...] = (), k: int = 5) -> dict[str, Any]:
        probs = self.probabilities
        top = probs.topk(min(k, probs.numel()))

        def name(i: int) -> str:
            return labels[i] if i < len(labels) else str(i)

        return {
            "label": int(top.indices[0]),
            "name": name(int(top.indices[0])),
            "probabilities": [round(float(p), 7) for p in probs],
            "top": [{"label": int(i), "name": name(int(i)), "probability": float(p)}
                    for p, i in zip(top.values, top.indices, strict=True)],
        }  # fmt: skip


def leaf_modules(module) -> list[tuple[str, Any]]:
    """(name, module) of every module without children, in registration order."""
    return [(name, m) for name, m in module.named_modules() if name and not any(True for _ in m.children())]


def _first_tensor(output):
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


def split_call(name: str, leaf_names: set[str]) -> tuple[str, int]:
    """``"pool#2"`` -> ``("pool", 2)``: the layer list names a module's second call (a shared pool) that way;
    a plain module name is its first call. A module whose own name holds ``#`` keeps it."""
    base, sep, number = name.rpartition("#")
    if name in leaf_names or not sep or not number.isdigit() or int(number) < 2:
        return name, 1
    return base, int(number)


def _ablation_hook(calls: dict[int, list[int]], count: list[int]):
    """Zeroes channels of the module's output on the calls ``calls`` names (call number -> channels), and
    only those: ablating ``pool#2`` leaves the first call of ``pool`` as it was. ``count[0]``: how many times
    the module ran, so that a call that never comes is an error, not a silent no-op."""

    def zero_channels(_module, _inputs, output):
        count[0] += 1
        channels = calls.get(count[0])
        out = _first_tensor(output) if channels is not None else None
        if out is None or out.ndim < 2:
            return None
        if max(channels) >= out.shape[1]:
            raise InspectorError(
                f"channel {max(channels)} does not exist: the layer has {out.shape[1]} channels"
            )
        out = out.clone()
        out[:, channels] = 0
        return out

    return zero_channels


def _ablation_plan(ablate: dict[str, list[int]], names: set[str]) -> dict[str, dict[int, list[int]]]:
    """Module name -> {call number: channels}; an unknown module is an error before anything runs."""
    plan: dict[str, dict[int, list[int]]] = {}
    for key, channels in ablate.items():
        base, call = split_call(key, names)
        if base not in names:
            raise InspectorError(
                f"no layer named '{key}' to ablate; layers: {', '.join(sorted(names)[:8])}..."
            )
        plan.setdefault(base, {})[call] = channels
    return plan


def _check_calls_reached(plan: dict[str, dict[int, list[int]]], counts: dict[str, list[int]]) -> None:
    """A call asked for that did not come (``pool#3`` of a pool that ran twice) is an error."""
    for base, calls in plan.items():
        ran = counts[base][0]
        missing = [call for call in sorted(calls) if call > ran]
        if missing:
            name = base if missing[0] == 1 else f"{base}#{missing[0]}"
            listed = ", ".join([base] + [f"{base}#{i}" for i in range(2, ran + 1)])
            raise InspectorError(
                f"no layer named '{name}' to ablate: {base} "
                + (f"runs {ran} time(s) in one pass ({listed}); pick one of those" if ran
                   else "does not run in a forward pass; pick a layer the run lists")
            )  # fmt: skip


def iter_features(module, x, device=None, ablate: dict[str, list[int]] | None = None) -> Job[FeatureResult]:
    """Run ``x`` ([1, ...] on the CPU) through ``module`` (already on ``device``) once; a job (see
    ``inspector.core.jobs``) that returns a :class:`FeatureResult`."""
    import torch

    started = time.perf_counter()
    device = torch.device(device or next(module.parameters(), torch.empty(0)).device)
    ablate = {k: sorted(set(v)) for k, v in (ablate or {}).items() if v}
    leaves = leaf_modules(module)
    names = {name for name, _ in leaves}
    plan = _ablation_plan(ablate, names)
    counts: dict[str, list[int]] = {name: [0] for name in plan}
    yield Progress(0, 3, "running the model")
    captured: list[tuple[str, str, Any]] = []
    handles = []
    copy = any(getattr(leaf, "inplace", False) for _, leaf in leaves)
    try:
        for name, leaf in leaves:
            if name in plan:
                handles.append(leaf.register_forward_hook(_ablation_hook(plan[name], counts[name])))
            handles.append(
                leaf.register_forward_hook(_capture_hook(captured, name, type(leaf).__name__, copy))
            )
        with _released_on_oom(device, x, captured):
            out, forward_ms = _timed_forward(module, x, device)
    except RuntimeError as exc:  # (out of memory is an InspectorError by now)
        raise InspectorError(f"the model cannot run an input of {tuple(x.shape)}: {str(exc).splitlines()[0][:200]}"
                             "; check the preprocessing (channels, size)") from None  # fmt: skip
    finally:
        for handle in handles:
            handle.remove()
    _check_calls_reached(plan, counts)
    yield Progress(1, 3, "copying layer outputs")
    logits = _first_tensor(out)
    if logits is None:
        raise InspectorError("the model's output is not a tensor")
    with _released_on_oom(device, x, captured):
        tensors = _to_cpu([t for _, _, t in captured] + [logits])
    layers = [LayerOutput(name, kind, t[0] if t.ndim and t.shape[0] == 1 else t)
              for (name, kind, _), t in zip(captured, tensors[:-1], strict=True)]  # fmt: skip
    yield Progress(3, 3, "done")
    return FeatureResult(layers, tensors[-1].reshape(-1).float(), str(device), forward_ms,
                         (time.perf_counter() - started) * 1000, tuple(x.shape), ablate)  # fmt: skip


def _released_on_oom(device, x, captured: list):
    from inspector.core.models.device import out_of_memory

    return out_of_memory(device, f"for an input of {tuple(x.shape)}", OOM_ADVICE, release=captured.clear)


def _capture_hook(captured: list, name: str, kind: str, copy: bool):
    """Keeps each call's output; a module called twice (a shared pool) gives ``pool`` and ``pool#2``.
    ``copy``: the model has in-place layers (``ReLU(inplace=True)``) that would overwrite a kept output.
    Runs once per layer per pass, so a plain tensor output takes the shortest path (no helper call)."""
    import torch

    calls = [0]

    def keep(_module, _inputs, output):
        out = output if type(output) is torch.Tensor else _first_tensor(output)
        if out is not None:
            calls[0] += 1
            out = out.detach().clone() if copy else out.detach()
            captured.append((name if calls[0] == 1 else f"{name}#{calls[0]}", kind, out))

    return keep


def _timed_forward(module, x, device):
    import torch

    with torch.inference_mode():
        x = x.to(device)
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = module(x)
            end.record()
            end.synchronize()
            return out, start.elapsed_time(end)
        began = time.perf_counter()
        out = module(x)
        return out, (time.perf_counter() - began) * 1000


def _to_cpu(tensors: list) -> list:
    """The tensors on the CPU, in one device-to-host copy when they live on a GPU."""
    import torch

    if not tensors or tensors[0].device.type == "cpu":
        return tensors
    with torch.inference_mode():
        flat = torch.cat([t.reshape(-1).float() for t in tensors]).cpu()
    out, at = [], 0
    for t in tensors:
        out.append(flat[at : at + t.numel()].view(t.shape))
        at += t.numel()
    return out


def run_features(module, x, device=None, ablate=None) -> FeatureResult:
    return run_job(iter_features(module, x, device, ablate))
