"""Protocol 3 of shared/BENCHMARKS.md: semi-supervised MNIST-5k, 100 labels.

MNIST-5k split 80/20 (random_state=0, stratified); 10 labels per class drawn
from the train split with seeds 0, 1, 2 (``np.random.default_rng(seed)``,
class by class), every other train row unlabeled (y = -1). Test accuracy of

- VAEClassifier (M2), default parameters but ``random_state``;
- the M1 pipeline: VAETransformer(20, network="conv") then
  SelfTrainingClassifier(LogisticRegression), fitted on all train rows with
  y = -1 for the unlabeled ones;
- the baselines of the protocol, in the same run: PCA(20) fitted on all
  train rows + LogisticRegression on the 100 labels, LabelSpreading(knn, 10),
  and PCA(20) + SelfTrainingClassifier(LogisticRegression).

Writes its table into RESULTS.md and a figure of class-conditional samples
of the seed-0 VAEClassifier, benchmarks/semisupervised_samples.png.

``--part small``: the small tables users bring, where an epoch is a few
steps: scikit-learn's digits (pixels / 16, 10 labels per class),
breast_cancer and wine (standardised on the train split; 10 and 5 labels
per class), each split 0.2 (random_state=0, stratified), seeds 0-5 for the
labels. VAEClassifier (defaults but ``random_state``) against
LabelSpreading(knn, 7 neighbours) and SelfTraining(LogisticRegression) on
the features, test accuracy and fit seconds: its own section of RESULTS.md.

    python3 dev.py bench semisupervised           # both parts
    python3 dev.py bench semisupervised --part mnist   # protocol 3 only (three seeds)
    python3 dev.py bench semisupervised --part small   # the small tables only
    python3 dev.py bench semisupervised --quick   # seed 0, fewer epochs; prints only
    python3 dev.py bench semisupervised --set alpha=20 ...   # override VAEClassifier
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from _common import (
    add_overrides, load_digits_unit, load_mnist, markdown_table, parse_overrides, publish,
)
from skvae import VAEClassifier, VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)
FIGURE = Path(__file__).resolve().parent / "semisupervised_samples.png"
SEEDS = (0, 1, 2)
SMALL_SEEDS = (0, 1, 2, 3, 4, 5)
LABELS_PER_CLASS = 10


def partly_labeled(y, seed, per_class=LABELS_PER_CLASS):
    """y with all but ``per_class`` rows of each class set to -1."""
    rng = np.random.default_rng(seed)
    labeled = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )
    y_partial = np.full_like(y, -1)
    y_partial[labeled] = y[labeled]
    return y_partial


class PCALogistic:
    """PCA(20) on every train row, logistic regression on the labeled ones."""

    def fit(self, X, y):
        self.pca = PCA(20).fit(X)
        keep = y != -1
        self.clf = LogisticRegression(max_iter=2000).fit(self.pca.transform(X[keep]), y[keep])
        return self

    def score(self, X, y):
        return self.clf.score(self.pca.transform(X), y)


def methods(seed, overrides, quick):
    extra = {"max_iter": 30} if quick else {}
    return {
        "VAEClassifier (M2)": lambda: VAEClassifier(random_state=seed, **{**extra, **overrides}),
        'M1: VAETransformer(20, network="conv") + SelfTraining(LogReg)': lambda: Pipeline(
            [
                ("vae", VAETransformer(20, network="conv", random_state=seed, **extra)),
                ("clf", SelfTrainingClassifier(LogisticRegression(max_iter=2000))),
            ]
        ),
        "PCA(20) + LogReg on the 100 labels": PCALogistic,
        'LabelSpreading(kernel="knn", n_neighbors=10)': lambda: LabelSpreading(
            kernel="knn", n_neighbors=10
        ),
        "PCA(20) + SelfTraining(LogReg)": lambda: Pipeline(
            [
                ("pca", PCA(20)),
                ("clf", SelfTrainingClassifier(LogisticRegression(max_iter=2000))),
            ]
        ),
    }


def sample_figure(model):
    """Ten samples of every class, one class per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = 10
    fig, axes = plt.subplots(len(model.classes_), n, figsize=(n * 0.6, len(model.classes_) * 0.6))
    for row, c in enumerate(model.classes_):
        images, _ = model.sample(n, y=c, random_state=row)
        predicted = model.predict(images)
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(images[col].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if predicted[col] != c:  # frame the samples the classifier disputes
                for spine in ax.spines.values():
                    spine.set_edgecolor("red")
                    spine.set_linewidth(1.5)
        axes[row, 0].set_ylabel(str(c), rotation=0, labelpad=10, fontsize=9)
    fig.suptitle("VAEClassifier.sample(10, y=c), one class per row (seed 0)", fontsize=9)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)


def fit_and_score(make, name, train, test, accuracy, seconds):
    """Fit ``make()`` on ``train`` (X, partly labeled y), append its fit
    seconds and its accuracy on ``test`` to ``seconds[name]`` and
    ``accuracy[name]``; returns the fitted model."""
    start = time.perf_counter()
    model = make().fit(*train)
    seconds.setdefault(name, []).append(time.perf_counter() - start)
    accuracy.setdefault(name, []).append(model.score(*test))
    return model


def small_tables():
    """(name, labels per class, X_train, X_test, y_train, y_test) of the
    small tables: split 0.2 (random_state=0, stratified); breast_cancer and
    wine standardised on their train split, digits' pixels / 16."""
    tables = []
    for name, (X, y), per_class, scale in [
        ("digits / 16", load_digits_unit(), 10, False),
        ("breast_cancer", load_breast_cancer(return_X_y=True), 10, True),
        ("wine", load_wine(return_X_y=True), 5, True),
    ]:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, random_state=0, stratify=y
        )
        if scale:
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        tables.append((name, per_class, X_train, X_test, y_train, y_test))
    return tables


def small_methods(seed, overrides, quick):
    extra = {"max_iter": 30} if quick else {}
    return {
        "VAEClassifier (M2)": lambda: VAEClassifier(random_state=seed, **{**extra, **overrides}),
        'LabelSpreading(kernel="knn", n_neighbors=7)': lambda: LabelSpreading(
            kernel="knn", n_neighbors=7
        ),
        "SelfTraining(LogReg)": lambda: SelfTrainingClassifier(LogisticRegression(max_iter=2000)),
    }


def small_part(overrides, quick):
    seeds = SMALL_SEEDS[:1] if quick else SMALL_SEEDS
    rows = []
    for name, per_class, X_train, X_test, y_train, y_test in small_tables():
        accuracy, seconds, epochs = {}, {}, []
        for seed in seeds:
            y_partial = partly_labeled(y_train, seed, per_class)
            for method, make in small_methods(seed, overrides, quick).items():
                model = fit_and_score(
                    make, method, (X_train, y_partial), (X_test, y_test), accuracy, seconds
                )
                if isinstance(model, VAEClassifier):
                    epochs.append(model.n_iter_)
            print(
                f"{name} seed {seed}: "
                + ", ".join(f"{m} {accuracy[m][-1]:.3f} ({seconds[m][-1]:.1f} s)" for m in accuracy),
                flush=True,
            )
        for method in accuracy:
            acc = accuracy[method]
            rows.append([
                *(
                    [name, f"{X_train.shape[0]:,} x {X_train.shape[1]}, "
                     f"{per_class * len(np.unique(y_train))} labels"]
                    if method.startswith("VAEClassifier") else ["", ""]
                ),
                method,
                " / ".join(f"{a:.3f}" for a in acc),
                f"**{np.mean(acc):.3f}**",
                f"{np.median(seconds[method]):.2f}",
                " / ".join(map(str, epochs)) if method.startswith("VAEClassifier") else "",
            ])
    header = [
        "data", "train rows, labels", "method",
        f"accuracy (seeds {' / '.join(map(str, seeds))})", "mean", "fit s (median)", "epochs",
    ]
    body = (
        "Small tables, where an epoch of VAEClassifier's batches of 128 rows is a few "
        "steps: scikit-learn's digits (pixels / 16; 10 labels per class), breast_cancer "
        "and wine (standardised on the train split; 10 and 5 labels per class), each "
        "split 0.2 (random_state=0, stratified), the labels drawn from the train split "
        "with `np.random.default_rng(seed)`, every other train row unlabeled (y = -1); "
        "test accuracy. `VAEClassifier(random_state=seed)`, all else default; "
        "`LabelSpreading(kernel=\"knn\", n_neighbors=7)`; "
        "`SelfTrainingClassifier(LogisticRegression(max_iter=2000))` on the features. "
        "All methods in the same run.\n\n"
        + markdown_table(header, rows)
    )
    why_not = "quick or overridden" if quick or overrides else None
    publish("Semi-supervised classification: small tables", body, why_not)


def mnist_part(overrides, quick):
    X, y = load_mnist()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y
    )
    seeds = SEEDS[:1] if quick else SEEDS
    accuracy, seconds, epochs = {}, {}, {}
    for seed in seeds:
        y_partial = partly_labeled(y_train, seed)
        for name, make in methods(seed, overrides, quick).items():
            model = fit_and_score(
                make, name, (X_train, y_partial), (X_test, y_test), accuracy, seconds
            )
            if isinstance(model, VAEClassifier):
                epochs.setdefault(name, []).append(model.n_iter_)
                if seed == 0:
                    if not (quick or overrides):  # a printing run leaves the figure alone
                        sample_figure(model)
                    samples_agree = np.mean(
                        [np.mean(model.predict(model.sample(100, y=c, random_state=1)[0]) == c)
                         for c in model.classes_]
                    )
            print(f"seed {seed}  {name}: {accuracy[name][-1]:.3f} ({seconds[name][-1]:.0f} s)", flush=True)

    rows = []
    for name in accuracy:
        acc = accuracy[name]
        rows.append(
            [
                name,
                " / ".join(f"{a:.3f}" for a in acc),
                f"**{np.mean(acc):.3f}**",
                f"{np.median(seconds[name]):.1f}",
                " / ".join(map(str, epochs[name])) if name in epochs else "",
            ]
        )
    header = ["method", f"accuracy (seeds {' / '.join(map(str, seeds))})", "mean", "fit s (median)", "epochs"]
    body = (
        "MNIST-5k, split 0.2 (random_state=0, stratified), 10 labels per class drawn "
        "from the train split (`np.random.default_rng(seed)`), the other "
        f"{len(y_train) - 10 * LABELS_PER_CLASS} train rows unlabeled (y = -1); test "
        "accuracy. skvae models use their defaults but `random_state` (and "
        "`n_components=20, network=\"conv\"` for the M1 VAE); all methods in the same run.\n\n"
        + markdown_table(header, rows)
        + f"\n\nClass-conditional samples of the seed-0 VAEClassifier: "
        f"{samples_agree:.1%} of 100 samples per class are classified as their class "
        f"by the model itself. Figure: `benchmarks/{FIGURE.name}`.\n\n"
        "Published reference (full MNIST, 50,000 unlabeled images, 100 labels): M2 "
        "88.0%, M1+M2 96.7% (Kingma et al., 2014)."
    )
    why_not = "quick or overridden" if quick or overrides else None
    publish("Semi-supervised classification (protocol 3)", body, why_not)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seed 0, fewer epochs; print only")
    parser.add_argument(
        "--part", choices=["mnist", "small"], help="only this part (default: both)"
    )
    add_overrides(parser, "VAEClassifier")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    if args.part in (None, "mnist"):
        mnist_part(overrides, args.quick)
    if args.part in (None, "small"):
        small_part(overrides, args.quick)


if __name__ == "__main__":
    main()
