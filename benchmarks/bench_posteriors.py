"""Issue 16: richer posteriors in VAETransformer.

Held-out ``score`` (importance-weighted bound, ``n_importance_samples=100``,
nats per sample) and test reconstruction MSE of each posterior family
(``posterior="planar"`` / ``"iaf"``, 4 flows) and of importance-weighted
training (``n_training_draws=5``), against today's default (a diagonal
Gaussian and the ELBO), with the same network and every other parameter at
its default; fit seconds as a ratio to the Gaussian's, all in one run, the
settings one after the other for each case.

- MNIST-5k, k = 10 and 20: protocol 1's split (test_size=0.25,
  random_state=0, stratified); Bernoulli likelihood (``auto``).
- breast_cancer, k = 2 and 5: standardised on the training split
  (test_size=0.25, random_state=0), as in bench_reduction's score table.
- swiss roll (3,000 points, noise 0.3, random_state=0), k = 1: same split.

    python3 dev.py bench posteriors             # full run, writes RESULTS.md
    python3 dev.py bench posteriors --quick     # breast_cancer and swiss roll; prints only
    python3 dev.py bench posteriors --set free_bits=0.0   # prints only
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, make_swiss_roll
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from _common import add_overrides, load_mnist, markdown_table, parse_overrides, publish
from skvae import VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)

SETTINGS = {
    "Gaussian (default)": {},
    "planar, 4 flows": {"posterior": "planar"},
    "IAF, 4 flows": {"posterior": "iaf"},
    "IWAE, 5 draws": {"n_training_draws": 5},
    "IAF, 4 flows + IWAE, 5 draws": {"posterior": "iaf", "n_training_draws": 5},
}


def cases(quick):
    """(name, k, X_train, X_test) for each case."""
    out = []
    if not quick:
        X, y = load_mnist()
        X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0, stratify=y)
        out += [("MNIST-5k", k, X_tr, X_te) for k in (10, 20)]
    X_tr, X_te = train_test_split(load_breast_cancer().data, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    out += [("breast_cancer (standardised)", k, X_tr, X_te) for k in (2, 5)]
    roll = make_swiss_roll(3000, noise=0.3, random_state=0)[0]
    X_tr, X_te = train_test_split(roll, test_size=0.25, random_state=0)
    out.append(("swiss roll (3000, noise 0.3)", 1, X_tr, X_te))
    return out


def run(name, k, X_tr, X_te, overrides):
    rows, base = [], None
    for label, params in SETTINGS.items():
        start = time.perf_counter()
        vae = VAETransformer(k, random_state=0, **{**params, **overrides}).fit(X_tr)
        seconds = time.perf_counter() - start
        score = vae.score(X_te)
        mse = np.mean((vae.inverse_transform(vae.transform(X_te)) - X_te) ** 2)
        if base is None:
            base = (score, mse, seconds)
        rows.append(
            [
                name, k, label, f"{score:.3f}", f"**{score - base[0]:+.3f}**", f"{mse:.4f}",
                f"**{mse / base[1]:.3f}x**", f"{seconds:.1f}", f"**{seconds / base[2]:.2f}x**",
                vae.n_iter_,
            ]
        )
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data sets only; print only")
    add_overrides(parser, "VAETransformer")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    rows = []
    for case in cases(args.quick):
        rows += run(*case, overrides)
    body = (
        "`VAETransformer(k, random_state=0, **setting)`, every other parameter at its "
        "default (the same network for every setting); one fit per setting and case, the "
        "settings one after the other in one process. Score: held-out importance-weighted "
        "bound (`score`, 100 draws, nats per sample, original units); MSE: test "
        "reconstruction `inverse_transform(transform(X_test))`; both, and the fit seconds, "
        "also against the Gaussian posterior's in the same run. MNIST-5k: protocol 1's "
        "split, Bernoulli likelihood; breast_cancer: standardised on the training split; "
        "both other splits test_size=0.25, random_state=0.\n\n"
        + markdown_table(
            ["data", "k", "setting", "score", "score - Gaussian", "test MSE",
             "MSE / Gaussian", "fit s", "time / Gaussian", "epochs"],
            rows,
        )
    )
    why_not = "quick or overridden" if args.quick or overrides else None
    publish("Posteriors and importance-weighted training (issue 16)", body, why_not)


if __name__ == "__main__":
    main()
