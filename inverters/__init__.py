"""Learned inverse networks x̂ = g(Φ(x)): one inverse module per forward operation
(:mod:`inverters.stages`, :mod:`inverters.blocks`), chained from a layer back to the
image (:mod:`inverters.network`), saved and loaded by :mod:`inverters.store`."""

from preimage.inverters.blocks import BLOCKS, InverseBlock, fit_size
from preimage.inverters.network import Inverter, InverterSpec, build_inverter, stage_sizes
from preimage.inverters.stages import probe_shapes, stage_names
from preimage.inverters.store import load_inverter, pretrained_names, read_checkpoint, save_inverter

__all__ = [
    "BLOCKS", "InverseBlock", "Inverter", "InverterSpec", "build_inverter", "fit_size", "load_inverter",
    "pretrained_names", "probe_shapes", "read_checkpoint", "save_inverter", "stage_names", "stage_sizes",
]
