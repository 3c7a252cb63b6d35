"""
Choosing beta and n_components with GridSearchCV
================================================

:meth:`VAETransformer.score <skvae.VAETransformer.score>` is the mean
log-likelihood bound of the rows it is given, in nats per row and in the
units of ``X``, always computed with ``beta = 1``, like
:meth:`PCA.score <sklearn.decomposition.PCA.score>`. A plain
:class:`~sklearn.model_selection.GridSearchCV` can therefore choose
``beta`` and ``n_components`` by held-out likelihood, with no custom
scorer, and its scores can be set beside PCA's on the same folds.
"""

# %%
# The data
# --------
# The 30 features of scikit-learn's breast cancer table, standardised with
# the statistics of the training rows. A quarter of the rows is kept aside
# as the final test set; the searches see only the rest.

# sphinx_gallery_start_ignore
import os

FAST = bool(os.environ.get("SKVAE_EXAMPLES_FAST"))  # the test suite's quick run
# sphinx_gallery_end_ignore
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

X = load_breast_cancer().data
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
print(f"{X_train.shape[0]} rows to search on, {X_test.shape[0]} test rows, "
      f"{X.shape[1]} features")

# %%
# The searches
# ------------
# Both searches use the same three folds (a fixed, shuffled ``KFold``), so
# every VAE setting and every PCA is scored on exactly the same held-out
# rows. ``score`` needs no ``y``: ``search.fit(X_train)`` is enough.
# ``n_jobs=2`` runs two fits at a time: a VAE this small trains on one
# CPU thread, so each fit takes a core of its own.
#
# Most of these fits stop early, once their validation rows stop
# improving; one that reaches the default ``max_iter=200`` epochs first
# says so with a ``ConvergenceWarning``, which we silence here to keep the
# output short. The chosen model's epoch count is printed below.

n_components = [2, 5, 10]
betas = [0.5, 1.0, 2.0]
# sphinx_gallery_start_ignore
if FAST:
    n_components, betas = [2, 5], [0.5, 1.0]
# sphinx_gallery_end_ignore
cv = KFold(n_splits=3, shuffle=True, random_state=0)

vae = VAETransformer(random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    vae.set_params(max_iter=3)
# sphinx_gallery_end_ignore
vae_search = GridSearchCV(
    vae, {"beta": betas, "n_components": n_components}, cv=cv, n_jobs=2
)
# sphinx_gallery_start_ignore
if FAST:
    vae_search.set_params(n_jobs=1)  # starting worker processes would take longer
# sphinx_gallery_end_ignore
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    vae_search.fit(X_train)

pca_search = GridSearchCV(PCA(random_state=0), {"n_components": n_components}, cv=cv)
pca_search.fit(X_train)

# %%
# The mean held-out score of every setting, in nats per row (higher is
# better):

results = pd.DataFrame(vae_search.cv_results_["params"])
results["score"] = vae_search.cv_results_["mean_test_score"]
table = results.pivot(index="n_components", columns="beta", values="score")
table.columns = [f"VAE beta={beta}" for beta in table.columns]
table["PCA"] = pca_search.cv_results_["mean_test_score"]
print(table.round(2).to_string())

# %%
# The same numbers as a plot, with one standard deviation over the folds
# as error bars. PCA's score is the exact likelihood of probabilistic PCA,
# a linear Gaussian model; the VAE's is a lower bound on its own
# likelihood, so where the VAE's line lies above PCA's, the VAE is surely
# the better density model of these rows. Where it lies below, either the
# linear model is good enough there or the bound is loose; both say to
# keep PCA at that size. Since ``score`` uses ``beta = 1`` whatever
# ``beta`` trained the model, the lines for different ``beta`` compare
# fairly too.

results["std"] = vae_search.cv_results_["std_test_score"]
fig, ax = plt.subplots(figsize=(7, 4.5))
for beta in betas:
    rows = results[results["beta"] == beta]
    ax.errorbar(rows["n_components"], rows["score"], yerr=rows["std"],
                marker="o", capsize=3, label=f"VAE beta={beta}")
ax.errorbar(n_components, pca_search.cv_results_["mean_test_score"],
            yerr=pca_search.cv_results_["std_test_score"], fmt="k--", capsize=3,
            label="PCA")
ax.set_xticks(n_components)
ax.set_xlabel("n_components")
ax.set_ylabel("mean held-out score (nats per row)")
ax.set_title("GridSearchCV on breast cancer, 3 folds")
ax.legend()

# %%
# The chosen settings
# -------------------
# ``best_estimator_`` is refitted on all the search rows; its score on the
# test rows, which neither search has seen, says how good each choice is.

print(f"VAE: best {vae_search.best_params_}, "
      f"test score {vae_search.score(X_test):.2f} nats per row")
print(f"PCA: best {pca_search.best_params_}, "
      f"test score {pca_search.score(X_test):.2f} nats per row")

# %%
# How many components the chosen VAE actually uses shows in
# ``component_kl_``, the information (nats per row) each component
# carries, sorted like PCA's explained variances: a value near 0 marks a
# component the model has switched off. A ``beta`` above 1 trades
# likelihood for a simpler code; it is meant for disentangling, where a
# criterion other than the likelihood decides (see ``skvae.metrics``).

best = vae_search.best_estimator_
print(f"refitted in {best.n_iter_} epochs; component_kl_:", np.round(best.component_kl_, 2))

plt.show()
