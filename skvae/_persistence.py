"""Checks on the fitted state read back from a file, before anything is
built from it.

Unpickling (and ``skops.io.load``) rebuilds an estimator's inference
network from the ``_config`` stored in the file. A tampered file could make
that rebuild allocate any amount of memory (``hidden_layer_sizes=[10**9]``
is 10 kB on disk and 16 GB in memory), so the config is first checked
against the parameter arrays the file holds: its entries must have the
types ``fit`` writes, and the network it describes, built with its
parameters on torch's "meta" device (shapes without memory), must have
exactly the stored parameters' names and shapes. The rebuild then
allocates the size of the stored arrays, plus the index tables of
categorical columns, which are bounded beforehand. The rest of the fitted
state is checked for consistent shapes, so that a file is either loaded
whole and consistent or rejected with a ValueError naming what is wrong.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .nn import MODELS, model_from_config
from .nn.likelihoods import LIKELIHOODS
from .nn.posteriors import FLOWS
from .nn.networks import ACTIVATIONS

# Memory the rebuilt network may take beyond its stored arrays, for the
# tables it computes from the config (the (column, level) index of
# categorical columns): this much, plus this many times the stored arrays'
# bytes. Categorical builds two tables of columns x widest level count
# (int64 and bool) through as large temporaries: about 32 bytes a cell.
_UNSTORED_BYTES = 64 * 2**20
_UNSTORED_PER_STORED_BYTE = 4
_BYTES_PER_LEVEL_CELL = 32

_POSITIVE_INTS = ("n_features", "n_components", "n_classes", "training_samples", "n_flows")
_INT_LISTS = ("hidden_layer_sizes", "conv_channels", "image_shape")
_REALS = (
    "free_bits", "classification_weight", "dropout", "input_dropout", "tc_extra_weight",
    "min_class_probability",
)
_CHOICES = {
    "model": set(MODELS),
    "network": {"dense", "conv"},
    "activation": set(ACTIVATIONS),
    "posterior": {"gaussian", *FLOWS},
}
_PART_KINDS = {*LIKELIHOODS, "categorical"}


def check_loaded_state(state, name="the estimator"):
    """Raise ValueError unless ``state`` (an estimator's ``__dict__`` as read
    from a file) is a consistent fitted state whose network can be rebuilt
    in memory proportional to the arrays it holds. ``name`` names the
    estimator in messages."""
    params = state.get("_params")
    if params is None:
        return  # not fitted: nothing is built on loading
    where = f"Cannot load {name}: the file is corrupt or was tampered with:"
    try:
        _check_params(params)
        config = state.get("_config")
        _check_config(config, params)
        module = _shapes_only_module(config)
        _check_shapes(module, params)
        _check_optimizer_state(state.get("_optimizer_state"), module)
        _check_fitted_arrays(state, config)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{where} {exc}") from None


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int_list(value, key):
    if not isinstance(value, (list, tuple)) or not all(_is_int(v) and v >= 1 for v in value):
        raise ValueError(f"_config[{key!r}] must be a list of positive ints, got {value!r:.200}.")
    return list(value)


def _check_params(params):
    if not isinstance(params, dict) or not params:
        raise ValueError(
            f"_params must be a non-empty dict of arrays, got {type(params).__name__}."
        )
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise ValueError(f"_params[{key!r:.100}] must be a numpy array under a string name.")
        if value.dtype.kind not in "fiub":
            raise ValueError(f"_params[{key!r}] has dtype {value.dtype}, not a numeric one.")


def _check_config(config, params):
    """The entries of ``_config`` have the types ``fit`` writes, its lists
    are no longer than the stored arrays can account for (building the
    network is then quick), and its categorical tables are bounded."""
    n_arrays = len(params)
    if not isinstance(config, dict):
        raise ValueError(f"_config must be a dict, got {type(config).__name__}.")
    known = {*_POSITIVE_INTS, *_INT_LISTS, *_REALS, *_CHOICES, "likelihood", "input_bounds"}
    unknown = sorted(repr(k) for k in config if k not in known)
    if unknown:
        raise ValueError(f"_config has unknown entries {', '.join(unknown)}.")
    for key in ("network", "n_features", "n_components", "likelihood", "hidden_layer_sizes",
                "activation"):
        if key not in config:
            raise ValueError(f"_config has no {key!r} entry.")
    if config.get("model") == "m2" and "n_classes" not in config:
        raise ValueError("_config of an 'm2' model has no 'n_classes' entry.")
    for key, options in _CHOICES.items():
        if key in config and (not isinstance(config[key], str) or config[key] not in options):
            raise ValueError(
                f"_config[{key!r}] must be one of {sorted(options)}, got {config[key]!r:.200}."
            )
    for key in _POSITIVE_INTS:
        if key in config and not (_is_int(config[key]) and config[key] >= 1):
            raise ValueError(f"_config[{key!r}] must be a positive int, got {config[key]!r:.200}.")
    for key in _REALS:
        if key in config and not _is_real(config[key]):
            raise ValueError(f"_config[{key!r}] must be a finite number, got {config[key]!r:.200}.")
    for key in _INT_LISTS:
        if key in config:
            values = _positive_int_list(config[key], key)
            # Each hidden layer and convolution holds at least one stored array.
            if len(values) > n_arrays:
                raise ValueError(
                    f"_config[{key!r}] lists {len(values)} sizes, more than the "
                    f"{n_arrays} stored parameter arrays."
                )
    if config["network"] == "conv":
        if "conv_channels" not in config or "image_shape" not in config:
            raise ValueError("_config of a 'conv' network needs 'conv_channels' and 'image_shape'.")
        if len(config["image_shape"]) != 3 or not config["conv_channels"]:
            raise ValueError(
                "_config['image_shape'] must be (channels, height, width) and "
                "_config['conv_channels'] non-empty."
            )
    _check_likelihood(config["likelihood"], config["n_features"])
    _check_level_tables(config["likelihood"], sum(v.nbytes for v in params.values()))
    bounds = config.get("input_bounds")
    if bounds is not None and not (
        isinstance(bounds, (list, tuple))
        and len(bounds) == 2
        and all(
            isinstance(b, (list, tuple))
            and len(b) == config["n_features"]
            and all(_is_real(v) for v in b)
            for b in bounds
        )
    ):
        raise ValueError(
            "_config['input_bounds'] must be two lists of n_features="
            f"{config['n_features']} finite numbers."
        )


def _check_likelihood(likelihood, n_features):
    if isinstance(likelihood, str):
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"_config['likelihood'] must be one of {sorted(LIKELIHOODS)} or a list of "
                f"column parts, got {likelihood!r:.200}."
            )
        return
    if not isinstance(likelihood, (list, tuple)) or not likelihood:
        raise ValueError("_config['likelihood'] must be a name or a non-empty list of parts.")
    columns = []
    for part in likelihood:
        if not isinstance(part, dict) or part.get("kind") not in _PART_KINDS:
            raise ValueError(
                f"a likelihood part must be a dict with a 'kind' among "
                f"{sorted(_PART_KINDS)}, got {part!r:.200}."
            )
        categorical = part["kind"] == "categorical"
        expected = {"kind", "features", "n_categories"} if categorical else {"kind", "features"}
        if set(part) != expected:
            raise ValueError(
                f"a {part['kind']!r} likelihood part has the entries {sorted(expected)}, "
                f"got {sorted(map(repr, part))}."
            )
        features = part["features"]
        if not isinstance(features, (list, tuple)) or not features or not all(
            _is_int(j) for j in features
        ):
            raise ValueError("the features of a likelihood part must be a non-empty list of ints.")
        columns.extend(features)
        if categorical:
            n_categories = _positive_int_list(part["n_categories"], "n_categories")
            if len(n_categories) != len(features):
                raise ValueError("a categorical likelihood part needs one level count per feature.")
    if len(columns) != n_features or sorted(columns) != list(range(n_features)):
        raise ValueError(
            f"the likelihood parts must cover each of the n_features={n_features} features once."
        )


def _check_level_tables(likelihood, stored_bytes):
    """The (column, level) tables of the categorical columns, which the
    network computes rather than stores, fit within the allowance."""
    parts = likelihood if isinstance(likelihood, (list, tuple)) else []
    cells = sum(
        len(p["n_categories"]) * max(p["n_categories"]) for p in parts if p["kind"] == "categorical"
    )
    limit = _UNSTORED_BYTES + _UNSTORED_PER_STORED_BYTE * stored_bytes
    if cells * _BYTES_PER_LEVEL_CELL > limit:
        raise ValueError(
            f"the categorical columns of _config need {cells * _BYTES_PER_LEVEL_CELL / 2**20:.0f} "
            f"MB of tables for {stored_bytes / 2**20:.1f} MB of stored parameters (at most "
            f"{limit / 2**20:.0f} MB)."
        )


class _ParametersOnMeta(TorchFunctionMode):
    """Tensors allocated by size, as layers allocate their weights, go to
    the meta device; tensors computed from the config's own values stay
    real. (Building wholly on the meta device would also work, but the
    first meta operation of a process imports torch's compiler stack:
    about a second and 70 MB.)"""

    BY_SIZE = frozenset({torch.empty, torch.zeros, torch.ones, torch.full})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in self.BY_SIZE:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def _shapes_only_module(config):
    """The module ``config`` describes, its parameters on the meta device:
    each has its shape, none has memory."""
    # Layer constructors draw initial weights; keep torch's global state.
    with torch.random.fork_rng(devices=[]), _ParametersOnMeta():
        try:
            return model_from_config(config)
        except Exception as exc:  # any failure to build means an inconsistent config
            raise ValueError(f"_config does not describe a network: {exc}") from None


def _check_shapes(module, params):
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in params.items()}
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        raise ValueError(
            "_params does not hold the parameters _config describes"
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
            + (f"; unexpected: {', '.join(extra[:5])}" if extra else "")
            + "."
        )
    for key, shape in expected.items():
        if stored[key] != shape:
            raise ValueError(
                f"_config describes parameter {key!r} of shape {shape}, but the stored "
                f"array has shape {stored[key]}."
            )


def _check_optimizer_state(optimizer_state, module):
    """Adam's moments match the parameters they belong to (they are used
    when training continues: warm_start, partial_fit)."""
    if optimizer_state is None:
        return
    shapes = [tuple(p.shape) for p in module.parameters()]
    try:
        groups, per_param = optimizer_state["param_groups"], optimizer_state["state"]
        indices = [i for group in groups for i in group["params"]]
        moments = [(i, v) for i, entry in per_param.items() for v in entry.values()]
    except (KeyError, TypeError, AttributeError):
        raise ValueError("_optimizer_state is not an optimiser state.") from None
    if sorted(indices) != list(range(len(shapes))):
        raise ValueError("_optimizer_state does not list the network's parameters.")
    for i, value in moments:
        if not _is_int(i) or not 0 <= i < len(shapes) or not isinstance(value, np.ndarray):
            raise ValueError("_optimizer_state holds an entry for no parameter of the network.")
        if value.ndim and tuple(value.shape) != shapes[i]:
            raise ValueError(
                f"_optimizer_state has an array of shape {value.shape} for a parameter of "
                f"shape {shapes[i]}."
            )


def _check_fitted_arrays(state, config):
    """The fitted arrays beside the network agree with it and each other."""

    def length(key, n, what):
        value = state.get(key)
        if value is not None and (not isinstance(value, np.ndarray) or value.shape != (n,)):
            shape = getattr(value, "shape", type(value).__name__)
            raise ValueError(f"{key} must have shape ({n},) ({what}), got {shape}.")

    n_features_in = state.get("n_features_in_")
    if not (_is_int(n_features_in) and n_features_in >= 1):
        raise ValueError(f"n_features_in_ must be a positive int, got {n_features_in!r:.100}.")
    for key in (
        "_shift", "_scale", "feature_names_in_", "categorical_features_", "_data_min",
        "_data_max", "_ordered_categories",
    ):
        length(key, n_features_in, "one per feature")
    n_components = config["n_components"]
    length("_order", n_components, "one per component")
    order = state.get("_order")
    if order is not None and not np.array_equal(np.sort(order), np.arange(n_components)):
        raise ValueError("_order must be a permutation of the components.")
    length("component_kl_", n_components, "one per component")
    if "n_classes" in config:
        length("classes_", config["n_classes"], "one per class")
    if "categories_" in state:
        _check_categories(state, config, n_features_in)


def _check_categories(state, config, n_features_in):
    """VAEImputer: the levels of each categorical column match the network's
    outputs for it."""
    categories = state["categories_"]
    is_categorical = state.get("categorical_features_")
    model_features = state.get("_model_features")
    if not isinstance(categories, list) or not all(
        isinstance(c, np.ndarray) and c.ndim == 1 for c in categories
    ):
        raise ValueError("categories_ must be a list of 1-D arrays.")
    if is_categorical is None or len(categories) != np.count_nonzero(is_categorical):
        raise ValueError("categories_ must hold one array per categorical feature.")
    if (
        not isinstance(model_features, np.ndarray)
        or model_features.shape != (config["n_features"],)
        or model_features.dtype.kind not in "iu"
        or np.any(model_features < 0)
        or np.any(model_features >= n_features_in)
    ):
        raise ValueError("_model_features must hold one feature index per modelled feature.")
    shrinkage = state.get("category_shrinkage_")
    if shrinkage is not None and np.shape(shrinkage) != (len(categories),):
        raise ValueError("category_shrinkage_ must hold one value per categorical feature.")
    frequencies = state.get("_level_frequencies")
    if frequencies is not None and [np.shape(f) for f in frequencies] != [
        (len(c),) for c in categories
    ]:
        raise ValueError("_level_frequencies must hold one frequency per level.")
    # Levels of each modelled feature (None: numeric), by categories_ and
    # by the network's likelihood.
    rank = np.cumsum(is_categorical) - 1  # position in categories_ of a categorical feature
    levels = [len(categories[rank[j]]) if is_categorical[j] else None for j in model_features]
    modelled = [None] * len(levels)
    likelihood = config["likelihood"]
    for part in likelihood if isinstance(likelihood, (list, tuple)) else []:
        for i, k in enumerate(part["features"]):
            modelled[k] = part["n_categories"][i] if part["kind"] == "categorical" else None
    if modelled != levels:
        raise ValueError(
            f"categories_ gives the modelled features {levels} levels (None: numeric), "
            f"but the network models {modelled}."
        )
