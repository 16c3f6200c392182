"""Any torchvision classification model as a Representation: taps are dotted module
paths (``layer3.1.conv2`` of a ResNet), read with forward hooks; the forward pass stops
right after the deepest tap. Receptive fields are measured from the modules by a
gradient probe (a positive-weight copy of the network, so no unit is switched off)."""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import Tensor, nn

from preimage.representations.base import TORCHVISION_CONVENTION, ReceptiveField, Representation
from preimage.representations.errors import PreimageError


class _Stop(Exception):
    pass


class HookedModel(Representation):
    """Taps are named submodules of ``model``; ``layers`` lists them in execution order."""

    def __init__(self, name: str, model: nn.Module, taps: Sequence[str] | str | None,
                 input_size: int = 224) -> None:
        super().__init__()
        self._name = name
        self.model = model
        self.convention = TORCHVISION_CONVENTION
        self.input_size = input_size
        self.layers = self._execution_order()
        self.taps = self.resolve_taps(taps)
        self._rf: dict[str, ReceptiveField] = {}
        self._probe: nn.Module | None = None
        self._min: dict[str, int] = {}
        self.freeze()

    def _execution_order(self) -> list[str]:
        order: list[str] = []
        named = {m: n for n, m in self.model.named_modules() if n}

        def record(m, _i, o):  # spatial maps only: classifier heads are not taps
            if isinstance(o, Tensor) and o.dim() == 4:
                order.append(named[m])

        hooks = [m.register_forward_hook(record) for m in named]
        try:
            with torch.no_grad():
                self.model.eval()(torch.zeros(1, 3, self.input_size, self.input_size))
        finally:
            for h in hooks:
                h.remove()
        return list(dict.fromkeys(order))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        modules = dict(self.model.named_modules())
        deepest = self.deepest_tap

        def hook(name):
            def fn(_m, _i, o):
                out[name] = o
                if name == deepest:
                    raise _Stop

            return fn

        hooks = [modules[t].register_forward_hook(hook(t)) for t in self.taps]
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            for h in hooks:
                h.remove()
        return out

    def with_taps(self, taps: Sequence[str] | str | None) -> "HookedModel":
        """A new representation sharing this one's model, with other taps."""
        return HookedModel(self._name, self.model, taps, self.input_size)

    def receptive_field(self, name: str) -> ReceptiveField:
        self.check_layer(name)
        if name not in self._rf:
            if self._probe is None:
                self._probe = probe_model(self.model)
            self._rf[name] = _probe(self._probe, name, self.input_size)
        return self._rf[name]

    def min_input_size(self, layer: str) -> int:
        """Smallest square input giving ``layer`` at least one unit: a binary search of
        forward passes up to ``layer``, below its receptive field size (always enough)."""
        self.check_layer(layer)
        if layer not in self._min:
            try:
                lo, hi = 1, self.receptive_field(layer).size
            except PreimageError:  # global layer
                lo, hi = 1, 4 * self.input_size
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if self._reaches(layer, mid) else (mid + 1, hi)
            self._min[layer] = lo
        return self._min[layer]

    def _reaches(self, layer: str, n: int) -> bool:
        try:
            with torch.no_grad():
                out = _run_to(self.model, layer, torch.zeros(1, 3, n, n))
        except RuntimeError:  # a kernel larger than its (padded) input
            return False
        return min(out.shape[-2:]) >= 1


def probe_receptive_field(model: nn.Module, name: str, size: int) -> ReceptiveField:
    """Receptive field of ``name`` from input gradients of two neighbouring units.

    A copy of the network gets positive weights, zero biases, identity batch norms and
    average instead of max pooling, so every path from the input to a unit carries
    gradient; the support of the gradient of unit (i, j) is its receptive field (clipped
    by the image border, so the probe grows the input until the field fits inside it).
    """
    return _probe(probe_model(model), name, size)


def probe_model(model: nn.Module) -> nn.Module:
    """The positive-weight, average-pooling copy that :func:`probe_receptive_field` uses
    (float32 is enough: with positive weights no gradient cancels to zero)."""
    probe = copy.deepcopy(model).float().eval()
    _max_to_avg(probe)  # max pooling passes gradient to one input only; the window is what counts
    with torch.no_grad():
        for mod in probe.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.zero_()
                mod.running_var.fill_(1.0)
        for pname, p in probe.named_parameters():
            p.requires_grad_(False)
            p.copy_(torch.zeros_like(p) if pname.endswith("bias") else p.abs() + 1e-3)
    return probe


def _probe(probe: nn.Module, name: str, size: int) -> ReceptiveField:
    with torch.enable_grad():  # callers may be inside no_grad (e.g. `preimage layers`)
        return _probe_grad(probe, name, size)


def _probe_grad(probe: nn.Module, name: str, size: int) -> ReceptiveField:
    for n in range(1, 5):
        x = torch.ones(1, 3, size * n, size * n, requires_grad=True)
        feats = _run_to(probe, name, x)
        h, w = feats.shape[-2:]
        if h < 3 or w < 3:
            continue
        i, j = h // 2, w // 2
        spans = []
        for jj in (j, j + 1):
            (g,) = torch.autograd.grad(feats[0, :, i, jj].sum(), x, retain_graph=True)
            cols = torch.nonzero(g.abs().sum((0, 1, 2)) > 0).ravel()
            spans.append((int(cols.min()), int(cols.max())))
        (a0, a1), (b0, _) = spans
        if a0 > 0 and a1 < x.shape[-1] - 1:
            return ReceptiveField(size=a1 - a0 + 1, stride=b0 - a0, offset=(a0 + a1) / 2 - j * (b0 - a0))
    raise PreimageError(f"cannot measure the receptive field of {name}: its units see the whole image")


def _max_to_avg(module: nn.Module) -> None:
    for n, child in module.named_children():
        if isinstance(child, nn.MaxPool2d):
            setattr(module, n, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
        else:
            _max_to_avg(child)


def _run_to(model: nn.Module, name: str, x: Tensor) -> Tensor:
    box: dict[str, Tensor] = {}
    target = dict(model.named_modules())[name]

    def fn(_m, _i, o):
        box["o"] = o
        raise _Stop

    h = target.register_forward_hook(fn)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        h.remove()
    out = box["o"]
    if out.dim() != 4:
        raise PreimageError(f"layer {name} has no spatial map (shape {tuple(out.shape)}); pick a convolutional layer")
    return out


def build_torchvision(name: str, taps: Sequence[str] | str | None, weights: str | None) -> HookedModel:
    """torchvision model ``name`` with ``weights`` (torchvision name, state-dict file or random)."""
    import torchvision.models

    from preimage.representations import weights as W

    spec = weights or "DEFAULT"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None)
    if spec != W.RANDOM:
        if spec.lower().endswith(W.STATE_SUFFIXES):
            state = W.load_state_file(spec)
        else:
            state = W.torchvision_state(name, spec)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise PreimageError(f"weights do not fit {name} ({str(e).splitlines()[0]}); "
                                f"give a state dict saved from torchvision's {name}") from None
    return HookedModel(name, model, taps)
