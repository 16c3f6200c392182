import pytest
import torch

from preimage.representations import build_representation, load_image, resize_crop


@pytest.fixture(scope="session")
def squeeze_conv1():
    return build_representation("squeezenet", taps=["conv1"])


@pytest.fixture(scope="session")
def chelsea64():
    return resize_crop(load_image("chelsea"), 64)[None]


@pytest.fixture(scope="session")
def chelsea96():
    return resize_crop(load_image("chelsea"), 96)[None]
