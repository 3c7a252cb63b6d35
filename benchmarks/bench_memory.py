"""Peak memory of inference on a large array (issue 6).

transform, inverse_transform and score_samples work in row batches, so
transforming a 1,000,000 x 784 float32 array needs memory for the input,
the output and one batch of activations, never a copy of the input.

    python3 dev.py bench memory            # 1M rows, writes RESULTS.md
    python3 dev.py bench memory --rows 200000 --no-write
"""

import argparse
import os
import threading
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from _common import markdown_table, write_section
from skvae import VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Samples the resident set size every few milliseconds in a thread."""

    def __enter__(self):
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self):
        return self.peak - self.start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--score-rows", type=int, default=20_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    mb = 2**20
    X = np.random.default_rng(0).random((args.rows, 784), dtype=np.float32)
    vae = VAETransformer(16, max_iter=2, random_state=0).fit(X[:20000])
    rows = []

    def measure(name, fn, n, input_bytes, output_bytes):
        start = time.perf_counter()
        with PeakRSS() as peak:
            out = fn()
        seconds = time.perf_counter() - start
        rows.append(
            [
                name,
                f"{n:,} x {X.shape[1]}",
                f"{input_bytes / mb:,.0f}",
                f"{output_bytes / mb:,.0f}",
                f"**{peak.growth / mb:,.0f}**",
                f"{(peak.growth - output_bytes) / mb:,.0f}",
                f"{seconds:.1f}",
            ]
        )
        print(rows[-1], flush=True)
        return out

    Z = measure("transform", lambda: vae.transform(X), args.rows, X.nbytes, args.rows * 16 * 8)
    n_inv = args.rows // 10
    measure(
        "inverse_transform",
        lambda: vae.inverse_transform(Z[:n_inv]),
        n_inv,
        n_inv * 16 * 8,
        n_inv * 784 * 8,
    )
    n = args.score_rows
    measure("score_samples", lambda: vae.score_samples(X[:n]), n, n * 784 * 4, n * 8)
    body = (
        f"Resident memory growth during each call (sampled every 2 ms), on "
        f"float32 input; model `VAETransformer(16)` (dense 784-512-256, Gaussian "
        f"likelihood), float64 inference. The input ({X.nbytes / mb:,.0f} MB for "
        f"{args.rows:,} rows) is never copied: the growth is the output plus one "
        "batch of work.\n\n"
        + markdown_table(
            ["method", "rows", "input MB", "output MB", "peak growth MB", "growth beyond output MB", "seconds"],
            rows,
        )
    )
    if args.no_write:
        print(body)
    else:
        write_section("Inference memory (issue 6)", body)


if __name__ == "__main__":
    main()
