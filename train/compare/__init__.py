"""``preimage compare``: every method side by side on the same images, layers and metrics
(spec → plan → units run by Lightning Fabric ranks → merged tables and figures).

May import ``train.config`` (the spec is validated by the one config validator), ``train.jobs``
(every method is an invert job), ``train.output`` and the library packages."""

from preimage.train.compare.plan import Plan, Unit, build_plan
from preimage.train.compare.runner import Launch, execute_plan
from preimage.train.compare.spec import CompareSpec, load_spec

__all__ = ["CompareSpec", "Launch", "Plan", "Unit", "build_plan", "execute_plan", "load_spec"]
