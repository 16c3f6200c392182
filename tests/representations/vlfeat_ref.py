"""Reference calls into VLFeat 0.9.21 for the equality tests (HOG via cyvlfeat, DSIFT via ctypes).

cyvlfeat's ``dsift`` returns ``min(512·d, 255)`` (or its uint8), which loses the
normalised float descriptor wherever a component exceeds 255/512, so DSIFT is called
through a small ctypes binding of ``libvl.so`` that reads VLFeat's own float buffer.

Tests skip when VLFeat is missing, except when the ``CI`` environment variable is set:
then a missing VLFeat is a failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import numpy as np
import pytest


def _missing(what: str) -> None:
    msg = f"VLFeat reference unavailable: {what}"
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set, so this is an error: install libvlfeat-dev and cyvlfeat)")
    pytest.skip(msg)


def vl_hog(image: np.ndarray, cell_size: int, variant: str = "UoCTTI", num_orientations: int = 9,
           bilinear: bool = False) -> np.ndarray:
    """VLFeat HOG of an (H, W) or (H, W, C) float32 image → (H', W', D)."""
    try:
        from cyvlfeat.hog import hog
    except ImportError as exc:  # pragma: no cover - depends on the environment
        _missing(f"cyvlfeat.hog ({exc})")
    return hog(np.ascontiguousarray(image, dtype=np.float32), cell_size, variant=variant,
               n_orientations=num_orientations, bilinear_interpolation=bilinear)


class _Keypoint(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("s", ctypes.c_double),
                ("norm", ctypes.c_double)]


class _Geometry(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("numBinT", "numBinX", "numBinY", "binSizeX", "binSizeY")]


class _DsiftFilter(ctypes.Structure):
    """Layout of ``VlDsiftFilter`` in vl/dsift.h (0.9.21); its setters are header inlines."""

    _fields_ = [
        ("imWidth", ctypes.c_int), ("imHeight", ctypes.c_int),
        ("stepX", ctypes.c_int), ("stepY", ctypes.c_int),
        ("boundMinX", ctypes.c_int), ("boundMinY", ctypes.c_int),
        ("boundMaxX", ctypes.c_int), ("boundMaxY", ctypes.c_int),
        ("geom", _Geometry),
        ("useFlatWindow", ctypes.c_int), ("windowSize", ctypes.c_double),
        ("numFrames", ctypes.c_int), ("descrSize", ctypes.c_int),
        ("frames", ctypes.POINTER(_Keypoint)), ("descrs", ctypes.POINTER(ctypes.c_float)),
        ("numBinAlloc", ctypes.c_int), ("numFrameAlloc", ctypes.c_int), ("numGradAlloc", ctypes.c_int),
        ("grads", ctypes.POINTER(ctypes.POINTER(ctypes.c_float))),
        ("convTmp1", ctypes.POINTER(ctypes.c_float)), ("convTmp2", ctypes.POINTER(ctypes.c_float)),
    ]


_LIB = None


def _libvl():
    global _LIB
    if _LIB is None:
        path = ctypes.util.find_library("vl")
        for cand in ([path] if path else []) + ["libvl.so.1", "libvl.so"]:
            try:
                lib = ctypes.CDLL(cand)
                break
            except OSError:
                continue
        else:
            _missing("libvl.so not found")
        lib.vl_dsift_new.restype = ctypes.POINTER(_DsiftFilter)
        lib.vl_dsift_new.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.vl_dsift_process.argtypes = [ctypes.POINTER(_DsiftFilter), ctypes.POINTER(ctypes.c_float)]
        lib.vl_dsift_delete.argtypes = [ctypes.POINTER(_DsiftFilter)]
        lib._vl_dsift_update_buffers.argtypes = [ctypes.POINTER(_DsiftFilter)]
        _LIB = lib
    return _LIB


def vl_dsift(image: np.ndarray, step: int, bin_size: int, fast: bool,
             geometry: tuple[int, int, int] = (4, 4, 8)) -> tuple[np.ndarray, np.ndarray]:
    """VLFeat dense SIFT of an (H, W) image → (frames (F, 2) as (y, x), float descriptors (F, D)).

    Frames in VLFeat's order (y outer, x inner); descriptors as VLFeat's buffer after the
    second L2 normalisation (component ``t + T·(bx + NX·by)``), before any uint8 conversion.
    """
    lib = _libvl()
    im = np.ascontiguousarray(image, dtype=np.float32)
    h, w = im.shape
    f = lib.vl_dsift_new(w, h)
    try:
        s = f.contents
        ny, nx, nt = geometry
        s.geom.numBinY, s.geom.numBinX, s.geom.numBinT = ny, nx, nt
        s.geom.binSizeX = s.geom.binSizeY = bin_size
        s.stepX = s.stepY = step
        s.useFlatWindow = int(fast)
        lib._vl_dsift_update_buffers(f)
        lib.vl_dsift_process(f, im.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        n, d = s.numFrames, s.descrSize
        descrs = np.ctypeslib.as_array(s.descrs, shape=(n * d,)).reshape(n, d).copy()
        frames = np.array([(s.frames[i].y, s.frames[i].x) for i in range(n)], dtype=np.float64)
    finally:
        lib.vl_dsift_delete(f)
    return frames, descrs
