"""HOGgle: HOG inverted by paired dictionaries (Vondrick, Khosla, Malisiewicz & Torralba,
"HOGgles: Visualizing Object Detection Features", ICCV 2013), the CVPR'15 baseline for HOG
(Mahendran & Vedaldi, Table 1: 66.2 % error against 28.1 % for optimisation).

Model (HOGgles Sec. 3.4, "paired dictionary learning"): a grey patch ``x`` and its HOG
window ``y = φ(x)`` share one sparse code ``α`` over paired dictionaries, an image half
``U`` and a HOG half ``V``::

    x ≈ U α,   y ≈ V α.                                            (Sec. 3.4)

Inference (Sec. 3.4): code the HOG window with the HOG half, synthesise with the image half::

    α* = argmin_{α ≥ 0} ½‖y − V α‖² + λ‖α‖₁,    x̂ = U α*.

Details from the authors' code (ihog ``invertHOG.m``), followed here: every window is
centred and scaled to unit norm before coding (``y ← (y − ȳ)/√(‖y − ȳ‖² + eps)``); codes
are non-negative (SPAMS ``pos``); every ``w×w``-cell window synthesises a patch of
``(w + 2)·cell`` pixels (one cell of margin each side), windows slide by one cell; patches
are weighted by a Gaussian of σ = 9 pixels and averaged where they overlap (we divide by
the summed weights, a weighted mean; ihog divides by the count, which only rescales);
the image is then stretched to the full grey range (min → 0, max → 1), since block
normalisation makes HOG blind to global contrast. Output: the representation's grey input
``255·v − 128`` (:data:`representations.shallow.GREY_CONVENTION`), exactly the input size.

Learning lives in :mod:`inverters.hoggle_fit`; this module is inference, storage and checks.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from preimage.representations.errors import PreimageError

KIND = "hoggle"
FORMAT = 1
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_MODEL = "hoggle"
EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps in ihog's normalisation
SIGMA = 9.0  # Gaussian patch weight (pixels), ihog invertHOG.m


@dataclass
class HOGgleMeta:
    """What a HOGgle model is: the representation and geometry it inverts and how it was learned."""

    atoms: int
    lam: float
    representation: str = "hog"
    cell_size: int = 8
    window: int = 5
    channels: int = 31
    sigma: float = SIGMA
    command: str = ""
    extra: dict = field(default_factory=dict)  # seed, windows, images, seconds, ...

    @property
    def patch(self) -> int:
        """Side of the synthesised grey patch: (w + 2)·cell (one cell of margin each side)."""
        return (self.window + 2) * self.cell_size


def normalise(v: Tensor) -> Tensor:
    """Rows centred and scaled to unit norm: ``(v − v̄)/√(‖v − v̄‖² + eps)`` (ihog)."""
    v = v - v.mean(-1, keepdim=True)
    return v / (v.pow(2).sum(-1, keepdim=True) + EPS).sqrt()


def hog_windows(phi: Tensor, window: int) -> Tensor:
    """(B, C, H', W') → (B, L, C·w·w): every w×w-cell window, stride one cell, row-major."""
    return F.unfold(phi, window).transpose(1, 2)


def gaussian_window(size: int, sigma: float, dtype=torch.float64) -> Tensor:
    """(size, size) Gaussian centred on the patch, peak 1 (MATLAB fspecial up to scale)."""
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-r.pow(2) / (2 * sigma**2))
    return g[:, None] * g[None, :]


def hog_representation(name: str = "hog", cell_size: int = 8):
    """The project's HOG (``build_representation``) with its ``hog`` tap, at ``cell_size``
    (the registry builds 8-pixel cells, the CVPR'15 setting; other sizes via its factory)."""
    from preimage.representations import build_representation
    from preimage.representations.shallow import FACTORIES

    rep = build_representation(name, taps="hog")
    if getattr(rep, "cell_size", None) is None:
        raise PreimageError(f"HOGgle inverts HOG; {name} is not a HOG representation (use hog, hogb or cnn-hog)")
    if rep.cell_size != cell_size:
        rep = FACTORIES[name](taps="hog", cell_size=cell_size)
    return rep


def hog_cells(n: int, cell_size: int) -> int:
    """HOG cells along ``n`` pixels (VLFeat: the last cell at least half inside)."""
    return (n + cell_size // 2) // cell_size


class HOGgle(nn.Module):
    """Paired dictionaries ``U`` (``d_grey``, K × p²) and ``V`` (``d_hog``, K × C·w²) with their meta.

    ``forward(phi, size)``: HOG maps (B, C, H', W') → grey images (B, 1, H, W) in the
    representation's input units, ``size = (H, W)`` the original image size.
    """

    def __init__(self, d_grey: Tensor, d_hog: Tensor, meta: HOGgleMeta) -> None:
        super().__init__()
        m = meta
        if d_grey.shape != (m.atoms, m.patch**2) or d_hog.shape != (m.atoms, m.channels * m.window**2):
            raise PreimageError(
                f"HOGgle dictionaries of shapes {tuple(d_grey.shape)}, {tuple(d_hog.shape)} do not match "
                f"{m.atoms} atoms of {m.patch}² pixels and {m.channels}×{m.window}² HOG values; retrain the model"
            )
        self.meta = meta
        self.register_buffer("d_grey", d_grey.float())
        self.register_buffer("d_hog", d_hog.float())

    def min_image_size(self) -> int:
        """Smallest image side with one full window of cells."""
        c = self.meta.cell_size
        return self.meta.window * c - c // 2

    def check(self, representation: str, cell_size: int, channels: int | None = None) -> None:
        """One sentence if this model was learned for another representation or geometry."""
        m = self.meta
        if representation != m.representation or cell_size != m.cell_size or channels not in (None, m.channels):
            raise PreimageError(
                f"this HOGgle model inverts {m.representation} with {m.cell_size}-pixel cells "
                f"({m.channels} channels), not {representation} with {cell_size}-pixel cells"
                f"{'' if channels is None else f' ({channels} channels)'}; use a matching model "
                f"(preimage hoggle fit --cell-size {cell_size}) or representation {m.representation}"
            )

    def _check_phi(self, phi: Tensor, size: tuple[int, int]) -> None:
        m = self.meta
        if phi.dim() != 4 or phi.shape[1] != m.channels:
            raise PreimageError(
                f"HOGgle expects HOG maps of shape (B, {m.channels}, H', W'), got {tuple(phi.shape)}; "
                f"pass the 'hog' tap of representation {m.representation}"
            )
        cells = tuple(hog_cells(int(n), m.cell_size) for n in size)
        if cells != tuple(phi.shape[-2:]):
            raise PreimageError(
                f"a {size[1]}x{size[0]} image has {cells[1]}x{cells[0]} HOG cells of {m.cell_size} pixels, "
                f"but the features have {phi.shape[-1]}x{phi.shape[-2]}; pass the size of the image they came from"
            )
        if min(cells) < m.window:
            n = self.min_image_size()
            raise PreimageError(f"HOGgle needs images of at least {n}x{n} pixels ({m.window}x{m.window} HOG cells); "
                                f"got {size[1]}x{size[0]}")
        if not torch.isfinite(phi).all():
            raise PreimageError("the HOG features contain NaN or infinite values; check the image")

    def codes(self, windows: Tensor) -> Tensor:
        """α* for normalised windows (N, C·w²) → (N, K): ``argmin_{α≥0} ½‖y − Vα‖² + λ‖α‖₁``
        (HOGgles Sec. 3.4), solved by scikit-learn's ``sparse_encode`` (LARS-lasso)."""
        from sklearn.decomposition import sparse_encode

        d = self.d_hog.double().cpu().numpy()
        a = sparse_encode(windows.double().cpu().numpy(), d, algorithm="lasso_lars",
                          alpha=self.meta.lam, positive=True, max_iter=1000)
        return torch.from_numpy(a).to(windows.device)

    @torch.no_grad()
    def forward(self, phi: Tensor, size: tuple[int, int]) -> Tensor:
        size = (int(size[0]), int(size[1]))
        self._check_phi(phi, size)
        m, (b, _, hc, wc) = self.meta, phi.shape
        c, p, w = m.cell_size, m.patch, m.window
        y = normalise(hog_windows(phi.double(), w))                # (B, L, C·w²), L = (H'−w+1)(W'−w+1)
        alpha = self.codes(y.reshape(-1, y.shape[-1]))             # (B·L, K)
        g = gaussian_window(p, m.sigma).to(phi.device).reshape(1, p * p, 1)
        patches = (alpha @ self.d_grey.double()).reshape(b, -1, p * p).transpose(1, 2) * g  # (B, p², L)
        canvas = ((hc - w) * c + p, (wc - w) * c + p)              # pixels −c … (H'+1)·c of the image
        num = F.fold(patches, canvas, p, stride=c)
        den = F.fold(g.expand(1, p * p, patches.shape[-1]), canvas, p, stride=c)
        img = (num / den.clamp_min(1e-12))[..., c : c + size[0], c : c + size[1]]  # (B, 1, H, W)
        lo = img.amin((1, 2, 3), keepdim=True)
        hi = img.amax((1, 2, 3), keepdim=True)
        v = (img - lo) / (hi - lo).clamp_min(1e-12)                # stretched to [0, 1] (ihog)
        from preimage.representations.shallow import GREY_CONVENTION as G

        return (G.scale * v - G.mean[0]).to(phi.dtype)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Grey images (B, 1, H, W) in input units → their HOGgle reconstructions, same shape."""
        rep = hog_representation(self.meta.representation, self.meta.cell_size)
        return self(rep(x)["hog"], tuple(x.shape[-2:]))

    def save(self, path: str | Path) -> Path:
        """npz: ``d_grey`` and ``d_hog`` as float16 (half the bytes; codes change < 1e-3) plus
        the meta as JSON; written to a temporary file and renamed (never half-written)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise PreimageError(f"HOGgle models are .npz files; name the output {path.with_suffix('.npz')}")
        meta = json.dumps({"kind": KIND, "format": FORMAT, **asdict(self.meta)})
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            np.savez(f, d_grey=self.d_grey.cpu().numpy().astype(np.float16),
                     d_hog=self.d_hog.cpu().numpy().astype(np.float16), meta=np.array(meta))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, spec: str | Path = DEFAULT_MODEL) -> "HOGgle":
        """A .npz file or the short name of a shipped model (``inverters/pretrained/NAME.npz``)."""
        path = resolve_model(spec)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"])) if "meta" in z.files else None
                if not isinstance(meta, dict) or meta.pop("kind", None) != KIND or meta.pop("format", None) != FORMAT:
                    raise PreimageError(f"{path} is not a HOGgle model (format {FORMAT}); "
                                        "give a file written by preimage hoggle fit")
                d_grey, d_hog = (torch.from_numpy(z[k].astype(np.float32)) for k in ("d_grey", "d_hog"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as e:
            if isinstance(e, PreimageError):
                raise
            raise PreimageError(f"{path} is not a readable HOGgle model ({type(e).__name__}); "
                                "retrain it with preimage hoggle fit") from None
        try:
            return cls(d_grey, d_hog, HOGgleMeta(**meta))
        except TypeError as e:
            raise PreimageError(f"{path} has unreadable HOGgle meta ({e}); retrain it with preimage hoggle fit") from None


def shipped_models() -> list[str]:
    """Short names of the shipped HOGgle models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("hoggle*.npz"))


def resolve_model(spec: str | Path) -> Path:
    """A path to an existing file, or a shipped short name → the model's path."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.suffix == "" and (PRETRAINED_DIR / f"{spec}.npz").is_file():
        return PRETRAINED_DIR / f"{spec}.npz"
    names = ", ".join(shipped_models()) or "none"
    raise PreimageError(f"HOGgle model {str(spec)!r} not found; give an existing .npz file or a shipped name ({names})")
