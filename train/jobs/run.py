"""Run an invert job from Python exactly as ``preimage invert`` does, without writing
files: the same config resolution (preset or YAML file or dict, ``key=value``
overrides, ``--layer``/``--weights``), the same image naming, the same method (the
config's ``method`` variant: optimisation, jitter and box included) and the same metrics
dict that the command writes to ``metrics.json``::

    from preimage.train.api import run_invert

    run = run_invert("squeezenet-cvpr15", ["chelsea"], ["optimiser.schedule=[[1, 20]]"])
    run.result          # InversionResult (images in input units, per-term history)
    run.metrics         # == metrics.json: per image and restart PSNR, SSIM, relative error ...

The command line is :func:`prepare_invert` + :func:`run_job` with its run directory
around the second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from torch import Tensor

from preimage.inversion import InversionResult
from preimage.train.jobs.setup import InversionJob
from preimage.train.config.invert import InvertConfig

ImageSpec = str | Path | tuple[str, Tensor]


@dataclass
class InvertRun:
    """A finished job: the validated ``config``, the built ``job``, the engine's
    ``result``, the ``metrics`` dict of ``metrics.json`` (with its ``warnings`` list),
    ``reconstructions`` (N, R, 3, H, W) and ``originals`` (N, 3, H, W), RGB in [0, 1]."""

    config: InvertConfig
    job: InversionJob
    result: InversionResult
    metrics: dict[str, Any]
    reconstructions: Tensor
    originals: Tensor

    @property
    def warnings(self) -> list[str]:
        return self.metrics["warnings"]


def load_config(config: str | Path | dict | InvertConfig, overrides: Sequence[str] = (), *,
                layer: str | Sequence[str] | None = None, weights: str | None = None) -> InvertConfig:
    """A preset name, a YAML path, a config dict or an :class:`InvertConfig`, with
    ``key=value`` overrides, then ``layer`` and ``weights`` (the CLI's ``--layer`` and
    ``--weights``) → a validated config."""
    from preimage.train.config.overrides import apply_overrides, load_preset, normalise
    from preimage.train.config.invert import parse_config, to_data

    if isinstance(config, InvertConfig):
        data = to_data(config)
    elif isinstance(config, dict):
        data = normalise(config)
    else:
        data = load_preset(str(config))
    data = apply_overrides(data, overrides)
    if layer:
        layers = [layer] if isinstance(layer, str) else list(layer)
        data["layer"] = layers[0] if len(layers) == 1 else layers
    if weights:
        data["weights"] = weights
    return parse_config(data)


def distinct_names(names: Sequence[str]) -> list[str]:
    """Output names, one per image, all different and stable for the same inputs: a
    repeated name gets ``-2``, ``-3``, … in order (skipping names already taken)."""
    originals, seen, out = set(names), set(), []
    for name in names:
        new, k = name, 1
        while new in seen or (new != name and new in originals):
            k += 1
            new = f"{name}-{k}"
        seen.add(new)
        out.append(new)
    return out


def load_images(images: Sequence[ImageSpec]) -> list[tuple[str, Tensor]]:
    """Files, folders, bundled sample names or (name, (3, H, W) tensor) pairs → named
    images with distinct names."""
    from preimage.representations import resolve_images

    pairs: list[tuple[str, Tensor]] = []
    for spec in images:
        if isinstance(spec, tuple):
            pairs.append((str(spec[0]), spec[1]))
        else:
            pairs.extend(resolve_images([spec]))
    if not pairs:
        from preimage.representations.errors import PreimageError

        raise PreimageError("no image given; pass --image FILE, FOLDER or a bundled sample such as chelsea")
    return list(zip(distinct_names([n for n, _ in pairs]), [img for _, img in pairs]))


def prepare_invert(config: str | Path | dict | InvertConfig, images: Sequence[ImageSpec],
                   overrides: Sequence[str] = (), *, layer: str | Sequence[str] | None = None,
                   weights: str | None = None) -> InversionJob:
    """Validate everything and build the job; all bad input fails here, before any run."""
    from preimage.train.jobs.setup import build_job

    cfg = load_config(config, overrides, layer=layer, weights=weights)
    job = build_job(cfg, load_images(images))
    job.method.prepare(job)  # e.g. load and check an inverter checkpoint
    return job


def run_warnings(result: InversionResult, labels: list[str]) -> list[str]:
    """A run whose objective ended above where it started, or whose relative feature error
    exceeds 1 (further from Φ₀ than the zero image), is flagged (by `invert` and by `compare`)."""
    out = []
    hist = result.history.get("total")
    sampled = result.extra.get("sigma_factor") is not None  # Langevin samples: E is not minimised
    if hist is not None and hist.shape[0] > 0 and not sampled:
        up = [(labels[b], float(hist[0, b]), float(result.metrics["total"][b])) for b in range(len(labels))
              if float(result.metrics["total"][b]) > float(hist[0, b])]
        if up:
            name, a, b = up[0]
            more = f" (and {len(up) - 1} more)" if len(up) > 1 else ""
            out.append(f"the objective ended above where it started for {name}{more}: {a:.4g} -> {b:.4g}")
    rel = [(labels[b], float(v[b])) for k, v in result.metrics.items() if k.startswith("relative_error@")
           for b in range(len(labels)) if not float(v[b]) <= 1.0]
    if rel:
        name, v = max(rel, key=lambda t: t[1] if math.isfinite(t[1]) else math.inf)
        more = f" (and {len(rel) - 1} more)" if len(rel) > 1 else ""
        out.append(f"relative feature error {v:.3g} > 1 for {name}{more}")
    if out:  # a sampler has no optimiser: a far sample means a weak match or too large steps
        out[-1] += "; try a larger objective.weight or a smaller method.eps" if sampled else \
            "; try a smaller optimiser.lr or a box"
    return out


def run_job(job: InversionJob, callbacks: Sequence[Any] = ()) -> InvertRun:
    """Run a prepared job with its method and compute the metrics of ``metrics.json``; a
    sampler's (Langevin: the restarts are its samples, each with its feature error) adds
    ``sample_std``: per image the mean over pixels of the samples' per-pixel standard deviation
    (RGB in [0, 1], n − 1; with two samples or more)."""
    from preimage.inversion import keep_freed_memory
    from preimage.inversion.metrics import image_mse, image_psnr, image_ssim
    from preimage.train.jobs.methods import is_sampler

    keep_freed_memory()  # per-step tensors reuse freed memory instead of fresh pages (as the CLI)
    res = job.method.run(job, callbacks)
    conv = job.representation.convention
    n, r = len(job.names), job.repeats
    rgb = conv.deprocess(res.images).reshape(n, r, 3, *res.images.shape[-2:])
    orig = conv.deprocess(job.x0)
    out: dict[str, Any] = {"config": job.config.name, "method": job.method.name, "layers": job.layers,
                           "seconds_total": res.seconds, "images": {}}
    if "load_seconds" in res.extra:  # an inverse network: inference above, loading its checkpoint here
        out["seconds_load"] = res.extra["load_seconds"]
    for i, img_name in enumerate(job.names):
        ref = orig[i: i + 1]
        psnr, ssim, mse = image_psnr(rgb[i], ref), image_ssim(rgb[i], ref), image_mse(rgb[i], ref)
        runs = []
        for k in range(r):
            b = i * r + k
            rel = {key.split("@", 1)[1]: float(v[b]) for key, v in res.metrics.items()
                   if key.startswith("relative_error@")}
            runs.append({"restart": k, "steps": res.steps, "seconds": res.seconds,
                         "psnr": float(psnr[k]), "ssim": float(ssim[k]), "mse": float(mse[k]),
                         "relative_error": next(iter(rel.values())) if len(rel) == 1 else rel,
                         "terms": {key: float(v[b]) for key, v in res.metrics.items()
                                   if not key.startswith("relative_error@")}})
        out["images"][img_name] = runs
    if is_sampler(job.method.name) and r > 1:  # the samples' spread: mean over pixels of their per-pixel std
        from preimage.train.output.figures import pixel_std

        out["sample_std"] = {name: float(s.mean()) for name, s in zip(job.names, pixel_std(rgb.cpu()))}
    out["warnings"] = run_warnings(res, [f"{name}-r{k}" for name in job.names for k in range(r)])
    return InvertRun(job.config, job, res, out, rgb, orig)


def run_invert(config: str | Path | dict | InvertConfig, images: Sequence[ImageSpec],
               overrides: Sequence[str] = (), *, layer: str | Sequence[str] | None = None,
               weights: str | None = None, callbacks: Sequence[Any] = ()) -> InvertRun:
    """One invert job, as ``preimage invert --config CONFIG --image IMAGES... OVERRIDES``
    runs it, returning what the command would write (no files are written)."""
    return run_job(prepare_invert(config, images, overrides, layer=layer, weights=weights), callbacks)
