"""Installing preimage adds one import name, ``preimage``; every package folder of the
repository (a folder with ``__init__.py`` under the mapped top-level folders) ships in
the wheel as ``preimage.<folder>``, with its data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAPPED = ("configs", "representations", "priors", "inversion", "inverters", "train")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # a copy of the tracked tree: building must not write build/ or egg-info into the checkout
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            dst = build / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(build)], check=True, capture_output=True)
    (whl,) = out.glob("preimage-*.whl")
    return zipfile.ZipFile(whl).namelist()


def test_only_preimage_at_top_level(wheel_names):
    top = {n.split("/", 1)[0] for n in wheel_names}
    assert top == {"preimage", next(t for t in top if t.endswith(".dist-info"))}, top


def test_every_package_folder_ships(wheel_names):
    for folder in MAPPED:
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT).as_posix()
            assert f"preimage/{rel}" in wheel_names, f"{rel} is missing from the wheel: add it to pyproject's packages"


def test_presets_ship(wheel_names):
    presets = sorted(p.name for p in (ROOT / "configs" / "invert").glob("*.yaml"))
    assert presets and all(f"preimage/configs/invert/{p}" in wheel_names for p in presets)
