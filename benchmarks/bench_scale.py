"""Scaling: out-of-core fitting from a memmap, partial_fit against fit, and
hyper-parameter search on a Dask cluster.

1. Out-of-core (``memory``): 100k, 1M and 4M rows x 784 float32 written to
   a .npy file in a temporary directory (deleted afterwards), then one
   epoch of ``skvae.fit_streaming`` over ``np.load(path, mmap_mode="r")``
   in a fresh process per size: peak resident memory (VmHWM) and time
   per epoch. The rows are MNIST-5k images drawn with replacement and
   dimmed at random; the network is protocol 4's (784-512-256, latent 16,
   Bernoulli, batch 128). Beside it, in fresh processes too: only reading
   the chunks (no training), and for the smallest size ``fit`` on the
   array loaded into memory.
2. Quality (``quality``): ``partial_fit`` on 4 successive chunks and
   ``fit_streaming`` from a memmap against ``fit`` on the whole, the same
   network and number of epochs, early stopping off; held-out
   reconstruction MSE and ``score`` on protocol 1's split, seeds 0, 1, 2.
3. Dask (``dask``): GridSearchCV over digits with ``n_jobs=1`` against
   ``n_jobs=-1`` under ``joblib.parallel_backend("dask")`` on a
   ``LocalCluster`` of 2 worker processes with 1 thread each: wall time,
   CPU time of all processes, torch threads per worker, and the largest
   difference between the ``cv_results_`` scores. A cluster whose workers
   start with ``OMP_NUM_THREADS=MKL_NUM_THREADS=2`` (torch on 2 threads in
   each of 2 workers: 4 busy threads on 2 cores) shows what
   oversubscription costs.

    python3 dev.py bench scale                  # all parts, writes RESULTS.md
    python3 dev.py bench scale --quick          # small sizes, prints only
    python3 dev.py bench scale --part dask      # one part (memory, quality, dask)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from _common import load_digits_unit, load_mnist, markdown_table, write_section

warnings.filterwarnings("ignore", category=ConvergenceWarning)
N_FEATURES = 784
SIZES = [100_000, 1_000_000, 4_000_000]
QUICK_SIZES = [20_000, 100_000]
CHUNK_ROWS = 20_000
# Protocol 4's network.
NETWORK = dict(
    n_components=16, hidden_layer_sizes=(512, 256), likelihood="bernoulli", batch_size=128
)


# ------------------------------------------------------------- out-of-core


def write_data(path, n_rows, seed=0, block=50_000):
    """n_rows x 784 float32 rows to a .npy file, written block by block."""
    images = load_mnist()[0].astype(np.float32)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (n_rows, N_FEATURES)}
        )
        for start in range(0, n_rows, block):
            m = min(block, n_rows - start)
            rows = images[rng.integers(len(images), size=m)]
            rows *= rng.uniform(0.7, 1.0, size=(m, 1)).astype(np.float32)
            f.write(rows.tobytes())


def child(mode, path):
    """Run in a fresh process: one epoch of ``mode`` over the file; prints JSON."""
    import torch

    from skvae import VAETransformer, fit_streaming

    class Reader:
        """Only reads the chunks."""

        def partial_fit(self, X):
            return self

    def status_mb(field):
        # VmHWM, unlike ru_maxrss, starts afresh at exec: a child does not
        # inherit the parent's peak.
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024

    X = np.load(path, mmap_mode="r")
    baseline = status_mb("VmRSS:")
    start = time.perf_counter()
    if mode == "read":
        fit_streaming(Reader(), X, chunk_rows=CHUNK_ROWS, random_state=0)
    elif mode == "stream":
        vae = VAETransformer(**NETWORK, random_state=0, device="cpu")
        fit_streaming(vae, X, chunk_rows=CHUNK_ROWS, n_epochs=1, random_state=0)
    elif mode == "in_memory":
        X = np.array(X)  # the whole array in memory, as a user would load it
        vae = VAETransformer(
            **NETWORK, max_iter=1, early_stopping=False, random_state=0, device="cpu"
        )
        vae.fit(X)
    seconds = time.perf_counter() - start
    peak = status_mb("VmHWM:")
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline,
                      "threads": torch.get_num_threads()}))


def run_child(mode, path, threads):
    # torch reads MKL_NUM_THREADS after OMP_NUM_THREADS.
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_part(sizes, threads):
    rows = []
    load = os.getloadavg()[0]
    total_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    with tempfile.TemporaryDirectory(prefix="skvae-bench-scale-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"X_{n}.npy"
            start = time.perf_counter()
            write_data(path, n)
            write_s = time.perf_counter() - start
            size_gb = path.stat().st_size / 2**30
            print(f"{n:,} rows: wrote {size_gb:.2f} GiB in {write_s:.0f} s", flush=True)
            modes = ["read", "stream"] + (["in_memory"] if n == sizes[0] else [])
            for mode in modes:
                r = run_child(mode, path, threads)
                print(f"  {mode}: {r}", flush=True)
                label = {
                    "read": "read chunks only",
                    "stream": "`fit_streaming`, 1 epoch",
                    "in_memory": "`fit` on the array in memory, 1 epoch",
                }[mode]
                rows.append([
                    f"{n:,}", f"{size_gb:.2f}", f"{2 * size_gb:.1f}", label,
                    f"{r['peak_mb']:,.0f}", f"{r['peak_mb'] - r['baseline_mb']:,.0f}",
                    f"{r['seconds']:,.1f}", f"{n / r['seconds']:,.0f}",
                ])
            path.unlink()
    body = (
        f"One epoch over n rows x {N_FEATURES} float32 on disk "
        f"(`np.load(path, mmap_mode=\"r\")`), each run in a fresh process; "
        f"`fit_streaming(vae, X, chunk_rows={CHUNK_ROWS:,}, random_state=0)` with "
        "protocol 4's network (`VAETransformer(16, hidden_layer_sizes=(512, 256), "
        "likelihood=\"bernoulli\", batch_size=128)`), torch on "
        f"{threads} thread(s). Peak RSS is the process's high-water mark (VmHWM; "
        "torch and skvae imported: that is most of it); \"over start\" is peak RSS "
        "less the RSS after the imports and opening the memmap. "
        f"Machine memory: {total_gb:.0f} GiB, so the largest file does not fit "
        f"in memory as float64. {load_note(load)}\n\n"
        + markdown_table(
            ["rows", "file GiB", "float64 copy GiB", "run", "peak RSS MiB",
             "over start MiB", "seconds / epoch", "rows / s"],
            rows,
        )
    )
    return body


# ------------------------------------------------------------------ quality


def quality_part(quick):
    from skvae import VAETransformer, fit_streaming

    seeds = [0] if quick else [0, 1, 2]
    cases = [("digits", *load_digits_unit(), 5, 20, None)]
    if not quick:
        cases.insert(0, ("MNIST-5k", *load_mnist(), 10, 10, "bernoulli"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="skvae-bench-quality-") as tmp:
        for name, X, y, k, epochs, likelihood in cases:
            X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0, stratify=y)
            X_tr = X_tr.astype(np.float32)
            path = Path(tmp) / f"{name}.npy"
            np.save(path, X_tr)
            X_disk = np.load(path, mmap_mode="r")
            chunk_rows = -(-len(X_tr) // 4)
            results = {"fit": [], "partial_fit": [], "fit_streaming": []}
            for seed in seeds:
                params = dict(
                    n_components=k, early_stopping=False, max_iter=epochs,
                    random_state=seed, device="cpu",
                    **({"likelihood": likelihood} if likelihood else {}),
                )
                # The default widths depend on the rows of the first call: fix them.
                params["hidden_layer_sizes"] = (512, 256) if name == "MNIST-5k" else (128, 64)
                # learning_rate="auto" follows the steps of an epoch, which a
                # partial_fit call on a chunk does not know: one step size
                # for the three methods.
                params["learning_rate"] = 1e-3
                models = {"fit": VAETransformer(**params).fit(X_tr)}
                pf = VAETransformer(**params)
                for _ in range(epochs):
                    for chunk in np.array_split(X_tr, 4):
                        pf.partial_fit(chunk)
                models["partial_fit"] = pf
                models["fit_streaming"] = fit_streaming(
                    VAETransformer(**params), X_disk, chunk_rows=chunk_rows,
                    n_epochs=epochs, random_state=seed,
                )
                for method, m in models.items():
                    mse = np.mean((m.inverse_transform(m.transform(X_te)) - X_te) ** 2)
                    results[method].append((mse, m.score(X_te)))
                print(name, seed, {m: r[-1] for m, r in results.items()}, flush=True)
            del X_disk
            fit_mse = np.array([r[0] for r in results["fit"]])
            fit_score = np.array([r[1] for r in results["fit"]])
            for method, res in results.items():
                mse = np.array([r[0] for r in res])
                score = np.array([r[1] for r in res])
                rows.append([
                    name, models["fit"].likelihood_, k, epochs, f"`{method}`",
                    " / ".join(f"{v:.4f}" for v in mse),
                    f"{np.max(mse / fit_mse):.3f}",
                    " / ".join(f"{v:.2f}" for v in score),
                    f"{np.min(score - fit_score):+.2f}",
                    f"{score.mean() - fit_score.mean():+.2f}",
                ])
    body = (
        "Held-out quality of chunked training against `fit` on the whole, same "
        "network and number of epochs, early stopping off (protocol 1's split: "
        "test_size=0.25, random_state=0, stratified; seeds "
        f"{', '.join(map(str, seeds))}). `partial_fit`: the training rows in 4 "
        "successive chunks, each epoch; `fit_streaming`: the same rows as a "
        "memmap, 4 shuffled chunks per epoch. Tolerance: held-out MSE at most "
        "1.05x fit's, and with a likelihood that does not rescale features "
        "(Bernoulli) a mean held-out score over the seeds at most 1 nat below "
        "fit's mean. (Same-seed differences are a noisier guide: a seed fixes "
        "the initial weights, but the runs see the rows in different orders, "
        "and `fit`'s own score varies by more than a nat from seed to seed.) "
        "Gaussian models' feature scaling follows the running mean and "
        "standard deviation of the rows seen so far (the network re-expressed "
        "in the new units after each chunk); pixels constant in the first "
        "chunk start afresh when they first vary.\n\n"
        + markdown_table(
            ["data", "likelihood", "k", "epochs", "method", "test MSE per seed",
             "worst MSE / fit", "test score per seed", "worst score - fit",
             "mean score - fit's"],
            rows,
        )
    )
    return body


# --------------------------------------------------------------------- dask


def load_note(before):
    """The machine's load while a part ran: timings on a shared machine."""
    after = os.getloadavg()[0]
    return (
        f"Load average (1 min) {before:.1f} before, {after:.1f} after, on "
        f"{os.cpu_count()} cores."
    )


def _process_cpu_seconds():
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _search(n_jobs, quick):
    from sklearn.model_selection import GridSearchCV

    from skvae import VAETransformer

    X, _ = load_digits_unit()
    grid = {"n_components": [2, 5], "beta": [0.5, 1.0]}
    return GridSearchCV(
        VAETransformer(
            hidden_layer_sizes=(128, 64), max_iter=4 if quick else 15,
            early_stopping=False, random_state=0, device="cpu",
        ),
        grid, cv=3, n_jobs=n_jobs,
    ), X


def _timed_search(n_jobs, quick, client=None):
    import joblib

    search, X = _search(n_jobs, quick)
    worker_cpu = (lambda: sum(client.run(_process_cpu_seconds).values())) if client else (lambda: 0.0)
    cpu0, main0, start = worker_cpu(), _process_cpu_seconds(), time.perf_counter()
    if client is None:
        search.fit(X)
    else:
        with joblib.parallel_backend("dask"):
            search.fit(X)
    wall = time.perf_counter() - start
    cpu = worker_cpu() - cpu0 + _process_cpu_seconds() - main0
    return wall, cpu, search.cv_results_


def dask_part(quick):
    import dask
    import torch
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    repeats = 1 if quick else 3
    rows, results = [], {}
    load = os.getloadavg()[0]

    def record(label, threads, runs):
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        results[label] = runs[0][2]
        rows.append([label, threads, f"{statistics.median(walls):.1f}",
                     f"{statistics.median(cpus):.1f}"])
        print(rows[-1], flush=True)

    record("`n_jobs=1`", torch.get_num_threads(), [_timed_search(1, quick) for _ in range(repeats)])
    with threadpool_limits(1):
        record("`n_jobs=1` inside `threadpool_limits(1)`", 1,
               [_timed_search(1, quick) for _ in range(repeats)])
    clusters = [
        ("`n_jobs=-1`, dask, 2 workers x 1 thread (default environment)", None),
        ("`n_jobs=-1`, dask, workers started with OMP_NUM_THREADS=MKL_NUM_THREADS=2", 2),
    ]
    for label, threads in clusters:
        # torch reads MKL_NUM_THREADS after OMP_NUM_THREADS; the nanny sets both to 1.
        config = {
            f"distributed.nanny.pre-spawn-environ.{var}": threads
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
            if threads
        }
        # The nannies write their variables into this process's environment,
        # where they would override the next cluster's: restore it each time.
        saved = dict(os.environ)
        with dask.config.set(config), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
            with cluster, Client(cluster) as client:
                threads = sorted(client.run(torch.get_num_threads).values())
                _timed_search(-1, True, client)  # warm-up: imports in the workers
                record(label, " + ".join(map(str, threads)),
                       [_timed_search(-1, quick, client) for _ in range(repeats)])
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
    keys = ["mean_test_score"] + [f"split{i}_test_score" for i in range(3)]
    reference = results["`n_jobs=-1`, dask, 2 workers x 1 thread (default environment)"]

    def max_diff(label):
        return max(np.max(np.abs(results[label][k] - reference[k])) for k in keys)

    diffs = "; ".join(f"{label}: {max_diff(label):.3g}" for label in list(results)[:2])
    search, X = _search(1, quick)
    body = (
        f"`GridSearchCV(VAETransformer(hidden_layer_sizes=(128, 64), max_iter="
        f"{search.estimator.max_iter}, early_stopping=False, random_state=0), "
        f"{search.param_grid}, cv=3)` on digits ({X.shape[0]} x {X.shape[1]}): "
        f"{4 * 3} fits and the refit. Wall and CPU seconds (all processes: the "
        f"client and the workers) are medians of {repeats}; the dask runs follow "
        "a warm-up search on the same cluster. Largest absolute difference of "
        "any `cv_results_` test score (mean and per split) from the dask run "
        f"with the default environment: {diffs}. {load_note(load)}\n\n"
        + markdown_table(["run", "torch threads", "wall s", "CPU s"], rows)
    )
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; print only")
    parser.add_argument("--part", choices=["memory", "quality", "dask"], action="append")
    parser.add_argument("--sizes", type=int, nargs="+", help="rows for the memory part")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads in the memory and quality parts (default 1: on a machine "
        "whose cores other jobs share, 2 threads ran 16x slower than 1 here)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    parts = args.part or ["memory", "quality", "dask"]
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    sections = []
    if "quality" in parts:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.threads):  # quality does not depend on it
            body = quality_part(args.quick)
        sections.append(("Out-of-core: partial_fit and fit_streaming against fit", body))
    if "dask" in parts:
        sections.append(("Hyper-parameter search on a Dask cluster", dask_part(args.quick)))
    if "memory" in parts:
        sections.append(("Out-of-core: peak memory and time per epoch", memory_part(sizes, args.threads)))
    for name, body in sections:
        if args.quick or args.sizes:
            print(f"## {name}\n\n{body}\n")
        else:
            write_section(name, body)
    if args.quick or args.sizes:
        print("(quick or custom-size run: RESULTS.md not written)")


if __name__ == "__main__":
    main()
