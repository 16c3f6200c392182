"""Every bad input to ``preimage invert`` / ``layers`` / ``compare`` / ``prior fit|denoise`` /
``inverter fit``: exit status 2, exactly one line on stderr, no traceback, and the working
folder unchanged (hidden files included: no run directory, no temporary directory, no empty
``--out`` or ``runs/``). A fit command's stderr holds no library warning."""

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from preimage.train.cli.main import main

TINY = ["image_size=32", "repeats=1", "optimiser.schedule=[[1, 2]]"]
INV = ["invert", "--config", "squeezenet-cvpr15", "--image", "chelsea", "--layer", "conv1", "--quiet"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width``×``height`` grey pixels (Pillow checks the size on open)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory) -> Path:
    """Files the bad inputs refer to (relative names, used from inside this folder)."""
    d = tmp_path_factory.mktemp("bad")
    (d / "notyaml.yaml").write_text("representation: [squeezenet\nlayer: {conv1\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "binary.yaml").write_bytes(b"\xff\xfe\x00\x81garbage")
    preset = (Path(__file__).parents[2] / "configs" / "invert" / "hog-cvpr15.yaml").read_text()
    (d / "typo-top.yaml").write_text(preset.replace("repeats:", "repaets:"))
    (d / "typo-tv.yaml").write_text(preset.replace("    weight: 0.5", "    wieght: 0.5"))
    (d / "afile").write_text("I am a file")
    (d / "garbage.pth").write_bytes(b"\x80\x02not a pickle" * 20)
    (d / "notimage.png").write_bytes(b"\x00\x01 not a png")
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "conv1.bias": torch.zeros(8)}, d / "other.pth")
    torch.save({"fc.weight": torch.zeros(10, 4)}, d / "otherkeys.pth")
    torch.save({"conv1.weight": torch.nn.Conv2d(3, 8, 3)}, d / "module.pth")  # an object, not tensors
    (d / "huge.png").write_bytes(_png_header(15000, 15000))  # over Pillow's decompression-bomb limit
    _prior_files(d)
    (d / "ro").mkdir()
    (d / "ro").chmod(0o555)  # read-only (for root, which ignores it, the test makes it look so)
    return d


def _prior_files(d: Path) -> None:
    """Priors whose space or channels differ from a SqueezeNet/HOG slot, and Lightning checkpoints
    of a prior (as PriorModule writes it) and of an inverter."""
    from preimage.priors import FieldOfExperts, save_prior
    from preimage.train.fit.prior import PriorModule

    save_prior(FieldOfExperts(64, 3, 2, whitening=None), d / "bad-conv1.pt", {"layer": "conv1", "representation": "squeezenet"})
    save_prior(FieldOfExperts(3, 3, 2, whitening=None), d / "bad-fire2-3ch.pt", {"layer": "fire2", "representation": "squeezenet"})
    save_prior(FieldOfExperts(64, 3, 2, whitening=None), d / "bad-image-64ch.pt")  # feature-sized, on the image
    module = PriorModule(FieldOfExperts(1, 3, 2, whitening=None))
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "epoch": 0, "global_step": 2}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, d / "prior.ckpt")
    torch.save({"state_dict": {"inverter.blocks.0.weight": torch.zeros(2)}, "epoch": 0, "global_step": 2,
                "hyper_parameters": {"representation": "squeezenet", "layer": "conv1"}}, d / "inverter.ckpt")


CASES = {
    # configs: not YAML, not a mapping, not text, typos in files, unknown names
    "not-yaml": (["invert", "--config", "notyaml.yaml", "--image", "chelsea"], "is not valid YAML"),
    "yaml-list": (["invert", "--config", "list.yaml", "--image", "chelsea"], "is not a YAML mapping"),
    "binary-config": (["invert", "--config", "binary.yaml", "--image", "chelsea"], "not a text file"),
    "file-typo-top": (["invert", "--config", "typo-top.yaml", "--image", "chelsea"], "did you mean 'repeats'"),
    "file-typo-tv": (["invert", "--config", "typo-tv.yaml", "--image", "chelsea"], "did you mean 'weight'"),
    "missing-config": (["invert", "--config", "nothere.yaml", "--image", "chelsea"], "not found"),
    "unknown-preset": (["invert", "--config", "squeezenet-cvpr99", "--image", "chelsea"], "unknown preset"),
    # numbers
    "repeats-abc": ([*INV, "repeats=abc"], "repeats='abc' is not allowed"),
    "repeats-neg": ([*INV, "repeats=-1"], "repeats=-1 is not allowed"),
    "repeats-0": ([*INV, "repeats=0"], "repeats=0 is not allowed"),
    "seed-abc": ([*INV, "seed=abc"], "seed='abc' is not allowed"),
    "seed-neg": ([*INV, "seed=-3"], "seed=-3 is not allowed"),
    "lr-abc": ([*INV, "optimiser.lr=abc"], "optimiser.lr='abc' is not allowed"),
    "lr-nan": ([*INV, "optimiser.lr=nan"], "optimiser.lr=nan is not allowed: expected a finite number > 0"),
    "lr-neg": ([*INV, "optimiser.lr=-0.1"], "optimiser.lr=-0.1 is not allowed"),
    "momentum-abc": ([*INV, "optimiser.momentum=abc"], "optimiser.momentum='abc' is not allowed"),
    "momentum-1": ([*INV, "optimiser.momentum=1"], "in [0, 1)"),
    "tau-abc": ([*INV, "jitter.tau=abc"], "jitter.tau='abc' is not allowed"),
    "image-size-neg": ([*INV, "image_size=-5"], "image_size=-5 is not allowed"),
    "image-size-0": ([*INV, "image_size=0"], "image_size=0 is not allowed"),
    "x0-sigma-0": ([*INV, "x0_sigma=0"], "x0_sigma=0 is not allowed"),
    "schedule-neg": ([*INV, "optimiser.schedule=[[1, -5]]"], "optimiser.schedule[0][1]=-5"),
    "box-bound-neg": ([*INV, "box.bound=-1"], "box.bound=-1 is not allowed"),
    "tv-weight-neg": ([*INV, "priors.tv.weight=-2"], "priors.tv.weight=-2 is not allowed"),
    # keys and variants
    "override-typo": ([*INV, "optimiser.lrr=3"], "has no key 'lrr' (did you mean 'lr'?)"),
    "adam-has-no-momentum": ([*INV, "optimiser.name=adam", "optimiser.momentum=0.9"], "has no key 'momentum'"),
    "unknown-optimiser": ([*INV, "optimiser.name=sgd"], "unknown optimiser 'sgd'"),
    "unknown-objective": ([*INV, "objective=dream"], "unknown objective 'dream'"),
    "unknown-prior-type": ([*INV, "priors.tv.type=foe"], "unknown type 'foe'"),
    "unknown-box-mode": ([*INV, "box.mode=cube"], "unknown box mode 'cube'"),
    "not-key-value": ([*INV, "=3"], "not of the form key=value"),
    "bad-yaml-value": ([*INV, "optimiser.schedule=[[1, 2]"], "not valid YAML"),
    "channel-too-big": (["invert", "--config", "squeezenet-actmax-ijcv16", "--image", "chelsea", "--layer", "conv1",
                         *TINY, "objective.target_channel=999"], "target_channel in 0..63"),
    "unknown-layer": ([*INV[:-2], "conv99"], "unknown layer 'conv99'"),
    "too-small": ([*INV[:-2], "fire9", "image_size=20"], "too small"),
    # images, weights, output folders
    "huge-image": (["invert", "--config", "squeezenet-cvpr15", "--image", "huge.png", *TINY], "is too large"),
    "not-an-image": (["invert", "--config", "squeezenet-cvpr15", "--image", "notimage.png", *TINY],
                     "cannot read notimage.png as an image"),
    "missing-image": (["invert", "--config", "squeezenet-cvpr15", "--image", "nothere.png"], "not found"),
    "other-network": ([*INV, "--weights", "other.pth", *TINY], "these weights are not squeezenet's"),
    "other-keys": ([*INV, "--weights", "otherkeys.pth", *TINY], "that squeezenet does not"),
    "garbage-pth": ([*INV, "--weights", "garbage.pth", *TINY], "cannot read weights file garbage.pth"),
    "pickled-module": ([*INV, "--weights", "module.pth", *TINY], "cannot read weights file module.pth"),
    "missing-weights": ([*INV, "--weights", "nothere.pth", *TINY], "not found"),
    "out-is-file": ([*INV, "--out", "afile", *TINY], "afile is a file"),
    "out-under-file": ([*INV, "--out", "afile/runs", *TINY], "lies under afile, which is a file"),
    "bad-option": ([*INV, "--repeats", "3"], "unrecognized arguments"),
    # memory: a batch that cannot fit is refused before any work (a lower bound over the machine's memory)
    "image-size-huge": ([*INV, "image_size=1000000", "repeats=1"], "image_size=1000000 with repeats=1 needs at least"),
    "repeats-huge": ([*INV, "image_size=32", "repeats=100000000"], "with repeats=100000000 needs at least"),
    "compare-restarts-huge": (["compare", "--config", "tiny", "--out", "cmp", "restarts=100000", "image_size=227"],
                              "image_size=227 with restarts=100000 needs at least"),
    # learned priors whose space or channels are not their slot's: refused before the first step
    "grey-prior-colour-job": ([*INV, *TINY, "priors.g.type=learned", "priors.g.prior=foe-grey"],
                              "prior 'foe-grey' has 1 channel (grey) on the image, but its slot, squeezenet's input "
                              "image, has 3 channels (RGB)"),
    "colour-prior-grey-job": (["invert", "--config", "hog-cvpr15", "--image", "chelsea", "--quiet", "image_size=64",
                               "repeats=1", "optimiser.schedule=[[1, 2]]", "priors.g.type=learned", "priors.g.prior=foe-rgb"],
                              "has 3 channels (RGB) on the image, but its slot, hog's input image, has 1 channel (grey)"),
    "image-prior-on-layer": ([*INV, *TINY, "priors.g.type=learned", "priors.g.prior=foe-rgb", "priors.g.layer=conv1"],
                             "prior 'foe-rgb' was trained on the image (3 channels, RGB), not on layer conv1"),
    "feature-prior-other-layer": ([*INV, *TINY, "priors.g.type=learned", "priors.g.prior=bad-conv1.pt",
                                   "priors.g.layer=fire2"], "was trained on squeezenet conv1 (64 channels), not on layer fire2"),
    "feature-prior-channels": ([*INV, *TINY, "priors.g.type=learned", "priors.g.prior=bad-fire2-3ch.pt"],
                               "has 3 channels on squeezenet fire2, but its slot, squeezenet fire2, has 128 channels"),
    "feature-sized-prior-on-image": ([*INV, *TINY, "priors.g.type=learned", "priors.g.prior=bad-image-64ch.pt"],
                                     "has 64 channels on the image, but its slot, squeezenet's input image, has 3"),
    # prior denoise: typed options (config/denoise.py)
    "denoise-sigma-nan": (["prior", "denoise", "--prior", "foe-grey", "--image", "chelsea", "--sigma", "nan"],
                          "sigma=nan is not allowed: expected a finite number > 0 and ≤ 255"),
    "denoise-sigma-inf": (["prior", "denoise", "--prior", "foe-grey", "--image", "chelsea", "--sigma", "inf"],
                          "sigma=inf is not allowed: expected a finite number > 0 and ≤ 255"),
    "denoise-sigma-1e9": (["prior", "denoise", "--prior", "foe-grey", "--image", "chelsea", "--sigma", "1e9"],
                          "is not allowed: expected a finite number > 0 and ≤ 255"),
    "denoise-lam-nan": (["prior", "denoise", "--prior", "foe-grey", "--image", "chelsea", "--lam", "nan"],
                        "lam='nan' is not allowed: expected a finite number > 0"),
    "denoise-lam-neg": (["prior", "denoise", "--prior", "foe-grey", "--image", "chelsea", "--lam", "-1"],
                        "lam=-1 is not allowed: expected a finite number > 0"),
    # fit commands: export targets and checkpoints of another kind, refused before training
    "prior-export-readonly": (["prior", "fit", "--config", "foe-grey", "--model.export", "ro/x.pt"],
                              "model.export=ro/x.pt: cannot write into folder ro"),
    "prior-export-under-file": (["prior", "fit", "--config", "foe-grey", "--model.export", "afile/x.pt"],
                                "model.export=afile/x.pt lies under afile, which is a file"),
    "prior-export-folder": (["prior", "fit", "--config", "foe-grey", "--model.export", "ro"], "model.export=ro is a folder"),
    "inverter-export-readonly": (["inverter", "fit", "--config", "squeezenet-conv1", "--model.export", "ro/x.pt"],
                                 "model.export=ro/x.pt: cannot write into folder ro"),
    "inverter-ckpt-of-prior": (["inverter", "fit", "--config", "squeezenet-conv1", "--ckpt_path", "prior.ckpt"],
                               "--ckpt_path prior.ckpt is a checkpoint of a prior (foe on the image"),
    "prior-ckpt-of-inverter": (["prior", "fit", "--config", "foe-grey", "--ckpt_path", "inverter.ckpt"],
                               "--ckpt_path inverter.ckpt is not a checkpoint of a prior (it is an inverter's)"),
    # preimage layers
    "layers-size-0": (["layers", "--size", "0"], "--size 0 is not allowed"),
    "layers-size-neg": (["layers", "--size", "-5"], "--size -5 is not allowed"),
    "layers-size-abc": (["layers", "--size", "abc"], "invalid int value: 'abc'"),
    "layers-garbage-pth": (["layers", "--weights", "garbage.pth"], "cannot read weights file"),
    "layers-huge-image": (["layers", "--image", "huge.png"], "is too large"),
}


def _listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*"))


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exit_2_one_line_nothing_written(case, bad_files, monkeypatch, capsys):
    argv, message = CASES[case]
    monkeypatch.chdir(bad_files)
    ro = (bad_files / "ro").resolve()
    if "readonly" in case and os.access(ro, os.W_OK):  # root: the mode bits do not stop it, so say what they say
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p).resolve() == ro else real(p, mode, *a, **k))
    before = _listing(bad_files)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.endswith("\n") and "Traceback" not in err, err
    assert message in err, err
    assert "weights_only" not in err  # never suggest the unsafe loader
    assert "check the image" not in err
    assert _listing(bad_files) == before


def test_duplicate_image_names_get_distinct_stable_outputs(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from preimage.train.api import distinct_names

    assert distinct_names(["x", "x", "x-2", "y", "x"]) == ["x", "x-3", "x-2", "y", "x-4"]
    for d in ("d1", "d2"):
        (tmp_path / d).mkdir()
        img = Image.new("RGB", (40, 40), (10 if d == "d1" else 200, 50, 50))
        img.paste((120, 120, 120), (20, 20, 30, 30))  # some structure: a flat image is refused
        img.save(tmp_path / d / "x.png")
    monkeypatch.chdir(tmp_path)
    assert main([*INV, "--image", "d1/x.png", "d2/x.png", "coffee", "coffee", "--out", "o", *TINY]) == 0
    (run,) = (tmp_path / "o").iterdir()
    names = sorted(p.name for p in run.glob("*-original.png"))
    assert names == ["coffee-2-original.png", "coffee-original.png", "x-2-original.png", "x-original.png"]
    a, b = (Image.open(run / f"{n}-original.png").getpixel((5, 5)) for n in ("x", "x-2"))
    assert a[0] < 50 < 150 < b[0]  # d1's image kept the plain name, d2's got -2


def test_fit_stderr_holds_no_library_warning(tmp_path):
    """A tiny ``prior fit`` as a user runs it (its own process, Python's default warning filters):
    stderr holds the progress bar only, no deprecation or other warning of the libraries."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    env.pop("PYTHONWARNINGS", None)
    cmd = [sys.executable, "-m", "preimage.train.cli", "prior", "fit", "--config", "foe-grey", "--trainer.fast_dev_run",
           "true", "--data.images", "[camera]", "--data.n_train", "32", "--data.n_val", "8", "--data.patch_size", "8"]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    noisy = [ln for ln in lines if "warn" in ln.lower() or "deprecat" in ln.lower() or ".py:" in ln]
    assert not noisy, noisy
