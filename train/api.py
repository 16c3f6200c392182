"""The Python API of ``preimage invert`` (README): run a job exactly as the command does,
without writing files. The code lives in :mod:`preimage.train.jobs.run`::

    from preimage.train.api import run_invert

    run = run_invert("squeezenet-cvpr15", ["chelsea"], ["optimiser.schedule=[[1, 20]]"])
    run.result          # InversionResult (images in input units, per-term history)
    run.metrics         # == metrics.json: per image and restart PSNR, SSIM, relative error ...
"""

from preimage.train.jobs.run import (InvertRun, distinct_names, load_config, load_images, prepare_invert, run_invert,
                                     run_job)

__all__ = ["InvertRun", "distinct_names", "load_config", "load_images", "prepare_invert", "run_invert", "run_job"]
