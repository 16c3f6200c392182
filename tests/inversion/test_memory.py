"""keep_freed_memory: once applied, the blocks a step frees are reused by the next step (minor
page faults stay near zero); without it glibc often hands 13 MB blocks back to the kernel every
other step and the next step faults them in again page by page (≈ 3,200 faults)."""

import subprocess
import sys

import pytest

PROBE = """
import resource, torch
from preimage.inversion import keep_freed_memory
print(keep_freed_memory())
w, x = torch.randn(64, 3, 3, 3), torch.randn(4, 3, 227, 227)

def step():  # SqueezeNet conv1's forward and seeded backward: 13 MB maps, freed at the end
    xg = x.clone().requires_grad_(True)
    y = torch.relu(torch.nn.functional.conv2d(xg, w, stride=2))
    return torch.autograd.grad(y, xg, y.detach() - 1.0)

for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 8)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_blocks_are_reused_only_when_kept():
    def faults(keep: str) -> tuple[str, float]:
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                             env={"PREIMAGE_KEEP_MEMORY": keep, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
        applied, n = out.stdout.split()
        return applied, float(n)

    applied, kept = faults("1")
    assert applied == "True" and kept < 1000, kept  # a 13 MB map faulted in anew would be 3,300 pages
    applied, fresh = faults("0")  # glibc's own heuristic: 0 or ≈ 1,600 per step, depending on timing
    assert applied == "False" and kept <= fresh + 300, (kept, fresh)


def test_batch_bytes_is_the_stated_lower_bound_and_the_limit_is_the_machines():
    import os

    from preimage.inversion import batch_bytes, format_bytes, memory_limit

    # 4 items of 3×8×8 and a 16×4×4 map: (image + map) and their gradients, float32
    assert batch_bytes(4, 3 * 8 * 8, [16 * 4 * 4]) == 2 * 4 * 4 * (192 + 256)
    limit = memory_limit()
    assert limit is not None and 0 < limit <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert format_bytes(23.5 * 2**30) == "23.5 GiB" and format_bytes(512) == "512 B"
