#!/usr/bin/env python3
"""Set up and run skvae's demo, tests or documentation with nothing but python3.

    python3 dev.py demo     # VAETransformer against PCA on MNIST-5k; writes a figure
    python3 dev.py test     # the whole test suite
    python3 dev.py bench NAME   # run benchmarks/bench_NAME.py
    python3 dev.py docs     # the HTML documentation, gallery run, in docs/_build/html
    python3 dev.py docs --no-gallery   # the same without running the gallery's examples

The first run creates ``.venv`` beside this file, installs the CPU build of
torch, then skvae with its development extras; later runs reuse it (and
reinstall when setup.cfg changes). Set SKVAE_TORCH to choose another torch
requirement (default ``torch==2.13.0``).

``bench synthesis`` runs in an environment of its own, ``.venv-synthesis``,
made the same way with the ``synthesis`` extras instead (ctgan, sdmetrics:
they need pandas < 3, while ``.venv`` keeps the newest pandas).

``docs`` builds in ``.venv-docs`` with the ``docs`` extras (Sphinx, its
theme and extensions, and what the gallery's examples import), as
``sphinx-build -E -W --keep-going -b html docs docs/_build/html``: every
page is reread and a warning fails the build; examples whose script has
not changed since the last run are not run again. Further arguments go to
sphinx-build.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# Benchmarks whose peers cannot share .venv: name -> (environment, extras).
BENCH_ENVIRONMENTS = {"synthesis": (ROOT / ".venv-synthesis", "synthesis")}
DOCS_ENVIRONMENT = (ROOT / ".venv-docs", "docs")


def run(*args, **kwargs):
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, **kwargs)


def python_in(environment):
    return environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment(environment=VENV, extras="dev"):
    """Create the virtual environment and install what is missing; its
    python."""
    python = python_in(environment)
    stamp = environment / ".skvae-installed"
    wanted = hashlib.sha256((ROOT / "setup.cfg").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        venv.create(environment, with_pip=True)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    # Torch first, pinned: a bare `torch` requirement would pull a multi-GB
    # CUDA build when no torch is installed.
    run(*pip, os.environ.get("SKVAE_TORCH", "torch==2.13.0"))
    run(*pip, "-e", f"{ROOT}[{extras}]")
    stamp.write_text(wanted)
    return python


def main(argv):
    commands = {
        "demo": [ROOT / "benchmarks" / "demo.py"],
        "test": ["-m", "pytest", "-q"],
    }
    if not argv or (argv[0] not in commands and argv[0] not in ("bench", "docs")):
        print(__doc__)
        return 2
    if argv[0] == "docs":
        python = ensure_environment(*DOCS_ENVIRONMENT)
        options = [a for a in argv[1:] if a != "--no-gallery"]
        if "--no-gallery" in argv[1:]:
            # sphinx-gallery then writes the pages without running the scripts
            options = ["-D", "plot_gallery=0", *options]
        # -E: reread every page, so each build reports every warning (an
        # incremental one stays silent about pages it does not reread);
        # sphinx-gallery still reruns only the examples that changed.
        args = ["-m", "sphinx", "-E", "-W", "--keep-going", "-b", "html", *options,
                ROOT / "docs", ROOT / "docs" / "_build" / "html"]
    elif argv[0] == "bench":
        if len(argv) < 2:
            print("usage: python3 dev.py bench NAME [args...]")
            return 2
        python = ensure_environment(*BENCH_ENVIRONMENTS.get(argv[1], ()))
        args = [ROOT / "benchmarks" / f"bench_{argv[1]}.py", *argv[2:]]
    else:
        python = ensure_environment()
        args = [*commands[argv[0]], *argv[1:]]
    return subprocess.run([str(python), *map(str, args)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
