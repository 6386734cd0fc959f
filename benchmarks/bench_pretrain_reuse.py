"""Loss and probe curves of pre-training with and without ``reuse_streams`` (issue 38 item 2).

``ViewMaskModule(reuse_streams=True)`` fuses once the streams that view masking
leaves unchanged. Without dropout it computes the same thing as the default;
with the presets' dropout (0.1) the two passes of such a stream then share
their dropout noise, which changes the pretext. This script trains the same
encoder (same seed, same batches) both ways on real eegmat recordings (all 72
files, 10 s windows, ``EEGWindowsDataset``) and reports, per epoch, the mean
training loss, the seconds of training (wall and CPU) and a linear probe: logistic
regression on the frozen embeddings of the same windows, rest (``_1``) against
mental arithmetic (``_2``), trained on subjects 00-27 and scored (balanced
accuracy) on subjects 32-35.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_pretrain_reuse.py --data ../shared/data \
        --out benchmarks/results/pretrain_reuse.md
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.datasets import EEGWindowsDataset


def probe(pre, dataset, labels, subjects):
    """Balanced accuracy of rest vs arithmetic, train subjects 00-27, test 32-35."""
    Z = pre.transform(dataset)
    train, test = subjects < 28, subjects >= 32
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000,
                                                             class_weight="balanced"))
    clf.fit(Z[train], labels[train])
    return balanced_accuracy_score(labels[test], clf.predict(Z[test]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results/pretrain_reuse.md")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--config", default="small", choices=["small", "default"])
    args = parser.parse_args()
    began = time.time()
    files = sorted(Path(args.data, "eegmat/files/eegmat/1.0.0").glob("Subject*.edf"))
    dataset = EEGWindowsDataset(files, window=10, verbose=False,
                                preprocessor=EEGPreprocessor(line_freq=50))
    names = [rec.path.stem for rec in dataset.recordings]
    labels = np.array([int(names[r].endswith("_2")) for r in dataset.recording_ids])
    subjects = np.array([int(names[r][7:9]) for r in dataset.recording_ids])
    for index in range(len(dataset)):  # read once, kept: the arms' epochs time training alone
        dataset[index]
    rows = {}
    for reuse in (False, True):
        torch.manual_seed(0)
        pre = ViewMaskPretrainer(config=args.config, max_epochs=1, batch_size=args.batch_size,
                                 random_state=0, module__reuse_streams=reuse)
        curve = []
        for epoch in range(1, args.epochs + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            if epoch == 1:
                pre.fit(dataset)
            else:
                pre.partial_fit(dataset)
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            losses = [b["train_loss"] for b in pre.history[-1, "batches"]]
            curve.append((epoch, float(np.mean(losses)), losses, wall, cpu,
                          probe(pre, dataset, labels, subjects)))
        rows[reuse] = curve
    lines = [
        "# Pre-training with and without `reuse_streams` (issue 38 item 2)",
        "",
        f"Command: `OMP_NUM_THREADS={torch.get_num_threads()} python "
        f"benchmarks/bench_pretrain_reuse.py --data {args.data} --out {args.out} "
        f"--epochs {args.epochs} --batch-size {args.batch_size} --config {args.config}` on "
        f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch "
        f"{torch.__version__}; load average at the end {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores (a shared machine: seconds are noisy, the CPU time less).",
        "",
        f"`ViewMaskPretrainer(config=\"{args.config}\", batch_size={args.batch_size}, "
        f"random_state=0)` on {len(dataset)} eegmat windows of 10 s (all 72 files), "
        "`module__reuse_streams` False (the default) and True; the windows are read "
        "and kept before either arm, so the seconds are training alone. Probe: logistic regression "
        "on the frozen pooled embeddings, rest vs arithmetic, subjects 00-27 -> 32-35, "
        "balanced accuracy.",
        "",
        "| epoch | loss (default) | loss (reuse) | probe BAcc (default) | probe BAcc (reuse) "
        "| CPU s (default) | CPU s (reuse) | wall s (default) | wall s (reuse) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a, b in zip(rows[False], rows[True]):
        lines.append(f"| {a[0]} | {a[1]:.3f} | {b[1]:.3f} | {a[5]:.3f} | {b[5]:.3f} | "
                     f"{a[4]:.0f} | {b[4]:.0f} | {a[3]:.0f} | {b[3]:.0f} |")
    lines += ["", "Loss per step (default / reuse):", "",
              "| step | default | reuse |", "|---|---|---|"]
    steps_a = [loss for row in rows[False] for loss in row[2]]
    steps_b = [loss for row in rows[True] for loss in row[2]]
    lines += [f"| {i + 1} | {a:.3f} | {b:.3f} |" for i, (a, b) in enumerate(zip(steps_a, steps_b))]
    lines += ["", f"Took {(time.time() - began) / 60:.1f} min.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
