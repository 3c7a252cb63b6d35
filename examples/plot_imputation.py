"""
Imputing missing values: VAEImputer, IterativeImputer and KNNImputer
====================================================================

:class:`~skvae.VAEImputer` is used like scikit-learn's imputers: ``fit``
on a table with holes, ``transform`` to fill them. It trains a VAE on the
incomplete table itself and fills each hole from the model's distribution
of the missing cells given the observed ones (MIWAE). This example hides
cells of a real table at random, so that the true values are known,
compares the filled-in values with those of
:class:`~sklearn.impute.IterativeImputer` and
:class:`~sklearn.impute.KNNImputer`, and then draws several imputations
per hole with ``sample_posterior=True`` to show how uncertain each one is.
"""

# %%
# A table with holes
# ------------------
# The 13 chemical measurements of scikit-learn's wine table, standardised
# (each column then has mean 0 and standard deviation 1, so errors are
# comparable across columns and KNNImputer's distances weigh every column
# alike). 30% of the cells are hidden completely at random.

# sphinx_gallery_start_ignore
import os
import warnings

from sklearn.exceptions import ConvergenceWarning

FAST = bool(os.environ.get("SKVAE_EXAMPLES_FAST"))  # the test suite's quick run
if FAST:
    warnings.simplefilter("ignore", ConvergenceWarning)
# sphinx_gallery_end_ignore
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from skvae import VAEImputer

wine = load_wine()
X = StandardScaler().fit_transform(wine.data)
rng = np.random.default_rng(0)
hidden = rng.random(X.shape) < 0.3
X_missing = np.where(hidden, np.nan, X)
print(f"{X.shape[0]} rows x {X.shape[1]} columns, {hidden.sum()} cells hidden "
      f"({hidden.mean():.0%})")

# %%
# One imputation each
# -------------------
# Each imputer fills the same holes; the error is the root mean squared
# difference from the hidden values, in standard deviations of their
# column. Filling each hole with its column's mean (``SimpleImputer``)
# gives the error to beat.
#
# The imputers keep their defaults: ``IterativeImputer`` regresses each
# column on the others with ``BayesianRidge`` for up to ten rounds,
# ``KNNImputer`` averages the five nearest rows, and ``VAEImputer`` picks
# its training schedule from the size of the table (a few hundred epochs
# for a table this small). ``IterativeImputer`` may warn that its ten
# rounds ended before its own stopping criterion was met.

imputers = {
    "mean": SimpleImputer(),
    "KNNImputer": KNNImputer(),
    "IterativeImputer": IterativeImputer(random_state=0),
    "VAEImputer": VAEImputer(random_state=0),
}
# sphinx_gallery_start_ignore
if FAST:
    imputers["VAEImputer"].set_params(max_iter=3, n_importance_samples=50)
# sphinx_gallery_end_ignore
for name, imputer in imputers.items():
    X_filled = imputer.fit_transform(X_missing)
    rmse = np.sqrt(np.mean((X_filled[hidden] - X[hidden]) ** 2))
    print(f"{name:>16}: RMSE {rmse:.3f}")

# %%
# Multiple imputation
# -------------------
# One value per hole hides how unsure it is. With ``sample_posterior=True``
# each ``transform`` fills every hole with a draw from the model's
# distribution of that cell given the rest of its row, and another
# ``random_state`` gives another draw, with no refit. ``IterativeImputer``
# has the same option, drawing from its ridge regressions' predictive
# distributions; it takes a fit per draw.
#
# Ten draws per hole from each:

n_draws = 10
# sphinx_gallery_start_ignore
if FAST:
    n_draws = 3
# sphinx_gallery_end_ignore
vae = imputers["VAEImputer"].set_params(sample_posterior=True)
vae_draws = np.stack(
    [vae.set_params(random_state=seed).transform(X_missing) for seed in range(n_draws)]
)
iterative_draws = np.stack(
    [
        IterativeImputer(sample_posterior=True, random_state=seed).fit_transform(X_missing)
        for seed in range(n_draws)
    ]
)

# %%
# Are the draws as spread as they should be? If the truth were one more
# draw from the same distribution, it would fall between the lowest and
# the highest of ten draws with probability 9/11, about 0.82: more often
# means the draws are too spread, less often too narrow. The mean width of
# that range says how wide each method's intervals are.

for name, draws in [("IterativeImputer", iterative_draws), ("VAEImputer", vae_draws)]:
    low, high = draws.min(axis=0)[hidden], draws.max(axis=0)[hidden]
    inside = np.mean((low <= X[hidden]) & (X[hidden] <= high))
    print(f"{name:>16}: truth within the draws' range {inside:.2f} of the time, "
          f"mean width {np.mean(high - low):.2f} standard deviations")

# %%
# The draws for the first twenty hidden cells of one column, with the
# hidden value as a black mark.

column = list(wine.feature_names).index("flavanoids")
rows = np.flatnonzero(hidden[:, column])[:20]
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, (name, draws) in zip(
    axes, [("IterativeImputer", iterative_draws), ("VAEImputer", vae_draws)]
):
    for position, row in enumerate(rows):
        ax.scatter(np.full(n_draws, position), draws[:, row, column], s=12, color="tab:blue",
                   alpha=0.6, label="draws" if position == 0 else None)
    ax.scatter(np.arange(len(rows)), X[rows, column], marker="_", s=300, color="black",
               label="hidden value")
    ax.set_title(f"{name}, sample_posterior=True")
    ax.set_xlabel("hidden cell")
    ax.set_xticks([])
axes[0].set_ylabel("flavanoids (standardised)")
axes[0].legend()

plt.show()
