"""Protocol 1 of shared/BENCHMARKS.md: VAETransformer against PCA.

Reconstruction MSE on the test split, accuracy of a logistic regression on
the features, and held-out log-likelihood (``score``) against ``PCA.score``.
VAE settings are the defaults except ``n_components`` and ``random_state``.
On the image data sets the convolutional network (``network="conv"``) runs
beside the dense one: its own table, seconds per epoch against the dense
network (alternating, median of repeats) and a figure of reconstructions
and samples (benchmarks/reduction_samples.png).

    python3 dev.py bench reduction              # full run, writes RESULTS.md
    python3 dev.py bench reduction --quick      # fewer settings, no conv, prints only
    python3 dev.py bench reduction --conv-only  # PCA / dense / conv on images, prints only
    python3 dev.py bench reduction --set hidden_layer_sizes=(256,128) ...
"""

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from _common import add_overrides, load_digits_unit, load_mnist, markdown_table, parse_overrides, write_section
from skvae import VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def make_vae(k, overrides, **extra):
    return VAETransformer(k, random_state=0, **{**extra, **overrides})


def accuracy(Z_train, y_train, Z_test, y_test):
    clf = LogisticRegression(max_iter=2000).fit(Z_train, y_train)
    return clf.score(Z_test, y_test)


def split(X, y):
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def reduction_rows(name, X, y, ks, overrides, image_shape=None, fitted=None):
    """Rows of the main table (PCA against the dense VAE) and, with
    ``image_shape``, of the conv table (PCA, dense and conv VAE). Fitted
    models are kept in ``fitted[(name, k)]`` for the figure."""
    X_tr, X_te, y_tr, y_te = split(X, y)
    rows, conv_rows = [], []
    for k in ks:
        pca = PCA(k).fit(X_tr)
        start = time.perf_counter()
        vae = make_vae(k, overrides).fit(X_tr)
        seconds = time.perf_counter() - start
        models = [("pca", pca), ("vae", vae)]
        if image_shape is not None:
            start = time.perf_counter()
            conv = make_vae(k, overrides, network="conv", image_shape=image_shape).fit(X_tr)
            conv_seconds = time.perf_counter() - start
            models.append(("conv", conv))
        mse = {}
        acc = {}
        for label, model in models:
            Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
            mse[label] = np.mean((model.inverse_transform(Z_te) - X_te) ** 2)
            acc[label] = accuracy(Z_tr, y_tr, Z_te, y_te)
        if fitted is not None:
            fitted[name, k] = dict(models, X_te=X_te, y_te=y_te)
        if len(models) == 3:
            conv_rows.append(
                [
                    name,
                    k,
                    f"{mse['pca']:.4f}",
                    f"{mse['vae']:.4f}",
                    f"{mse['conv']:.4f}",
                    f"**{mse['conv'] / mse['pca']:.2f}x**",
                    f"**{mse['conv'] / mse['vae']:.2f}x**",
                    f"{acc['pca']:.3f}",
                    f"{acc['vae']:.3f}",
                    f"{acc['conv']:.3f}",
                    f"{vae.score(X_te):.1f}",
                    f"{conv.score(X_te):.1f}",
                    f"{seconds:.1f} / {vae.n_iter_}",
                    f"{conv_seconds:.1f} / {conv.n_iter_}",
                ]
            )
            print(conv_rows[-1], flush=True)
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
    return rows, conv_rows


def epoch_seconds(X, y, overrides, image_shape, epochs=5, repeats=3):
    """Median seconds per epoch of the dense and the conv network at k=10,
    fitted alternately on the same split (validation included)."""
    X_tr = split(X, y)[0]
    times = {"dense": [], "conv": []}
    for repeat in range(repeats):
        for network in times:
            timing = dict(
                network=network, image_shape=image_shape, max_iter=epochs,
                n_iter_no_change=epochs, random_state=repeat,
            )
            vae = VAETransformer(10, **{**overrides, **timing})
            start = time.perf_counter()
            vae.fit(X_tr)
            times[network].append((time.perf_counter() - start) / vae.n_iter_)
    dense, conv = statistics.median(times["dense"]), statistics.median(times["conv"])
    print(f"seconds per epoch: dense {dense:.3f}, conv {conv:.3f}, ratio {conv / dense:.2f}")
    return dense, conv


FIGURE = Path(__file__).resolve().parent / "reduction_samples.png"


def samples_figure(models, path=FIGURE, n=10):
    """Test images and their reconstructions, then generated samples, from
    PCA, the dense VAE and the conv VAE (one model per row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X_te, y_te = models["X_te"], models["y_te"]
    side = int(np.sqrt(X_te.shape[1]))
    # The first test image of each class.
    picks = [int(np.flatnonzero(y_te == c)[0]) for c in np.unique(y_te)[:n]]
    X = X_te[picks]
    pca = models["pca"]
    rng = np.random.default_rng(0)
    # PCA as probabilistic PCA without its noise: mean + loadings * N(0, variance).
    pca_samples = pca.inverse_transform(
        rng.standard_normal((n, pca.n_components_)) * np.sqrt(pca.explained_variance_)
    )
    names = [("pca", "PCA"), ("vae", "dense VAE"), ("conv", "conv VAE")]
    recon = [("test images", X)] + [
        (label, models[key].inverse_transform(models[key].transform(X))) for key, label in names
    ]
    # Decoder means at prior draws (noise=False), as PCA's samples leave out
    # its noise: Bernoulli draws of each pixel would hide the digits.
    generated = [("PCA", pca_samples)] + [
        (label, models[key].sample(n, random_state=0, noise=False)) for key, label in names[1:]
    ]

    def strip(images):
        tiles = np.clip(images, 0, 1).reshape(-1, side, side)
        pad = np.zeros((len(tiles), side, 2))  # white gaps
        return np.concatenate([np.concatenate([t, p], axis=1) for t, p in zip(tiles, pad)], axis=1)

    k = pca.n_components_
    fig, axes = plt.subplots(len(recon), 2, figsize=(12, 0.3 + 0.8 * len(recon)))
    for col, (title, rows) in enumerate(
        [(f"reconstructions (k={k})", recon), (f"samples from the prior (k={k})", generated)]
    ):
        axes[0, col].set_title(title)
        for row in range(len(recon)):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if row < len(rows):
                ax.imshow(strip(rows[row][1]), cmap="gray_r", vmin=0, vmax=1)
                ax.set_ylabel(rows[row][0], rotation=0, ha="right", va="center")
            else:
                ax.axis("off")
    fig.tight_layout(h_pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def score_rows(overrides):
    cancer = load_breast_cancer().data
    roll = make_swiss_roll(3000, noise=0.3, random_state=0)[0]
    digits = load_digits_unit()[0]
    cases = [
        ("breast_cancer (standardised)", cancer, True, 2, {}),
        ("breast_cancer (standardised)", cancer, True, 5, {}),
        ("swiss roll (3000, noise 0.3)", roll, False, 1, {}),
        ("digits / 16", digits, False, 5, {}),
        ("digits / 16", digits, False, 10, {}),
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
        "--conv-only",
        action="store_true",
        help="only the image data sets with PCA, dense and conv (and the figure); print only",
    )
    add_overrides(parser, "VAE")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)

    X_mnist, y_mnist = load_mnist()
    X_digits, y_digits = load_digits_unit()
    fitted = {}
    # --quick keeps the dense-only iteration loop fast; --conv-only --quick
    # is MNIST at k=10 with all three methods.
    conv = not args.quick or args.conv_only
    mnist_ks = ([10] if args.conv_only else [2, 10]) if args.quick else [2, 5, 10, 20]
    rows, conv_rows = reduction_rows(
        "MNIST-5k", X_mnist, y_mnist, mnist_ks, overrides, (28, 28) if conv else None, fitted
    )
    if not args.quick:
        more, more_conv = reduction_rows(
            "digits", X_digits, y_digits, [2, 5, 10], overrides, (8, 8), fitted
        )
        rows, conv_rows = rows + more, conv_rows + more_conv
    if conv_rows:
        dense_epoch, conv_epoch = epoch_seconds(X_mnist, y_mnist, overrides, (28, 28))
        samples_figure(fitted["MNIST-5k", 10])
        # The conv layers the defaults chose, as fitted.
        layers = {
            tuple(m["conv"]._config["image_shape"][1:]): m["conv"]._config for m in fitted.values()
        }
        layers = "; ".join(
            f"{h}x{w}: conv_channels {tuple(c['conv_channels'])}, "
            f"hidden_layer_sizes {tuple(c['hidden_layer_sizes'])}"
            for (h, w), c in layers.items()
        )
        conv_body = (
            "`VAETransformer(k, network=\"conv\", image_shape=(28, 28) or (8, 8), "
            f"random_state=0)`, all else default ({layers}), beside PCA and the "
            "default dense network; same split and metrics as above. Scores are held-out log-likelihood bounds (nats per image) "
            "under the likelihood `auto` picks (Bernoulli for MNIST, Gaussian for digits); compare them across networks only.\n\n"
            + markdown_table(
                [
                    "data", "k", "PCA MSE", "dense MSE", "conv MSE", "conv/PCA",
                    "conv/dense", "PCA acc", "dense acc", "conv acc", "dense score",
                    "conv score", "dense fit s / epochs", "conv fit s / epochs",
                ],
                conv_rows,
            )
            + "\n\nSeconds per epoch on MNIST-5k (k=10, 3,750 training rows of "
            "which 10% are held out for validation, the validation pass included; "
            "the two networks fitted alternately, median of "
            f"3): dense {dense_epoch:.2f} s, conv {conv_epoch:.2f} s, "
            f"**{conv_epoch / dense_epoch:.2f}x**.\n\n"
            "![reconstructions and samples](reduction_samples.png)\n"
        )
    if args.conv_only:
        print(conv_body)
        print("(conv-only run: RESULTS.md not written)")
        return
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
        write_section("Convolutional networks on images (protocol 1)", conv_body)


if __name__ == "__main__":
    main()
