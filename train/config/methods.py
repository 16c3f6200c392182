"""Inverse networks as variants of the invert schema (:mod:`preimage.train.config.invert`):

- ``method: {name: inverter, checkpoint: auto}`` — x* = g(Φ₀), one forward pass of a trained
  inverter (Dosovitskiy & Brox 2016), written to the same run directory, figure and metrics
  as optimisation;
- ``init: {name: inverter, checkpoint: auto}`` — the hybrid: the job's optimisation starts from
  g(Φ₀) (give it a gentle schedule: the CVPR'15 preset's first learning rate erases the
  inverter's image; see the ``squeezenet-hybrid`` preset).

``checkpoint``: a shipped short name, a ``.pt`` path, or ``auto`` (the shipped
``<representation>-<layer>``, or ``<representation>`` for a shallow one). The checkpoint is
loaded and checked against the job's network, layer and feature shape before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from preimage.train.config.invert import BuildContext, InitVariant, MethodVariant, register_variant


def _load(checkpoint: str, representation: Any, layers: list[str], phi0: Any):
    from preimage.train.jobs.inverters import load_checked

    return load_checked(checkpoint, representation, layers, phi0)


@register_variant("method", "inverter")
@dataclass
class InverterMethod(MethodVariant):
    """One forward pass of a trained inverter, scored with the job's objective."""

    checkpoint: str = "auto"

    def prepare(self, job: Any) -> None:
        """Load and check the inverter now (before any run directory exists)."""
        self._inverter = _load(self.checkpoint, job.representation, job.layers, job.context.phi0)

    def run(self, job: Any, callbacks: Sequence[Any]) -> Any:
        from preimage.train.jobs.inverters import run_inverter

        inverter = getattr(self, "_inverter", None)
        if inverter is None:
            self.prepare(job)
            inverter = self._inverter
        return run_inverter(inverter, job, callbacks)


@register_variant("init", "inverter")
@dataclass
class InverterInit(InitVariant):
    """The hybrid: start from the inverter's reconstruction g(Φ₀), repeated over restarts.
    ``keep_better_start``: per item, the result is never worse in the objective than that
    start (the optimisation's end is kept only where it lowered the objective)."""

    checkpoint: str = "auto"
    keep_better_start: bool = True

    def build(self, ctx: BuildContext) -> Any:
        from preimage.train.jobs.inverters import images_from

        inverter = _load(self.checkpoint, ctx.representation, ctx.layers, ctx.phi0)
        return images_from(inverter, ctx.representation, ctx.x0, ctx.repeats)
