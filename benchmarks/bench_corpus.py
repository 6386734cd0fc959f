"""Which pre-training data helps: an ablation of the corpus (issue 26, item 4).

Each *arm* pre-trains one encoder size (``small`` or ``default``) on one
corpus, seed 0, in the project's recipe: every recording preprocessed by
``EEGPreprocessor(scaling=100.0)`` (a fixed unit of 100 uV, which keeps each
window's power; 50 Hz notch for eegmat, 60 Hz for the others), cut into 5 s
windows, and whitened on its own subject's (or recording's) windows by
``RiemannianAlignment``. The corpora, each adding to the one before:

- ``eegmat``: PhysioNet eegmat subjects 00-27 (20 channels, 500 Hz);
- ``eegmmidb``: + PhysioNet eegmmidb subjects 1-11, every run in
  ``../shared/data`` and in the corpus of ``../shared/tools/corpus.sh``
  (64 channels, 160 Hz);
- ``muse``: + the Muse headband recordings of that corpus (4 channels,
  256 Hz, muse-lsl CSV), with the flat / loose electrode rule of
  ``EEGWindowsDataset``.

Never loaded for pre-training: eegmat subjects 28-35, eegmmidb subjects 12-109.
``ViewMaskPretrainer(negatives="group", lr=1e-4, batch_size=64)``, the pretext
cria-small was selected with (``pretext.md``): each batch holds the windows of
one subject (or Muse recording). An arm is scored after the epochs that bring
the windows it has seen closest to each of ``--windows`` (the same budgets for
every corpus, so that the arms are compared at equal training compute per
window), and at 0 (random weights):

- eegmat label efficiency: grouped 8-fold CV over subjects 00-31 (protocol
  (a)'s test subjects 32-35 are never loaded), embeddings z-scored per subject,
  class-balanced logistic regression on the labels of 2 training subjects (3
  draws) or of all; mean BAcc (``bench_pretext.py``'s probe);
- motor imagery (the ``eegmmidb-mi`` task of ``sk-cria benchmark``: imagined
  left vs right fist, subjects 1-11, the benchmark's grouped 6 folds): the
  same probe, 2 or all labelled subjects;
- subject identity of eegmat 00-27 and the sinusoid probe at -15 / -10 dB
  (``bench_spectral_fidelity.py``; the spectral-fidelity test passes at
  -10 dB >= .924).

The floors of the same recipe and folds (motor imagery: every floor of the
task; eegmat: log band power of the aligned input, log spectrum of CRIA's
input) and the shipped cria-small on its own (per-window scaled) input are
scored by ``--arm reference``. Each arm writes ``benchmarks/results/corpus/<arm>.json``
as it goes; ``--report`` gathers them into ``benchmarks/results/corpus_ablation.md``;
``--ship NAME --arm ARM --epochs E`` saves that encoder into ``sk_cria/pretrained/NAME``
with a model card. Run from the repository root, one torch thread per arm::

    OMP_NUM_THREADS=1 python benchmarks/bench_corpus.py --arm reference
    OMP_NUM_THREADS=1 python benchmarks/bench_corpus.py --arm shipped --encoder cria-small
    OMP_NUM_THREADS=1 python benchmarks/bench_corpus.py --arm small-eegmat
    OMP_NUM_THREADS=1 python benchmarks/bench_corpus.py --arm small-muse
    python benchmarks/bench_corpus.py --report
"""

import argparse
import json
import re
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch

from bench_pretext import label_efficiency, subject_identity
from bench_spectral_fidelity import noisy_windows

import sk_cria
from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.alignment import RiemannianAlignment
from sk_cria.atomic import open_atomic
from sk_cria.baselines import BandPassFilter, LogBandPower
from sk_cria.benchmark import BASELINE_BAND, BenchmarkConfig, run_benchmark, splits
from sk_cria.benchmark import _aligned_inputs
from sk_cria._net import channel_pairs
from sk_cria.datasets import EEGWindowsDataset, load_eegmat
from sk_cria.model.io import SHIPPED_DIR
from sk_cria.spectral_fidelity import log_power_spectrum, probe_accuracy
from sk_cria.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "corpus"
SCALING = 100.0
WINDOW = 5
PRETRAIN_SUBJECTS = range(28)  # eegmat; never 28-35
SCORED_SUBJECTS = range(32)  # never protocol (a)'s test subjects 32-35
MI_SUBJECTS = range(1, 12)  # eegmmidb; 12-109 are evaluation data
CORPORA = ("eegmat", "eegmmidb", "muse")
PRETEXT = {"negatives": "group", "lr": 1e-4, "batch_size": 64}
SEED = 0
SNRS = (-15.0, -10.0)
FIDELITY_PASS = 0.974 - 0.05


class WindowBank(torch.utils.data.Dataset):
    """Preprocessed, aligned windows of several montages, held in memory.

    The items are those of :class:`~sk_cria.datasets.EEGWindowsDataset`
    (``({"x": window, "channels": pairs}, 0)``), so ``ViewMaskPretrainer``
    batches them by montage as it does recordings on disk.
    """

    def __init__(self, parts):
        self.windows, self.montages, ids, self.groups = [], [], [], []
        for X, names, groups in parts:
            names = tuple(names)
            if names not in self.montages:
                self.montages.append(names)
            self.windows += list(np.asarray(X, dtype=np.float32))
            ids.append(np.full(len(X), self.montages.index(names)))
            self.groups.append(np.asarray(groups))
        self.montage_ids = np.concatenate(ids)
        self.groups = np.concatenate(self.groups)
        self._pairs = [torch.from_numpy(channel_pairs(names)) for names in self.montages]
        self.scaling = SCALING

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, i):
        return {"x": torch.from_numpy(self.windows[i]),
                "channels": self._pairs[self.montage_ids[i]]}, 0


def eegmat_inputs(data_dir, scaling):
    """eegmat 00-31 at 200 Hz: CRIA's aligned input, the baselines' aligned input."""
    data = load_eegmat(SCORED_SUBJECTS, path=data_dir, sfreq=200.0, download=False)
    X = EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names, line_freq=50.0,
                        scaling=scaling).fit_transform(data.data)
    X = RiemannianAlignment().fit_transform(X, groups=data.groups)
    signals = BandPassFilter(data.sfreq, *BASELINE_BAND).fit_transform(data.data)
    signals = RiemannianAlignment().fit_transform(signals, groups=data.groups)
    return data, X, signals


def mi_config(**overrides):
    return BenchmarkConfig(**{"task": "eegmmidb-mi", "seeds": 1, "input_scaling": SCALING,
                              **overrides})


def mi_inputs(data_dir, scaling):
    """The motor-imagery task's trials and CRIA's aligned input, as the benchmark makes them."""
    config = mi_config(data=str(data_dir), input_scaling=scaling)
    task = TASKS["eegmmidb-mi"]
    data = task.load(None, str(data_dir))
    with sklearn.config_context(enable_metadata_routing=True):
        X = _aligned_inputs(config, task, data, kinds=("cria",))["ra"]["cria"]
    return data, X


def recording_windows(paths, line_freq, group_of):
    """Aligned windows of recordings on disk, one part per (group, montage)."""
    dataset = EEGWindowsDataset(paths, window=WINDOW, verbose=True, preprocessor=EEGPreprocessor(
        line_freq=line_freq, scaling=SCALING))
    windows = np.empty(len(dataset), dtype=object)
    for i in range(len(dataset)):
        windows[i] = dataset[i][0]["x"].numpy()
    groups = np.array([group_of(dataset.recordings[r].path) for r in dataset.recording_ids])
    parts = []
    for group in np.unique(groups):
        for montage in np.unique(dataset.montage_ids[groups == group]):
            rows = np.flatnonzero((groups == group) & (dataset.montage_ids == montage))
            X = RiemannianAlignment().fit_transform(np.stack(windows[rows]))
            parts.append((X, dataset.montages[montage], np.full(len(rows), group)))
    return parts, dataset


def eegmmidb_subject(path):
    subject = int(re.search(r"S(\d{3})R\d{2}", Path(path).name).group(1))
    if subject not in MI_SUBJECTS:  # evaluation data must never reach pre-training
        raise ValueError(f"{path}: eegmmidb subject {subject} is evaluation data.")
    return f"eegmmidb-{subject}"


def corpus(name, data_dir, corpus_dir, eegmat):
    """The WindowBank of a corpus and a summary of what it holds."""
    data, X = eegmat
    train = np.isin(data.groups, PRETRAIN_SUBJECTS)
    parts = [(X[train], data.ch_names, [f"eegmat-{g}" for g in data.groups[train]])]
    summary = {"eegmat": (int(train.sum()), len(PRETRAIN_SUBJECTS))}
    if CORPORA.index(name) >= 1:
        folders = [Path(data_dir, "MNE-eegbci-data", "files", "eegmmidb", "1.0.0", f"S{s:03d}")
                   for s in MI_SUBJECTS]
        folders += sorted(Path(corpus_dir, "MNE-eegbci-data").glob("files/eegmmidb/1.0.0/S0*"))
        more, _ = recording_windows(folders, 60.0, eegmmidb_subject)
        parts += more
        summary["eegmmidb"] = (sum(len(p[0]) for p in more), len(MI_SUBJECTS))
    if CORPORA.index(name) >= 2:
        more, dataset = recording_windows([Path(corpus_dir, "eeg-notebooks")], 60.0, str)
        parts += more
        summary["muse"] = (sum(len(p[0]) for p in more), len(dataset.recordings))
    return WindowBank(parts), summary


def score(net, eegmat, mi, sines):
    """The probes of the module docstring for one fitted encoder."""
    data, X = eegmat
    features = net.transform(X)
    efficiency = label_efficiency(features, data.target, data.groups)
    seen = np.isin(data.groups, PRETRAIN_SUBJECTS)
    mi_data, X_mi = mi
    mi_scores = mi_efficiency(net.transform(X_mi), mi_data.target, mi_data.groups)
    return {
        "eegmat": {str(k): v for k, v in efficiency.items()},
        "mi": mi_scores,
        "identity": subject_identity(features[seen], data.groups[seen]),
        "fidelity": [probe_accuracy(net.transform(Xs), ys) for Xs, ys in sines],
    }


def mi_efficiency(features, y, groups):
    """Budget -> BAcc of ``bench_pretext``'s probe over the benchmark's motor-imagery folds."""
    folds = [(train, test) for _, _, train, test in splits(mi_config(), groups)]
    scores = label_efficiency(features, y, groups, seed=SEED, folds=folds)
    return {str(budget): bacc for budget, (bacc, _) in scores.items()}


def save(arm, record):
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open_atomic(RESULTS / f"{arm}.json", "w") as f:
        json.dump(record, f, indent=1)


def run_reference(args, sines):
    """Floors of the same recipe and folds, and the shipped cria-small on its own input."""
    record = {"arm": "reference", "rows": []}
    data, X, signals = eegmat_inputs(args.data, SCALING)
    floors = {"floor: log band power (RA input)": LogBandPower(data.sfreq).fit_transform(signals),
              "floor: log power spectrum of CRIA's input (100 uV)":
              log_power_spectrum(X, 200.0, 1.0, 40.0)}
    for name, F in floors.items():
        efficiency = label_efficiency(F, data.target, data.groups)
        record["rows"].append({"name": name, "eegmat": {str(k): v for k, v in efficiency.items()}})
    with sklearn.config_context(enable_metadata_routing=True):
        task = TASKS["eegmmidb-mi"]
        for budget in (2, None):
            rows = run_benchmark(mi_config(data=str(args.data), pipelines=tuple(task.floors),
                                           train_subjects=(budget,)))
            for name in task.floors:
                bacc = float(np.mean([r["bacc"] for r in rows
                                      if r["pipeline"] == name]))
                row = next((r for r in record["rows"] if r["name"] == f"floor: {name}"), None)
                if row is None:
                    row = {"name": f"floor: {name}", "mi": {}}
                    record["rows"].append(row)
                row["mi"][str(budget)] = bacc
    window_eegmat = eegmat_inputs(args.data, "window")[:2]
    window_mi = mi_inputs(args.data, "window")
    window_sines = [noisy_windows(load_eegmat(subjects=range(8), path=args.data,
                                              download=False), snr) for snr in SNRS]
    shipped = ViewMaskPretrainer.from_pretrained("cria-small")
    record["rows"].append({"name": "cria-small (shipped; per-window scaled input)",
                           **score(shipped, window_eegmat, window_mi, window_sines)})
    save("reference", record)


def run_shipped(args, sines):
    """A shipped or saved encoder, frozen, on the 100 uV input of the arms."""
    net = ViewMaskPretrainer.from_pretrained(args.encoder)
    with warnings.catch_warnings():
        # Reading input scaled otherwise than it was trained on is this row's point.
        warnings.filterwarnings("ignore", "ViewMaskPretrainer: the encoder was trained")
        row = score(net, eegmat_inputs(args.data, SCALING)[:2], mi_inputs(args.data, SCALING),
                    sines)
    name = Path(args.encoder).name
    save(f"shipped-{name}", {"arm": f"shipped-{name}", "rows": [
        {"name": f"{name} (frozen; 100 uV input)", **row}]})


def run_arm(args, sines):
    size, name = args.arm.split("-", 1)
    start = time.perf_counter()
    eegmat = eegmat_inputs(args.data, SCALING)[:2]
    mi = mi_inputs(args.data, SCALING)
    bank, summary = corpus(name, args.data, args.corpus, eegmat)
    n = len(bank)
    epochs = sorted({max(1, round(w / n)) for w in args.windows})
    record = {"arm": args.arm, "size": size, "corpus": name, "windows_per_epoch": n,
              "montages": len(bank.montages), "summary": summary,
              "hours": n * WINDOW / 3600, "command": args.command, "rows": []}
    net = ViewMaskPretrainer(config=size, random_state=SEED, max_epochs=0, **PRETEXT)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ViewMaskPretrainer: max_epochs=0")
        net.fit(bank, groups=bank.groups)
    done, train_seconds = 0, 0.0
    for epoch in [0, *epochs]:
        if epoch > done:
            net.set_params(max_epochs=epoch - done)
            tick = time.perf_counter()
            net.partial_fit(bank, groups=bank.groups)
            train_seconds += time.perf_counter() - tick
            done = epoch
        folder = args.keep / f"{args.arm}-epoch{epoch}"
        net.save_pretrained(folder, overwrite=True)
        steps = sum(len(h["batches"]) for h in net.history) if epoch else 0
        row = {"name": f"{args.arm}, epoch {epoch}", "epoch": epoch, "windows_seen": epoch * n,
               "steps": steps, "train_minutes": train_seconds / 60, "folder": str(folder),
               "loss": float(net.history[-1, "train_loss"]) if epoch else None,
               **score(net, eegmat, mi, sines)}
        record["rows"].append(row)
        record["minutes"] = (time.perf_counter() - start) / 60
        save(args.arm, record)
        print(json.dumps({k: row[k] for k in ("name", "steps", "loss", "eegmat", "mi",
                                               "identity", "fidelity")}), flush=True)


def cells(row):
    e, m = row.get("eegmat", {}), row.get("mi", {})
    out = [f"{e[b][0]:.3f}" if b in e else "" for b in ("2", "None")]
    out += [f"{m[b]:.3f}" if b in m else "" for b in ("2", "None")]
    out += [f"{row['identity']:.3f}" if "identity" in row else ""]
    out += [f"{v:.3f}" for v in row["fidelity"]] if "fidelity" in row else ["", ""]
    return out


def mean_bacc(row):
    """The selection score: mean BAcc of the eegmat and motor-imagery probes (2 and all)."""
    return float(np.mean([row["eegmat"][b][0] for b in ("2", "None")]
                         + [row["mi"][b] for b in ("2", "None")]))


def selection(records):
    """Which trained checkpoint ships: the best mean BAcc among those passing fidelity."""
    rows = [(arm, row) for arm, rec in records.items() if not arm.startswith(("reference",
            "shipped")) for row in rec["rows"] if row["epoch"] > 0]
    passing = [(arm, row) for arm, row in rows if row["fidelity"][1] >= FIDELITY_PASS]
    if not passing:
        return ["No trained checkpoint passes the spectral-fidelity test."]
    arm, best = max(passing, key=lambda item: mean_bacc(item[1]))
    references = [row for name, rec in records.items() if name.startswith(("reference",
                  "shipped")) for row in rec["rows"] if "mi" in row and "eegmat" in row]
    out = [f"{len(passing)} of {len(rows)} trained checkpoints pass the spectral-fidelity "
           f"test (sinusoid probe at -10 dB >= {FIDELITY_PASS:.3f}). The best of them by "
           f"mean BAcc of the four probes (eegmat and motor imagery, 2 and all labelled "
           f"subjects): **{best['name']}** ({mean_bacc(best):.3f}; `--arm {arm} --epochs "
           f"{best['epoch']}`)."]
    out += [f"- {row['name']}: {mean_bacc(row):.3f}" for row in references]
    return out


def report():
    records = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    header = ["| encoder | windows seen | steps | loss | eegmat BAcc, 2 subj. | eegmat, all "
              "| MI BAcc, 2 subj. | MI, all | subject identity | sinusoid -15 dB "
              "| sinusoid -10 dB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines = ["# Which pre-training data helps (issue 26, item 4)", "",
             "Protocol: `benchmarks/bench_corpus.py`'s docstring. Every encoder reads "
             "100 uV-scaled, Riemannian-aligned input; all probes are linear on per-subject "
             "z-scored embeddings.", "", "## Corpora", "",
             "| arm | corpus: windows of 5 s (subjects or recordings) | hours | montages "
             "| minutes (training + scoring) | command |", "|---|---|---|---|---|---|"]
    for arm, rec in records.items():
        if arm == "reference" or arm.startswith("shipped"):
            continue
        parts = ", ".join(f"{k} {v[0]} ({v[1]})" for k, v in rec["summary"].items())
        lines.append(f"| {arm} | {parts} | {rec['hours']:.2f} | {rec['montages']} | "
                     f"{rec.get('minutes', 0):.0f} | `{rec['command']}` |")
    lines += ["", "## Probe curves", "", *header]
    for arm, rec in records.items():
        for row in rec["rows"]:
            loss = "" if row.get("loss") is None else f"{row['loss']:.3f}"
            seen = row.get("windows_seen", "")
            lines.append(f"| {row['name']} | {seen} | {row.get('steps', '')} | {loss} | "
                         + " | ".join(cells(row)) + " |")
    lines += ["", "## Selection", "", *selection(records)]
    (RESULTS.parent / "corpus_ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


LICENCES = {
    "eegmat": "PhysioNet eegmat 1.0.0 (Zyma et al. 2019), ODC-By 1.0",
    "eegmmidb": "PhysioNet eegmmidb 1.0.0 (Schalk et al. 2004), ODC-By 1.0",
    "muse": "NeuroTechX eeg-notebooks (Muse 2016 headband, muse-lsl CSV), BSD-3-Clause",
}
WHAT = {
    "eegmat": "eegmat subjects 00-27 (rest and mental arithmetic; 20 channels, 10-20 system)",
    "eegmmidb": "eegmmidb subjects 1-11, every run in ../shared/data and the corpus "
                "(rest, real and imagined movements; 64 channels, 10-10 system)",
    "muse": "eeg-notebooks recordings (visual N170, P300, SSVEP, cueing, go/no-go, ...; "
            "TP9, AF7, AF8, TP10)",
}


def ship(name, arm, epoch):
    """Save an arm's encoder into sk_cria/pretrained/NAME with its model card."""
    record = json.loads((RESULTS / f"{arm}.json").read_text())
    row = next(r for r in record["rows"] if r["epoch"] == epoch)
    reference = json.loads((RESULTS / "reference.json").read_text())["rows"]
    shipped = next(r for r in reference if r["name"].startswith("cria-small"))
    random_row = next(r for r in record["rows"] if r["epoch"] == 0)
    floors = [r for r in reference if r["name"].startswith("floor")]
    best_mi = max((r for r in floors if "mi" in r), key=lambda r: r["mi"]["None"])
    best_eegmat = max((r for r in floors if "eegmat" in r), key=lambda r: r["eegmat"]["None"][0])
    if row["fidelity"][1] < FIDELITY_PASS:
        raise SystemExit(f"{arm}, epoch {epoch} fails the spectral-fidelity test.")
    target = SHIPPED_DIR / name
    net = ViewMaskPretrainer.from_pretrained(row["folder"])
    # Half precision keeps a default-size encoder under the package's 8 MB per file.
    dtype = "float32" if record["size"] == "small" else "float16"
    net.save_pretrained(target, overwrite=True, dtype=dtype)
    corpora = CORPORA[:CORPORA.index(record["corpus"]) + 1]
    seen = record["summary"]

    def scores(r):
        return (f"eegmat BAcc {r['eegmat']['2'][0]:.3f} (2 labelled subjects) / "
                f"{r['eegmat']['None'][0]:.3f} (all); motor imagery {r['mi']['2']:.3f} / "
                f"{r['mi']['None']:.3f}")

    card = [
        f"# {name}: CRIA {record['size']}, pre-trained on {' + '.join(corpora)} (sk_cria)", "",
        f"Load it offline by name: `ViewMaskPretrainer.from_pretrained(\"{name}\")` "
        f"(embeddings) or `CRIAClassifier(encoder=\"{name}\")` (fine-tuning).", "",
        "## Data", "",
        *[f"- {WHAT[c]}: {seen[c][0]} windows of 5 s "
          f"({seen[c][0] * WINDOW / 3600:.2f} h, {seen[c][1]} "
          f"{'recordings' if c == 'muse' else 'subjects'}). Licence: {LICENCES[c]}."
          for c in corpora],
        f"- In all {record['hours']:.2f} hours, {record['montages']} montage(s) (a channel "
        "list after the flat / loose electrode rule of `EEGWindowsDataset`); labels unused.",
        "- **Never seen**: eegmat subjects 28-35 (protocol (a)'s validation and test "
        "subjects) and eegmmidb subjects 12-109 (kept for evaluation). The scores below "
        "use eegmat 00-31 and eegmmidb 1-11, whose windows pre-training saw unlabelled.",
        "- Input: `EEGPreprocessor(scaling=100.0)` (a fixed unit of 100 uV; 200 Hz, 0.5 Hz "
        "high-pass, 1 s patches, mains notch: "
        + ("50 Hz" if len(corpora) == 1 else "50 Hz for eegmat, 60 Hz for the others")
        + "), then each subject"
        + (" (each Muse recording)" if "muse" in corpora else "")
        + " whitened on its own windows by `RiemannianAlignment`. Feed it the same; "
        "`config.json` records the scaling.", "",
        "## Training", "",
        f"- `ViewMaskPretrainer(config=\"{record['size']}\", negatives=\"group\", lr=1e-4, "
        f"batch_size=64, random_state={SEED})`, {epoch} epochs, {row['steps']} steps, "
        f"{row['windows_seen']} windows seen, final loss {row['loss']:.3f}; "
        f"{row['train_minutes']:.0f} min of training on one CPU thread.",
        f"- Command: `{record['command']}`, then `python benchmarks/bench_corpus.py --ship "
        f"{name} --arm {arm} --epochs {epoch}`.",
        f"- Weights stored as {dtype} (`model.safetensors`)"
        + ("; the probes below were measured on the float32 checkpoint before that."
           if dtype != "float32" else "."),
        "- Selected by `--report`'s rule among every arm and checkpoint of the ablation "
        "(small and default encoders; eegmat, + eegmmidb, + Muse): of the checkpoints "
        "passing the spectral-fidelity test, the best mean BAcc of the four probes below "
        "(eegmat and motor imagery, 2 and all labelled subjects).", "",
        "## Probe results (linear probe on per-subject z-scored embeddings)", "",
        "eegmat: grouped 8-fold CV over subjects 00-31; motor imagery (imagined left vs right "
        "fist, eegmmidb 1-11): the benchmark's grouped 6 folds; balanced accuracy.", "",
        f"- {name}: {scores(row)}",
        f"- same architecture, random weights: {scores(random_row)}",
        f"- cria-small as first shipped (per-window scaled input): {scores(shipped)}",
        f"- best floor of the same recipe and folds: eegmat {best_eegmat['eegmat']['None'][0]:.3f} "
        f"({best_eegmat['name'][7:]}); motor imagery {best_mi['mi']['None']:.3f} "
        f"({best_mi['name'][7:]})",
        f"- subject identity (eegmat 00-27, chance .036): {row['identity']:.3f}; spectral "
        f"fidelity (sinusoid probe at -15 / -10 dB): {row['fidelity'][0]:.3f} / "
        f"{row['fidelity'][1]:.3f} (passes at -10 dB >= {FIDELITY_PASS:.3f})",
        "- Full table: `benchmarks/results/corpus_ablation.md`.", "",
        f"sk_cria {sk_cria.__version__}, torch {torch.__version__}.", "",
    ]
    (target / "README.md").write_text("\n".join(card))
    print(f"shipped {target}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--corpus", type=Path, default=Path("/work/corpus"),
                        help="OUT_DIR of ../shared/tools/corpus.sh")
    parser.add_argument("--arm", help="reference, shipped (--encoder on the arms' input), or "
                        "<small|default>-<eegmat|eegmmidb|muse>")
    parser.add_argument("--encoder", default="cria-small", help="encoder of --arm shipped")
    parser.add_argument("--windows", nargs="+", type=int, default=[10000, 20000, 40000, 80000],
                        help="budgets of windows seen at which the arm is scored")
    parser.add_argument("--keep", type=Path, default=Path("/tmp/sk_cria-corpus"))
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--ship", metavar="NAME", help="save --arm's encoder after --epochs "
                        "into sk_cria/pretrained/NAME")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    args.command = ("OMP_NUM_THREADS=1 python benchmarks/bench_corpus.py --arm "
                    f"{args.arm} --windows {' '.join(map(str, args.windows))}")
    if args.report:
        return report()
    if args.ship:
        return ship(args.ship, args.arm, args.epochs)
    torch.set_num_threads(1)
    sklearn.set_config(enable_metadata_routing=True)
    warnings.filterwarnings("ignore", message=".*constant within every group")
    sines = [noisy_windows(load_eegmat(subjects=range(8), path=args.data, download=False),
                           snr, scaling=SCALING) for snr in SNRS]
    if args.arm == "reference":
        return run_reference(args, sines)
    if args.arm == "shipped":
        return run_shipped(args, sines)
    size, name = args.arm.split("-", 1)
    if size not in ("small", "default") or name not in CORPORA:
        parser.error(f"unknown arm {args.arm!r}")
    run_arm(args, sines)


if __name__ == "__main__":
    main()
