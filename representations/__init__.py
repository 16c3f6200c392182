"""Φ: differentiable feature extractors with named layer taps (see ARCHITECTURE.md)."""

from preimage.representations.base import (CAFFE_CONVENTION, TORCHVISION_CONVENTION, InputConvention,
                                  ReceptiveField, Representation)
from preimage.representations.dsift_op import dsift
from preimage.representations.errors import PreimageError
from preimage.representations.hog_op import hog
from preimage.representations.images import (DEFAULT_SAMPLE, load_image, resize_crop, resolve_images,
                                    sample_names, save_image)
from preimage.representations.registry import build_representation, model_names, register
from preimage.representations.sequential import TappedSequential
from preimage.representations.shallow import (COLOUR_CONVENTION, DSIFT, GREY_CONVENTION, HOG, build_cnn_hog,
                                     build_dsift, build_hog, build_hogb)

__all__ = [
    "CAFFE_CONVENTION", "TORCHVISION_CONVENTION", "DEFAULT_SAMPLE", "InputConvention",
    "PreimageError", "ReceptiveField", "Representation", "TappedSequential",
    "build_representation", "load_image", "model_names", "register", "resize_crop",
    "resolve_images", "sample_names", "save_image",
    "hog", "dsift", "HOG", "DSIFT", "GREY_CONVENTION", "COLOUR_CONVENTION",
    "build_hog", "build_hogb", "build_cnn_hog", "build_dsift",
]
