"""``--wandb``: the whole comparison as one W&B run (offline unless the user's W&B settings
say otherwise, with the same fallback as ``preimage invert``): every cell's metrics (one
logged step per cell and a ``cells`` table), the summary's tables, the figures."""

from __future__ import annotations

from pathlib import Path

from preimage.train.compare.store import COLUMNS
from preimage.train.compare.summary import parse_tables


def log_comparison(run: Path, rows: list[dict], summary: str, figures: list[str]) -> None:
    from preimage.train.output.tracking import WandbLogger

    logger = WandbLogger({"comparison": run.name}, run.name.removesuffix(".partial"), str(run))
    w, r = logger.wandb, logger.run
    for i, row in enumerate(rows):
        key = f"{row['representation']}/{row['method']}/{row['layer']}"
        r.log({f"cell/{m}": row[m] for m in ("relative_error", "table1_error", "mse", "psnr", "ssim", "seconds")}
              | {"cell/key": key, "cell/image": row["image"], "cell/restart": row["restart"]}, step=i)
    data = {"cells": w.Table(columns=list(COLUMNS), data=[[row[c] for c in COLUMNS] for row in rows])}
    for title, table in parse_tables(summary).items():
        if len(table) > 1:
            cols = table[0] if len(set(table[0])) == len(table[0]) else [f"{c} [{i}]" for i, c in enumerate(table[0])]
            data[f"summary/{title}"[:120]] = w.Table(columns=cols, data=table[1:])
    data |= {f"figure/{Path(f).stem}": w.Image(str(run / f)) for f in figures}
    r.log(data)
    logger.finish()
