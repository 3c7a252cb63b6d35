"""Protocol 1 of shared/BENCHMARKS.md: VAETransformer against PCA.

Reconstruction MSE on the test split, accuracy of a logistic regression on
the features, and held-out log-likelihood (``score``) against ``PCA.score``.
VAE settings are the defaults except ``n_components`` and ``random_state``.

    python3 dev.py bench reduction            # full run, writes RESULTS.md
    python3 dev.py bench reduction --quick    # fewer settings, prints only
    python3 dev.py bench reduction --set hidden_layer_sizes=(256,128) ...
"""

import argparse
import ast
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from _common import load_digits_unit, load_mnist, markdown_table, write_section
from skvae import VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def make_vae(k, overrides, **extra):
    return VAETransformer(k, random_state=0, **{**extra, **overrides})


def accuracy(Z_train, y_train, Z_test, y_test):
    clf = LogisticRegression(max_iter=2000).fit(Z_train, y_train)
    return clf.score(Z_test, y_test)


def reduction_rows(name, X, y, ks, overrides):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    rows = []
    for k in ks:
        pca = PCA(k).fit(X_tr)
        start = time.perf_counter()
        vae = make_vae(k, overrides).fit(X_tr)
        seconds = time.perf_counter() - start
        mse = {}
        acc = {}
        for label, model in [("pca", pca), ("vae", vae)]:
            Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
            mse[label] = np.mean((model.inverse_transform(Z_te) - X_te) ** 2)
            acc[label] = accuracy(Z_tr, y_tr, Z_te, y_te)
        rows.append(
            [
                name,
                k,
                f"{mse['pca']:.4f}",
                f"{mse['vae']:.4f}",
                f"**{mse['vae'] / mse['pca']:.2f}x**",
                f"{acc['pca']:.3f}",
                f"{acc['vae']:.3f}",
                f"**{acc['vae'] - acc['pca']:+.3f}**",
                f"{seconds:.1f}",
                vae.n_iter_,
            ]
        )
        print(rows[-1], flush=True)
    return rows


def score_rows(overrides):
    cancer = load_breast_cancer().data
    roll = make_swiss_roll(3000, noise=0.3, random_state=0)[0]
    digits = load_digits_unit()[0]
    cases = [
        ("breast_cancer (standardised)", cancer, True, 2, {}),
        ("breast_cancer (standardised)", cancer, True, 5, {}),
        ("swiss roll (3000, noise 0.3)", roll, False, 1, {}),
        ("digits / 16, continuous Bernoulli", digits, False, 10, {"likelihood": "continuous_bernoulli"}),
    ]
    rows = []
    for name, X, standardise, k, extra in cases:
        X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0)
        if standardise:
            scaler = StandardScaler().fit(X_tr)
            X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        pca_score = PCA(k).fit(X_tr).score(X_te)
        start = time.perf_counter()
        vae = make_vae(k, overrides, **extra).fit(X_tr)
        seconds = time.perf_counter() - start
        vae_score = vae.score(X_te)
        rows.append(
            [
                name,
                k,
                f"{pca_score:.3f}",
                f"{vae_score:.3f}",
                f"**{vae_score - pca_score:+.3f}**",
                f"{seconds:.1f}",
                vae.n_iter_,
            ]
        )
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer settings; print only")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="PARAM=VALUE", help="override VAE parameters"
    )
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value

    X_mnist, y_mnist = load_mnist()
    X_digits, y_digits = load_digits_unit()
    if args.quick:
        rows = reduction_rows("MNIST-5k", X_mnist, y_mnist, [2, 10], overrides)
    else:
        rows = reduction_rows("MNIST-5k", X_mnist, y_mnist, [2, 5, 10, 20], overrides)
        rows += reduction_rows("digits", X_digits, y_digits, [2, 5, 10], overrides)
    score = score_rows(overrides)

    header = [
        "data", "k", "PCA MSE", "VAE MSE", "VAE/PCA", "PCA acc", "VAE acc",
        "acc gain", "VAE fit s", "epochs",
    ]
    body = (
        "Test-split reconstruction MSE and logistic-regression accuracy on the "
        "features (split 0.25, random_state=0, stratified). VAE: "
        "`VAETransformer(k, random_state=0)`, all else default.\n\n"
        + markdown_table(header, rows)
        + "\n\nHeld-out `score` (log-likelihood lower bound, nats per sample, "
        "original units) against `PCA(k).score` on the same split.\n\n"
        + markdown_table(
            ["data", "k", "PCA score", "VAE score", "VAE - PCA", "VAE fit s", "epochs"], score
        )
    )
    if args.quick or overrides:
        print(body)
        print("(quick or overridden run: RESULTS.md not written)")
    else:
        write_section("Dimensionality reduction (protocol 1)", body)


if __name__ == "__main__":
    main()
