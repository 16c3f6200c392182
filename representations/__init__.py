"""Φ: differentiable feature extractors with named layer taps (see DESIGN.md)."""

from representations.base import (CAFFE_CONVENTION, TORCHVISION_CONVENTION, InputConvention,
                                  ReceptiveField, Representation)
from representations.dsift_op import dsift
from representations.errors import PreimageError
from representations.hog_op import hog
from representations.images import (DEFAULT_SAMPLE, load_image, resize_crop, resolve_images,
                                    sample_names, save_image)
from representations.registry import build_representation, model_names, register
from representations.sequential import TappedSequential
from representations.shallow import (COLOUR_CONVENTION, DSIFT, GREY_CONVENTION, HOG, build_cnn_hog,
                                     build_dsift, build_hog, build_hogb)

__all__ = [
    "CAFFE_CONVENTION", "TORCHVISION_CONVENTION", "DEFAULT_SAMPLE", "InputConvention",
    "PreimageError", "ReceptiveField", "Representation", "TappedSequential",
    "build_representation", "load_image", "model_names", "register", "resize_crop",
    "resolve_images", "sample_names", "save_image",
    "hog", "dsift", "HOG", "DSIFT", "GREY_CONVENTION", "COLOUR_CONVENTION",
    "build_hog", "build_hogb", "build_cnn_hog", "build_dsift",
]
