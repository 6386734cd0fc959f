"""Does CRIA add to the Riemannian geometry it is compared with? (issue 35)

Reads the ``results.csv`` of ``sk-cria benchmark`` runs that include the
tangent-space readout (``--embedding ... tangent``: ``cria_probe_*_tangent``,
``cria_finetune_*_tangent``) and writes one table per task, protocol and
recipe: every pipeline's balanced accuracy over the folds, and paired
differences over the same folds and seeds against the best floor, against the
per-region readout of the same encoder (what the second-order readout adds to
the first-order one), shipped against random weights for the same readout
(what pre-training adds), and fine-tuning against the frozen probe it starts
from. Runs of one task pair across folders (the same GroupKFold folds). ``--timing`` adds the cost per window of the tangent readout beside the
pooled head's, measured in this process on one thread.

    python benchmarks/bench_geometry.py benchmarks/results/geometry-eegmmidb-mi \
        benchmarks/results/geometry-finetune-eegmmidb-mi \
        --out benchmarks/results/geometry_tables.md
    python benchmarks/bench_geometry.py --readouts ../shared/data --timing \
        --out benchmarks/results/geometry_readouts.md

(see ``benchmarks/results/geometry.md`` for the benchmark commands).

Runs with the hybrid probes (``cria_probe_<encoder>_hybrid``: the re-centred
tangent space of CRIA's input and CRIA's frozen per-region features, one
logistic regression) get two more columns, the hybrid against the tangent
space of the same input alone (``tangent_space_recentered_cria_input``: what
CRIA adds to that geometry) and against the field's floor
(``tangent_space_recentered``). ``--curves`` writes the label-efficiency table
of runs with ``--train-subjects``::

    python benchmarks/bench_geometry.py benchmarks/results/geometry-hybrid-eegmmidb-mi \
        --curves benchmarks/results/geometry-hybrid-labels-eegmmidb-mi \
        --out benchmarks/results/geometry_hybrid_tables.md

``benchmark`` runs ``sk-cria benchmark`` (same arguments) with the pipelines of
learned spatial filters (``CRIAClassifier(spatial_filters=8)``, issue 35 item
2) added to its registry, so that they run in the benchmark's folds and recipe
beside the floors::

    python benchmarks/bench_geometry.py benchmark --task eegmmidb-mi ... \
        --pipelines cria_finetune_shipped_spatial_pooled ...

``cria_finetune_<shipped|scratch>_spatial_<pooled|channels>`` fine-tune the
encoder behind 8 virtual channels; ``cria_finetune_spatial_covariance`` trains
the filters with the covariance (tangent-space) head, no encoder. It also adds
the task ``eegmmidb-me`` (executed left/right fist, runs 3, 7, 11;
:data:`sk_cria.tasks.eegmmidb_mi.EEGMMIDB_ME`).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import sklearn
import torch
from pyriemann.geometry.mean import mean_riemann
from pyriemann.geometry.tangentspace import tangent_space
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_cria.alignment import GroupStandardScaler

from sk_cria.benchmark import PIPELINES, margins

#: Virtual channels of the spatial-filter pipelines: chosen before measuring, as
#: CSP pipelines keep 6-8 filters and the encoder's cost grows with channels.
SPATIAL_FILTERS = 8


def _per_fold(frame, pipeline):
    """Balanced accuracy per (seed, fold) of one pipeline."""
    return frame[frame.pipeline == pipeline].set_index(["seed", "fold"]).bacc


def _seedless(frame, pipeline):
    """Whether a pipeline gives the same scores for every seed: a floor, or a frozen probe
    of the shipped encoder (fine-tuning and random or in-fold pre-trained weights do not)."""
    family = frame.loc[frame.pipeline == pipeline, "family"].iloc[0]
    return family == "floor" or pipeline.startswith("cria_probe_shipped")


def _paired(frame, a, b):
    """Mean and sd of a - b over the (seed, fold) pairs both have, and a's wins."""
    if b not in set(frame.pipeline):
        return None
    left, right = _per_fold(frame, a), _per_fold(frame, b)
    seeds = [side.index.get_level_values("seed").nunique() for side in (left, right)]
    if seeds[1] == 1 < seeds[0] and _seedless(frame, b):
        # A pipeline that does not depend on the seed (a floor, the shipped encoder's
        # probe) run with one seed: it pairs with every seed of the other in the same fold.
        right = right.droplevel("seed")
        diff = left - left.index.get_level_values("fold").map(right).to_numpy()
    elif seeds[0] == 1 < seeds[1] and _seedless(frame, a):
        left = left.droplevel("seed")
        diff = right.index.get_level_values("fold").map(left).to_numpy() - right
    else:
        diff = (left - right).dropna()
    return diff.mean(), diff.std(ddof=1), int((diff > 0).sum()), len(diff)


def spatial_pipelines(k=SPATIAL_FILTERS):
    """Registry entries of ``CRIAClassifier(spatial_filters=k)``, as the benchmark's fine-tuning."""
    from sk_cria.benchmark import _FINETUNE_KINDS, _finetune

    def with_filters(build):
        def spatial_build(run):
            clf, seconds = build(run)
            return clf.set_params(spatial_filters=k), seconds
        return spatial_build

    entries = {}
    for kind in ("shipped", "scratch"):
        for embedding in ("pooled", "channels"):
            base = PIPELINES[f"cria_finetune_{kind}"]
            entries[f"cria_finetune_{kind}_spatial_{embedding}"] = type(base)(
                base.family, base.input, base.scaled,
                with_filters(_finetune(_FINETUNE_KINDS[kind], embedding)))
    base = PIPELINES["cria_finetune_scratch"]
    entries["cria_finetune_spatial_covariance"] = type(base)(
        base.family, base.input, base.scaled, with_filters(_finetune(None, "covariance")))
    return entries


def _counterpart(name, old, new):
    return name.replace(old, new) if old in name else None


#: The comparisons of each row: label -> what the pipeline is paired with.
REFERENCES = ("floor", "tangent", "tangent_floor", "regions", "random", "pretrained", "probe",
              "unfiltered")
#: Their column headings (a column is shown where some row of the table has it).
HEADINGS = {"floor": "- best floor", "tangent": "hybrid - TS of CRIA's input",
            "tangent_floor": "hybrid - TS floor", "regions": "- regions probe",
            "random": "shipped - random", "pretrained": "in-fold pre-trained - random",
            "probe": "fine-tuned - probe",
            "unfiltered": "filters - none"}
#: The floor a hybrid probe adds CRIA's features to (the same windows), and the field's.
HYBRID_FLOORS = {"tangent": "tangent_space_recentered_cria_input",
                 "tangent_floor": "tangent_space_recentered"}


def _references(name, family, floor):
    """Pipeline each comparison of ``name`` is paired with (None: not applicable)."""
    probe = name.replace("_finetune_", "_probe_").replace("_scratch", "_random")
    hybrid = name.endswith("_hybrid")
    # A second-order readout or a hybrid against the same encoder's per-region probe.
    suffix = next((s for s in ("_tangent", "_hybrid") if name.endswith(s)), None)
    return {
        "floor": floor if family == "cria" else None,
        # What CRIA's features add to the tangent space (hybrid probes only).
        **{label: reference if hybrid else None for label, reference in HYBRID_FLOORS.items()},
        "regions": name[:-len(suffix)] + "_regions" if suffix else None,
        "random": (name.replace("_shipped", "_random") if "_probe_shipped" in name else
                   name.replace("_shipped", "_scratch") if "_finetune_shipped" in name
                   else None),
        # An encoder pre-trained inside the fold (it never saw the test subjects).
        "pretrained": (name.replace("_pretrained", "_random") if "_probe_pretrained" in name
                       else name.replace("_pretrained", "_scratch")
                       if "_finetune_pretrained" in name else None),
        "probe": probe if "_finetune_" in name and "_spatial" not in name else None,
        # The same fine-tuning without spatial filters (the channels' counterpart is
        # the regions head: both keep the spatial layout).
        "unfiltered": (name.replace("_spatial_pooled", "").replace("_spatial_channels",
                                                                    "_regions")
                       if "_spatial_" in name and "covariance" not in name else None),
    }


def load(folders, budgets=False):
    """The rows of the runs, one per pipeline, seed and fold (a floor run twice kept once).

    Only the rows with every label unless ``budgets``: then every label budget's.
    """
    frame = pd.concat([pd.read_csv(Path(folder) / "results.csv") for folder in folders])
    frame["budget"] = frame.budget.astype(str)
    if not budgets:
        frame = frame[frame.budget == "all"]
    # Folds are GroupKFold's of the same subjects in every run: the same (seed, fold)
    # holds the same training and test windows, so runs pair.
    return frame.drop_duplicates(["task", "protocol", "recipe", "budget", "pipeline", "seed",
                                  "fold"])


def rows(frame):
    """One row per pipeline, with its paired differences."""
    best = margins(frame.to_dict("records"))
    out = []
    for (task, protocol, recipe), part in frame.groupby(["task", "protocol", "recipe"]):
        floors = best[(best.protocol == protocol) & (best.recipe == recipe)]
        floor = floors.floor.iloc[0] if len(floors) else None
        for name, runs in part.groupby("pipeline"):
            per_fold = runs.groupby("fold").bacc.mean()  # seeds averaged per fold
            family = runs.family.iloc[0]
            row = dict(task=task, protocol=protocol, recipe=recipe, pipeline=name,
                       family=family, bacc=runs.bacc.mean(), fold_sd=per_fold.std(ddof=1),
                       seeds=runs.seed.nunique(), folds=runs.fold.nunique())
            for label, reference in _references(name, family, floor).items():
                paired = _paired(part, name, reference) if reference else None
                row[f"vs_{label}"] = reference if paired else None
                row[f"d_{label}"], row[f"d_{label}_sd"], wins, n = paired or (np.nan,) * 4
                row[f"wins_{label}"] = f"{wins}/{n}" if paired else ""
            out.append(row)
    return out


def _diff(row, label):
    if pd.isna(row[f"d_{label}"]):
        return ""
    sd = "" if pd.isna(row[f"d_{label}_sd"]) else f" ± {row[f'd_{label}_sd']:.3f}"
    return f"{row[f'd_{label}']:+.3f}{sd} ({row[f'wins_{label}']})"


def markdown(table):
    lines = []
    for (task, protocol, recipe), part in table.groupby(["task", "protocol", "recipe"],
                                                         sort=False):
        floor = part.vs_floor.dropna()
        shown = [label for label in REFERENCES if part[f"d_{label}"].notna().any()]
        lines += [f"### {task}, protocol ({protocol}), recipe `{recipe}`", "",
                  f"Best floor of the run: `{floor.iloc[0] if len(floor) else '-'}`.", "",
                  "| pipeline | BAcc (fold sd) | seeds x folds | "
                  + " | ".join(HEADINGS[label] for label in shown) + " |",
                  "|---|---|---|" + "---|" * len(shown)]
        part = part.sort_values(["family", "bacc"], ascending=[True, False])
        for _, r in part.iterrows():
            lines.append(f"| {r.pipeline} | {r.bacc:.3f} ({r.fold_sd:.3f}) | "
                         f"{r.seeds} x {r.folds} | "
                         + " | ".join(_diff(r, label) for label in shown) + " |")
        lines.append("")
    return "\n".join(lines)


def curves(frame, pairs=(("cria_probe_shipped_hybrid", "tangent_space_recentered_cria_input"),
                         ("cria_probe_shipped_hybrid", "tangent_space_recentered"),
                         ("cria_probe_shipped_regions", "tangent_space_recentered"))):
    """Label-efficiency table: BAcc per label budget, and paired differences ``pairs``.

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`load` with ``budgets=True``: rows of ``sk-cria benchmark
        --train-subjects ...``.
    pairs : sequence of (str, str)
        ``(a, b)``: a column of ``a - b`` over the same budget, seed and fold
        (at a budget below all, the seed also draws the labelled subjects, so
        the pair saw the same labels).

    Returns
    -------
    text : str
        One Markdown table per task, protocol and recipe; rows are budgets
        (labelled training subjects), "all" last.
    """
    lines = []
    for (task, protocol, recipe), part in frame.groupby(["task", "protocol", "recipe"]):
        names = sorted(part.pipeline.unique(), key=lambda n: (not n.startswith("cria"), n))
        shown = [(a, b) for a, b in pairs if {a, b} <= set(names)]
        lines += [f"### {task}, protocol ({protocol}), recipe `{recipe}`", "",
                  "BAcc mean (sd over seeds x folds); paired differences mean ± sd (pairs "
                  "won).", "",
                  "| labelled training subjects | " + " | ".join(names) + " | "
                  + " | ".join(f"{a} - {b}" for a, b in shown) + " |",
                  "|---|" + "---|" * (len(names) + len(shown))]
        budgets = sorted(part.budget.unique(), key=lambda b: (b == "all", int(b) if
                                                                b != "all" else 0))
        for budget in budgets:
            rows_ = part[part.budget == budget]
            most = rows_.labelled_subjects.max()
            label = f"all ({rows_.labelled_subjects.min()}-{most})" if budget == "all" \
                else budget
            cells = []
            for name in names:
                bacc = rows_[rows_.pipeline == name].bacc
                cells.append(f"{bacc.mean():.3f} ({bacc.std(ddof=1):.3f})" if len(bacc)
                             else "")
            for a, b in shown:
                paired = _paired(rows_, a, b)
                cells.append("" if paired is None else
                             f"{paired[0]:+.3f} ± {paired[1]:.3f} ({paired[2]}/{paired[3]})")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def timing(repeats=20, batch=32, channels=64, seconds=2):
    """Seconds per window (wall and CPU) of the encoder with each head, forward and backward.

    One torch thread; ``cria-small`` with the head of CRIAClassifier reading the
    pooled embedding, the regions' features and their tangent vector, and behind
    8 learned spatial filters (``spatial_filters=8``).
    """
    from sk_cria.channels import lookup_channels
    from sk_cria.classification import _ClassifierModule
    from sk_cria.model import CRIA
    from sk_cria.model.tangent import tangent_features

    torch.set_num_threads(1)
    # A 64-channel 10-20 montage (the motor-imagery task reads 64 channels).
    names = mne.channels.make_standard_montage("biosemi64").ch_names[:channels]
    x = torch.randn(batch, channels, seconds * 200)
    # Index pairs, as the estimators send them (the spatial filters need them).
    pairs = torch.as_tensor(lookup_channels(names).indices)
    out = {}
    heads = {"pooled": {}, "regions": {}, "tangent": {},
             # Learned spatial filters (8 virtual channels) before the encoder, or before
             # the covariance alone.
             "8 spatial filters, pooled": {"spatial_filters": 8, "embedding": "pooled"},
             "8 spatial filters, channels": {"spatial_filters": 8, "embedding": "channels"},
             "8 spatial filters, covariance": {"spatial_filters": 8,
                                               "embedding": "covariance"}}
    for embedding, options in heads.items():
        options = options or {"embedding": embedding}
        if "spatial_filters" in options:
            options["n_channels"] = channels
        module = _ClassifierModule(CRIA.from_pretrained("cria-small"), 2,
                                   hidden=None, **options)
        for mode in ("frozen forward", "forward + backward"):
            def step():
                if mode == "frozen forward":
                    with torch.no_grad():
                        module(x, pairs)
                else:
                    module(x, pairs).sum().backward()
            step()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeats):
                step()
            out[(embedding, mode)] = ((time.perf_counter() - wall) / repeats / batch,
                                      (time.process_time() - cpu) / repeats / batch)
    # The readout alone: covariance, eigendecomposition, logarithm (and its backward).
    features = torch.randn(batch, 14, 192, requires_grad=True)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        tangent_features(features).sum().backward()
    out[("tangent readout alone", "forward + backward")] = (
        (time.perf_counter() - wall) / repeats / batch,
        (time.process_time() - cpu) / repeats / batch)
    lines = [f"Per window, `cria-small`, batch {batch}, {channels} channels, {seconds} s "
             "windows, 1 torch thread, mean of "
             f"{repeats} batches (shared 2-core machine: compare within this table).", "",
             "| head input | pass | ms per window (wall) | ms per window (CPU) |",
             "|---|---|---|---|"]
    for (embedding, mode), (wall, cpu) in out.items():
        lines.append(f"| {embedding} | {mode} | {1e3 * wall:.3f} | {1e3 * cpu:.3f} |")
    return "\n".join(lines)


def _subject_zscore(features, groups):
    """Per-subject z-scoring (GroupStandardScaler), as the benchmark's probes do."""
    with sklearn.config_context(enable_metadata_routing=True):
        return GroupStandardScaler().fit_transform(features, groups=groups)


def _probe_score(features, y, groups, folds=6):
    """Mean and sd over GroupKFold folds of the benchmark's probe (z-scored, balanced LR)."""
    features = _subject_zscore(features, groups)
    scores = []
    for train, test in GroupKFold(folds).split(features, y, groups):
        probe = make_pipeline(StandardScaler(), LogisticRegression(
            max_iter=2000, class_weight="balanced")).fit(features[train], y[train])
        scores.append(balanced_accuracy_score(y[test], probe.predict(features[test])))
    return np.mean(scores), np.std(scores, ddof=1)


def _tangent(cov, groups, recentre):
    """Tangent vectors: at the identity ("identity", re-centred later by the z-scoring),
    or at each subject's own Riemannian mean (pyRiemann, "riemann")."""
    if recentre == "identity":
        return tangent_space(cov, np.eye(cov.shape[-1]), metric="riemann")
    out = np.empty((len(cov), cov.shape[-1] * (cov.shape[-1] + 1) // 2))
    for subject in np.unique(groups):
        rows = groups == subject
        out[rows] = tangent_space(cov[rows], mean_riemann(cov[rows]), metric="riemann")
    return out


def readouts(data, folds=6):
    """What second-order readouts of frozen tokens give (issue 35: "say what you tried").

    The motor-imagery input of the benchmark (``ra`` alignment, 8-30 Hz, 100 uV);
    tokens of ``cria-small`` and of random weights (seed 0); each readout's
    covariance from :func:`sk_cria.model.tangent.covariance` (shrinkage 0.1), its
    tangent vectors at the identity or at each subject's Riemannian mean, then the
    benchmark's probe (per-subject z-scoring, balanced logistic regression), over
    GroupKFold(6) of subjects 1-11.
    """
    from sk_cria import ViewMaskPretrainer
    from sk_cria.channels import REGIONS, channel_regions
    from sk_cria.model import CRIAConfig
    from sk_cria.model.purification import region_mean
    from sk_cria.model.tangent import covariance

    X, y, groups = _motor_imagery(data)
    regions = torch.as_tensor(channel_regions(X.ch_names))
    lines = ["| encoder | covariance of | over | per-subject re-centring | BAcc (fold sd) |",
             "|---|---|---|---|---|"]
    sources = {"cria-small": {"encoder": "cria-small"},
               "random": {"config": CRIAConfig.small(), "random_state": 0}}
    for name, source in sources.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the scaling is the benchmark's
            encoder = ViewMaskPretrainer(**source, max_epochs=0).fit(X).encoder_.eval()
        normed, raw = [], []
        with torch.no_grad():
            for start in range(0, len(X), 64):
                out = encoder.encode(torch.as_tensor(np.asarray(X[start:start + 64])),
                                     list(X.ch_names))
                views = [getattr(out, view) for view in encoder.VIEWS]
                normed.append(encoder.pooling.normalise(views))
                raw.append(torch.cat(views, dim=-1))
        tokens, raw = torch.cat(normed).double(), torch.cat(raw).double()
        channels = tokens.mean(dim=2)  # (windows, channels, features), as channel_features
        real = torch.ones(channels.shape[:2], dtype=torch.bool)
        in_regions = region_mean(channels, real, regions, len(REGIONS))
        width = channels.shape[-1]
        centred = channels.clone()
        for subject in np.unique(groups):
            rows = torch.as_tensor(groups == subject)
            centred[rows] -= centred[rows].mean(dim=0)
        flat = channels.reshape(-1, width)
        components = torch.linalg.svd(flat - flat.mean(0), full_matrices=False).Vh[:4]
        variants = {
            ("regions (the default)", "their 3 x d_model features"): in_regions,
            ("channels", "their 3 x d_model features"): channels,
            ("channels", "every token's features (patches x features)"):
                tokens.flatten(2),
            ("channels", "the spectral view's features"): channels[..., -width // 3:],
            ("channels", "features centred on the subject's mean"): centred,
            ("regions", "4 principal components of the features (label-free)"):
                region_mean(channels @ components.T, real, regions, len(REGIONS)),
            ("channels", "features before LayerNorm"): raw.mean(dim=2),
        }
        lines.append(f"| {name} | (first order) regions' features | - | z-scoring | "
                     "{:.3f} ({:.3f}) |".format(*_probe_score(
                         in_regions.flatten(1).numpy(), y, groups, folds)))
        for (rows_of, over), features in variants.items():
            cov = covariance(features).numpy()
            for recentre in ("identity", "riemann"):
                label = ("log-Euclidean (z-scoring of log C)" if recentre == "identity"
                         else "Riemannian mean (pyRiemann)")
                score = _probe_score(_tangent(cov, groups, recentre), y, groups, folds)
                lines.append(f"| {name} | {rows_of} | {over} | {label} | "
                             f"{score[0]:.3f} ({score[1]:.3f}) |")
    return "\n".join(lines)


def _motor_imagery(data, task="eegmmidb-mi", input_scaling=100.0):
    """The benchmark's CRIA input of a motor task (``ra`` alignment, 8-30 Hz, 100 uV
    unless ``input_scaling`` says otherwise)."""
    from sk_cria.benchmark import BenchmarkConfig, _aligned_inputs
    from sk_cria.tasks import TASKS

    config = BenchmarkConfig(task=task, input_scaling=input_scaling, data=data)
    with sklearn.config_context(enable_metadata_routing=True):
        loaded = TASKS[task].load(None, data)
        X = _aligned_inputs(config, TASKS[task], loaded, kinds=("cria",))["ra"]["cria"]
    return X, loaded.target, loaded.groups


def spatial_checks(data, folds=6, epochs=60):
    """What the covariance head behind spatial filters gives, and why (issue 35 item 2).

    On the benchmark's motor-imagery input and GroupKFold(6) folds: the head's
    features with the filters fixed (identity: every channel, which is the
    re-centred log-Euclidean tangent space; 8 random orthonormal filters) under
    the benchmark's probe, and ``CRIAClassifier(spatial_filters=8,
    embedding="covariance")`` trained for ``epochs`` epochs without early stopping
    (the benchmark's stops after a few), seed 0.
    """
    from sk_cria import CRIAClassifier
    from sk_cria.model.spatial import SpatialFilter
    from sk_cria.model.tangent import tangent_features

    X, y, groups = _motor_imagery(data)
    x = torch.as_tensor(np.asarray(X))
    lines = ["| filters | trained | BAcc (fold sd) |", "|---|---|---|"]
    torch.manual_seed(0)
    fixed = {"identity (all 64 channels)": torch.eye(x.shape[1]),
             "8 random orthonormal": SpatialFilter(x.shape[1], 8).weight.detach()}
    for name, weight in fixed.items():
        with torch.no_grad():
            features = tangent_features(torch.einsum("kc,bct->bkt", weight, x)).numpy()
        lines.append("| {} | no (probe) | {:.3f} ({:.3f}) |".format(
            name, *_probe_score(features, y, groups, folds)))
    from sk_cria import classification

    default = classification.SPATIAL_LR_SCALE
    for scale in (default, 1.0):
        scores, train_scores = [], []
        classification.SPATIAL_LR_SCALE = scale  # the filters' learning rate, this loop only
        try:
            with sklearn.config_context(enable_metadata_routing=True):
                for train, test in GroupKFold(folds).split(x, y, groups):
                    clf = CRIAClassifier(config="small", spatial_filters=8,
                                         embedding="covariance", early_stopping=False,
                                         max_epochs=epochs, random_state=0)
                    clf.fit(X[train], y[train], groups=groups[train])
                    scores.append(balanced_accuracy_score(
                        y[test], clf.predict(X[test], groups=groups[test])))
                    train_scores.append(balanced_accuracy_score(
                        y[train], clf.predict(X[train], groups=groups[train])))
        finally:
            classification.SPATIAL_LR_SCALE = default
        lines.append(f"| 8 learned, filters' lr {scale:g} x the head's | {epochs} epochs, no "
                     f"early stopping (training subjects: {np.mean(train_scores):.3f}) | "
                     f"{np.mean(scores):.3f} ({np.std(scores, ddof=1):.3f}) |")
    return "\n".join(lines)


def main():
    if sys.argv[1:2] == ["benchmark"]:
        from sk_cria import cli
        from sk_cria.tasks import TASKS
        from sk_cria.tasks.eegmmidb_mi import EEGMMIDB_ME

        PIPELINES.update(spatial_pipelines())  # the CLI's registry is this dict
        TASKS.setdefault(EEGMMIDB_ME.name, EEGMMIDB_ME)  # so are its tasks
        return cli.main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", help="output folders of sk-cria benchmark")
    parser.add_argument("--out", help="write the tables here (Markdown; the rows as .csv "
                        "beside it)")
    parser.add_argument("--readouts", metavar="DATA",
                        help="also score second-order readouts of frozen tokens on the "
                        "motor-imagery data of this folder (what was tried)")
    parser.add_argument("--spatial-checks", metavar="DATA",
                        help="also score the covariance head behind fixed and long-trained "
                        "spatial filters on the motor-imagery data of this folder")
    parser.add_argument("--curves", nargs="+", metavar="FOLDER",
                        help="also write the label-efficiency table of these benchmark runs "
                        "(--train-subjects)")
    parser.add_argument("--timing", action="store_true",
                        help="also time the tangent head per window beside the pooled head")
    args = parser.parse_args()
    table, text = pd.DataFrame(), ""
    if args.folders:
        table = pd.DataFrame(rows(load(args.folders)))
        text = "## Balanced accuracy, paired over the same folds\n\n" + markdown(table)
    if args.curves:
        text += ("\n## Label efficiency, paired over the same folds, seeds and draws\n\n"
                 + curves(load(args.curves, budgets=True)) + "\n")
    if args.readouts:
        text += ("\n## Second-order readouts of frozen tokens (eegmmidb-mi, GroupKFold(6))"
                 "\n\n" + readouts(args.readouts) + "\n")
    if args.spatial_checks:
        text += ("\n## Covariance head behind spatial filters (eegmmidb-mi, GroupKFold(6))"
                 "\n\n" + spatial_checks(args.spatial_checks) + "\n")
    if args.timing:
        text += "\n## Cost per window\n\n" + timing() + "\n"
    if args.out:
        if args.folders:
            Path(args.out).with_suffix(".csv").write_text(table.to_csv(index=False))
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
