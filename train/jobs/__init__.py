"""Invert jobs: a validated config + images → the engine's objects (:mod:`.setup`), run by
the config's method (:mod:`.run`: optimisation, an inverse network, the hybrid, HOGgle) into
an :class:`~preimage.train.jobs.run.InvertRun` with the metrics of ``metrics.json``.

May import ``train.config``, ``train.output`` and the library packages."""
