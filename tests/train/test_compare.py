"""``preimage compare`` on tiny settings: one CSV row per cell, the summary's numbers are the
CSV's aggregates, an interrupted run resumes without redoing finished units and ends with
the same rows, optional methods are left out with a note, bad input is one line / exit 2 /
nothing written."""

from __future__ import annotations

import json
import math
import os
import re

import pytest
import yaml

from preimage.train.cli.main import main
from preimage.train.compare import runner
from preimage.train.compare.api import compare
from preimage.train.compare.store import read_csv
from preimage.train.compare.summary import SHALLOW, mean_std, parse_tables

STEPS = ["optimiser.schedule=[[1, 3], [0.1, 2]]", "x0_sigma_scale_with_size=true"]
CONFIG = {
    "name": "t",
    "images": ["chelsea", "coffee"],
    "image_size": 48,
    "restarts": 2,
    "representations": {
        "squeezenet": {
            "layers": ["conv1", "pool1"],
            "probes": {"method": "cvpr15", "layers": ["conv1"], "neigh": 3, "filter_groups": [1]},
            "methods": {"cvpr15": {"config": "squeezenet-cvpr15", "overrides": STEPS},
                        "ghost": {"config": "no-such-preset", "optional": True}}},
        "hog": {"layers": ["hog"], "methods": {"cvpr15": {"config": "hog-cvpr15",
                                                          "overrides": ["optimiser.schedule=[[1, 5]]"]}}},
    },
}
UNITS = 2 + 1 + 1 + 1  # squeezenet cvpr15 × 2 layers, 2 probes at conv1, hog
KEY = ("representation", "method", "layer", "image", "restart")


def _write(tmp_path, cfg=CONFIG, name="t.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _same_rows(a: list[dict], b: list[dict]) -> None:
    assert [tuple(r[k] for k in KEY) for r in a] == [tuple(r[k] for k in KEY) for r in b]
    for ra, rb in zip(a, b):
        for m in ("relative_error", "table1_error", "mse", "psnr", "ssim"):
            assert ra[m] == pytest.approx(rb[m], rel=1e-5, abs=1e-7), (ra, rb, m)
        assert (ra["steps"], ra["status"]) == (rb["steps"], rb["status"])


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    run = compare(_write(tmp), out=tmp / "runs", quiet=True)
    return run


def test_csv_has_one_row_per_cell(full_run):
    rows = read_csv(full_run / "results.csv")
    assert len(rows) == UNITS * 2 * 2  # units × images × restarts
    assert len({tuple(r[k] for k in KEY) for r in rows}) == len(rows)
    assert {r["method"] for r in rows} == {"cvpr15", "cvpr15:neigh3", "cvpr15:group1"}
    assert all(r["status"] == "ok" and r["steps"] == 5 for r in rows)
    # restarts differ (own seeds), metrics are sane
    a, b = (r["relative_error"] for r in rows[:2])
    assert a != b and all(0 <= r["ssim"] <= 1 and r["mse"] > 0 for r in rows)
    assert not full_run.name.endswith(".partial") and not list(full_run.parent.glob("*.partial"))


def test_summary_numbers_are_the_csv_aggregates(full_run):
    rows = read_csv(full_run / "results.csv")
    text = (full_run / "summary.md").read_text()
    tables = parse_tables(text)

    def agg(rep, method, layer, col, scale, dec):
        m, s, _ = mean_std(scale * r[col] for r in rows
                           if (r["representation"], r["method"], r["layer"]) == (rep, method, layer))
        return f"{m:.{dec}f} ± {s:.{dec}f}"

    t2 = tables["squeezenet: Table 2: relative feature error (%)"]
    assert t2[0] == ["layer", "cvpr15"]
    for layer, value in t2[1:]:
        assert value == agg("squeezenet", "cvpr15", layer, "relative_error", 100, 2)
    psnr = tables["squeezenet: PSNR (dB)"]
    assert psnr[1][1] == agg("squeezenet", "cvpr15", "conv1", "psnr", 1, 2)
    probes = tables["squeezenet: Probes (CVPR'15 Sec. 4.2): relative error (%) on the matched neurons"]
    assert probes[0] == ["layer", "cvpr15:neigh3", "cvpr15:group1"] and [r[0] for r in probes[1:]] == ["conv1"]
    assert probes[1][1] == agg("squeezenet", "cvpr15:neigh3", "conv1", "relative_error", 100, 2)
    t1 = {row[0]: row[1:] for row in tables["Table 1: shallow representations (CVPR'15 layout)"]}
    assert t1[""] == ["HOG"] and t1["method"] == ["cvpr15"]
    assert t1["error (%)"][0] == agg("hog", "cvpr15", "hog", "table1_error", 100, 2)
    assert t1["paper (%, CVPR'15 Table 1: 227², 800 steps)"] == ["28.10 ± 7.87"]
    assert "- ghost on squeezenet (conv1, pool1): left out, unknown preset 'no-such-preset'\n" in text
    assert "hog" in SHALLOW


def test_cell_metrics_perfect_and_swapped_reconstructions():
    """x* = x₀ gives zero errors; swapping two images gives the Table 1 error
    d²/mean_ij d²_ij = d²/(2d²/4) = 2 with the normaliser over this image set (i = j included)."""
    from preimage.representations import resolve_images
    from preimage.train.compare.cells import cell_metrics, originals
    from preimage.train.compare.invert_api import resolve

    images = resolve_images(["chelsea", "coffee"])
    cfg = resolve("hog-cvpr15", [], "hog", {"image_size": 48, "repeats": 1})
    _, x0 = originals(cfg, images)
    rows, rgb, _ = cell_metrics(cfg, images, x0, seconds=2.0)
    assert all(r["relative_error"] == 0 and r["table1_error"] == 0 and r["psnr"] == 100 for r in rows)
    assert rows[0]["seconds"] == 1.0 and rgb.shape == (2, 1, 3, 48, 48)
    rows, _, _ = cell_metrics(cfg, images, x0.flip(0), seconds=2.0)
    assert [r["table1_error"] for r in rows] == pytest.approx([2.0, 2.0])
    rows, rgb, _ = cell_metrics(cfg, images, None, seconds=2.0)  # a diverged job: NaN rows, no images
    assert rgb is None and all(math.isnan(r["relative_error"]) for r in rows)


def test_figures_are_written(full_run):
    names = {p.name for p in (full_run / "figures").iterdir()}
    assert {"strip-squeezenet-chelsea.png", "restarts-squeezenet-conv1.png", "differences-squeezenet-pool1.png",
            "neigh-squeezenet.png", "group-squeezenet.png", "error-vs-layer.png", "strip-hog-coffee.png"} <= names
    assert all((full_run / "figures" / n).stat().st_size > 1000 for n in names)


def test_interrupted_run_resumes_without_redoing_finished_units(tmp_path, full_run, monkeypatch):
    out = tmp_path / "runs"
    with pytest.raises(runner.StopAfter):
        compare(_write(tmp_path), out=out, quiet=True, stop_after=2)
    (partial,) = out.glob("*.partial")
    done = {p.stem: p.read_bytes() for p in (partial / "cells").glob("*.json")}
    assert len(done) == 2 and not (partial / "results.csv").exists()
    ran = []
    real = runner.run_unit
    monkeypatch.setattr(runner, "run_unit", lambda unit, *a: ran.append(unit.key) or real(unit, *a))
    final = compare(resume=partial, out=out, quiet=True)
    assert len(ran) == UNITS - 2 and not set(ran) & set(done)
    for key, data in done.items():  # finished units untouched
        assert (final / "cells" / f"{key}.json").read_bytes() == data
    assert not partial.exists() and final.name == partial.name.removesuffix(".partial")
    _same_rows(read_csv(final / "results.csv"), read_csv(full_run / "results.csv"))
    # a finished run is never resumed or overwritten
    rc = main(["compare", "--resume", str(final), "--quiet"])
    assert rc == 2


def _cli(tmp_path, capsys, *argv):
    out = tmp_path / "runs"
    rc = main(["compare", *argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    return rc, err, out


@pytest.mark.parametrize("case, message", [
    ("empty folder", "holds no image files"),
    ("missing checkpoint", "method 'inverter'"),
    ("unknown layer", "unknown layer 'conv99' for squeezenet"),
    ("override typo", "has no key 'restart'"),
    ("yaml typo", "representations.hog has no key 'layer' (did you mean 'layers'?)"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, case, message):
    cfg = json.loads(json.dumps(CONFIG))
    extra: list[str] = []
    if case == "empty folder":
        (tmp_path / "empty").mkdir()
        extra = ["--images", str(tmp_path / "empty")]
    elif case == "missing checkpoint":
        cfg["representations"]["squeezenet"]["methods"]["inverter"] = {
            "config": "squeezenet-cvpr15", "optional": True,
            "overrides": ["method.name=inverter", "method.checkpoint=/no/such/checkpoint.pt"]}
        extra = ["--methods", "inverter"]  # named by the user: required
    elif case == "unknown layer":
        extra = ["representations.squeezenet.layers=[conv1, conv99]"]
    elif case == "override typo":
        extra = ["restart=1"]
    else:
        cfg["representations"]["hog"]["layer"] = cfg["representations"]["hog"].pop("layers")
    rc, err, out = _cli(tmp_path, capsys, "--config", _write(tmp_path, cfg), *extra)
    assert rc == 2 and message in err and len(err.splitlines()) == 1, err
    assert not out.exists() or not any(out.iterdir())


def test_optional_method_left_out_but_required_one_missing_is_an_error(tmp_path):
    from preimage.representations.errors import PreimageError

    cfg = json.loads(json.dumps(CONFIG))
    cfg["representations"]["squeezenet"]["methods"]["ghost"]["optional"] = False
    with pytest.raises(PreimageError, match="method 'ghost' on squeezenet conv1: unknown preset"):
        compare(_write(tmp_path, cfg), out=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()


def test_two_processes_give_the_same_rows_as_one(tmp_path, full_run):
    """Two Lightning Fabric ranks (CPU, gloo) share the units; rank 0 merges."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "preimage.train.cli", "compare", "--config", _write(tmp_path),
           "--out", str(tmp_path / "runs"), "--devices", "2", "--accelerator", "cpu",
           "representations.squeezenet.layers=[conv1]", "representations.squeezenet.probes=null"]  # 2 units
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "[rank 1]" in p.stderr and "[rank 0]" in p.stderr
    summary = p.stdout.strip().splitlines()[-1]
    assert summary.endswith("summary.md")
    from pathlib import Path

    rows = read_csv(Path(summary).parent / "results.csv")
    one = [r for r in read_csv(full_run / "results.csv") if r["method"] == "cvpr15" and r["layer"] != "pool1"]
    assert len(rows) == 2 * 2 * 2
    _same_rows(rows, one)
    assert all(math.isfinite(r["relative_error"]) for r in rows)


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_rows(tmp_path, full_run):
    """A real SIGKILL after two finished units; --resume finishes the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "preimage.train.cli", "compare", "--config", _write(tmp_path), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        partial = list(out.glob("*.partial"))
        if partial and len(list((partial[0] / "cells").glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (partial,) = out.glob("*.partial")
    done = {p.stem: p.read_bytes() for p in (partial / "cells").glob("*.json")}
    assert 2 <= len(done) < UNITS
    assert main(["compare", "--resume", str(partial), "--quiet"]) == 0
    (final,) = [p for p in out.iterdir() if not p.name.endswith(".partial")]
    assert all((final / "cells" / f"{k}.json").read_bytes() == v for k, v in done.items())
    _same_rows(read_csv(final / "results.csv"), read_csv(full_run / "results.csv"))


@pytest.mark.slow
def test_wandb_logs_one_offline_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = json.loads(json.dumps(CONFIG))
    del cfg["representations"]["squeezenet"]
    run = compare(_write(tmp_path, cfg), out=tmp_path / "runs", quiet=True, wandb=True)
    runs = list((run / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_spec_types_and_required_keys_are_checked():
    from preimage.representations.errors import PreimageError
    from preimage.train.compare.spec import parse_spec

    good = json.loads(json.dumps(CONFIG))
    assert parse_spec(good).representations["squeezenet"].probes.neigh == 3
    for key, value, message in [("restarts", "two", "restarts='two' is not allowed: expected an integer ≥ 1"),
                                ("restarts", 0, "restarts=0 is not allowed: expected an integer ≥ 1"),
                                ("images", 3, "images=3 is not allowed: expected a list"), ("name", None, None)]:
        bad = json.loads(json.dumps(CONFIG))
        if message is None:
            del bad[key]
            message = "the config needs name: a string"
        else:
            bad[key] = value
        with pytest.raises(PreimageError, match=message):
            parse_spec(bad)


def test_sigterm_keeps_the_partial_and_says_how_to_resume(tmp_path):
    """A real SIGTERM once a unit is done: exit 130, one line naming the kept ``.partial``
    directory and the resume command (not "nothing was written")."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "preimage.train.cli", "compare", "--config", _write(tmp_path), "--out", str(out),
           "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(out.glob("*.partial/cells/*.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    (partial,) = out.glob("*.partial")
    done = len(list((partial / "cells").glob("*.json")))
    assert proc.returncode == 130 and stdout == "" and 1 <= done < UNITS
    lines = [ln for ln in stderr.splitlines() if ": warning: " not in ln]  # per-unit invert warnings may precede
    assert lines == [f"preimage compare: interrupted; kept {partial} ({done} of {UNITS} units done); "
                                   f"resume with: preimage compare --resume {partial}"]


def test_a_second_resume_of_one_partial_is_refused(tmp_path, capsys, full_run):
    from preimage.train.compare import store

    out = tmp_path / "runs"
    with pytest.raises(runner.StopAfter, match=r"kept .*\.partial \(1 of 5 units done\); resume with: preimage "
                                                r"compare --resume "):
        compare(_write(tmp_path), out=out, quiet=True, stop_after=1)
    (partial,) = out.glob("*.partial")
    with store.locked(partial):  # as a first `--resume` holds it while running
        rc = main(["compare", "--resume", str(partial), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err == (f"preimage compare: error: --resume {partial}: another preimage compare "
                                   f"(process {os.getpid()}) is running on it; wait for it to finish (or stop it), "
                                   "then resume")
        assert len(list((partial / "cells").glob("*.json"))) == 1  # untouched
    final = compare(resume=partial, out=out, quiet=True)  # once released, it resumes
    assert not (final / ".lock").exists() and (final / "results.csv").is_file()
    _same_rows(read_csv(final / "results.csv"), read_csv(full_run / "results.csv"))


def test_interrupted_before_the_first_unit_leaves_nothing(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt) as info:
        compare(_write(tmp_path), out=tmp_path / "out" / "runs", quiet=True, stop_after=0)
    assert type(info.value) is KeyboardInterrupt  # "nothing was written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]


@pytest.mark.parametrize("option", ["--devices", "--num-nodes"])
def test_zero_devices_or_nodes_is_one_line_exit_2(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as info:  # argparse's error: one line, status 2
        _cli(tmp_path, capsys, "--config", _write(tmp_path), option, "0")
    err, out = capsys.readouterr().err.strip(), tmp_path / "runs"
    assert info.value.code == 2 and err == (f"preimage compare: error: argument {option}: 0 is not allowed, give an integer ≥ 1; "
                               "see preimage compare --help")
    assert not out.exists()


def test_a_relative_error_above_one_is_warned_as_invert_warns(tmp_path, capsys):
    """At 8² pixels conv1 keeps almost nothing: the comparison says so on stderr (even with
    --quiet) and in summary.md, as ``preimage invert`` does, instead of finishing silently."""
    cfg = {"name": "t8", "images": ["chelsea", "coffee"], "image_size": 8, "restarts": 1,
           "representations": {"squeezenet": {"layers": ["conv1"], "methods": {"cvpr15": {
               "config": "squeezenet-cvpr15", "overrides": ["optimiser.schedule=[[1, 3]]"]}}}}}
    rc, err, out = _cli(tmp_path, capsys, "--config", _write(tmp_path, cfg))
    assert rc == 0
    assert len(err.splitlines()) == 1, err
    line = err
    assert re.fullmatch(r"preimage compare: warning: squeezenet cvpr15 conv1: (.*; )?relative feature error \S+ > 1 "
                        r"for \S+-r0( \(and 1 more\))?; try a smaller optimiser.lr or a box", line), line
    (run,) = out.iterdir()
    assert "cvpr15 on squeezenet conv1: warning: relative feature error" in (run / "summary.md").read_text()
