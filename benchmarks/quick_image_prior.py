"""A small learned image prior in seconds, for benchmarks that need one before the shipped
priors are trained: exact score matching in closed form (Hyvärinen 2005) on single whitened
patches of the training photos (never coffee, china, grace_hopper), fresh dequantisation noise
(0.5/255) each step, Adam.

    python benchmarks/quick_image_prior.py --kind foe --out /tmp/quick-foe-rgb.pt [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import torch

TRAIN = ["astronaut", "chelsea", "rocket", "motorcycle", "camera", "flower"]


def patches(p: int, n: int, seed: int) -> torch.Tensor:
    from preimage.representations import load_image

    g = torch.Generator().manual_seed(seed)
    per = n // len(TRAIN) + 1
    out = []
    for name in TRAIN:
        img = load_image(name)[None]
        cols = torch.nn.functional.unfold(img, p).transpose(1, 2)[0]        # (L, 3·p·p)
        out.append(cols[torch.randint(0, cols.shape[0], (per,), generator=g)])
    return torch.cat(out)[:n].reshape(n, 3, p, p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=["foe", "ica"], default="foe")
    ap.add_argument("--out", required=True)
    ap.add_argument("--patch-size", type=int, default=5)
    ap.add_argument("--experts", type=int, default=48)
    ap.add_argument("--patches", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from preimage.priors import FieldOfExperts, OvercompleteICA, save_prior
    from preimage.priors.score_matching import hyvarinen_loss

    torch.manual_seed(args.seed)
    x = patches(args.patch_size, args.patches, args.seed)
    cls = FieldOfExperts if args.kind == "foe" else OvercompleteICA
    kw = {"n_experts": args.experts} if args.kind == "foe" else {"n_components": args.experts}
    e = cls(3, args.patch_size, whitening="zca", init="dct", **kw)
    e.fit_whitening(x)
    opt = torch.optim.Adam(e.parameters(), lr=3e-3)
    t = time.perf_counter()
    for _ in range(args.steps):
        opt.zero_grad()
        loss = hyvarinen_loss(e, x + (0.5 / 255) * torch.randn_like(x))
        loss.backward()
        opt.step()
    secs = time.perf_counter() - t
    cmd = f"python benchmarks/quick_image_prior.py --kind {args.kind} --out {args.out} --steps {args.steps}"
    save_prior(e, args.out, {"data": {"images": TRAIN, "patches": args.patches}, "command": cmd,
                             "loss": "exact (single patches)", "train_seconds": secs})
    print(f"{args.kind}: final loss {loss.item():.4g}, {secs:.1f} s, {args.steps * args.patches / secs:.0f} patches/s")


if __name__ == "__main__":
    main()
