"""Shared test setup: 2 threads (CI has 2 cores), seeded randomness, offline torch hub."""

import os

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty $TORCH_HOME: torchvision checkpoints are looked up there."""
    home = tmp_path / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return home


def pytest_configure(config):
    os.environ.setdefault("WANDB_MODE", "offline")
