"""``method: hoggle`` of ``preimage invert``: HOG inverted by HOGgle's paired dictionaries
(Vondrick et al., ICCV 2013, Sec. 3.4; :mod:`preimage.inverters.hoggle`) instead of by
optimisation, so the CVPR'15 baseline of Table 1 runs through the same run directory,
figure and metrics as every other method::

    preimage invert --config hog-cvpr15 --image coffee method.name=hoggle [method.model=FILE]

The job's objective is only evaluated on the result (its terms and relative error go to
metrics.json); no optimisation step is taken (``steps = 0``, empty history).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from preimage.inverters.hoggle import DEFAULT_MODEL, HOGgle
from preimage.representations.errors import PreimageError
from preimage.train.config.invert import MethodVariant, register_variant


@register_variant("method", "hoggle")
@dataclass
class HOGgleMethod(MethodVariant):
    """``model``: a HOGgle .npz file or the short name of a shipped one."""

    model: str = DEFAULT_MODEL

    def prepare(self, job: Any) -> None:
        """Load and check the model before any run directory exists (bad input fails here)."""
        model = HOGgle.load(self.model)  # a missing or corrupt model: one PreimageError
        rep = job.representation
        model.check(rep.name, getattr(rep, "cell_size", -1))
        if job.layers != ["hog"]:
            raise PreimageError(f"method hoggle inverts the 'hog' layer, not {', '.join(job.layers)}; pass layer=hog")
        self._model = model

    def run(self, job: Any, callbacks: Sequence[Any]) -> Any:
        from preimage.inversion import InversionResult

        if getattr(self, "_model", None) is None:
            self.prepare(job)
        model = self._model
        start = time.perf_counter()
        x = model(job.context.phi0["hog"], tuple(job.x0.shape[-2:]))  # (N, 1, H, W): deterministic,
        x = x.repeat_interleave(job.repeats, 0)                       # so every restart is the same image
        seconds = time.perf_counter() - start
        metrics = job.evaluate(x)
        history = {n: torch.empty(0, x.shape[0]) for n in [*job.objective.terms, "total"]}
        result = InversionResult(x, history, metrics, 0, seconds,
                                 {"method": "hoggle", "model": self.model, "hoggle_command": model.meta.command})
        for cb in callbacks:
            if hasattr(cb, "on_end"):
                cb.on_end(result)
        return result
