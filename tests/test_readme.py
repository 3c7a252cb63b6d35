"""Every Python example in README.md runs as written.

Each ```python block runs in a fresh namespace, with ``__name__ ==
"__main__"``, in a temporary directory. To keep the suite fast, the
estimators' default ``max_iter`` is lowered for the duration of the test
(the examples' own explicit settings are kept); what is checked is that the
code runs against the current API, not how well the models fit.
"""

import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import skvae
from conftest import estimator_classes

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _set_default(cls, name, value):
    """Change the default of ``cls.__init__``'s parameter ``name``; returns
    an undo function."""
    init = cls.__init__
    params = list(inspect.signature(init).parameters.values())[1:]
    if init.__kwdefaults__ and name in init.__kwdefaults__:
        old = init.__kwdefaults__[name]
        init.__kwdefaults__[name] = value
        return lambda: init.__kwdefaults__.__setitem__(name, old)
    positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    names = [p.name for p in positional]
    defaults = list(init.__defaults__)
    index = names.index(name) - (len(names) - len(defaults))
    old_defaults = init.__defaults__
    defaults[index] = value
    init.__defaults__ = tuple(defaults)
    return lambda: setattr(init, "__defaults__", old_defaults)


@pytest.fixture
def quick_defaults():
    undo = [
        _set_default(cls, "max_iter", 2)
        for cls in estimator_classes()
    ]
    yield
    for u in undo:
        u()


def test_readme_has_examples():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, quick_defaults, tmp_path, monkeypatch):
    code = BLOCKS[index]
    for module in re.findall(r"^\s*(?:import|from) (\w+)", code, re.M):
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    if "big.npy" in code:  # the out-of-core example reads a file from disk
        np.save(tmp_path / "big.npy", np.random.RandomState(0).rand(3000, 20).astype(np.float32))
    namespace = {"__name__": "__main__"}
    if "vae" in code and "vae =" not in code and "vae2" in code:  # the skops example needs a model
        namespace["vae"] = skvae.VAETransformer(max_iter=2, random_state=0).fit(
            np.random.RandomState(0).rand(60, 4)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, f"README.md block {index}", "exec"), namespace)
