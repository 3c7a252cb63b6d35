"""Threads: how long a fit takes on one and on two torch threads, on a
quiet machine and beside one busy process, in the same run.

skvae trains small networks on one thread (``skvae._base.training_threads``:
at most 2**26 multiply-adds per step in the matrix products and
convolutions, dense and convolutional networks alike) and leaves larger
ones to torch's setting. This benchmark is the measurement behind
that rule. Each fit runs in a fresh process with
``torch.set_num_threads(n)`` and the threshold lifted, so that it really
runs on ``n`` threads; "busy" runs the same fit while another process
keeps one core busy (a numpy loop, as a second fit or a parallel search
would). Median of 3 alternating repeats; seconds per epoch.

    python3 dev.py bench threads             # writes RESULTS.md
    python3 dev.py bench threads --quick     # one repeat, prints only
    python3 dev.py bench threads --cases conv_digits   # some fits, prints only
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

BUSY = "import numpy as np\na = np.random.rand(400, 400)\nwhile True:\n    a = np.sqrt(a + 1.0)\n"
EPOCHS = {"imputer": 40, "digits": 20, "mnist": 3, "conv_digits": 10, "conv_mnist": 2}


def time_fit(case, threads, busy):
    code = CHILD.format(here=str(HERE), threads=threads, case=case, epochs=EPOCHS[case])
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", nargs="+", choices=sorted(EPOCHS),
                        help="only these fits (prints only)")
    args = parser.parse_args()
    cases = {label: case for label, case in CASES.items() if case in (args.cases or EPOCHS)}
    repeats = 1 if args.quick else 3
    settings = [(1, False), (2, False), (1, True), (2, True)]
    seconds = {(c, t, b): [] for c in cases.values() for t, b in settings}
    for _ in range(repeats):
        for case in cases.values():
            for threads, busy in settings:
                s = time_fit(case, threads, busy)
                seconds[case, threads, busy].append(s)
                print(case, f"threads={threads}", "busy" if busy else "quiet", f"{s:.3f} s/epoch", flush=True)
    med = {key: statistics.median(v) for key, v in seconds.items()}
    rows = []
    for label, case in cases.items():
        q1, q2, b1, b2 = (med[case, t, b] for t, b in settings)
        rows.append([label, f"{q1:.3f}", f"{q2:.3f}", f"**{q2 / q1:.2f}x**",
                     f"{b1:.3f}", f"{b2:.3f}", f"**{b2 / b1:.1f}x**"])
    table = markdown_table(
        ["fit", "quiet, 1 thread", "quiet, 2 threads", "2 / 1 quiet", "busy, 1 thread",
         "busy, 2 threads", "2 / 1 busy"],
        rows,
    )
    body = (
        "Seconds per training epoch (median of "
        f"{repeats}, each fit in a fresh process with `torch.set_num_threads(n)`); *busy*: "
        "another process keeps one of the 2 cores busy meanwhile. A ratio above 1 means "
        "two threads are slower than one.\n\n" + table
    )
    if args.quick or args.cases:
        print(body)
    else:
        write_section("Threads: one or two for training", body)


if __name__ == "__main__":
    main()
