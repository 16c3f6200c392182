"""Fitting learned models: the thin LightningModules (:mod:`.prior`, :mod:`.inverter`), their
data modules (:mod:`.patch_data`, :mod:`.crops`), the LightningCLI app every ``fit`` command
runs (:mod:`.app`) with the callbacks it adds to every fit (:mod:`.callbacks`: progress on
stderr, a checkpoint kept on interruption), EM fitting of the GMM prior (:mod:`.gmm`) and λ tuning.

May import ``train.config``, ``train.output``, ``train.analysis`` and the library packages."""
