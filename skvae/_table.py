"""The table layer: a table given to an estimator, as columns of values and
a mask of missing cells, whatever it came as (a DataFrame of mixed dtypes,
a numeric or object array, a list), and back to those dtypes.

VAEImputer reads its input through it (:func:`read_table`), and both
VAEImputer and VAETransformer take from it which columns hold categories,
their levels and codes (:func:`encode_levels`, :func:`decode_levels`), and
how imputed, reconstructed or generated values return to each column's
dtype (:func:`fitted_dtype`; integers rounded, pandas categories with all
their categories, nullable dtypes).
"""

import math
import numbers

import numpy as np
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils.validation import FLOAT_DTYPES, validate_data


def _is_dataframe(X):
    return hasattr(X, "iloc") and hasattr(X, "dtypes") and getattr(X, "ndim", 2) == 2


def _categorical_dtype(dtype):
    """Whether a pandas column of ``dtype`` holds categories rather than numbers."""
    return dtype == object or dtype == bool or dtype.kind in ("O", "b", "U", "S") or str(dtype) in (
        "category",
        "string",
        "boolean",
        "str",
    )


def _unique_levels(values):
    """The distinct values of a column, sorted where they can be compared."""
    try:
        return np.unique(values)
    except TypeError:  # mixed types: order by type name, then value
        distinct = list(dict.fromkeys(values.tolist()))
        try:
            distinct.sort(key=lambda v: (type(v).__name__, v))
        except TypeError:
            distinct.sort(key=lambda v: (type(v).__name__, str(v)))
        return np.array(distinct, dtype=object)


class _Table:
    """An input table split into its columns' values and its missing mask."""

    def __init__(self, columns, missing, frame, numeric_array, dtype=None):
        self.columns = columns  # list of 1-D arrays (float for numeric columns)
        self.missing = missing  # bool (n_samples, n_features)
        self.frame = frame  # the DataFrame given, or None
        self.numeric_array = numeric_array  # the validated 2-D float array, or None
        self.dtype = dtype  # the dtype of the array given, or None

    def column_dtype(self, j):
        """The dtype column j came with (None for a list)."""
        return self.frame.dtypes.iloc[j] if self.frame is not None else self.dtype

    @property
    def n_samples(self):
        return self.missing.shape[0]


def _numeric_ranges(table, categorical):
    """Smallest and largest observed value of each numeric column (NaN for
    categorical or empty ones): the range ``sample`` keeps to."""
    n_features = len(table.columns)
    low, high = np.full(n_features, np.nan), np.full(n_features, np.nan)
    for j, column in enumerate(table.columns):
        values = column[~table.missing[:, j]]
        if not categorical[j] and values.size:
            low[j], high[j] = np.min(values), np.max(values)
    return low, high


def _describe_dtypes(frame):
    """For a DataFrame: each column's dtype by name, the categories of each
    pandas categorical one (None for the others) and whether they are
    ordered, from which ``sample`` rebuilds the dtypes (plain strings and
    arrays, which any loader trusts). For anything else (None): three
    Nones."""
    if frame is None:
        return None, None, None
    names, categories, ordered = [], [], []
    for dtype in frame.dtypes:
        names.append(str(dtype))
        is_category = names[-1] == "category"
        categories.append(
            np.asarray(dtype.categories.to_numpy(dtype=object), dtype=object)
            if is_category else None
        )
        ordered.append(bool(dtype.ordered) if is_category else False)
    return names, categories, np.array(ordered, dtype=bool)


def _array_output_dtype(table, columns):
    """The dtype of the array returned for a table given as an array, with
    output ``columns``: an integer array's own dtype (values rounded), a
    numeric array's, float64 for other numbers and object where some
    column holds categories that are not numbers."""
    integer = _integer_dtype(table.dtype)
    if table.numeric_array is not None:
        return table.dtype if integer else table.numeric_array.dtype
    numeric = all(c.dtype.kind in "fiub" for c in columns)
    return (table.dtype if integer else np.dtype(np.float64)) if numeric else np.dtype(object)


def _stack(columns, n_samples, dtype):
    """The 1-D ``columns`` side by side in an array of ``dtype``."""
    out = np.empty((n_samples, len(columns)), dtype=dtype)
    for k, column in enumerate(columns):
        out[:, k] = column
    return out


def _rebuild_dtype(described, j, pd):
    """Column j's pandas dtype from what :func:`_describe_dtypes` recorded
    (``described``: its three lists): categories with their levels and
    order, any other dtype by name (object when pandas no longer knows it)."""
    names, categories, ordered = described
    if names[j] == "category":
        return pd.CategoricalDtype(categories[j], ordered=bool(ordered[j]))
    try:
        return pd.api.types.pandas_dtype(names[j])
    except TypeError:
        return np.dtype(object)


def _n_columns(X):
    """The number of columns of a 2-D X; 0 for anything else, which
    ``validate_data`` then refuses with its own message."""
    shape = getattr(X, "shape", None)
    if shape is None:
        shape = np.shape(np.asarray(X, dtype=object))
    return int(shape[1]) if len(shape) == 2 else 0


def _isna(values):
    """NaN, None and pandas.NA in an object array (of any shape)."""
    try:
        import pandas as pd

        return np.asarray(pd.isna(values), dtype=bool)
    except ImportError:
        values = np.asarray(values, dtype=object)
        flat = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values.ravel()]
        return np.array(flat, dtype=bool).reshape(values.shape)


def _integer_labels(columns):
    """Whether some column label is an integer (bools are not)."""
    return any(
        isinstance(c, numbers.Integral) and not isinstance(c, (bool, np.bool_)) for c in columns
    )


def _level_codes(values, levels):
    """Codes of ``values`` among ``levels`` and which of them are known."""
    lookup = {}
    for code, level in enumerate(levels.tolist()):
        lookup.setdefault(level, code)
    codes = np.array([lookup.get(v, -1) for v in values.tolist()], dtype=np.int64)
    known = codes >= 0
    return codes.astype(np.float64), known


def _integer_dtype(dtype):
    """Whether ``dtype`` (numpy, or a pandas nullable Int/UInt) holds integers."""
    return dtype is not None and getattr(dtype, "kind", None) in ("i", "u")


def _as_integers(values, dtype):
    """Imputed ``values`` of a column of integer ``dtype`` rounded to the
    nearest integer it can hold (other dtypes: as they are)."""
    if not _integer_dtype(dtype):
        return values
    info = np.iinfo(getattr(dtype, "numpy_dtype", dtype))
    return np.clip(np.round(values), info.min, info.max)


def _restore_dtype(values, dtype, pd):
    """A column of imputed values in the dtype it came with, where it can
    hold them (integer columns hold rounded imputations)."""
    if str(dtype) == "category":
        return pd.Categorical(values, categories=dtype.categories, ordered=dtype.ordered)
    try:
        return pd.array(values, dtype=dtype) if not isinstance(dtype, np.dtype) else values.astype(dtype)
    except (TypeError, ValueError):
        return values


def _frame(columns, dtypes, names, index, pd):
    """A DataFrame of ``columns`` in ``dtypes`` (see :func:`_restore_dtype`)
    named ``names``, with ``index``. Object columns stay object: pandas 3
    would infer its own string dtype for text."""
    data = {k: _restore_dtype(c, d, pd) for k, (c, d) in enumerate(zip(columns, dtypes))}
    out = pd.DataFrame(data, index=index)
    for k, dtype in enumerate(dtypes):
        if dtype == object and out.dtypes.iloc[k] != object:
            out.isetitem(k, out.iloc[:, k].astype(object))
    out.columns = names
    return out


def table_columns(estimator, X, *, reset):
    """The DataFrame X (or None) and its columns, after scikit-learn's
    checks of its shape and feature names (``validate_data``, which
    records them on ``estimator`` when ``reset``). Other input is read as a
    2-D array, numbers as float64 and anything else as objects."""
    if _is_dataframe(X):
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        if X.shape[0] < 1:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a "
                "minimum of 1 is required."
            )
        return X, [X.iloc[:, j] for j in range(X.shape[1])]
    values = validate_data(estimator, X, dtype=None, ensure_all_finite=False, reset=reset)
    values = values.astype(np.float64 if values.dtype.kind in "iubf" else object, copy=False)
    return None, [values[:, j] for j in range(values.shape[1])]


def categorical_mask(spec, X):
    """The ``categorical_features`` parameter ``spec`` as a boolean mask
    over the features of X; None for "from_dtype" (the caller reads the
    dtypes)."""
    if spec is None or (isinstance(spec, str) and spec == "from_dtype"):
        return None if spec == "from_dtype" else np.zeros(_n_columns(X), dtype=bool)
    n_features = _n_columns(X)
    spec = np.asarray(spec)
    mask = np.zeros(n_features, dtype=bool)
    if spec.size == 0:
        return mask
    if spec.dtype.kind == "b":
        if spec.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask needs {n_features} "
                f"values, one per feature; got shape {spec.shape}."
            )
        return spec.copy()
    if spec.dtype.kind in ("U", "S", "O"):
        if not _is_dataframe(X):
            raise ValueError(
                "categorical_features names columns, which needs X to be a "
                "DataFrame with those column names."
            )
        names = [str(c) for c in X.columns]
        unknown = [str(s) for s in spec if str(s) not in names]
        if unknown:
            raise ValueError(f"categorical_features names unknown columns {unknown}.")
        mask[[names.index(str(s)) for s in spec]] = True
        return mask
    if spec.dtype.kind in ("i", "u") and _is_dataframe(X) and _integer_labels(X.columns):
        # Integers are labels here, as in X[...]: read as positions, they
        # would pick other columns than the ones so labelled.
        labels = X.columns.tolist()
        unknown = [int(s) for s in spec.ravel() if int(s) not in labels]
        if unknown:
            raise ValueError(
                f"categorical_features lists {unknown}, not among the column "
                "labels of X: in a DataFrame with integer column labels, "
                "integers in categorical_features are labels, not positions "
                "(a boolean mask selects columns by position)."
            )
        mask[[labels.index(int(s)) for s in spec.ravel()]] = True
        return mask
    if spec.dtype.kind in ("i", "u"):
        if spec.min() < -n_features or spec.max() >= n_features:
            raise ValueError(
                f"categorical_features holds indices outside [0, {n_features - 1}]."
            )
        mask[spec] = True
        return mask
    raise ValueError(
        "categorical_features must be 'from_dtype', None, or an array of "
        f"column indices, names or booleans; got {spec!r}."
    )



def categorical_columns(spec, X):
    """The columns of X that hold categories, as a boolean mask: those the
    ``categorical_features`` parameter ``spec`` names, or for "from_dtype"
    a DataFrame's object, category, string and bool columns (none of an
    array's)."""
    mask = categorical_mask(spec, X)
    if mask is not None:
        return mask
    if _is_dataframe(X):
        return np.array([_categorical_dtype(d) for d in X.dtypes], dtype=bool)
    return np.zeros(_n_columns(X), dtype=bool)


def validate_numbers(estimator, X, *, hint, **check_params):
    """``validate_data`` of a numeric X; when X holds text, the error says
    what to do about it (``hint``, a sentence appended to it)."""
    try:
        return validate_data(estimator, X, **check_params)
    except ValueError as exc:
        if "could not convert" in str(exc):
            raise ValueError(f"{exc}. {hint}") from None
        raise


def likelihood_parts(numeric, categorical, n_categories):
    """The likelihood of a table for the model (see
    ``skvae.nn.likelihoods.make_likelihood``): "gaussian" when it has no
    categorical column, else a Gaussian part for the ``numeric`` features
    (when any) and a categorical part for the ``categorical`` ones, with
    ``n_categories`` levels each."""
    if not categorical:
        return "gaussian"
    parts = [{"kind": "categorical", "features": categorical, "n_categories": n_categories}]
    if numeric:
        parts.insert(0, {"kind": "gaussian", "features": numeric})
    return parts

def numeric_values(column, name):
    """A numeric column (numpy or pandas, object arrays of numbers and None
    included) as float64, NaN where missing; ``name`` names it in errors."""
    if column.dtype.kind == "c" or (
        column.dtype == object and any(isinstance(v, complex) for v in column)
    ):
        # Casting would drop the imaginary part with only a ComplexWarning.
        raise ValueError(f"Complex data not supported: column {name} holds complex numbers.")
    try:
        if column.dtype == object:
            column = np.asarray(column, dtype=object)
            values = np.where(_isna(column), np.nan, column).astype(np.float64)
        elif hasattr(column, "to_numpy"):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Column {name} is not numeric ({exc}); list it in "
            "categorical_features to treat it as a category."
        ) from None
    if np.isinf(values).any():
        raise ValueError(f"Input X contains infinity in column {name}.")
    return values


def column_name(estimator, j):
    """Column j of the table ``estimator`` was fitted on, as errors and
    warnings name it: its name when fitted on a DataFrame, else its index."""
    names = getattr(estimator, "feature_names_in_", None)
    return repr(names[j]) if names is not None else str(j)


def encode_levels(values, seen, levels):
    """Level codes (0, 1, ...) of the entries ``values[seen]`` among
    ``levels``, as floats, NaN where not seen or not among the levels; and
    whether any seen entry was of a level not among them."""
    encoded = np.full(len(values), np.nan)
    codes, known = _level_codes(values[seen], levels)
    encoded[np.flatnonzero(seen)[known]] = codes[known]
    return encoded, not known.all()


def decode_levels(codes, levels):
    """The levels of (possibly non-integer) level codes, each rounded to
    the nearest level."""
    return levels[np.clip(np.round(codes), 0, levels.size - 1).astype(np.intp)]


def fitted_dtype(estimator, j, pd, array_dtype):
    """The dtype column j had in ``estimator``'s fit: pandas' (rebuilt from
    the names and categories recorded by :func:`_describe_dtypes`) for a
    DataFrame, ``array_dtype`` for an array."""
    if estimator._column_dtypes is None:
        return np.dtype(array_dtype)
    described = (
        estimator._column_dtypes, estimator._dtype_categories, estimator._ordered_categories
    )
    return _rebuild_dtype(described, j, pd)


def read_table(estimator, X, *, reset):
    """Validate X for ``estimator`` (a VAEImputer: its ``missing_values``,
    ``categorical_features`` and, after the first fit,
    ``categorical_features_``) and split it into columns and the mask of
    holes, a :class:`_Table`. With ``reset``, records
    ``categorical_features_`` and scikit-learn's feature checks."""
    marker = estimator.missing_values
    nan_marker = is_scalar_nan(marker) or is_pandas_na(marker) or marker is None
    frame = X if _is_dataframe(X) else None
    if reset:
        categorical = categorical_columns(estimator.categorical_features, X)
    else:
        categorical = estimator.categorical_features_
    dtype = X.dtype if isinstance(X, np.ndarray) else None
    if dtype == object:
        # None and pandas.NA are missing, as NaN (float() rejects pandas.NA).
        X = np.where(_isna(X), np.nan, X)
    if not categorical.any() and not (
        frame is not None and any(_categorical_dtype(d) for d in frame.dtypes)
    ):
        values = validate_numbers(
            estimator,
            X,
            hint="Pass categorical_features (or a DataFrame with object or category "
            "columns) to impute categories.",
            dtype=FLOAT_DTYPES,
            ensure_all_finite="allow-nan" if nan_marker else True,
            reset=reset,
        )
        if not nan_marker and not isinstance(marker, numbers.Real):
            raise ValueError(
                f"missing_values={marker!r} cannot mark numeric data; use a "
                "number or np.nan."
            )
        missing = np.isnan(values) if nan_marker else values == marker
        if reset:
            estimator.categorical_features_ = np.zeros(values.shape[1], dtype=bool)
        columns = [values[:, j] for j in range(values.shape[1])]
        return _Table(columns, missing, frame, values, dtype)

    # Integer-coded (or any numeric) arrays stay numeric, categories included.
    _, raw = table_columns(estimator, X, reset=reset)
    if frame is not None:
        raw = [
            c.to_numpy(dtype=object) if is_cat else c
            for c, is_cat in zip(raw, categorical)
        ]
    if reset:
        estimator.categorical_features_ = np.asarray(categorical, dtype=bool)
    columns, missing = [], []
    for j, column in enumerate(raw):
        if estimator.categorical_features_[j]:
            hole = np.isnan(column) if column.dtype.kind == "f" else _isna(column)
            if not nan_marker:
                hole |= column == marker
        else:
            column, hole = _numeric_column(estimator, column, j, nan_marker)
        columns.append(column)
        missing.append(hole)
    return _Table(columns, np.column_stack(missing), frame, None, dtype)


def _numeric_column(estimator, column, j, nan_marker):
    values = numeric_values(column, column_name(estimator, j))
    if nan_marker:
        return values, np.isnan(values)
    if np.isnan(values).any():
        raise ValueError(
            f"Input X contains NaN in column {column_name(estimator, j)}, but missing_values="
            f"{estimator.missing_values!r}; set missing_values=np.nan."
        )
    return values, values == estimator.missing_values
