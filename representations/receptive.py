"""Receptive fields and output sizes computed from the modules themselves.

Each spatial module is reduced to a window (kernel, stride, padding, dilation,
ceil_mode); a chain composes them (Araujo et al., "Computing receptive fields of
convolutional neural networks", Distill 2019):

    size_l   = size_{l-1} + (k_eff - 1) · stride_{l-1}
    stride_l = stride_{l-1} · s
    offset_l = offset_{l-1} + ((k_eff - 1) / 2 − p) · stride_{l-1}

Modules with parallel branches (SqueezeNet's Fire) take the widest branch; modules
that act pointwise (ReLU, LRN, BatchNorm, Dropout) leave the field unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

from torch import nn

from preimage.representations.base import ReceptiveField
from preimage.representations.errors import PreimageError

POINTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.Hardswish, nn.Hardsigmoid, nn.Identity, nn.Dropout, nn.Dropout2d,
    nn.BatchNorm2d, nn.LocalResponseNorm, nn.Flatten,
)


@dataclass(frozen=True)
class Window:
    """A spatial window: what a conv or pooling layer does to geometry."""

    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    ceil_mode: bool = False

    @property
    def extent(self) -> int:
        return (self.kernel - 1) * self.dilation + 1

    def out_size(self, n: int) -> int:
        """Output length for an input of length ``n`` (PyTorch's formula)."""
        span = n + 2 * self.padding - self.extent
        if span < 0:
            return 0
        if self.ceil_mode:
            out = math.ceil(span / self.stride) + 1
            # PyTorch drops a last window that would start inside the right padding.
            if (out - 1) * self.stride >= n + self.padding:
                out -= 1
            return out
        return span // self.stride + 1


def _pair(v) -> int:
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise PreimageError(f"non-square window {v} is not supported for receptive fields")
        return int(v[0])
    return int(v)


_BRANCHES: dict[type, Callable[[nn.Module], list[list[nn.Module]]]] = {}


def register_branches(cls: type, branches: Callable[[nn.Module], list[list[nn.Module]]]) -> None:
    """Declare the parallel branches of a module type (e.g. SqueezeNet's Fire)."""
    _BRANCHES[cls] = branches


def _branches_of(module: nn.Module) -> list[list[nn.Module]] | None:
    for cls, fn in _BRANCHES.items():
        if isinstance(module, cls):
            return fn(module)
    return None


def window_of(module: nn.Module) -> Window | None:
    """The window of a conv/pool module, ``None`` for pointwise ones."""
    if isinstance(module, POINTWISE):
        return None
    if isinstance(module, nn.Conv2d):
        return Window(_pair(module.kernel_size), _pair(module.stride), _pair(module.padding),
                      _pair(module.dilation))
    if isinstance(module, nn.MaxPool2d):
        return Window(_pair(module.kernel_size), _pair(module.stride), _pair(module.padding),
                      _pair(module.dilation), bool(module.ceil_mode))
    if isinstance(module, nn.AvgPool2d):
        return Window(_pair(module.kernel_size), _pair(module.stride), _pair(module.padding),
                      1, bool(module.ceil_mode))
    branches = _branches_of(module)
    if branches is not None:
        return widest(chain_window(b) for b in branches)
    if isinstance(module, nn.Sequential):
        return chain_window(module)
    raise PreimageError(
        f"cannot compute the receptive field through {type(module).__name__}; "
        "declare its branches with register_branches() or use a chain of Conv2d/pooling layers"
    )


def chain_window(modules: Iterable[nn.Module]) -> Window:
    """Compose a chain into one equivalent window (offset folded into padding)."""
    rf = ReceptiveField(1, 1, 0.0)
    for m in modules:
        rf = compose(rf, window_of(m))
    pad = (rf.size - 1) / 2 - rf.offset
    return Window(rf.size, rf.stride, int(round(pad)))


def widest(windows: Iterable[Window]) -> Window:
    ws = list(windows)
    if len({w.stride for w in ws}) != 1:
        raise PreimageError("parallel branches with different strides have no single receptive field")
    return max(ws, key=lambda w: w.extent)


def compose(rf: ReceptiveField, w: Window | None) -> ReceptiveField:
    """Receptive field after one more window."""
    if w is None:
        return rf
    return ReceptiveField(
        size=rf.size + (w.extent - 1) * rf.stride,
        stride=rf.stride * w.stride,
        offset=rf.offset + ((w.extent - 1) / 2 - w.padding) * rf.stride,
    )


def out_size(modules: Iterable[nn.Module], n: int) -> int:
    """Spatial output length of a chain for an input of length ``n``."""
    for m in modules:
        w = window_of(m)
        if w is not None:
            branches = _branches_of(m)
            if branches is not None:
                n = min(out_size(b, n) for b in branches)
            elif isinstance(m, nn.Sequential):
                n = out_size(m, n)
            else:
                n = w.out_size(n)
        if n <= 0:
            return 0
    return n


def min_input(modules: list[nn.Module], limit: int = 4096) -> int:
    """Smallest input length for which the chain has at least one output unit."""
    lo, hi = 1, limit
    if out_size(modules, hi) < 1:
        raise PreimageError(f"no input up to {limit} pixels gives an output for this layer")
    while lo < hi:
        mid = (lo + hi) // 2
        if out_size(modules, mid) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return lo
