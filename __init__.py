"""preimage: understand image representations by inverting them.

The installed package is ``preimage``; its subpackages are the repository's top-level
folders (``preimage.representations``, ``preimage.priors``, ``preimage.inversion``,
``preimage.inverters``, ``preimage.train``, ``preimage.configs``), mapped in pyproject.toml.
"""

__version__ = "0.1.0"
