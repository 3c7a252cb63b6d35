"""Protocol 4 of shared/BENCHMARKS.md: training throughput of skvae against a
plain PyTorch loop over the same network, in one process, alternating.

Network: dense encoder 784-512-256, latent 16, mirrored decoder, Bernoulli
likelihood, Adam (the plain loop uses the default torch.optim.Adam), batch
128, 20,000 x 784 uniform random data, validation and early stopping off.
skvae is timed end to end through ``VAETransformer.fit`` (set-up, training,
the post-fit pass that orders components), the plain loop over its epochs.
Two references run beside them: the same loop with the fused Adam kernel,
and skvae with ``training_precision="float32"`` (no mixed precision).

    python3 dev.py bench speed                       # writes RESULTS.md
    python3 dev.py bench speed --device cuda --batch-size 128 1024
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from _common import markdown_table, write_section
from skvae import VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)
N_SAMPLES, N_FEATURES, LATENT = 20000, 784, 16


def plain_loop(X, epochs, batch_size, device, fused=False):
    """What a user would write by hand: the reference loop (default Adam).
    ``fused=True`` is the same loop with the fused Adam kernel, a reference
    for how much of skvae's lead comes from that alone."""
    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Linear(N_FEATURES, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 2 * LATENT)
    ).to(device)
    decoder = nn.Sequential(
        nn.Linear(LATENT, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, N_FEATURES)
    ).to(device)
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3, **({"fused": True} if fused else {}))
    data = torch.from_numpy(X).to(device)
    for _ in range(epochs):
        perm = torch.randperm(data.shape[0], device=device)
        for start in range(0, data.shape[0], batch_size):
            x = data[perm[start : start + batch_size]]
            mean, log_var = encoder(x).chunk(2, dim=1)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
            logits = decoder(z)
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
            kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)
            loss = (rec + kl).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def skvae_fit(X, epochs, batch_size, device, training_precision="auto"):
    VAETransformer(
        LATENT,
        hidden_layer_sizes=(512, 256),
        activation="relu",
        free_bits=0.0,  # the plain ELBO, as in the hand-written loop
        likelihood="bernoulli",
        batch_size=batch_size,
        max_iter=epochs,
        early_stopping=False,
        n_iter_no_change=epochs,
        device=str(device),
        training_precision=training_precision,
        random_state=0,
    ).fit(X)
    if device.type == "cuda":
        torch.cuda.synchronize()


def _auto_precision(X, device):
    """What training_precision="auto" resolves to for this network here."""
    from skvae._base import build_module, training_autocast_dtype

    model = VAETransformer(LATENT, hidden_layer_sizes=(512, 256), max_iter=1, early_stopping=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:256])
    module = build_module(model._config, seed=0, device=device)
    dtype = training_autocast_dtype("auto", module)
    return "float32" if dtype is None else f"mixed {str(dtype).removeprefix('torch.')}"


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[128])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    X = np.random.default_rng(0).uniform(size=(N_SAMPLES, N_FEATURES)).astype(np.float32)
    n = N_SAMPLES * args.epochs
    rows = []
    for batch_size in args.batch_size:
        # Warm-up (allocator, kernels), then alternate so both see the same machine.
        plain_loop(X, 1, batch_size, device)
        plain_loop(X, 1, batch_size, device, True)
        skvae_fit(X, 1, batch_size, device)
        skvae_fit(X, 1, batch_size, device, "float32")
        plain, ours, ratios, fused, fused_ratios, full, full_ratios = [], [], [], [], [], [], []
        for _ in range(args.repeats):
            t_plain = timed(plain_loop, X, args.epochs, batch_size, device)
            t_ours = timed(skvae_fit, X, args.epochs, batch_size, device)
            t_fused = timed(plain_loop, X, args.epochs, batch_size, device, True)
            t_full = timed(skvae_fit, X, args.epochs, batch_size, device, "float32")
            plain.append(n / t_plain)
            ours.append(n / t_ours)
            fused.append(n / t_fused)
            full.append(n / t_full)
            ratios.append(t_plain / t_ours)
            fused_ratios.append(t_fused / t_ours)
            full_ratios.append(t_plain / t_full)
            print(
                f"batch {batch_size}: plain {n / t_plain:,.0f}/s, skvae {n / t_ours:,.0f}/s, "
                f"ratio {t_plain / t_ours:.2f}; fused plain {n / t_fused:,.0f}/s, "
                f"skvae float32 {n / t_full:,.0f}/s",
                flush=True,
            )
        rows.append(
            [
                str(device),
                batch_size,
                f"{statistics.median(plain):,.0f}",
                f"{statistics.median(ours):,.0f}",
                f"**{statistics.median(ratios):.2f}x**",
                f"{min(ratios):.2f}-{max(ratios):.2f}",
                f"{statistics.median(fused):,.0f}",
                f"{statistics.median(fused_ratios):.2f}x",
                f"{statistics.median(full):,.0f}",
                f"{statistics.median(full_ratios):.2f}x",
            ]
        )
    auto_precision = _auto_precision(X, device)
    body = (
        f"Samples per second (median of {args.repeats} alternating repeats, "
        f"{args.epochs} epochs of {N_SAMPLES:,} x {N_FEATURES} each; skvae timed end "
        "to end through `fit`, with its default `training_precision=\"auto\"`, which "
        f"is {auto_precision} here). Timed in the same rotation: the same plain loop with "
        "`torch.optim.Adam(..., fused=True)`, and skvae with "
        "`training_precision=\"float32\"` (fused Adam, no mixed precision).\n\n"
        + markdown_table(
            [
                "device", "batch", "plain PyTorch loop", "skvae", "skvae / plain (median)",
                "range", "plain loop, fused Adam", "skvae / fused plain (median)",
                "skvae float32", "skvae float32 / plain (median)",
            ],
            rows,
        )
    )
    if args.no_write:
        print(body)
    else:
        name = "Training speed (protocol 4)" + ("" if device.type == "cpu" else f", {device.type}")
        write_section(name, body)


if __name__ == "__main__":
    main()
