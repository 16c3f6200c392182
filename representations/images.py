"""Image conventions: loading files into RGB tensors in [0, 1], resizing and cropping to
a representation's input size, and the bundled photos (shipped inside scikit-image,
scikit-learn and matplotlib: no network needed)."""

from __future__ import annotations

import functools
import hashlib
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from preimage.representations.errors import PreimageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}

#: The bundled photos every shipped model is trained on, and the ones no model ever is: the
#: evaluation photos of the benchmarks and the default comparison.
TRAIN_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "rocket", "motorcycle", "camera", "flower")
HELD_OUT_PHOTOS: tuple[str, ...] = ("coffee", "china", "grace_hopper")
#: Grey photos in scikit-image (brick, grass and gravel textures, coins, the moon): more
#: training data for a grey prior (``configs/prior/score-grey.yaml`` adds them to the six).
GREY_PHOTOS: tuple[str, ...] = ("brick", "grass", "gravel", "coins", "moon")

#: ITU-R BT.601 luma weights: every grey conversion of the project (conventions, priors, patches).
LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)


def to_grey(rgb: Tensor) -> Tensor:
    """(…, 3, H, W) RGB → (…, 1, H, W) ITU-R 601 luma."""
    w = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).reshape(3, 1, 1)
    return (rgb * w).sum(-3, keepdim=True)


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        img = getattr(skimage.data, name)()
        return img[0] if isinstance(img, tuple) else img  # stereo pairs: left view

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    """scikit-learn's sample photo ``name`` (what ``load_sample_images`` reads), read from the
    package's folder without importing scikit-learn (about a second of start-up)."""
    def load() -> np.ndarray:
        import importlib.util

        spec = importlib.util.find_spec("sklearn")
        if spec is None or not spec.submodule_search_locations:
            raise PreimageError("the bundled photo needs scikit-learn; pip install scikit-learn")
        path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "images" / f"{name}.jpg"
        with open(path, "rb") as f:
            return _pil_to_array(f)

    return load


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return _pil_to_array(f)


SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "motorcycle": _skimage("stereo_motorcycle"),
    "camera": _skimage("camera"),
    "china": _sklearn("china"),
    "flower": _sklearn("flower"),
    "grace_hopper": _grace_hopper,
    **{name: _skimage(name) for name in GREY_PHOTOS},
}
DEFAULT_SAMPLE = "chelsea"


def sample_names() -> list[str]:
    """Names of the bundled photos, usable wherever an image path is."""
    return list(SAMPLES)


def _pil_to_array(fp) -> np.ndarray:
    """Any PIL-readable image → (H, W, 3) float32 in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    name = fp if isinstance(fp, (str, Path)) else getattr(fp, "name", "image")
    try:
        with warnings.catch_warnings():  # over MAX_IMAGE_PIXELS Pillow only warns, then decodes gigabytes
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp)
        with im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64)
                a = a / (65535.0 if a.max() > 255 or mode.startswith("I;16") else 255.0)
            elif mode == "F":
                a = np.asarray(im, dtype=np.float64)
            else:
                if mode == "P":
                    im = im.convert("RGBA")
                a = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        pixels = str(e).split(" pixels")[0].split("(")[-1]
        raise PreimageError(f"image {name} is too large ({pixels} pixels, over Pillow's limit of "
                            f"{Image.MAX_IMAGE_PIXELS}); give a smaller image (it is resized anyway)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PreimageError(f"cannot read {name} as an image ({first}); give a JPEG or PNG file") from None
    return _to_rgb(a)


def _to_rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        a = a.astype(np.float64) / 255.0
    elif a.dtype == np.uint16:
        a = a.astype(np.float64) / 65535.0
    elif a.dtype == bool:
        a = a.astype(np.float64)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    elif a.ndim == 3 and a.shape[2] == 2:  # grey + alpha
        a = np.repeat(a[..., :1], 3, axis=2)
    return np.clip(a, 0.0, 1.0).astype(np.float32)


def load_image(spec: str | Path) -> Tensor:
    """A file path or bundled sample name → (3, H, W) float32 RGB in [0, 1]."""
    spec = str(spec)
    if spec in SAMPLES and not Path(spec).exists():
        return torch.from_numpy(_to_rgb(SAMPLES[spec]())).permute(2, 0, 1).contiguous()
    path = Path(spec)
    if not path.exists():
        raise PreimageError(
            f"image {spec!r} not found; give an existing file or folder, or a bundled sample: "
            f"{', '.join(SAMPLES)}"
        )
    if path.is_dir():
        raise PreimageError(f"{spec} is a folder; use resolve_images() to load every image in it")
    return torch.from_numpy(_pil_to_array(path)).permute(2, 0, 1).contiguous()


def resolve_images(specs: Iterable[str | Path]) -> list[tuple[str, Tensor]]:
    """Files, folders (their image files, sorted) and sample names → [(name, image)]."""
    out: list[tuple[str, Tensor]] = []
    for spec in specs:
        path = Path(str(spec))
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise PreimageError(f"folder {spec} holds no image files (.jpg, .png, ...)")
            out.extend((p.stem, load_image(p)) for p in files)
        else:
            name = path.stem if path.exists() else str(spec)
            out.append((name, load_image(spec)))
    return out


def resize_crop(img: Tensor, size: int) -> Tensor:
    """Resize so the shorter side is ``size`` (antialiased bilinear), then centre-crop
    to ``size``×``size``. Works on (3, H, W) or (B, 3, H, W)."""
    batched = img.dim() == 4
    x = img if batched else img[None]
    h, w = x.shape[-2:]
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[..., top : top + size, left : left + size].clamp(0.0, 1.0)
    return x if batched else x[0]


def pixel_digest(img: Tensor) -> str:
    """SHA-256 of an image's 8-bit pixels (its shape and round(255·x)): the same for a photo and
    any lossless copy of it (another name, PNG instead of the original file), unlike its name."""
    q = (img.detach().float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).contiguous().cpu()
    h = hashlib.sha256(str(tuple(q.shape)).encode())
    h.update(q.numpy().tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _held_out_digests() -> dict[str, str]:
    """digest → held-out photo, for each photo and its mirror image."""
    out = {}
    for name in HELD_OUT_PHOTOS:
        img = load_image(name)
        out[pixel_digest(img)] = out[pixel_digest(img.flip(-1))] = name
    return out


def held_out_among(images: Iterable[tuple[str, Tensor]]) -> list[tuple[str, str]]:
    """``(name, photo)`` for every given image whose pixels are those of a held-out photo
    (:data:`HELD_OUT_PHOTOS`, or its mirror image), whatever it is called: the check behind every
    "never trained or tuned on the evaluation photos" rule."""
    digests = _held_out_digests()
    return [(name, digests[d]) for name, img in images for d in [pixel_digest(img)] if d in digests]


def refuse_held_out(images: Iterable[tuple[str, Tensor]], what: str, fix: str) -> None:
    """One :class:`PreimageError` if one of ``images`` (``what``: where they were given) is a
    held-out evaluation photo by content; ``fix``: the sentence saying what to do instead."""
    found = held_out_among(images)
    if found:
        said = ", ".join(n if n == photo else f"{n} (the held-out photo {photo})" for n, photo in found)
        raise PreimageError(f"{what}: {said} {'is' if len(found) == 1 else 'are'} held out for evaluation "
                            f"({', '.join(HELD_OUT_PHOTOS)}); {fix}")


def save_image(img: Tensor, path: str | Path) -> None:
    """(3, H, W) RGB in [0, 1] → 8-bit PNG/JPEG."""
    from PIL import Image

    a = (img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(a).save(path)
