"""The evidence table: CRIA's design choices under one recipe, paired against the default.

Each arm is a run of ``sk_cria.benchmark.run_benchmark`` with the same
recipe (Riemannian-aligned input, per-subject z-scored features), splits and
seeds; arms differ from the default (asymmetric fusion, view masking,
no purification, negatives from the whole batch, pre-trained encoder, linear
probe) in one thing:

- fusion symmetric / serial; masking token / spatial_block; purification on;
  contrastive negatives drawn within one subject (``negatives="group"``)
  (each pre-trained and probed like the default);
- random weights (the default encoder, not pre-trained, probed);
- from scratch (the default architecture fine-tuned end to end, no pre-training);
- the floors (log-variance, log band power, tangent space; log-variance and log
  band power also on CRIA's own input) for reference.

With ``--train-subjects``, the default configuration's run also fits its
pipelines on the labels of only N training subjects (seeded draws), sharing
the same pre-training, and ``label_efficiency.png`` / ``label_efficiency.md``
show BAcc and AUROC against N (``sk-cria benchmark --train-subjects`` does the
same from the command line).

The table gives mean ± sd of each arm and the mean ± sd of its paired
difference from the default arm over the same (seed, fold) splits. Rows are
appended to ``evidence.csv`` after every arm and protocol, and arms already
there are skipped, so an interrupted run resumes and a partial table is
still a table.

    python benchmarks/bench_evidence.py --data ../shared/data --seeds 5 \
        --out benchmarks/results/eegmat-evidence
"""

import argparse
from pathlib import Path
import time

import pandas as pd

from sk_cria.benchmark import (BenchmarkConfig, markdown_report, plot_label_efficiency,
                               run_benchmark)

#: Arm -> (BenchmarkConfig overrides, pipeline). The first is the default.
ARMS = {
    "default (pre-trained, probe)": ({}, "cria_probe_pretrained"),
    "fusion symmetric": ({"fusion": "symmetric"}, "cria_probe_pretrained"),
    "fusion serial": ({"fusion": "serial"}, "cria_probe_pretrained"),
    "masking token": ({"masking": "token"}, "cria_probe_pretrained"),
    "masking spatial_block": ({"masking": "spatial_block"}, "cria_probe_pretrained"),
    "purification on": ({"purification": True}, "cria_probe_pretrained"),
    "negatives within subject": ({"negatives": "group"}, "cria_probe_pretrained"),
    "random weights (probe)": ({}, "cria_probe_random"),
    "from scratch (fine-tuned)": ({}, "cria_finetune_scratch"),
    "floor: log-variance": ({}, "log_variance"),
    "floor: log band power": ({}, "band_power"),
    "floor: tangent space": ({}, "tangent_space"),
    "floor: log-variance on CRIA's input": ({}, "log_variance_cria_input"),
    "floor: log band power on CRIA's input": ({}, "band_power_cria_input"),
}
DEFAULT = next(iter(ARMS))


def run_arms(args, out):
    """Run every missing (protocol, arm); append to evidence.csv after each."""
    path = out / "evidence.csv"
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["protocol", "arm"])
    for protocol in args.protocol:
        # The arms that share a configuration share one run (and one pre-training).
        by_config = {}
        for arm, (overrides, pipeline) in ARMS.items():
            if args.arms and arm != DEFAULT and arm not in args.arms:
                continue
            if ((done.protocol == protocol) & (done.arm == arm)).any():
                continue
            by_config.setdefault(tuple(sorted(overrides.items())), []).append((arm, pipeline))
        for overrides, arms in by_config.items():
            budgets = (None,)
            if not overrides and args.train_subjects:
                budgets = tuple(dict.fromkeys(args.train_subjects + [None]))
            seeds = args.seeds if protocol == "a" or args.seeds_b is None else args.seeds_b
            config = BenchmarkConfig(
                protocols=(protocol,), seeds=seeds, folds=args.folds, encoder="small",
                pretrain_epochs=args.pretrain_epochs, finetune_epochs=args.finetune_epochs,
                pipelines=tuple(pipeline for _, pipeline in arms), data=args.data,
                train_subjects=budgets, **dict(overrides),
            )
            start = time.perf_counter()
            result = run_benchmark(config)
            seconds = time.perf_counter() - start
            rows = pd.DataFrame(result)
            if len(budgets) > 1:
                stem = out / f"label_efficiency_{protocol}"
                _write_label_efficiency(result, config, seconds, stem)
                rows = rows[rows.labelled_subjects == rows.labelled_subjects.max()]
            for arm, pipeline in arms:
                part = rows[rows.pipeline == pipeline].assign(arm=arm, run_seconds=seconds)
                done = pd.concat([done, part], ignore_index=True)
            done.to_csv(path, index=False)
            print(f"protocol {protocol}, {[arm for arm, _ in arms]}: {seconds / 60:.1f} min",
                  flush=True)
    return done


def _write_label_efficiency(rows, config, seconds, stem):
    pd.DataFrame(rows).to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text(markdown_report(rows, config, seconds))
    plot_label_efficiency(rows, stem.with_suffix(".png"))


def evidence_table(frame):
    """Markdown: per protocol and arm, mean ± sd and the paired difference from the default."""
    lines = ["| protocol | arm | runs | BAcc | AUROC | ΔBAcc vs default | ΔAUROC vs default |",
             "|---|---|---|---|---|---|---|"]
    for protocol, part in frame.groupby("protocol"):
        reference = part[part.arm == DEFAULT][["seed", "fold", "bacc", "auroc"]]
        for arm in [a for a in ARMS if a in set(part.arm)]:
            rows = part[part.arm == arm]
            cells = [f"{rows[m].mean():.3f} ± {_sd(rows[m]):.3f}" for m in ("bacc", "auroc")]
            paired = rows.merge(reference, on=["seed", "fold"], suffixes=("", "_default"))
            if arm == DEFAULT or paired.empty:
                deltas = ["", ""]
            else:
                deltas = [f"{d.mean():+.3f} ± {_sd(d):.3f}" for d in
                          (paired[m] - paired[f"{m}_default"] for m in ("bacc", "auroc"))]
            lines.append(f"| {protocol} | {arm} | {len(rows)} | {' | '.join(cells)} | "
                         f"{' | '.join(deltas)} |")
    return "\n".join(lines) + "\n"


def floor_margins(frame):
    """Markdown: each CRIA arm against the best floor of its protocol, paired."""
    lines = ["| protocol | arm | best floor | pairs | ΔBAcc vs floor | ΔAUROC vs floor |",
             "|---|---|---|---|---|---|"]
    for protocol, part in frame.groupby("protocol"):
        floors = [arm for arm in ARMS if arm.startswith("floor:") and arm in set(part.arm)]
        if not floors:
            continue
        best = max(floors, key=lambda arm: part[part.arm == arm].bacc.mean())
        reference = part[part.arm == best][["seed", "fold", "bacc", "auroc"]]
        for arm in [a for a in ARMS if a in set(part.arm) and not a.startswith("floor:")]:
            paired = part[part.arm == arm].merge(reference, on=["seed", "fold"],
                                                 suffixes=("", "_floor"))
            deltas = [f"{d.mean():+.3f} ± {_sd(d):.3f}" for d in
                      (paired[m] - paired[f"{m}_floor"] for m in ("bacc", "auroc"))]
            lines.append(f"| {protocol} | {arm} | {best[len('floor: '):]} | {len(paired)} | "
                         f"{' | '.join(deltas)} |")
    return "\n".join(lines) + "\n"


def _sd(values):
    return values.std(ddof=1) if len(values) > 1 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding eegmat (../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/eegmat-evidence"))
    parser.add_argument("--protocol", nargs="+", choices=["a", "b"], default=["a", "b"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seeds-b", type=int, default=None,
                        help="seeds of protocol (b) (default: --seeds)")
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=None,
                        help="run only these arms (and the default, which they are paired "
                             "with); default: all")
    parser.add_argument("--train-subjects", nargs="*", type=int, default=[],
                        help="label budgets for the default configuration, e.g. 1 2 4 8")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    frame = run_arms(args, args.out)
    table = evidence_table(frame)
    minutes = frame.drop_duplicates(["protocol", "run_seconds"]).run_seconds.sum() / 60
    protocols = sorted(set(frame.protocol))
    (args.out / "evidence.md").write_text(
        "# The evidence table (eegmat, recipe ra/subject, small encoder)\n\n"
        f"Protocol(s) {', '.join(protocols)}; "
        + "; ".join(([f"{args.seeds} seeds for (a)"] if "a" in protocols else [])
                    + ([f"{args.seeds_b or args.seeds} seed(s) x {args.folds} folds for (b)"]
                       if "b" in protocols else []))
        + f"; {args.pretrain_epochs} pre-training and up to {args.finetune_epochs} "
        f"fine-tuning epochs. The runs in evidence.csv took {minutes:.1f} min in all "
        f"(this invocation {(time.perf_counter() - start) / 60:.1f} min). Mean ± sd over "
        "seeds x folds; Δ: paired difference from the default arm on the same split and "
        "seed, mean ± sd.\n\n" + table
        + "\nEach CRIA arm against the best floor of its protocol (highest mean BAcc), "
        "paired over the same splits and seeds:\n\n" + floor_margins(frame)
    )
    print(table)


if __name__ == "__main__":
    main()
