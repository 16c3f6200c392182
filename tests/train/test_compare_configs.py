"""Every shipped comparison config parses, and every method's invert config at every layer
(its overrides and ``from_layer`` entries applied) passes the invert schema: a placeholder or
a typo in a YAML under configs/compare/ fails here, not in a user's run."""

from __future__ import annotations

from pathlib import Path

import pytest

from preimage.train.compare import invert_api
from preimage.train.compare.spec import load_spec
from preimage.train.config.invert import InvertConfig
from preimage.train.config.validate import from_data

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "compare").glob("*.yaml"))
SQUEEZENET = ["conv1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5", "fire6", "fire7", "fire8",
              "fire9", "conv10"]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.stem)
def test_every_method_of_every_compare_config_is_a_valid_invert_config(cfg):
    spec, _ = load_spec(str(cfg))
    settings = {"image_size": spec.image_size, "repeats": spec.restarts, "seed": spec.seed}
    checked = 0
    for label, group in spec.representations.items():
        for name, m in group.methods.items():
            for layer in group.layers:
                own = m.overrides_at(layer, SQUEEZENET) if m.from_layer else list(m.overrides)
                from_data(InvertConfig, invert_api.resolve(m.config, own, layer, settings))
                checked += 1
    assert checked > 0
