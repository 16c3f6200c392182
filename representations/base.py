"""The Representation contract (ARCHITECTURE.md): Φ with named layer taps.

A representation is an ``nn.Module`` whose ``forward(x)`` returns a dict of the
feature maps at the taps it was built with. It owns its input convention
(:class:`InputConvention`), reports the receptive field of every layer, keeps its
parameters frozen and is truncated after its deepest tap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn

from preimage.representations.errors import PreimageError


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a layer's units, in input pixels.

    ``size``: side of the square window one unit sees; ``stride``: input pixels
    between neighbouring units; ``offset``: input coordinate of the centre of unit
    (0, 0) (may be negative when the layer pads).
    """

    size: int
    stride: int
    offset: float


@dataclass(frozen=True)
class InputConvention:
    """How an RGB image in [0, 1] becomes this representation's input ``x``.

    ``x[c] = (scale * rgb[perm[c]] - mean[c]) / std[c]`` where ``perm`` reverses the
    channels when ``channel_order == "BGR"``; ``channels == 1`` means the grey
    image (ITU-R 601 luma) is used instead. ``mean`` and ``std`` are listed in the
    input's own channel order.
    """

    scale: float = 255.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_order: str = "RGB"
    channels: int = 3
    description: str = ""

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        shape = (1, self.channels, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        return mean, std

    def preprocess(self, rgb: Tensor) -> Tensor:
        """(B, 3, H, W) RGB in [0, 1] → (B, channels, H, W) network input."""
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise PreimageError(
                f"expected an RGB batch of shape (B, 3, H, W), got {tuple(rgb.shape)}; "
                "load images with representations.load_image"
            )
        if self.channels == 1:
            from preimage.representations.images import to_grey

            rgb = to_grey(rgb)
        elif self.channel_order == "BGR":
            rgb = rgb.flip(1)
        mean, std = self._stats(rgb)
        return (self.scale * rgb - mean) / std

    def deprocess(self, x: Tensor) -> Tensor:
        """Network input → RGB in [0, 1] (clamped); grey inputs are repeated to 3 channels."""
        mean, std = self._stats(x)
        img = (x * std + mean) / self.scale
        if self.channels == 1:
            img = img.expand(-1, 3, -1, -1)
        elif self.channel_order == "BGR":
            img = img.flip(1)
        return img.clamp(0.0, 1.0)

    @property
    def units_per_255(self) -> float:
        """Input units that one step of the 0–255 intensity scale spans (for x0_sigma)."""
        return self.scale / 255.0 / (sum(self.std) / len(self.std))


CAFFE_CONVENTION = InputConvention(
    scale=255.0,
    mean=(104.006, 116.669, 122.679),
    channel_order="BGR",
    description="Caffe: 0–255, BGR, minus the ImageNet mean (104.006, 116.669, 122.679)",
)
TORCHVISION_CONVENTION = InputConvention(
    scale=1.0,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    description="torchvision: RGB in [0, 1], minus mean, divided by std (ImageNet)",
)


class Representation(nn.Module):
    """Base class: subclasses set ``layers``, ``taps``, ``convention`` and ``input_size``.

    ``layers`` is every tap name this kind of network offers (ordered, shallow to
    deep); ``taps`` the subset this instance returns from ``forward``.
    """

    layers: list[str]
    taps: list[str]
    convention: InputConvention
    input_size: int

    def forward(self, x: Tensor) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def receptive_field(self, name: str) -> ReceptiveField:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_layer(self, name: str) -> None:
        """Raise a one-line error listing the valid layers if ``name`` is unknown."""
        if name not in self.layers:
            raise PreimageError(
                f"unknown layer {name!r} for {self.name}; valid layers: {', '.join(self.layers)}"
            )

    def check_input(self, x: Tensor, layer: str | None = None) -> None:
        """Shape check at the boundary: channel count and the minimum size for ``layer``."""
        if x.dim() != 4 or x.shape[1] != self.convention.channels:
            raise PreimageError(
                f"{self.name} expects input of shape (B, {self.convention.channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        layer = layer or self.deepest_tap
        need = self.min_input_size(layer)
        if min(x.shape[-2:]) < need:
            raise PreimageError(
                f"image of {x.shape[-1]}x{x.shape[-2]} pixels is too small for layer {layer!r} "
                f"of {self.name}: it needs at least {need}x{need} (use a larger image or a shallower layer)"
            )

    def min_input_size(self, layer: str) -> int:
        """Smallest square input giving at least one unit at ``layer`` (default: its receptive field)."""
        return self.receptive_field(layer).size

    @property
    def name(self) -> str:
        return getattr(self, "_name", type(self).__name__)

    @property
    def deepest_tap(self) -> str:
        return max(self.taps, key=self.layers.index)

    def resolve_taps(self, taps: Sequence[str] | str | None) -> list[str]:
        """Validate requested taps; ``None`` means all layers."""
        if taps is None:
            return list(self.layers)
        if isinstance(taps, str):
            taps = [taps]
        for t in taps:
            self.check_layer(t)
        return sorted(dict.fromkeys(taps), key=self.layers.index)

    def freeze(self) -> "Representation":
        """Parameters frozen and eval mode: inversion never pays for weight gradients."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> "Representation":
        # A representation is a fixed function: it always stays in eval mode.
        return super().train(False)


@dataclass
class LayerInfo:
    """One row of ``preimage layers``."""

    name: str
    shape: tuple[int, ...]
    rf: ReceptiveField
    norm: float | None = None
    extra: dict = field(default_factory=dict)
