"""CRIA against the Riemannian and band-power baselines on eegmat, under one set of splits.

Two protocols, both cross-subject:

(a) the field's: train on subjects 0-27, test on 32-35 (28-31 are the field's
    validation subjects; CRIAClassifier early-stops on a stratified part of
    its own training windows instead, and the baselines tune nothing), one
    run per seed;
(b) leave-subjects-out: grouped K-fold over all 36 subjects.

Every pipeline sees the same 200 Hz, 5 s windows of the 20 channels. CRIA
pipelines: a linear probe of frozen embeddings (pre-trained or random
encoder, each with and without per-subject standardisation of the
embeddings) and fine-tuning (from the pre-trained encoder or from scratch),
each on the preprocessed windows ("raw") and/or on windows whitened per
subject by the Riemannian mean of their covariances ("ra", names ending in
``+ra``; the default pair is raw and ra) or by their arithmetic mean
(Euclidean alignment, "ea", ``+ea``).
Pre-training uses the training subjects' windows only, without labels.
Aligned pipelines get each subject's windows as ``groups`` at fit and at
predict, train and test subjects alike, never labels.
"""

from dataclasses import dataclass, field
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import get_routing_for_object
from tqdm.auto import tqdm

from .alignment import EuclideanAlignment, GroupStandardScaler, RiemannianAlignment
from .baselines import get_baselines
from .classification import CRIAClassifier
from .datasets import load_eegmat
from .preprocessing import EEGPreprocessor
from .pretraining import ViewMaskPretrainer

PROTOCOL_A = {"train": range(0, 28), "valid": range(28, 32), "test": range(32, 36)}

#: Protocol (a) as reported by the papers (BAcc, AUC-PR, AUROC), not measured here.
PUBLISHED = {
    "CBraMod": (0.7256, 0.6267, 0.7905),
    "REVE-Base": (0.7660, 0.7470, 0.8450),
    "LaBraM-Base": (0.6909, 0.5999, 0.7721),
    "BIOT": (0.6875, 0.6004, 0.7536),
    "EEGNet": (0.6770, 0.5763, 0.7321),
    "NeurIPT (own preprocessing)": (0.8646, 0.7827, 0.9111),
}

CRIA_PIPELINES = (
    "cria_probe_pretrained",
    "cria_probe_pretrained_aligned",
    "cria_probe_random",
    "cria_probe_random_aligned",
    "cria_finetune_pretrained",
    "cria_finetune_scratch",
)
#: CRIA input -> per-subject alignment of the preprocessed windows (None: as is).
INPUTS = {"raw": None, "ea": EuclideanAlignment, "ra": RiemannianAlignment}
COLUMNS = ("protocol", "pipeline", "seed", "fold", "bacc", "auroc", "auprc",
           "fit_seconds", "predict_per_second")


@dataclass
class BenchmarkConfig:
    """What one benchmark run does (the CLI's options)."""

    protocols: tuple = ("a", "b")
    seeds: int = 5
    folds: int = 6
    encoder: str = "default"
    pretrain_epochs: int = 10
    finetune_epochs: int = 30
    batch_size: int = 32
    fusion: str = "asymmetric"
    masking: str = "view"
    purification: bool = True
    # Riemannian alignment by default: on eegmat it beats Euclidean alignment on both
    # protocols (benchmarks/results/eegmat-riemannian-input); "ea" stays an option.
    inputs: tuple = ("raw", "ra")
    input_band: tuple = None  # (l_freq, h_freq) of the CRIA input; None: EEGPreprocessor's
    pipelines: tuple = field(default_factory=lambda: CRIA_PIPELINES + tuple(get_baselines()))
    data: str = None
    subjects: tuple = None  # None: all 36

    @classmethod
    def quick(cls, **overrides):
        """A few minutes on 2 CPU cores: protocol (a), one seed, the small encoder."""
        values = dict(protocols=("a",), seeds=1, encoder="small", pretrain_epochs=3,
                      finetune_epochs=5)
        values.update(overrides)
        return cls(**values)

    def encoder_config(self):
        options = {"fusion": self.fusion}
        if not self.purification:
            options.update(k_c=None, k_t=None)
        if self.encoder == "small":
            from .model import CRIAConfig

            return CRIAConfig.small(**options)
        return options


def run_benchmark(config):
    """Run every pipeline on every split; return the rows of ``results.csv``."""
    with sklearn.config_context(enable_metadata_routing=True):
        unknown_inputs = set(config.inputs) - set(INPUTS)
        if unknown_inputs or not config.inputs:
            raise ValueError(f"inputs must be among {list(INPUTS)}; got {config.inputs}.")
        band = {}
        if config.input_band is not None:
            if len(config.input_band) != 2:
                raise ValueError("input_band must be (l_freq, h_freq) in Hz; got "
                                 f"{config.input_band!r}.")
            band = dict(zip(("l_freq", "h_freq"), config.input_band))
        data = load_eegmat(config.subjects, path=config.data, sfreq=200.0, download=False)
        # Per-example and label-free, so computing it once for all splits leaks nothing.
        X = EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names, line_freq=50.0,
                            **band).fit_transform(data.data)
        inputs = {}
        for kind in dict.fromkeys(config.inputs):
            align = INPUTS[kind]
            # Each subject whitened on its own unlabelled windows only, so doing it
            # once for all splits mixes no subject with another and uses no label.
            inputs[kind] = X if align is None else align().fit_transform(X, groups=data.groups)
        splits = list(_splits(config, data.groups))
        cria = [p for p in config.pipelines if p in CRIA_PIPELINES]
        baselines = [p for p in config.pipelines if p not in CRIA_PIPELINES]
        unknown = set(baselines) - set(get_baselines())
        if unknown:
            raise ValueError(
                f"Unknown pipelines {sorted(unknown)}; choose from "
                f"{list(CRIA_PIPELINES) + list(get_baselines())}."
            )
        total = sum(len(cria) * len(inputs) + len(baselines) * _runs_baselines(p, seed)
                    for p, seed, *_ in splits)
        rows = []
        with tqdm(total=total, unit="fit", desc="benchmark") as bar:
            for protocol, seed, fold, train, test in splits:
                context = dict(protocol=protocol, seed=seed, fold=fold)
                for kind, X_in in inputs.items() if cria else ():
                    bar.set_postfix_str(f"{protocol} seed {seed} fold {fold}: CRIA ({kind})")
                    for name, result in _run_cria(config, cria, X_in, data, train, test, seed):
                        name += "" if kind == "raw" else f"+{kind}"
                        rows.append({**context, "pipeline": name, **result})
                        bar.update()
                for name in baselines if _runs_baselines(protocol, seed) else ():
                    bar.set_postfix_str(f"{protocol} fold {fold}: {name}")
                    pipe = get_baselines(data.sfreq, names=[name])[name]
                    rows.append({**context, "pipeline": name,
                                 **_evaluate(pipe, data.data, data.target, data.groups,
                                             train, test)})
                    bar.update()
        return rows


def _runs_baselines(protocol, seed):
    # The baselines are deterministic: one run per split, not one per seed.
    return protocol == "b" or seed == 0


def _splits(config, groups):
    if "a" in config.protocols:
        train = np.flatnonzero(np.isin(groups, PROTOCOL_A["train"]))
        test = np.flatnonzero(np.isin(groups, PROTOCOL_A["test"]))
        if len(train) == 0 or len(test) == 0:
            raise ValueError("Protocol (a) needs subjects 0-27 and 32-35; load all subjects.")
        for seed in range(config.seeds):
            yield "a", seed, 0, train, test
    if "b" in config.protocols:
        for fold, (train, test) in enumerate(GroupKFold(config.folds).split(groups, groups=groups)):
            yield "b", 0, fold, train, test


def _evaluate(pipe, X, y, groups, train, test, fit_seconds_before=0.0):
    """Fit on train, score on test; route groups to the steps that ask for them."""
    start = time.perf_counter()
    pipe.fit(X[train], y[train], **_groups_for(pipe, "fit", groups[train]))
    fit_seconds = time.perf_counter() - start + fit_seconds_before
    start = time.perf_counter()
    proba = pipe.predict_proba(X[test], **_groups_for(pipe, "predict_proba", groups[test]))
    rate = len(test) / (time.perf_counter() - start)
    return _scores(y[test], proba[:, 1], pipe.classes_, fit_seconds, rate)


def _groups_for(estimator, method, groups):
    if not hasattr(estimator, "get_metadata_routing"):
        return {}
    consumes = get_routing_for_object(estimator).consumes(method, ["groups"])
    return {"groups": groups} if consumes else {}


def _scores(y_true, score, classes, fit_seconds, rate):
    y_pred = classes[(score >= 0.5).astype(int)]
    return {
        "bacc": balanced_accuracy_score(y_true, y_pred),
        "auroc": roc_auc_score(y_true, score),
        "auprc": average_precision_score(y_true, score),
        "fit_seconds": fit_seconds,
        "predict_per_second": rate,
    }


def _run_cria(config, names, X, data, train, test, seed):
    """The CRIA pipelines of one split, sharing one pre-training run."""
    y, groups = data.target, data.groups
    common = dict(random_state=seed, batch_size=config.batch_size)
    encoder = config.encoder_config()
    timings = {}
    pretrained = random = None
    if any(n.startswith("cria_probe_pretrained") or n == "cria_finetune_pretrained" for n in names):
        start = time.perf_counter()
        pretrained = ViewMaskPretrainer(config=encoder, masking=config.masking,
                                        max_epochs=config.pretrain_epochs, **common).fit(X[train])
        timings["pretrained"] = time.perf_counter() - start
    if any(n.startswith("cria_probe_random") for n in names):
        random = ViewMaskPretrainer(config=encoder, max_epochs=0, **common).fit(X[train])
        timings["random"] = 0.0
    for name in names:
        if name.startswith("cria_probe"):
            embedder = pretrained if "pretrained" in name else random
            scaler = GroupStandardScaler() if name.endswith("aligned") else StandardScaler()
            probe = make_pipeline(_Frozen(embedder), scaler,
                                  LogisticRegression(max_iter=2000, class_weight="balanced"))
            result = _evaluate(probe, X, y, groups, train, test,
                               timings["pretrained" if "pretrained" in name else "random"])
        else:
            source = pretrained if name == "cria_finetune_pretrained" else None
            clf = CRIAClassifier(encoder=source, config=encoder,
                                 max_epochs=config.finetune_epochs, **common)
            result = _evaluate(clf, X, y, groups, train, test,
                               timings.get("pretrained", 0.0) if source is not None else 0.0)
        yield name, result


class _Frozen(sklearn.base.TransformerMixin, sklearn.base.BaseEstimator):
    """An already fitted embedder as a pipeline step whose ``fit`` does nothing.

    Lets the benchmark pre-train once per split and reuse the encoder for
    every probe; inside a user's own cross-validation the plain
    ``ViewMaskPretrainer`` step pre-trains per fold instead.
    """

    def __init__(self, embedder=None):
        self.embedder = embedder

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return self.embedder.transform(X)


# ----------------------------------------------------------------- reports
def summarize(rows):
    """Mean and standard deviation per protocol and pipeline (a pandas DataFrame)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    metrics = ["bacc", "auroc", "auprc", "fit_seconds", "predict_per_second"]
    summary = frame.groupby(["protocol", "pipeline"])[metrics].agg(["mean", "std"])
    summary[("runs", "")] = frame.groupby(["protocol", "pipeline"]).size()
    return summary


def markdown_report(rows, config, seconds):
    """The Markdown table of a run, with the published protocol (a) numbers beside it."""
    import platform

    import torch

    summary = summarize(rows)
    lines = [
        "# sk_cria benchmark on eegmat",
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"sklearn {sklearn.__version__}. Run took {seconds / 60:.1f} min.",
        f"CRIA encoder `{config.encoder}`, fusion `{config.fusion}`, masking "
        f"`{config.masking}`, purification {'on' if config.purification else 'off'}, "
        f"CRIA input band {_band(config.input_band)}, inputs {', '.join(config.inputs)} "
        "(`+ea`: Euclidean alignment per subject, `+ra`: whitened by the Riemannian mean "
        "of each subject's covariances), "
        f"{config.pretrain_epochs} pre-training and up to {config.finetune_epochs} "
        "fine-tuning epochs.",
        "",
        "Mean ± standard deviation over seeds (protocol a) or folds (protocol b); "
        "baselines are deterministic, so protocol (a) runs them once. fit_s includes "
        "pre-training for pipelines that use it.",
        "",
        "| protocol | pipeline | runs | BAcc | AUROC | AUC-PR | fit_s | predict win/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (protocol, pipeline), row in summary.iterrows():
        cells = [_mean_std(row, m) for m in ("bacc", "auroc", "auprc")]
        lines.append(
            f"| {protocol} | {pipeline} | {int(row[('runs', '')])} | {' | '.join(cells)} | "
            f"{row[('fit_seconds', 'mean')]:.0f} | {row[('predict_per_second', 'mean')]:.0f} |"
        )
    lines += ["", "Reported by their papers on protocol (a) (not measured here):", "",
              "| model | BAcc | AUC-PR | AUROC |", "|---|---|---|---|"]
    for model, (bacc, auprc, auroc) in PUBLISHED.items():
        lines.append(f"| {model} | {bacc:.4f} | {auprc:.4f} | {auroc:.4f} |")
    return "\n".join(lines) + "\n"


def _band(band):
    if band is None:
        return "0.5-90 Hz (EEGPreprocessor's default)"
    low, high = ("none" if f is None else f"{f:g}" for f in band)
    return f"{low}-{high} Hz"


def _mean_std(row, metric):
    std = row[(metric, "std")]
    std = 0.0 if np.isnan(std) else std
    return f"{row[(metric, 'mean')]:.3f} ± {std:.3f}"


def plot_results(rows, path):
    """Bars with error bars: BAcc and AUROC per pipeline and protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    protocols = sorted(summary.index.get_level_values(0).unique())
    fig, axes = plt.subplots(1, len(protocols), figsize=(7 * len(protocols), 5), squeeze=False)
    for ax, protocol in zip(axes[0], protocols):
        part = summary.loc[protocol]
        names = list(part.index)
        x = np.arange(len(names))
        for offset, metric in ((-0.2, "bacc"), (0.2, "auroc")):
            ax.bar(x + offset, part[(metric, "mean")], 0.4,
                   yerr=part[(metric, "std")].fillna(0), capsize=3, label=metric.upper())
        if protocol == "a":
            best = max(PUBLISHED.values(), key=lambda v: v[0])
            ax.axhline(best[0], color="k", ls="--", lw=1, label="best published BAcc")
        ax.axhline(0.5, color="grey", lw=0.8)
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(0.3, 1.0)
        ax.set_title(f"eegmat, protocol ({protocol})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
