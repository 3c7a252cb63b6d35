"""Every gallery script in ``examples/`` runs to the end in its fast mode.

The scripts are found by name (``examples/plot_*.py``), so a new example is
tested as soon as it exists. Each runs in its own interpreter, as a user
would run it, from an empty directory (nothing it needs may come from the
working directory), with ``SKVAE_EXAMPLES_FAST=1`` (fewer rows and epochs,
every code path), matplotlib's non-interactive backend and one thread for
torch and BLAS: a fast run's steps are too small to gain from a second
thread, which on a busy machine mostly waits for a core.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))
TIMEOUT_S = 120


def test_the_gallery_has_scripts():
    # A wrong path would otherwise parametrise nothing and pass in silence.
    assert SCRIPTS, f"no plot_*.py in {EXAMPLES}"
    assert (EXAMPLES / "GALLERY_HEADER.rst").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_script_has_a_title(script):
    """sphinx-gallery takes the page's title from the docstring's first
    line, underlined with '=', and its summary from the paragraph after."""
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    assert docstring, f"{script.name} has no module docstring"
    lines = docstring.strip().splitlines()
    assert len(lines) >= 4, f"{script.name}: a title, its underline, a blank line, a paragraph"
    title, underline = lines[0].strip(), lines[1].strip()
    assert title and set(underline) == {"="} and len(underline) >= len(title), (
        f"{script.name}: the docstring must start with a title underlined with '='"
    )
    assert not lines[2].strip() and lines[3].strip(), (
        f"{script.name}: a paragraph must follow the title"
    )


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_script_runs(script, tmp_path):
    env = {**os.environ, "SKVAE_EXAMPLES_FAST": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    try:
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{script.name} took more than {TIMEOUT_S} s:\n{error.stderr or ''}")
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n"
        f"--- stdout (end) ---\n{result.stdout[-3000:]}\n"
        f"--- stderr ---\n{result.stderr[-6000:]}"
    )
