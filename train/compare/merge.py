"""Rank 0's last step: the stored units → ``results.csv`` (one row per image × method ×
layer × restart, in the plan's order), ``summary.md``, ``figures/`` and, with ``--wandb``,
one W&B run holding the tables, the figures and every cell's metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

from preimage.train.compare import figures as F
from preimage.train.compare import store
from preimage.train.compare.cells import scorer
from preimage.train.compare.plan import Plan
from preimage.train.compare.summary import SHALLOW, render
from preimage.train.jobs.methods import is_sampler


def _rows(plan: Plan, records: dict[str, dict]) -> list[dict]:
    rows = []
    for u in plan.units:
        rec = records[u.key]
        for r in rec["rows"]:
            rows.append({"representation": u.representation, "method": u.method, "layer": u.layer,
                         "image": r["image"], "restart": r["restart"], **{k: r[k] for k in store.METRICS},
                         "steps": rec["steps"], "status": rec["status"]})
    return rows


def _layer_order(plan: Plan):
    """representation label → its layers in the comparison, in the network's depth order."""
    first = {}
    for u in plan.units:
        first.setdefault(u.representation, u)

    def layers(rep: str) -> list[str]:
        u = first[rep]
        have = {v.layer for v in plan.units if v.representation == rep}
        every = scorer(u.cfg["representation"], u.cfg.get("weights"), u.layer).layers
        return [l for l in every if l in have]
    return layers


def _box(record: dict, layer: str):
    cfg = record["config"]
    neigh = (cfg.get("objective") or {}).get("neigh")
    if not neigh or not record["rows"]:
        return None
    rep = scorer(cfg["representation"], cfg.get("weights"), layer)
    size = int(cfg.get("image_size") or rep.input_size)
    import torch

    with torch.no_grad():
        shape = rep(torch.zeros(1, rep.convention.channels, size, size))[layer].shape[-2:]
    return F.centre_window_box(rep.receptive_field(layer), tuple(shape), int(neigh), size)


def make_figures(plan: Plan, run: Path, rows: list[dict], layers_of) -> list[str]:
    fig_dir = run / "figures"
    fig_dir.mkdir(exist_ok=True)
    units = {}
    for u in plan.units:
        record, arrays = store.read_unit(run, u.key)
        units[(u.representation, u.method, u.layer)] = (record, arrays)
    names: list[str] = []
    reps = list(dict.fromkeys(u.representation for u in plan.units))
    for rep in reps:
        layers = layers_of(rep)
        methods = list(dict.fromkeys(u.method for u in plan.units if u.representation == rep and not u.is_probe))
        names += F.strips(units, rep, layers, methods, fig_dir)
        for layer in layers:
            names += [n for n in (F.restarts(units, rep, layer, methods, fig_dir),
                                  F.sample_spread(units, rep, layer, methods, fig_dir),
                                  F.differences(units, rep, layer, methods, fig_dir)) if n]
        names += [n for n in (F.probes(units, rep, layers, "neigh", fig_dir, _box),
                              F.probes(units, rep, layers, "group", fig_dir, lambda r, l: None)) if n]
    curve = F.error_vs_layer(rows, {r: layers_of(r) for r in reps if r not in SHALLOW}, fig_dir)
    names += [curve] if curve else []
    return [f"figures/{n}" for n in names]


def merge(run: Path, plan: Plan, info: dict, wandb: bool = False) -> None:
    records = {u.key: json.loads((run / "cells" / f"{u.key}.json").read_text()) for u in plan.units}
    rows = _rows(plan, records)
    store.atomic_write(run / "results.csv", store.csv_text(rows))
    layers_of = _layer_order(plan)
    figs = make_figures(plan, run, rows, layers_of)
    notes = list(plan.notes) + [f"{r['method']} on {r['representation']} {r['layer']}: {r['status']}"
                                for r in records.values() if r["status"] != "ok"] \
        + [f"{r['method']} on {r['representation']} {r['layer']}: warning: {w}"
           for r in records.values() for w in r.get("warnings", [])]
    manifest = json.loads((run / "manifest.json").read_text())
    cfg0 = plan.units[0].cfg
    steps = {f"{u.representation}/{u.method}": records[u.key]["steps"] for u in plan.units if not u.is_probe}
    header = [f"# Comparison: {run.name.removesuffix(store.PARTIAL)}", "",
              f"- images ({len(plan.images)}): {', '.join(n for n, _ in plan.images)}; "
              f"{cfg0.get('image_size')}×{cfg0.get('image_size')}, {cfg0.get('repeats', 1)} restart(s) each",
              "- steps: " + ", ".join(f"{k} {v}" for k, v in steps.items()),
              f"- {len(plan.units)} units, {len(rows)} cells; started {manifest['started']}, finished "
              f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {info['world_size']} process(es) on {info['device']}; "
              f"last session {info['wall_seconds']:.0f} s; compute {sum(r['seconds'] for r in records.values()):.0f} s",
              "- mean ± std over images × restarts (std with n − 1); every row in results.csv"]
    samplers = sorted({r["method"] for r in records.values() if is_sampler(r["kind"])})
    if samplers:
        header.append(f"- {', '.join(samplers)}: sampling; its restarts are samples of the posterior, their std "
                      "the posterior's spread")
    kinds = {(r["representation"], r["method"]): r["kind"] for r in records.values()}
    text = render(rows, header, notes, kinds, layers_of, figs)
    store.atomic_write(run / "summary.md", text + "\n")
    if wandb:
        from preimage.train.compare.tracking import log_comparison

        log_comparison(run, rows, text, figs)
