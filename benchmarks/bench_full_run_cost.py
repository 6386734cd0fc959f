"""How long the full ``sk-cria benchmark`` run takes on this machine, projected from timed units.

The full run (``sk-cria benchmark --data ../shared/data``: both protocols, the
default encoder, 10 pre-training and up to 30 fine-tuning epochs, the
default recipe's input alignment) trains one encoder per seed, fold and input, which
is many CPU hours: too long to run on every change. This script times, on the
real eegmat windows of protocol (a)'s training subjects and with the default
encoder, the three units the run is made of:

* one pre-training epoch of ``ViewMaskPretrainer`` (seconds per window),
* one fine-tuning epoch of ``CRIAClassifier`` (seconds per window, its
  validation part included),
* one embedding pass of ``ViewMaskPretrainer.transform`` (seconds per window),

then counts how many of each the run performs (from :class:`BenchmarkConfig`'s
defaults and the split sizes) and multiplies. Fine-tuning is counted at its
maximum number of epochs, so the projection is an upper bound there; early
stopping usually ends it sooner. Baselines take seconds and are left out.

Run from the repository root::

    python benchmarks/bench_full_run_cost.py --data ../shared/data

The table goes to ``benchmarks/results/full_run_cost.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "full_run_cost.md"


def _seconds_per_window(fit, n_windows):
    start = time.perf_counter()
    fit()
    return (time.perf_counter() - start) / n_windows


def time_units(data_path, n_windows):
    """Seconds per window of one pre-training epoch, one fine-tuning epoch, one embedding pass."""
    from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer
    from sk_cria.benchmark import PROTOCOL_A, BenchmarkConfig
    from sk_cria.datasets import load_eegmat

    config = BenchmarkConfig()
    data = load_eegmat(list(PROTOCOL_A["train"]), path=data_path, sfreq=200.0, download=False)
    X = EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names, line_freq=50.0).fit_transform(
        data.data
    )
    rng = np.random.default_rng(0)
    pick = rng.choice(len(X), size=min(n_windows, len(X)), replace=False)
    X, y = X[pick], data.target[pick]
    common = dict(config=config.encoder_config(), batch_size=config.batch_size, random_state=0)
    pretrainer = ViewMaskPretrainer(max_epochs=1, **common)
    pretrain = _seconds_per_window(lambda: pretrainer.fit(X), len(X))
    embed = _seconds_per_window(lambda: pretrainer.transform(X), len(X))
    clf = CRIAClassifier(max_epochs=1, **common)
    finetune = _seconds_per_window(lambda: clf.fit(X, y), len(X))
    parameters = sum(p.numel() for p in pretrainer.encoder_.parameters())
    return {"pretrain": pretrain, "finetune": finetune, "embed": embed}, parameters


def count_units(data_path):
    """Windows processed by each unit over the whole default run."""
    from sk_cria.benchmark import PIPELINES, BenchmarkConfig, splits
    from sk_cria.datasets import load_eegmat

    config = BenchmarkConfig()
    groups = load_eegmat(path=data_path, sfreq=200.0, download=False).groups
    # What each CRIA pipeline of the registry runs: a probe embeds, fine-tuning trains.
    cria = [name for name in config.pipelines if PIPELINES[name].family == "cria"]
    probes = [name for name in cria if PIPELINES[name].scaled]
    finetunes = [name for name in cria if not PIPELINES[name].scaled]
    totals = {"pretrain": 0, "finetune": 0, "embed": 0}
    fits = 0
    recipes = len(config.alignments) * len(config.scalings)
    for _protocol, _fold, train, test in splits(config, groups):
        for _seed in range(config.seeds):
            for _alignment in config.alignments:
                fits += 1
                totals["pretrain"] += config.pretrain_epochs * len(train)
                totals["embed"] += len(probes) * recipes * (len(train) + len(test))
                totals["finetune"] += len(finetunes) * config.finetune_epochs * len(train)
    return totals, fits, (config, len(probes), len(finetunes))


def render(seconds, parameters, totals, fits, run, wall):
    config, n_probes, n_finetunes = run
    projected = {unit: seconds[unit] * totals[unit] for unit in seconds}
    hours = sum(projected.values()) / 3600
    lines = [
        "# Projected duration of the full `sk-cria benchmark` run",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({torch.get_num_threads()} torch threads), "
        f"torch {torch.__version__}, {datetime.datetime.now().isoformat(timespec='minutes')}; "
        f"1-min load average at the end {os.getloadavg()[0]:.2f}. "
        f"Timing took {wall / 60:.1f} min.",
        "",
        f"Default encoder ({parameters / 1e6:.2f} M parameters), batch {config.batch_size}, "
        "5 s windows of 20 channels (eegmat). The run: protocol (a) x "
        f"{config.seeds} seeds + protocol (b) x {config.folds} folds x {config.seeds} seeds, "
        f"input alignment {' and '.join(config.alignments)}: {fits} pre-training runs of {config.pretrain_epochs} "
        f"epochs, {n_finetunes} fine-tunings of up to {config.finetune_epochs} epochs and "
        f"{n_probes} probes each.",
        "",
        "| unit | seconds per window (measured) | windows in the run | projected hours |",
        "|---|---|---|---|",
    ]
    names = {
        "pretrain": "pre-training epoch",
        "finetune": "fine-tuning epoch (at most)",
        "embed": "embedding pass",
    }
    for unit, name in names.items():
        lines.append(
            f"| {name} | {seconds[unit] * 1000:.1f} ms | {totals[unit]:,} "
            f"| {projected[unit] / 3600:.1f} |"
        )
    lines += [
        "",
        f"Total: about **{hours:.0f} hours** on this machine (fine-tuning counted at its "
        "maximum epochs; early stopping shortens it). The baselines add minutes.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding eegmat (../shared/data)")
    parser.add_argument(
        "--windows", type=int, default=256, help="training windows timed per unit"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown file to write")
    args = parser.parse_args()
    start = time.perf_counter()
    seconds, parameters = time_units(args.data, args.windows)
    totals, fits, run = count_units(args.data)
    report = render(seconds, parameters, totals, fits, run, time.perf_counter() - start)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
