"""A resolved invert config + images → the engine's objects (representation, objective,
initial batch, optimiser, jitter, box). Batch layout: image-major, ``repeats`` restarts
per image (item ``i·R + r``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from preimage.inversion import (X0_SIGMA, ActivationMax, Box, Caricature, FeatureMatch, Jitter, Objective, OPTIMISERS,
                       PriorTerm, expand_schedule, feature_mask, random_init)
from preimage.priors import AlphaNormPrior, TVPrior
from preimage.representations import Representation, build_representation, resize_crop
from preimage.representations.errors import PreimageError


@dataclass
class InversionJob:
    representation: Representation
    layers: list[str]
    objective: Objective
    init: Tensor
    optimiser: Any
    steps: int
    jitter: Jitter | None
    box: Box | None
    x0: Tensor            # (N, C, H, W) originals in input units
    rgb: Tensor           # (N, 3, H, W) originals in [0, 1]
    names: list[str]
    repeats: int
    x0_sigma: float


def _layers(cfg: dict) -> list[str]:
    layer = cfg.get("layer")
    if layer is None:
        raise PreimageError("the config names no layer; pass --layer NAME")
    return [layer] if isinstance(layer, str) else list(layer)


def _tv_weight(spec: dict, rep: Representation, layers: list[str], table) -> float:
    w = spec.get("weight", 1.0)
    if w != "auto":
        return float(w)
    if not table:
        raise PreimageError("priors.tv.weight is 'auto' but the preset has no lambda_tv_by_depth table")
    depth = max(rep.layers.index(l) for l in layers) + 1  # 1-based, as the paper's layer numbers
    for bound, value in table:
        if depth <= bound:
            return float(value)
    return float(table[-1][1])


def _prior_scale(spec: dict, x0_sigma: float, hw: int, exponent: float) -> float:
    """CVPR'15: 1/x0_sigma²; IJCV'16: 1/(H·W·s^exponent) with s = the given ``range``."""
    if spec.get("range") is not None:
        return 1.0 / (hw * float(spec["range"]) ** exponent)
    return 1.0 / x0_sigma**2


OBJECTIVES = ("match", "caricature", "activation")


def _activation_term(cfg: dict, layer: str, phi0: Tensor) -> ActivationMax:
    """IJCV'16 activation maximisation: the centre neuron of channel ``target_channel``,
    scaled by the largest activation the images produce at the layer (so the weight C is
    in the same units across layers)."""
    channel = cfg.get("target_channel")
    c = phi0.shape[1]
    if channel is None or not 0 <= int(channel) < c:
        raise PreimageError(f"objective 'activation' needs target_channel in 0..{c - 1} for layer {layer}; "
                            "pass target_channel=N")
    weight = torch.zeros(1, *phi0.shape[1:], dtype=phi0.dtype, device=phi0.device)
    weight[0, int(channel), phi0.shape[2] // 2, phi0.shape[3] // 2] = 1.0
    return ActivationMax(layer, weight, sigma=float(phi0.abs().max().clamp_min(1e-12)))


def build_job(cfg: dict, images: list[tuple[str, Tensor]]) -> InversionJob:
    layers = _layers(cfg)
    priors = cfg.get("priors") or {}
    for key, spec in priors.items():
        if spec and spec.get("type", key) not in ("tv", "alpha"):
            raise PreimageError(f"prior {key!r} has unknown type {spec.get('type', key)!r}; use type: tv or alpha")
    prior_layers = [spec["layer"] for spec in priors.values() if spec and spec.get("layer")]
    taps = list(dict.fromkeys(layers + prior_layers))
    rep = build_representation(cfg["representation"], taps=taps, weights=cfg.get("weights"))
    size = int(cfg.get("image_size") or rep.input_size)
    rgb = torch.stack([resize_crop(img, size) for _, img in images])
    x0 = rep.convention.preprocess(rgb)
    for layer in taps:
        rep.check_input(x0, layer)
    repeats = int(cfg.get("repeats", 1))
    with torch.no_grad():
        phi0 = rep(x0)
    u = rep.convention.units_per_255
    x0_sigma = float(cfg.get("x0_sigma", X0_SIGMA)) * u
    if cfg.get("x0_sigma_scale_with_size"):
        x0_sigma *= (x0[0].numel() / (3 * 227 * 227)) ** 0.5

    obj = Objective(rep)
    goal = cfg.get("objective") or "match"
    if goal not in OBJECTIVES:
        raise PreimageError(f"unknown objective {goal!r}; choose one of {', '.join(OBJECTIVES)}")
    m = cfg.get("match") or {}
    for layer in layers:
        target = phi0[layer].repeat_interleave(repeats, 0)
        mask = None
        if m.get("neigh") or m.get("filter_group") or m.get("channels"):
            mask = feature_mask(target.shape, m.get("neigh"), m.get("filter_group"), target.device, target.dtype)
            if m.get("channels"):
                mask[:, int(m["channels"]):] = 0
        suffix = "" if len(layers) == 1 else f"@{layer}"
        weight = float(m.get("weight", 1.0))
        if goal == "match":
            obj.add(f"match{suffix}", FeatureMatch(layer, target, mask), weight)
        elif goal == "caricature":
            obj.add(f"caricature{suffix}", Caricature(layer, target, mask), weight)
        else:
            obj.add(f"activation{suffix}", _activation_term(cfg, layer, target), weight)
    hw = size * size
    for key, spec in priors.items():
        if not spec:
            continue
        kind = spec.get("type", key)
        coupled = bool(spec.get("coupled", False))
        if kind == "tv":
            power = float(spec.get("beta", 2.0))
            energy, weight = TVPrior(power, coupled), _tv_weight(spec, rep, layers, cfg.get("lambda_tv_by_depth"))
        else:
            power = float(spec.get("alpha", 6.0))
            energy, weight = AlphaNormPrior(power, coupled), float(spec.get("weight", 1.0))
        layer = spec.get("layer")
        if layer is None:
            obj.add(key, PriorTerm(energy, scale=_prior_scale(spec, x0_sigma, hw, power)), weight)
        else:  # on a feature map: normalised so that the originals' features have energy 1
            e0 = float(energy(phi0[layer]).mean())
            obj.add(f"{key}@{layer}", PriorTerm(energy, layer=layer, scale=1.0 / max(e0, 1e-30)), weight)

    o = dict(cfg.get("optimiser") or {})
    kind = o.pop("name", "momentum")
    if kind not in OPTIMISERS:
        raise PreimageError(f"unknown optimiser {kind!r}; choose one of {', '.join(OPTIMISERS)}")
    lrs = expand_schedule(float(o.pop("lr", 0.004)), o.pop("schedule", None), o.pop("steps", None))
    scale = o.pop("scale", "x0_sigma2")
    scale = {"x0_sigma2": x0_sigma**2, "hw": hw,
             "hw_range2": hw * float(o.pop("range", 1.0)) ** 2}.get(scale, scale)
    o.pop("range", None)
    if kind in ("momentum", "adagrad_momentum", "lbfgs"):
        o["scale"] = float(scale)
    try:
        optimiser = OPTIMISERS[kind](lrs, **o)
    except TypeError as e:
        raise PreimageError(f"bad optimiser settings for {kind}: {e}") from None

    batch = len(images) * repeats
    if goal == "caricature":  # IJCV'16 Sec. 5: caricatures start from the image itself
        init = x0.repeat_interleave(repeats, 0).clone()
    else:
        init = random_init((batch, rep.convention.channels, size, size), x0_sigma, seed=int(cfg.get("seed", 0)))
    j = cfg.get("jitter") or {}
    jitter = None
    if j.get("tau"):
        tau = j["tau"]
        if tau == "auto":  # IJCV'16: about a quarter of the layer's stride
            tau = max(1, round(max(rep.receptive_field(l).stride for l in layers) / 4))
        gen = torch.Generator().manual_seed(int(cfg.get("seed", 0)) + 1)
        jitter = Jitter(int(tau), j.get("steps"), gen)
    b = cfg.get("box")
    mode = cfg.get("box_mode") or "clamp"
    if mode not in ("clamp", "norm"):
        raise PreimageError(f"box_mode must be clamp or norm, got {mode!r}")
    box = Box(-float(b) * u, float(b) * u, mode) if b else None
    return InversionJob(rep, layers, obj, init, optimiser, len(lrs), jitter, box, x0, rgb,
                        [n for n, _ in images], repeats, x0_sigma)
