"""With a single inverse module (SqueezeNet conv1, HOG) the block's target is the image, so
stacked, joint and end to end are the same loss with the same gradient; with two or more
modules they differ. The HOG feature loss is differentiable and scored in image units."""

import logging

import pytest
import torch

from preimage.representations import resolve_images
from preimage.train.fit.inverter import InverterTask


def _batch(n=2, size=32):
    (_, img), = resolve_images(["astronaut"])
    return torch.stack([img[:, 100 + 20 * i: 100 + 20 * i + size, 150: 150 + size] for i in range(n)])


def _loss_and_grad(rep, layer, mode, batch, **kw):
    torch.manual_seed(0)
    task = InverterTask(rep, layer, width=4, mode=mode, **kw)
    task.train()
    loss = task.losses(batch)["loss"]
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in task.inverter.parameters()]


@pytest.mark.parametrize("rep,layer,kw", [("squeezenet", "conv1", {}), ("hog", "hog", {"normalise": True})])
def test_one_module_modes_are_the_same_training(rep, layer, kw, caplog):
    batch = _batch()
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        ref_loss, ref_grad = _loss_and_grad(rep, layer, "end_to_end", batch, **kw)
    assert "are the same training" in caplog.text
    for mode in ("stacked", "joint"):
        loss, grad = _loss_and_grad(rep, layer, mode, batch, **kw)
        assert torch.equal(loss, ref_loss)
        assert all(torch.equal(a, b) for a, b in zip(grad, ref_grad))


def test_two_modules_modes_differ(caplog):
    batch = _batch(size=48)
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        losses = {m: _loss_and_grad("squeezenet", "pool1", m, batch)[0] for m in ("stacked", "joint", "end_to_end")}
    assert "are the same training" not in caplog.text
    # joint = end to end's image term + the relu1 term; stacked scores the image from the true relu1
    assert losses["joint"] > losses["end_to_end"] and losses["stacked"] != losses["joint"]


def test_hog_feature_loss_adds_a_differentiable_term():
    batch = _batch()
    torch.manual_seed(0)
    task = InverterTask("hog", "hog", width=4, mode="end_to_end", normalise=True, feature_loss=2.0, depth=1)
    out = task.losses(batch)
    total = float(out["loss_image"].detach() + out["loss_feature"].detach())
    assert float(out["loss"].detach()) == pytest.approx(total, rel=1e-6) and float(out["loss_feature"]) > 0
    out["loss_feature"].backward()
    grads = [p.grad for p in task.inverter.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert len(task.inverter.blocks[0].pre) == 2  # depth 1: one conv + ReLU at cell resolution
