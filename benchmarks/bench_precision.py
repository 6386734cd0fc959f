"""Pre-training in float32 and under CPU bfloat16 autocast: loss per step, probe, speed.

Issue 26 item 3 asks for a faster pre-training step "with the same or better
loss and probe curves per step". ``benchmarks/results/pretrain_profile.md``
shows CPU bfloat16 autocast speeding the step up by 1.4-1.5x; before it can be
adopted, this script checks what it does to training. Two copies of the small
encoder start from the same weights and see the same batches, masks and
dropout draws (the same seeds) of eegmat protocol (a)'s training windows
(subjects 00-27, unlabelled; the project's recipe: 200 Hz, 50 Hz notch,
per-subject Riemannian alignment), one in float32 and one under
``torch.autocast("cpu", dtype=torch.bfloat16)``; the steps are interleaved so
that the machine's load hits both alike. It reports the loss of every
``--every``-th step, the median step time of each, and the linear probe of
protocol (a) (per-subject z-scored embeddings, logistic regression, test
subjects 32-35) of both encoders after training, as
``bench_pretrain_curve.py`` scores it.

    python benchmarks/bench_precision.py --data ../shared/data \
        --out benchmarks/results/precision.md
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pretrain_curve import TRAIN_SUBJECTS, probe_scores, protocol_a_inputs  # noqa: E402

from sk_cria import ViewMaskPretrainer  # noqa: E402
from sk_cria.channels import lookup_channels  # noqa: E402
from sk_cria.model import CRIA, CRIAConfig  # noqa: E402
from sk_cria.model.pretext import InfoNCELoss, ViewMaskModule  # noqa: E402


def train(module, X, channels, order, batch_size, lr, bf16, seed):
    """Yield (step, loss, seconds) of each training step of ``module``."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr)
    loss_fn = InfoNCELoss(temperature=0.1)
    module.train()
    torch.manual_seed(seed)  # the masks and dropout draws of the run
    for step, start in enumerate(range(0, len(order) - batch_size + 1, batch_size)):
        rows = order[start:start + batch_size]
        x = torch.from_numpy(np.ascontiguousarray(X[rows], dtype=np.float32))
        pairs = channels.unsqueeze(0).expand(len(rows), -1, -1)
        began = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            z_a, z_b = module(x, pairs)
        loss = loss_fn(z_a, z_b)
        loss.backward()
        optimizer.step()
        yield step, loss.item(), time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results/precision.md")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=6, help="report every k-th step's loss")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    began = time.time()
    X, y, groups = protocol_a_inputs(args.data)
    channels = torch.as_tensor(lookup_channels(X.ch_names).indices)
    train_rows = np.flatnonzero(np.isin(groups, TRAIN_SUBJECTS))
    rng = np.random.default_rng(args.seed)
    order = np.concatenate([rng.permutation(train_rows) for _ in range(args.epochs)])
    torch.manual_seed(args.seed)
    start = ViewMaskModule(CRIA(CRIAConfig.small()))
    modules = {"float32": start, "bfloat16": copy.deepcopy(start)}
    runs = {name: train(module, X, channels, order, args.batch_size, args.lr,
                        name == "bfloat16", args.seed) for name, module in modules.items()}
    losses, times = {name: [] for name in runs}, {name: [] for name in runs}
    for results in zip(*runs.values()):  # interleaved, step by step
        for name, (_, loss, seconds) in zip(runs, results):
            losses[name].append(loss)
            times[name].append(seconds)
    probes = {}
    for name, module in modules.items():
        with tempfile.TemporaryDirectory() as folder:  # the probe loads it as users do
            module.encoder.save_pretrained(folder)
            probes[name] = probe_scores(ViewMaskPretrainer.from_pretrained(folder), X, y,
                                        groups)
    steps = len(losses["float32"])
    lines = [
        "# Pre-training in float32 and under CPU bfloat16 autocast (issue 26 item 3)",
        "",
        f"Command: `python benchmarks/bench_precision.py --data {args.data} --out {args.out}` "
        f"({(time.time() - began) / 60:.1f} min) on {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}. Small encoder, "
        f"the same initial weights, batches, masks and dropout draws for both; "
        f"{args.epochs} epochs of eegmat protocol (a)'s training windows ({len(train_rows)} "
        f"windows of 5 s, subjects 00-27), batch {args.batch_size}, AdamW lr {args.lr:g}, "
        f"{steps} steps, interleaved.",
        "",
        "| | float32 | bfloat16 autocast |",
        "|---|---|---|",
        f"| median step (s) | {statistics.median(times['float32']):.3f} | "
        f"{statistics.median(times['bfloat16']):.3f} |",
        f"| speed vs float32 | 1.00x | "
        f"{statistics.median(times['float32']) / statistics.median(times['bfloat16']):.2f}x |",
        f"| mean loss, last {args.every} steps | {np.mean(losses['float32'][-args.every:]):.3f} | "
        f"{np.mean(losses['bfloat16'][-args.every:]):.3f} |",
        f"| probe of protocol (a) after training, BAcc / AUROC | "
        f"{probes['float32'][0]:.3f} / {probes['float32'][1]:.3f} | "
        f"{probes['bfloat16'][0]:.3f} / {probes['bfloat16'][1]:.3f} |",
        "",
        "Loss per step:",
        "",
        "| step | float32 | bfloat16 autocast |",
        "|---|---|---|",
    ]
    lines += [f"| {step} | {losses['float32'][step]:.3f} | {losses['bfloat16'][step]:.3f} |"
              for step in range(0, steps, args.every)]
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
