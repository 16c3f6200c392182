"""Module forms of the shallow representations: CNN-HOG, HOGb and CNN-DSIFT.

Mahendran & Vedaldi (CVPR 2015, Sec. 3.1) invert HOG (UoCTTI, as in VLFeat), HOGb
(bilinear orientation assignment), CNN-HOG (their CNN re-implementation of UoCTTI HOG,
without the 4 texture components) and DSIFT, all computed on the grey image
``255·Y − 128``. The numbers equal VLFeat 0.9.21's (see :mod:`representations.hog_op`,
:mod:`representations.dsift_op`). Importing this module registers ``hog``, ``hogb``,
``cnn-hog``, ``dsift`` (alias ``cnn-dsift``) with :mod:`representations.registry`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from preimage.representations import dsift_op as D
from preimage.representations import hog_op as H
from preimage.representations.base import InputConvention, ReceptiveField, Representation
from preimage.representations.errors import PreimageError

GREY_CONVENTION = InputConvention(
    scale=255.0, mean=(128.0,), std=(1.0,), channels=1,
    description="grey: 255·Y − 128 (ITU-R 601 luma), the paper's input to HOG and DSIFT",
)
COLOUR_CONVENTION = InputConvention(
    scale=255.0, mean=(128.0, 128.0, 128.0), std=(1.0, 1.0, 1.0), channels=3,
    description="RGB: 255·rgb − 128 per channel (VLFeat colour HOG: the strongest channel wins)",
)


def _convention(channels: int) -> InputConvention:
    if channels not in (1, 3):
        raise PreimageError(f"shallow representations take 1 (grey) or 3 (RGB) channels, not {channels}")
    return GREY_CONVENTION if channels == 1 else COLOUR_CONVENTION


class HOG(Representation):
    """VLFeat HOG as a network with taps ``hist`` (directed cell histograms, 2·O
    channels, before block normalisation) and ``hog`` (the descriptor).

    ``texture=False`` drops UoCTTI's 4 texture components (the paper's CNN-HOG);
    ``bilinear_orientations=True`` is HOGb. The pixel-to-cell vote tables depend on
    the image size and are cached per (size, device); the bin
    directions are a float64 buffer, cast to the input's dtype in ``forward`` (which
    rounds them to float32 exactly as VLFeat does for float32 input).
    """

    layers = ["hist", "hog"]

    def __init__(self, cell_size: int = 8, variant: str = "uoctti", num_orientations: int = 9,
                 bilinear_orientations: bool = False, texture: bool = True, channels: int = 1,
                 taps: Sequence[str] | str | None = None, input_size: int = 227) -> None:
        super().__init__()
        variant = variant.lower().replace("-", "").replace("_", "")
        if variant not in H.VARIANTS:
            raise PreimageError(f"unknown HOG variant {variant!r}; use one of {', '.join(H.VARIANTS)}")
        if not texture and variant != "uoctti":
            raise PreimageError(
                "texture=False only applies to the UoCTTI variant; drop it or use variant='uoctti'"
            )
        if cell_size < 1 or num_orientations < 1:
            raise PreimageError("cell_size and num_orientations must be positive integers")
        self.cell_size, self.variant, self.num_orientations = cell_size, variant, num_orientations
        self.bilinear_orientations, self.texture = bilinear_orientations, texture
        self.convention = _convention(channels)
        self.input_size = input_size
        self.taps = self.resolve_taps(taps)
        self._name = ("hogb" if bilinear_orientations else "hog" if texture else "cnn-hog")
        self.register_buffer("basis", H.orientation_basis(num_orientations, torch.float64), persistent=False)
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}
        self.freeze()

    @property
    def dimension(self) -> int:
        """Components per cell at the ``hog`` tap."""
        d = H.hog_dim(self.variant, self.num_orientations)
        return d - 4 if not self.texture else d

    def _cells(self, x: Tensor) -> tuple[Tensor, Tensor]:
        key = (x.shape[-2], x.shape[-1], x.device)
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = H.spatial_bins(x.shape[-2], x.shape[-1], self.cell_size, x.device)
        return self._cache[key]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        H.check_hog_input(x, self.cell_size, self.convention.channels)
        gx, gy = H.image_gradient(x)
        votes = H.orientation_bins(gx, gy, self.basis.to(x.dtype), self.bilinear_orientations)
        grid = (H.hog_cells(x.shape[-2], self.cell_size), H.hog_cells(x.shape[-1], self.cell_size))
        out = {"hist": H.cell_histograms(votes, self._cells(x), 2 * self.num_orientations, grid)}
        if "hog" in self.taps:
            feat = H.block_normalise(out["hist"], self.variant)
            out["hog"] = feat if self.texture else feat[:, : self.dimension]
        return {k: out[k] for k in self.taps}

    def receptive_field(self, name: str) -> ReceptiveField:
        """Cell ``i`` is centred on pixel ``(i + ½)·cell − ½``; a histogram sees 2 cells
        (+1 pixel each side for the gradient), block normalisation one more cell each side."""
        self.check_layer(name)
        c = self.cell_size
        size = 2 * c + 2 if name == "hist" else 4 * c + 2
        return ReceptiveField(size=size, stride=c, offset=c / 2 - 0.5)

    def min_input_size(self, layer: str) -> int:
        """One cell (and at least 4 pixels, as VLFeat requires)."""
        self.check_layer(layer)
        return max(self.cell_size, 4)

    def extra_repr(self) -> str:
        return (f"cell_size={self.cell_size}, variant={self.variant!r}, O={self.num_orientations}, "
                f"bilinear={self.bilinear_orientations}, texture={self.texture}, taps={self.taps}")


class DSIFT(Representation):
    """VLFeat dense SIFT as a network with one tap, ``dsift`` (B, NY·NX·T, ny, nx).

    The fixed weights are buffers: per-bin window means ``bin_weights`` (``fast``) or
    the per-bin spatial kernels ``ky``, ``kx`` (triangle × Gaussian window).
    """

    layers = ["dsift"]

    def __init__(self, step: int = 4, bin_size: int = 8, fast: bool = True,
                 geometry: tuple[int, int, int] = (4, 4, 8), window_size: float = 2.0,
                 use_vlfeat_atan2: bool = True, taps: Sequence[str] | str | None = None,
                 input_size: int = 227) -> None:
        super().__init__()
        if step < 1 or bin_size < 1 or min(geometry) < 1:
            raise PreimageError("step, bin_size and the geometry (NY, NX, T) must be positive integers")
        self.step, self.bin_size, self.fast = step, bin_size, fast
        self.geometry = tuple(int(g) for g in geometry)
        self.use_vlfeat_atan2 = use_vlfeat_atan2
        self.convention = GREY_CONVENTION
        self.input_size = input_size
        self.taps = self.resolve_taps(taps)
        self._name = "dsift"
        self._kernel_names = []
        for name, k in D.dsift_kernels(bin_size, self.geometry, fast, window_size).items():
            self.register_buffer(name, k.float(), persistent=False)
            self._kernel_names.append(name)
        self.freeze()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        D.check_dsift_input(x, self.bin_size, self.geometry)
        kernels = {n: getattr(self, n).to(x.dtype) for n in self._kernel_names}
        return {"dsift": D.dsift_from_kernels(x, self.step, self.bin_size, kernels, self.geometry,
                                              self.use_vlfeat_atan2)}

    def receptive_field(self, name: str) -> ReceptiveField:
        """Bin centres span (N−1)·bin; each bin reaches bin−1 further; +1 pixel for the gradient."""
        self.check_layer(name)
        n = max(self.geometry[:2])
        return ReceptiveField(size=(n + 1) * self.bin_size + 1, stride=self.step,
                              offset=self.bin_size * (n - 1) / 2)

    def min_input_size(self, layer: str) -> int:
        """One descriptor: the centres of its spatial bins must lie in the image."""
        self.check_layer(layer)
        return D.min_dsift_size(self.bin_size, max(self.geometry[:2]))

    def extra_repr(self) -> str:
        return f"step={self.step}, bin_size={self.bin_size}, fast={self.fast}, geometry={self.geometry}"


def _no_weights(name: str, weights: str | None) -> None:
    if weights not in (None, "random"):
        raise PreimageError(f"{name} has no learned weights; drop --weights {weights}")


def build_hog(taps: Sequence[str] | str | None = None, weights: str | None = None, **kw) -> HOG:
    """UoCTTI HOG (VLFeat defaults: 9 orientations, hard assignment), cell 8, grey input."""
    _no_weights("hog", weights)
    return HOG(taps=taps, **kw)


def build_hogb(taps: Sequence[str] | str | None = None, weights: str | None = None, **kw) -> HOG:
    """HOGb: HOG with bilinear orientation assignment."""
    _no_weights("hogb", weights)
    return HOG(taps=taps, bilinear_orientations=True, **kw)


def build_cnn_hog(taps: Sequence[str] | str | None = None, weights: str | None = None, **kw) -> HOG:
    """CNN-HOG: UoCTTI HOG without the 4 texture components."""
    _no_weights("cnn-hog", weights)
    return HOG(taps=taps, texture=False, **kw)


def build_dsift(taps: Sequence[str] | str | None = None, weights: str | None = None, **kw) -> DSIFT:
    """CNN-DSIFT: VLFeat dense SIFT (4×4×8, flat window by default), grey input."""
    _no_weights("dsift", weights)
    return DSIFT(taps=taps, **kw)


FACTORIES = {"hog": build_hog, "hogb": build_hogb, "cnn-hog": build_cnn_hog,
             "dsift": build_dsift, "cnn-dsift": build_dsift}


def _register() -> None:
    from preimage.representations.registry import register

    for name, factory in FACTORIES.items():
        register(name, factory)


_register()
