"""Linear-probe accuracy of a pre-training run's checkpoints against its steps.

A run of ``python -m sk_cria pretrain ... --out RUN`` keeps only its newest
training checkpoints (``RUN/checkpoints/step-*.pt``). This script has two
commands:

``snapshot RUN``
    Light; run it beside the pre-training. Every ``--every`` seconds, copy the
    encoder of each new checkpoint to ``RUN/snapshots/step-<N>/`` (the
    ``config.json`` + ``model.safetensors`` of ``CRIA.save_pretrained``);
    stops when ``RUN/run.json`` says the run finished (after a last copy).
``probe RUN``
    Heavy; run it after the run. For the random-weight encoder (step 0) and
    every ``--kth`` snapshot (and the small preset of before issue 21, random
    weights, as a reference): eegmat protocol (a) (train subjects 00-27, test
    32-35), the project's cross-subject recipe: ``EEGPreprocessor`` (200 Hz,
    50 Hz notch), input whitened per subject by ``RiemannianAlignment``,
    embeddings z-scored per subject (``GroupStandardScaler``),
    ``LogisticRegression`` (class-balanced); balanced accuracy and AUROC on
    the test subjects; and the spectral-fidelity probe of
    ``bench_spectral_fidelity.py`` at -10 dB. The table goes to
    ``benchmarks/results/pretrain_curve.md``.

Run from the repository root::

    OMP_NUM_THREADS=1 nice python benchmarks/bench_pretrain_curve.py snapshot /tmp/pt-run &
    OMP_NUM_THREADS=1 python benchmarks/bench_pretrain_curve.py probe /tmp/pt-run
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch

TRAIN_SUBJECTS = range(28)
#: SNR of the spectral-fidelity column (see bench_spectral_fidelity.py).
SNR_DB = -10.0
TEST_SUBJECTS = range(32, 36)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "results" / "pretrain_curve.md"
_STEP = re.compile(r"step-(\d+)")


def run_config(run):
    """The encoder config of a run, from its ``run.json`` settings."""
    from sk_cria.model import CRIAConfig

    preset = json.loads((Path(run) / "run.json").read_text())["settings"]["config"]
    return CRIAConfig.small() if preset == "small" else CRIAConfig()


def snapshot_new_checkpoints(run):
    """Copy the encoder of every checkpoint not yet copied; return the new folders."""
    from sk_cria.checkpointing import find_checkpoints
    from sk_cria.model import CRIA

    run = Path(run)
    done = []
    for path in find_checkpoints(run / "checkpoints"):
        target = run / "snapshots" / path.stem
        if target.exists():
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # being written or already rotated away: next round
            continue
        encoder = CRIA(run_config(run))
        prefix = "encoder."
        encoder.load_state_dict(
            {k[len(prefix):]: v for k, v in state["module"].items() if k.startswith(prefix)}
        )
        encoder.save_pretrained(target)
        done.append(target)
    return done


def snapshot(run, every):
    """Poll ``run`` until it finishes, snapshotting each checkpoint."""
    run = Path(run)
    while True:
        finished = (run / "run.json").is_file() and json.loads(
            (run / "run.json").read_text()
        ).get("status") == "finished"
        for target in snapshot_new_checkpoints(run):
            print(f"{time.strftime('%H:%M:%S')} snapshot {target}", flush=True)
        if finished:
            return
        time.sleep(every)


def protocol_a_inputs(data_path):
    """Preprocessed, per-subject Riemannian-aligned eegmat windows of protocol (a)."""
    from sk_cria import EEGPreprocessor, RiemannianAlignment
    from sk_cria.datasets import load_eegmat

    subjects = [*TRAIN_SUBJECTS, *TEST_SUBJECTS]
    data = load_eegmat(subjects, path=data_path, sfreq=200.0, download=False)
    X = EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names, line_freq=50.0).fit_transform(
        data.data
    )
    # Each subject whitened on its own unlabelled windows: no label, no other subject.
    X = RiemannianAlignment().fit_transform(X, groups=data.groups)
    return X, data.target, data.groups


def probe_scores(pretrainer, X, y, groups):
    """Balanced accuracy and AUROC of the aligned linear probe on the test subjects."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from sk_cria.alignment import GroupStandardScaler

    embedding = GroupStandardScaler().fit_transform(pretrainer.transform(X), groups=groups)
    train = np.isin(groups, TRAIN_SUBJECTS)
    probe = LogisticRegression(max_iter=2000, class_weight="balanced").fit(
        embedding[train], y[train]
    )
    score = probe.predict_proba(embedding[~train])[:, 1]
    return (
        balanced_accuracy_score(y[~train], (score >= 0.5).astype(int)),
        roc_auc_score(y[~train], score),
    )


def probe(run, data_path, out, argv, kth=1):
    """Probe step 0 (random weights) and every ``kth`` snapshot of ``run``; write the table."""
    from bench_spectral_fidelity import BEFORE, embedding_accuracy, noisy_windows

    from sk_cria.datasets import load_eegmat

    from sk_cria import ViewMaskPretrainer
    from sk_cria.model import CRIAConfig

    torch.set_num_threads(1)
    run = Path(run)
    started = time.time()
    with sklearn.config_context(enable_metadata_routing=True):
        X, y, groups = protocol_a_inputs(data_path)
        sines, frequency = noisy_windows(
            load_eegmat(subjects=range(8), path=data_path, download=False), SNR_DB
        )
        config = run_config(run)
        fit = dict(max_epochs=0, random_state=0, device="cpu")
        # The small preset as it was before issue 21, random weights: the
        # reference the random-weight figures came from.
        encoders = {
            "random weights, small preset before issue 21": ViewMaskPretrainer(
                config=CRIAConfig.small(**BEFORE), **fit
            ),
            0: ViewMaskPretrainer(config=config, **fit),
        }
        folders = sorted((run / "snapshots").glob("step-*"))
        # Every kth snapshot, and always the newest.
        for folder in folders[kth - 1 :: kth] + folders[-1:]:
            step = int(_STEP.search(folder.name).group(1))
            encoders[step] = ViewMaskPretrainer.from_pretrained(folder, device="cpu")
        rows = []
        for step, encoder in encoders.items():
            # A fit without epochs only records the channels (weights unchanged).
            bacc, auroc = probe_scores(encoder.fit(X[:2]), X, y, groups)
            fidelity = embedding_accuracy(sines, frequency, encoder.fit(sines[:2]))
            rows.append(f"| {step} | {bacc:.3f} | {auroc:.3f} | {fidelity:.3f} |")
            print(rows[-1], flush=True)
    settings = json.loads((run / "run.json").read_text())
    log = run / "train_log.csv"
    lines = [
        "# Linear probe against pre-training steps",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/bench_pretrain_curve.py {' '.join(argv)}` "
        f"(took {(time.time() - started) / 60:.1f} min).",
        "",
        f"Run `{run}`: status {settings.get('status')}, settings "
        f"`{json.dumps(settings['settings'])}`.",
        "",
        "eegmat protocol (a): train subjects 00-27, test 32-35; Riemannian-aligned input, "
        "embeddings z-scored per subject, class-balanced logistic regression. Step 0 is the "
        "same architecture with random weights (seed 0), not the run's own initialisation. "
        f"Last column: spectral fidelity, the accuracy of the sinusoid-frequency probe of "
        f"bench_spectral_fidelity.py at {SNR_DB:+.0f} dB on eegmat subjects 0-7 (the Welch "
        "spectrum probe reaches .974 there, chance .167).",
        "",
        "| step | BAcc | AUROC | sinusoid probe |",
        "|---|---|---|---|",
        *rows,
    ]
    if log.is_file():
        lines += ["", "Training log (`train_log.csv`):", "", "```", log.read_text().strip(), "```"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["snapshot", "probe"])
    parser.add_argument("run", type=Path, help="the --out folder of sk_cria pretrain")
    parser.add_argument("--every", type=float, default=30.0, help="snapshot: seconds between polls")
    parser.add_argument("--kth", type=int, default=1, help="probe: every kth snapshot (and the last)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        snapshot(args.run, args.every)
    else:
        probe(args.run, args.data, args.out, argv, args.kth)


if __name__ == "__main__":
    main()
