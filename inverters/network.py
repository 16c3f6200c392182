"""The modular inverse network x̂ = g(Φ_L(x)) = g₁ ∘ … ∘ g_L (Dosovitskiy & Brox 2016;
the thesis' stacked / joint / end-to-end inverters).

``blocks[0]`` inverts the deepest stage (Φ_L → Φ_{L−1}), ``blocks[-1]`` returns the image in
the representation's input units. The architecture is fully described by :class:`InverterSpec`
(plain numbers), so a checkpoint rebuilds it without the representation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

from torch import Tensor, nn

from preimage.inverters.blocks import BLOCKS, InverseBlock
from preimage.inverters.stages import Shape, probe_shapes, stage_names
from preimage.representations import Representation
from preimage.representations.errors import PreimageError


@dataclass
class InverterSpec:
    """What an inverter inverts and how it is built.

    ``stages``: layer names shallow → deep (the last is ``layer``); ``shapes``: the
    image's and every stage's (C, H, W) at ``image_size``; ``block``: ``transposed`` or
    ``upsample``; ``width``: hidden channels per block; ``extra["scales"]`` (optional): the
    RMS of the image and of every stage on a photo — each block then sees Φₖ/sₖ and
    returns sₖ₋₁·(output), so a block works at unit scale whatever the representation's
    units (HOG's cells are ~0.1, its grey input ±128); ``depth``: context convolutions per
    block (:class:`~preimage.inverters.blocks.InverseBlock`; 0 in checkpoints that predate it).
    """

    representation: str
    layer: str
    stages: list[str]
    shapes: list[tuple[int, int, int]]
    block: str = "transposed"
    width: int = 64
    image_size: int = 227
    weights: str | None = None
    extra: dict = field(default_factory=dict)
    depth: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InverterSpec":
        d = dict(d)
        d["shapes"] = [tuple(int(v) for v in s) for s in d["shapes"]]
        return cls(**d)


def stride_between(finer: tuple[int, int, int], coarser: tuple[int, int, int]) -> int:
    """Upsampling factor from one stage's map to the one before it (≥ 1)."""
    return max(1, round(max(finer[1] / coarser[1], finer[2] / coarser[2])))


class Inverter(nn.Module):
    """Chain of :class:`InverseBlock` from ``spec.layer`` back to the image."""

    def __init__(self, spec: InverterSpec) -> None:
        super().__init__()
        if spec.block not in BLOCKS:
            raise PreimageError(f"unknown block {spec.block!r}; use one of {', '.join(BLOCKS)}")
        self.spec = spec
        shapes = spec.shapes
        blocks = []
        for k in range(len(shapes) - 1, 0, -1):  # deepest first
            c_in, c_out = shapes[k][0], shapes[k - 1][0]
            blocks.append(InverseBlock(c_in, c_out, stride_between(shapes[k - 1], shapes[k]), spec.width, spec.block,
                                       spec.depth))
        self.blocks = nn.ModuleList(blocks)
        scales = spec.extra.get("scales") or [1.0] * len(shapes)
        self.scales = [float(v) for v in reversed(scales)]  # deepest first

    def step(self, i: int, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Block ``i`` (block order) on Φₖ in the representation's units → Φₖ₋₁ in its units."""
        return self.blocks[i](x / self.scales[i], tuple(size)) * self.scales[i + 1]

    @property
    def layer(self) -> str:
        return self.spec.layer

    @property
    def targets(self) -> list[str]:
        """What each block outputs, in block order: the stage below it, ``image`` last."""
        return list(reversed(["image"] + self.spec.stages[:-1]))

    def check_features(self, phi: Tensor) -> None:
        """One-line error when ``phi`` is not a (B, C, h, w) map of this inverter's layer."""
        c = self.spec.shapes[-1][0]
        if phi.dim() != 4 or phi.shape[1] != c:
            raise PreimageError(
                f"feature shape {tuple(phi.shape)} does not fit this inverter of {self.spec.representation} "
                f"{self.spec.layer}, which takes (B, {c}, h, w); give features of that layer or another inverter")

    def default_sizes(self, phi: Tensor) -> list[tuple[int, int]]:
        """Sizes recorded at ``image_size`` when ``phi`` has that spatial size."""
        last = self.spec.shapes[-1]
        if tuple(phi.shape[-2:]) != tuple(last[1:]):
            raise PreimageError(
                f"features of {phi.shape[-2]}x{phi.shape[-1]} at {self.spec.layer} do not come from a "
                f"{self.spec.image_size}x{self.spec.image_size} image (that gives {last[1]}x{last[2]}); "
                "pass the stage sizes from inverters.stage_sizes(representation, inverter, (H, W))")
        return [tuple(s[1:]) for s in reversed(self.spec.shapes[:-1])]

    def forward(self, phi: Tensor, sizes: Sequence[tuple[int, int]] | None = None,
                return_all: bool = False) -> Tensor | list[Tensor]:
        """Φ_L (B, C, h, w) → image (B, C₀, H, W) in input units.

        ``sizes``: the spatial size of each block's output, in block order (deepest stage's
        input first, the image last); default: those at ``spec.image_size``.
        ``return_all``: the list of every block's output instead of the image.
        """
        self.check_features(phi)
        sizes = self.default_sizes(phi) if sizes is None else list(sizes)
        outs = []
        x = phi
        for i, size in enumerate(sizes):
            x = self.step(i, x, size)
            outs.append(x)
        return outs if return_all else x


def build_inverter(rep: Representation, layer: str, block: str = "transposed", width: int = 64,
                   image_size: int | None = None, weights: str | None = None, normalise: bool = False,
                   depth: int = 0) -> Inverter:
    """An untrained inverter of ``rep`` at ``layer``, shapes probed at ``image_size``
    (default: the representation's input size). ``normalise``: record per-stage scales
    (:func:`stage_scales`) so every block works at unit scale; ``depth``: context
    convolutions per block."""
    size = int(image_size or rep.input_size)
    stages = stage_names(rep, layer)
    shapes = probe_shapes(rep, stages, (size, size))
    extra = {"scales": stage_scales(rep, stages)} if normalise else {}
    spec = InverterSpec(rep.name, layer, stages, [(s.channels, s.height, s.width) for s in shapes],
                        block, int(width), size, weights, extra, int(depth))
    return Inverter(spec)


def stage_scales(rep: Representation, stages: list[str], photo: str = "astronaut") -> list[float]:
    """RMS of the image and of each stage's map for a bundled training photo (image first)."""
    import torch

    from preimage.inverters.stages import tapped
    from preimage.representations import load_image, resize_crop

    size = max(rep.input_size, rep.min_input_size(stages[-1]))
    x = rep.convention.preprocess(resize_crop(load_image(photo), size)[None])
    with torch.no_grad():
        feats = tapped(rep, stages)(x)
    return [float(t.pow(2).mean().sqrt().clamp_min(1e-8)) for t in [x] + [feats[n] for n in stages]]


def stage_sizes(rep: Representation, inverter: Inverter, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Each block's exact output size for an image of ``size`` (block order, image last)."""
    shapes: list[Shape] = probe_shapes(rep, inverter.spec.stages, size)
    return [(s.height, s.width) for s in reversed(shapes[:-1])]
