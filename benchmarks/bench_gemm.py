"""Matrix products of a small imputer's training step, in torch's two
arrangements and in numpy, on one thread (issue 13: where the time goes).

VAEImputer's default network for a table of up to 2,000 rows is one hidden
layer of 256 units; a training step decodes 64 rows x 20 draws = 1,280
latent codes. On concrete (9 columns, 8 latent components) its float32
forward and backward passes multiply:

- (1280, 8) x (8, 256) and (1280, 256) x (256, 9) forward,
- (1280, 9) x (9, 256) and (9, 1280) x (1280, 256) for the output layer's
  gradients, (1280, 256) x (256, 8) and (256, 1280) x (1280, 8) for the
  hidden layer's.

Each product C = A @ B is timed as torch computes it (``a @ b``), as the
transpose of the swapped product (``(b.T @ a.T).T``, the same numbers in
another memory order: the kernel sees the narrow dimension as rows), with
``b`` padded with zero columns to 16 when it has fewer (what skvae's
``Linear`` does, then keeps the first columns of the result), in
bfloat16 (what ``training_precision="auto"`` picks on CPUs with native
bfloat16), and with numpy (its own BLAS). Microseconds: the median of 7
repeats of 200 calls. Writes its section of benchmarks/RESULTS.md.

    python3 dev.py bench gemm
"""

import statistics
import time

import numpy as np
import torch

from _common import markdown_table, write_section

SHAPES = [  # (m, k, n): (m, k) x (k, n)
    (1280, 8, 256),
    (1280, 256, 9),
    (1280, 9, 256),
    (9, 1280, 256),
    (1280, 256, 8),
    (256, 1280, 8),
    (64, 256, 256),
]
CALLS, REPEATS = 200, 7


def microseconds(fn):
    for _ in range(20):
        fn()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(CALLS):
            fn()
        times.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(times)


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for m, k, n in SHAPES:
        a_np = rng.standard_normal((m, k), dtype=np.float32)
        b_np = rng.standard_normal((k, n), dtype=np.float32)
        a, b = torch.from_numpy(a_np), torch.from_numpy(b_np)
        a_t, b_t = a.T.contiguous(), b.T.contiguous()
        a16, b16 = a.bfloat16(), b.bfloat16()
        plain = microseconds(lambda: a @ b)
        swapped = microseconds(lambda: (b_t @ a_t).T)
        b_padded = torch.nn.functional.pad(b, (0, max(0, 16 - n)))
        padded = microseconds(lambda: (a @ b_padded)[:, :n].contiguous())
        rows.append([
            f"({m}, {k}) x ({k}, {n})",
            f"{plain:.0f}",
            f"{swapped:.0f}",
            f"{plain / swapped:.1f}x",
            f"{padded:.0f}",
            f"{plain / padded:.1f}x",
            f"{microseconds(lambda: a16 @ b16):.0f}",
            f"{microseconds(lambda: a_np @ b_np):.0f}",
        ])
    table = markdown_table(
        ["product", "torch float32 a @ b (us)", "torch float32 (b.T @ a.T).T (us)",
         "plain / swapped", "torch float32, b padded to 16 columns (us)", "plain / padded",
         "torch bfloat16 a @ b (us)", "numpy float32 (us)"],
        rows,
    )
    body = (
        f"CPU: {cpu_name()}; torch's BLAS: {blas()}; numpy's: {numpy_blas()}; one thread. "
        "The matrix products of a training step of VAEImputer's default network on "
        "concrete (1,280 decoded rows: 64 rows x 20 draws; 8 latent components, 256 "
        "hidden units, 9 columns), timed as torch computes `a @ b`, as the transpose of the "
        "swapped product `(b.T @ a.T).T` (the same numbers; the kernel sees the narrow "
        "dimension as rows), with `b` padded with zero columns to 16 (what skvae's `Linear` "
        "layer does for narrow products; the padded product is sliced back, contiguous), "
        "in bfloat16, and in numpy. Microseconds, median of "
        f"{REPEATS} repeats of {CALLS} calls.\n\n{table}"
    )
    print(body)
    write_section("Matrix products of a small training step (issue 13)", body)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def blas():
    config = torch.__config__.show()
    return "MKL" if "BLAS_INFO=mkl" in config else "other"


def numpy_blas():
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name')} {info.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - only a label
        return "unknown"

if __name__ == "__main__":
    main()
