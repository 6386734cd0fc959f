"""Loss and probe curves of CPU pre-training in float32, in bfloat16, and with reused streams.

Issue 26 item 3 asked for a faster pre-training step "with the same or better
loss and probe curves per step"; issue 38 item 2 makes
bfloat16 the CPU default only if its loss and probe curves over a run at least
as long as ``cria-small``'s (16 epochs, 336 steps) match float32's. The same
question stands for ``reuse_streams=True`` (the fusion streams view masking
leaves unchanged computed once, which shares their dropout noise between the
two passes).

Copies of one encoder (``--config``, the same initial weights) see the same
batches of eegmat protocol (a)'s training windows (subjects 00-27,
unlabelled; the project's recipe: 200 Hz, 50 Hz notch, per-subject Riemannian
alignment), with their masks and dropout drawn from the same seed (each arm
keeps its own state of torch's generator); the arms' steps are interleaved so
that the machine's load hits them alike:

- ``float32``: separate masked and unmasked passes in float32, the CPU
  default;
- ``bfloat16``: the same under ``torch.autocast("cpu", dtype=torch.bfloat16)``
  (``precision="bfloat16"``);
- ``reuse``: float32 with ``reuse_streams=True``;
- ``bfloat16+reuse``: both, the fastest candidate for a default.

Every step's loss goes to a CSV; every ``--probe-every`` steps each arm's
encoder is kept and scored at the end by protocol (a)'s linear probe
(per-subject z-scored embeddings, logistic regression, test subjects 32-35,
as ``bench_pretrain_curve.py`` scores it). The verdict is fixed here, before
any run: an arm *matches* float32 when its mean loss over the last epoch is at
most float32's + 0.05, its probe balanced accuracy averaged over the
checkpoints after step 0 is at least float32's - 0.02, and no checkpoint is
below float32's by more than 0.05.

    python benchmarks/bench_precision.py --data ../shared/data --epochs 17 --seed 0 \
        --out benchmarks/results/precision.md
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
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
from sk_cria._net import native_cpu_bfloat16  # noqa: E402
from sk_cria.channels import lookup_channels  # noqa: E402
from sk_cria.model import CRIA, CRIAConfig  # noqa: E402
from sk_cria.model.pretext import InfoNCELoss, ViewMaskModule  # noqa: E402

#: name -> (bfloat16 autocast, reuse_streams)
ARMS = {"float32": (False, False), "bfloat16": (True, False), "reuse": (False, True),
        "bfloat16+reuse": (True, True)}
LOSS_MARGIN, MEAN_PROBE_MARGIN, WORST_PROBE_MARGIN = 0.05, 0.02, 0.05


def train(module, X, channels, order, batch_size, lr, bf16, seed, keep_every, kept):
    """Yield (loss, seconds) of each training step; keep the encoder every ``keep_every`` steps."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr)
    loss_fn = InfoNCELoss(temperature=0.1)
    module.train()
    kept[0] = copy.deepcopy(module.encoder.state_dict())
    # The masks and dropout draws come from torch's global generator, which the
    # interleaved arms share: each arm keeps its own state of it, from the same seed.
    torch.manual_seed(seed)
    rng = torch.get_rng_state()
    for step, start in enumerate(range(0, len(order) - batch_size + 1, batch_size), 1):
        rows = order[start:start + batch_size]
        x = torch.from_numpy(np.ascontiguousarray(X[rows], dtype=np.float32))
        pairs = channels.unsqueeze(0).expand(len(rows), -1, -1)
        torch.set_rng_state(rng)
        began = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            z_a, z_b = module(x, pairs)
        loss = loss_fn(z_a, z_b)
        loss.backward()
        optimizer.step()
        seconds = time.perf_counter() - began
        rng = torch.get_rng_state()
        if step % keep_every == 0:
            kept[step] = copy.deepcopy(module.encoder.state_dict())
        yield loss.item(), seconds


def verdict(losses, probes, steps_per_epoch):
    """Whether each arm matches float32 by the rule of the module docstring."""
    ref_loss = np.mean(losses["float32"][-steps_per_epoch:])
    checkpoints = [step for step in probes["float32"] if step > 0]
    ref = np.array([probes["float32"][step][0] for step in checkpoints])
    out = {}
    for name in losses:
        bacc = np.array([probes[name][step][0] for step in checkpoints])
        loss = np.mean(losses[name][-steps_per_epoch:])
        out[name] = {
            "last-epoch loss": loss,
            "mean probe BAcc": bacc.mean(),
            "worst probe gap": (bacc - ref).min(),
            "matches": bool(loss <= ref_loss + LOSS_MARGIN
                            and bacc.mean() >= ref.mean() - MEAN_PROBE_MARGIN
                            and (bacc - ref).min() >= -WORST_PROBE_MARGIN),
        }
    return out


def plot(losses, probes, steps_per_epoch, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_probe) = plt.subplots(1, 2, figsize=(11, 4))
    for name, values in losses.items():
        values = np.asarray(values)
        line, = ax_loss.plot(np.arange(1, len(values) + 1), values, alpha=0.25, lw=0.8)
        smooth = np.convolve(values, np.ones(steps_per_epoch) / steps_per_epoch, mode="valid")
        ax_loss.plot(np.arange(steps_per_epoch, len(values) + 1), smooth, color=line.get_color(),
                     label=f"{name} (mean over an epoch)")
        steps = sorted(probes[name])
        ax_probe.plot(steps, [probes[name][s][0] for s in steps], "o-", color=line.get_color(),
                      label=name)
    ax_loss.set(xlabel="step", ylabel="InfoNCE loss", title="Loss per step")
    ax_probe.set(xlabel="step", ylabel="balanced accuracy",
                 title="Protocol (a) probe (test subjects 32-35)")
    ax_loss.legend()
    ax_probe.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results/precision.md")
    parser.add_argument("--config", default="small", choices=["small", "default"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--epochs", type=int, default=16, help="cria-small's: 16 (336 steps)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--probe-every", type=int, default=42)
    parser.add_argument("--every", type=int, default=12, help="loss rows of the table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if "float32" not in args.arms:
        parser.error("--arms must include float32, the reference")
    began = time.time()
    X, y, groups = protocol_a_inputs(args.data)
    channels = torch.as_tensor(lookup_channels(X.ch_names).indices)
    train_rows = np.flatnonzero(np.isin(groups, TRAIN_SUBJECTS))
    rng = np.random.default_rng(args.seed)
    order = np.concatenate([rng.permutation(train_rows) for _ in range(args.epochs)])
    steps_per_epoch = len(train_rows) // args.batch_size
    config = CRIAConfig.small() if args.config == "small" else CRIAConfig()
    torch.manual_seed(args.seed)
    start = CRIA(config)
    kept = {name: {} for name in args.arms}
    runs = {}
    for name in args.arms:
        bf16, reuse = ARMS[name]
        module = ViewMaskModule(copy.deepcopy(start), reuse_streams=reuse)
        runs[name] = train(module, X, channels, order, args.batch_size, args.lr, bf16,
                           args.seed, args.probe_every, kept[name])
    losses, times = {name: [] for name in runs}, {name: [] for name in runs}
    for results in zip(*runs.values()):  # interleaved, step by step
        for name, (loss, seconds) in zip(runs, results):
            losses[name].append(loss)
            times[name].append(seconds)
    trained_min = (time.time() - began) / 60
    probes = {name: {} for name in runs}
    for name, states in kept.items():
        for step, state in states.items():
            encoder = CRIA(config)
            encoder.load_state_dict(state)
            with tempfile.TemporaryDirectory() as folder:  # the probe loads it as users do
                encoder.save_pretrained(folder)
                probes[name][step] = probe_scores(ViewMaskPretrainer.from_pretrained(folder),
                                                  X, y, groups)
    judged = verdict(losses, probes, steps_per_epoch)
    out = Path(args.out)
    stem = out.with_suffix("")
    with open(f"{stem}_losses.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", *runs])
        writer.writerows([step + 1, *(f"{losses[n][step]:.5f}" for n in runs)]
                         for step in range(len(losses["float32"])))
    plot(losses, probes, steps_per_epoch, f"{stem}.png")
    Path(f"{stem}_probes.json").write_text(json.dumps(
        {name: {str(step): list(scores) for step, scores in arm.items()}
         for name, arm in probes.items()}, indent=1))
    steps = len(losses["float32"])
    command = (f"python benchmarks/bench_precision.py --data {args.data} --config {args.config} "
               f"--epochs {args.epochs} --seed {args.seed} --out {args.out}")
    ref_time = statistics.median(times["float32"])
    lines = [
        "# Pre-training curves: float32, bfloat16 and reused streams (issues 26 and 38)",
        "",
        f"Command: `{command}` ({(time.time() - began) / 60:.1f} min, of which training "
        f"{trained_min:.1f}) on {platform.machine()} (native bfloat16 products: "
        f"{'yes' if native_cpu_bfloat16() else 'no'}), {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}. `{args.config}` encoder, the same initial weights, batches "
        f"and seeds for every arm; {args.epochs} epochs of eegmat protocol (a)'s training "
        f"windows ({len(train_rows)} windows of 5 s, subjects 00-27, {steps_per_epoch} steps "
        f"an epoch), batch {args.batch_size}, AdamW lr {args.lr:g}, {steps} steps, interleaved. "
        "Arms: `float32` (separate passes, the CPU default), `bfloat16` (the same under "
        "CPU bfloat16 autocast, `precision=\"bfloat16\"`), `reuse` (float32, "
        "`reuse_streams=True`), `bfloat16+reuse` (both).",
        "",
        f"Rule, fixed in the script before the run: an arm matches float32 when its mean loss "
        f"over the last epoch is at most float32's + {LOSS_MARGIN}, its probe BAcc averaged "
        f"over the checkpoints after step 0 at least float32's - {MEAN_PROBE_MARGIN}, and no "
        f"checkpoint below float32's by more than {WORST_PROBE_MARGIN}.",
        "",
        "| | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
        "| median step (s) | " + " | ".join(f"{statistics.median(times[n]):.3f}" for n in runs)
        + " |",
        "| speed vs float32 | " + " | ".join(f"{ref_time / statistics.median(times[n]):.2f}x"
                                            for n in runs) + " |",
        "| mean loss, last epoch | " + " | ".join(f"{judged[n]['last-epoch loss']:.3f}"
                                                 for n in runs) + " |",
        "| probe BAcc, mean over checkpoints | " + " | ".join(
            f"{judged[n]['mean probe BAcc']:.3f}" for n in runs) + " |",
        "| worst probe gap to float32 | " + " | ".join(
            f"{judged[n]['worst probe gap']:+.3f}" for n in runs) + " |",
        "| matches float32 | " + " | ".join("yes" if judged[n]["matches"] else "**no**"
                                           for n in runs) + " |",
        "",
        f"Curves: `{Path(f'{stem}.png').name}`; every step's loss: "
        f"`{Path(f'{stem}_losses.csv').name}`; the probes: `{Path(f'{stem}_probes.json').name}`.",
        "",
        "Probe of protocol (a) (BAcc / AUROC) at each kept step (0: the shared initial weights):",
        "",
        "| step | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    lines += [f"| {step} | " + " | ".join(f"{probes[n][step][0]:.3f} / {probes[n][step][1]:.3f}"
                                          for n in runs) + " |"
              for step in sorted(probes["float32"])]
    lines += ["", f"Loss, mean of the {args.every} steps up to each row:", "",
              "| step | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    lines += [f"| {end} | " + " | ".join(f"{np.mean(losses[n][end - args.every:end]):.3f}"
                                         for n in runs) + " |"
              for end in range(args.every, steps + 1, args.every)]
    lines.append("")
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
