"""The one config system of every command: typed dataclass schemas (the invert job's
:class:`~preimage.train.config.invert.InvertConfig` with its tagged variants, the
comparison's spec, the denoising and statistics options) validated by one generic validator
(:mod:`.validate`, rules read off the type hints), one ``key=value`` override syntax
(:mod:`.overrides`) and one preset resolver for ``configs/<kind>/`` (:mod:`.presets`).
A prior term's space and channels are checked against its slot by one helper
(:mod:`.slots`, used by every prior variant).

May import the library packages (a variant's ``build`` hook turns its settings into an
engine object) and ``train.output``; never ``cli``, ``fit`` or ``compare``. The variants
that run a method (``method: inverter``, ``hoggle``) call ``train.jobs`` lazily."""
