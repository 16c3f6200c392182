"""Application layer: the ``preimage`` command line and everything it needs that is not
library code (see ``ARCHITECTURE.md`` at the repository root).

Subpackages (imports point downwards in this list; each may also import the library
packages ``representations``, ``priors``, ``inverters`` and ``inversion``):

- ``cli/``       one module per command: a thin parser over a typed config;
- ``compare/``   ``preimage compare``: spec → plan → runner → store → merge;
- ``fit/``       Lightning fitting: LightningModules, data modules, the LightningCLI app,
                 GMM fitting, λ tuning;
- ``jobs/``      building and running an invert job (the Python API behind ``invert``);
- ``analysis/``  denoising evaluation and feature-map statistics;
- ``config/``    the one config schema, its validator, ``key=value`` overrides and the one
                 preset resolver;
- ``output/``    run directories, progress bars and W&B tracking, figures.

``preimage.train.api`` and ``preimage.train.compare.api`` are the Python API.
"""
