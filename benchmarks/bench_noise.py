"""Noise robustness: balanced accuracy against SNR, CRIA and the floors under one recipe.

For each task (eegmat, eegmmidb-mi), protocol (b) (grouped K-fold over
subjects) and seed, every pipeline of :data:`sk_cria.benchmark.PIPELINES`
named here is built by the registry as ``sk-cria benchmark`` builds it,
trained once on the clean training subjects, then scored on the test
subjects clean and corrupted by each noise kind of :mod:`sk_cria.noise` at
each SNR. The noise is added to the raw microvolt windows before anything
else, then the corrupted windows go through the benchmark's own input
preparation (``sk_cria.benchmark._aligned_inputs``: EEGPreprocessor for CRIA,
1-40 Hz for the floors, each subject whitened by the Riemannian mean of its
own windows), so every pipeline gets the same corrupted input, preprocessing
and alignment (recipe ``ra/subject``); test subjects are aligned (and
fine-tuned CRIA standardised) on their own corrupted windows, without labels.

The seed sets the noise draws and the models' seeds. CRIA's encoder is the
shipped ``cria-small`` (``--encoder shipped``: frozen probe and fine-tuning
start from it; it saw eegmat subjects 00-27 unlabelled, clean) or one
pre-trained on each training fold as ``--quick`` does (``--encoder fold``).

Rows go to ``<out>/<task>.csv`` after each seed, so a partial run is a
partial table; ``results.csv``, ``results.md`` and ``results.png`` are
rebuilt from every ``<task>.csv`` in ``<out>`` at the end of each run
(``--report`` rebuilds them without running anything).

    OMP_NUM_THREADS=1 python benchmarks/bench_noise.py --data ../shared/data \
        --task eegmat --out benchmarks/results/noise_robustness
"""

import argparse
from pathlib import Path
import shlex
import sys
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.model_selection import GroupKFold
from sklearn.utils import Bunch
import torch

from sk_cria import ViewMaskPretrainer
from sk_cria.benchmark import (PIPELINES, BenchmarkConfig, _aligned_inputs, _Encoders,
                               _groups_for, _Run, _scores)
from sk_cria.noise import NOISE_KINDS, add_noise
from sk_cria.preprocessing import TARGET_SFREQ
from sk_cria.tasks import TASKS

#: Default pipelines per task: CRIA's probe and fine-tuning, and the strongest floors.
DEFAULT_PIPELINES = {
    "eegmat": ("cria_probe_pretrained", "cria_finetune_pretrained", "band_power",
               "log_variance", "tangent_space", "mdm"),
    "eegmmidb-mi": ("cria_probe_pretrained", "cria_finetune_pretrained",
                    "tangent_space_recentered", "mdm_recentered", "csp_lda",
                    "csp_lda_recentered"),
}
SNRS = (-20.0, -10.0, 0.0, 10.0, 20.0)
RECIPE = "ra"  # with per-subject feature scaling: ra/subject
COLUMNS = ["task", "encoder", "pipeline", "family", "noise", "snr_db", "seed", "fold",
           "bacc", "auroc", "error"]


class _Shipped:
    """The encoders of a run that uses the shipped ``cria-small`` (as ``_Encoders``)."""

    def __init__(self, name):
        self.encoder = ViewMaskPretrainer.from_pretrained(name)

    def get(self, kind):
        if kind != "pretrained":
            raise ValueError(f"--encoder shipped gives a pre-trained encoder only, not {kind!r}.")
        return self.encoder, 0.0


def _conditions(kinds, snrs):
    """(noise kind, SNR) pairs, clean first."""
    return [("none", np.inf)] + [(kind, snr) for kind in kinds for snr in snrs]


def _inputs(config, task, data, kind, snr, seed, index, inputs=("cria", "baseline")):
    """The aligned inputs of the data corrupted by one noise condition."""
    if kind == "none":
        return _aligned_inputs(config, task, data, inputs)[RECIPE]
    options = {"line_freq": task.line_freq} if kind == "mains" else {}
    noisy = add_noise(data.data, kind, snr, data.sfreq,
                      random_state=1000 * seed + index, **options)
    return _aligned_inputs(config, task, Bunch(**{**data, "data": noisy}), inputs)[RECIPE]


def run_task(args, task_name, out):
    """Train each pipeline once per fold and seed; score it under every condition."""
    task = TASKS[task_name]
    pipelines = args.pipelines or DEFAULT_PIPELINES[task_name]
    config = BenchmarkConfig.quick(task=task_name, protocols=("b",), folds=args.folds,
                                   seeds=args.seeds, alignments=(RECIPE,),
                                   scalings=("subject",), pipelines=tuple(pipelines),
                                   data=args.data, subjects=args.subjects,
                                   finetune_epochs=args.finetune_epochs)
    config.check()
    shipped = _Shipped(args.shipped) if args.encoder == "shipped" else None
    conditions = _conditions(args.kinds, args.snrs)
    seeds = args.only_seeds if args.only_seeds is not None else range(config.seeds)
    start = time.perf_counter()
    with sklearn.config_context(enable_metadata_routing=True):
        data = task.load(config.subjects, config.data)
        folds = list(GroupKFold(config.folds).split(data.groups, groups=data.groups))
        folds = folds[:args.max_folds]
        clean = _inputs(config, task, data, "none", np.inf, 0, 0)
        for seed in seeds:
            # One file per task and seed, rewritten after every condition: seeds can run
            # in parallel processes, and a stopped run keeps what it scored.
            path = out / f"{task_name}_seed{seed}.csv"
            done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
            todo = [(i, kind, snr) for i, (kind, snr) in enumerate(conditions)
                    if not ((done.noise == kind) & (done.snr_db == snr)).any()]
            if not todo:
                print(f"{task_name} seed {seed}: in {path}, skipped", flush=True)
                continue
            fitted = []  # (fold, name, entry, estimator, test rows)
            for fold, (train, test) in enumerate(folds):
                encoders = shipped or _Encoders(config, clean["cria"][train],
                                                data.groups[train], seed)
                for name in pipelines:
                    entry = PIPELINES[name]
                    sfreq = TARGET_SFREQ if entry.input == "cria" else data.sfreq
                    run = _Run(config, task, seed, "subject" if entry.scaled else None,
                               sfreq, encoders)
                    estimator, _ = entry.build(run)
                    X = clean[entry.input]
                    estimator.fit(X[train], data.target[train],
                                  **_groups_for(estimator, "fit", data.groups[train]))
                    fitted.append((fold, name, entry, estimator, test))
                    print(f"{task_name} seed {seed} fold {fold} {name}: fitted "
                          f"({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
            for index, kind, snr in todo:
                rows = _score_condition(config, task, data, clean, fitted, kind, snr, seed,
                                        index)
                for row in rows:
                    row.update(task=task_name, encoder=args.encoder, noise=kind, snr_db=snr,
                               seed=seed)
                done = pd.concat([done, pd.DataFrame(rows, columns=COLUMNS)],
                                 ignore_index=True)
                done.to_csv(path, index=False)
                print(f"{task_name} seed {seed} {kind} {snr:g} dB: scored "
                      f"({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    minutes = (time.perf_counter() - start) / 60
    with open(out / f"{task_name}_seeds{'-'.join(map(str, seeds))}.meta", "w") as file:
        file.write(f"{task_name}: `{_command()}` ({minutes:.1f} min, {torch.get_num_threads()} "
                   f"torch thread(s), {len(folds)} of {config.folds} grouped folds over "
                   f"{len(np.unique(data.groups))} subjects, seed(s) {list(seeds)}, up to "
                   f"{config.finetune_epochs} fine-tuning epochs)\n")


#: What a noise condition can break (the alignment of a degenerate input, a prediction):
#: recorded as a failed score with its message, not a stopped run.
_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError)


def _score_condition(config, task, data, clean, fitted, kind, snr, seed, index):
    """Rows of every fitted pipeline on the test windows under one condition."""
    # Each input prepared on its own: one that breaks (the alignment of a degenerate
    # input) fails only the pipelines that read it.
    X, failures = {}, {}
    for name in ("cria", "baseline"):
        try:
            X[name] = clean[name] if kind == "none" else _inputs(
                config, task, data, kind, snr, seed, index, (name,))[name]
        except _FAILURES as error:
            failures[name] = f"input preparation: {type(error).__name__}: {error}"
    rows = []
    for fold, name, entry, estimator, test in fitted:
        row = {"pipeline": name, "family": entry.family, "fold": fold, "bacc": np.nan,
               "auroc": np.nan, "error": ""}
        if entry.input in failures:
            row["error"] = failures[entry.input][:200]
        else:
            groups = data.groups[test]
            try:
                proba = estimator.predict_proba(
                    X[entry.input][test], **_groups_for(estimator, "predict_proba", groups))
                scores = _scores(data.target[test], proba[:, 1], estimator.classes_, 0, 0)
                row.update(bacc=scores["bacc"], auroc=scores["auroc"])
            except _FAILURES as error:
                row["error"] = f"predict: {type(error).__name__}: {error}"[:200]
        rows.append(row)
    return rows


def _command():
    return " ".join(shlex.quote(a) for a in ["python", *sys.argv])


# ----------------------------------------------------------------- report
def summarize(frame):
    """Mean and sd of BAcc per task, pipeline, noise kind and SNR (over seeds and folds)."""
    frame = frame.assign(failed=frame.bacc.isna())
    grouped = frame.groupby(["task", "pipeline", "noise", "snr_db"], sort=False)
    summary = grouped.bacc.agg(["mean", "std", "size"])
    summary["failed"] = grouped.failed.sum()
    return summary.reset_index()


def markdown(frame, out):
    """Per task and noise kind: pipelines x (clean, SNRs), mean ± sd BAcc."""
    summary = summarize(frame)
    meta = sorted(out.glob("*.meta"))
    lines = ["# Noise robustness: balanced accuracy against SNR", "",
             "Commands (each line one run; durations on a shared 2-core machine):", ""]
    lines += [f"- {line.strip()}" for m in meta for line in m.read_text().splitlines()]
    lines += ["", "Protocol (b), grouped folds over subjects, recipe `ra/subject`. Models "
              "trained on clean training subjects; test subjects scored clean and with noise "
              "added to their raw microvolt windows before any preprocessing (SNR per "
              "example over all channels, `sk_cria.noise`). Mean ± sd over seeds and folds "
              "(n = runs). CRIA's encoder: see the `encoder` column of results.csv "
              "(`shipped`: `cria-small`).", ""]
    for task, part in summary.groupby("task", sort=False):
        clean = part[part.noise == "none"].set_index("pipeline")
        for kind in [k for k in NOISE_KINDS if k in set(part.noise)]:
            noisy = part[part.noise == kind]
            snrs = sorted(noisy.snr_db.unique())
            lines += [f"## {task}: {kind}", "",
                      "| pipeline | n | clean | " + " | ".join(f"{s:g} dB" for s in snrs) + " |",
                      "|---|---|---|" + "---|" * len(snrs)]
            for name in _order(part.pipeline.unique()):
                row = clean.loc[name] if name in clean.index else None
                n = int(row["size"]) if row is not None else ""
                # A cell with fewer runs than the clean score (a run stopped part-way)
                # says how many it has.
                cells = [_pm(noisy[(noisy.pipeline == name) & (noisy.snr_db == s)], n)
                         for s in snrs]
                lines.append(f"| {name} | {n} | {_pm(row)} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _order(names):
    """CRIA's pipelines first, then the floors, each in registry order."""
    return sorted(names, key=lambda n: (PIPELINES[n].family != "cria", list(PIPELINES).index(n)))


def _pm(row, n=None):
    if row is None or (isinstance(row, pd.DataFrame) and row.empty):
        return "-"
    if isinstance(row, pd.DataFrame):
        row = row.iloc[0]
    runs = f" (n = {int(row['size'])})" if n not in (None, "", row["size"]) else ""
    if row["failed"] == row["size"]:
        return "fails" + runs
    sd = 0.0 if np.isnan(row["std"]) else row["std"]
    failed = f" ({int(row['failed'])} of {int(row['size'])} failed)" if row["failed"] else ""
    return f"{row['mean']:.3f} ± {sd:.3f}{failed}{runs}"


def plot(frame, path):
    """One panel per task and noise kind: BAcc against SNR, the clean score at the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(frame)
    tasks = list(dict.fromkeys(summary.task))
    kinds = [k for k in NOISE_KINDS if k in set(summary.noise)]
    fig, axes = plt.subplots(len(tasks), len(kinds), figsize=(3.6 * len(kinds), 3.4 * len(tasks)),
                             squeeze=False, sharey=True)
    for row, task in zip(axes, tasks):
        part = summary[summary.task == task]
        for ax, kind in zip(row, kinds):
            noisy = part[part.noise == kind]
            snrs = sorted(noisy.snr_db.unique())
            x_clean = snrs[-1] + (snrs[-1] - snrs[0]) / 4 if snrs else 0
            for name in _order(part.pipeline.unique()):
                curve = noisy[noisy.pipeline == name].sort_values("snr_db")
                clean = part[(part.pipeline == name) & (part.noise == "none")]
                x = list(curve.snr_db) + [x_clean] * len(clean)
                y = list(curve["mean"]) + list(clean["mean"])
                sd = list(curve["std"].fillna(0)) + list(clean["std"].fillna(0))
                style = "-o" if PIPELINES[name].family == "cria" else "--s"
                ax.errorbar(x, y, yerr=sd, fmt=style, ms=3, capsize=2, label=name)
            ax.axhline(0.5, color="grey", lw=0.8)
            ax.set_xticks(snrs + [x_clean], [f"{s:g}" for s in snrs] + ["clean"])
            ax.set_xlabel("SNR (dB)")
            ax.set_title(f"{task}: {kind}", fontsize=9)
        row[0].set_ylabel("balanced accuracy")
        row[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(out):
    """Rebuild results.csv, results.md and results.png from every <task>.csv in ``out``."""
    parts = [pd.read_csv(p) for p in sorted(out.glob("*.csv")) if p.name != "results.csv"]
    if not parts:
        return
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(out / "results.csv", index=False)
    (out / "results.md").write_text(markdown(frame, out) + "\n")
    plot(frame, out / "results.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=list(DEFAULT_PIPELINES),
                        choices=list(TASKS), dest="tasks")
    parser.add_argument("--data", default=None, help="Folder holding eegmat/ and "
                        "MNE-eegbci-data/.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/noise_robustness"))
    parser.add_argument("--kinds", nargs="+", default=list(NOISE_KINDS),
                        choices=list(NOISE_KINDS))
    parser.add_argument("--snrs", nargs="+", type=float, default=list(SNRS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only-seeds", nargs="+", type=int, default=None,
                        help="Run only these seeds (seeds can run in parallel processes).")
    parser.add_argument("--folds", type=int, default=3, help="Grouped folds over subjects.")
    parser.add_argument("--max-folds", type=int, default=None,
                        help="Run only the first N folds (a smoke run).")
    parser.add_argument("--subjects", nargs="+", type=int, default=None)
    parser.add_argument("--pipelines", nargs="+", default=None, choices=list(PIPELINES))
    parser.add_argument("--encoder", choices=("shipped", "fold"), default="shipped",
                        help="CRIA's encoder: the shipped model, or pre-trained on each "
                        "training fold (3 epochs, as --quick).")
    parser.add_argument("--shipped", default="cria-small", help="Shipped encoder's name.")
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--report", action="store_true",
                        help="Only rebuild the report from the CSVs in --out.")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        for task in args.tasks:
            run_task(args, task, args.out)
    report(args.out)


if __name__ == "__main__":
    main()
