"""CRIA against feature floors and Riemannian baselines, task by task: one recipe for all.

A task (:mod:`sk_cria.tasks`) is a loader, its protocols and its floors:

- ``eegmat`` (the default): rest vs mental arithmetic; protocol (a) is the
  field's: train on subjects 0-27, test on 32-35 (28-31 are the field's
  validation subjects; CRIAClassifier early-stops on whole subjects held out
  of its own training subjects instead, and the other pipelines tune nothing);
- ``eegmmidb-mi``: imagined left vs right fist, subjects 1-11, with the
  motor-imagery floors (CSP + LDA, tangent space, MDM on 8-30 Hz, each with
  and without per-subject re-centring, and a filter bank);

every task has protocol (b), leave-subjects-out: grouped K-fold over the
loaded subjects; each split is run once per seed.

**One recipe for every pipeline.** A recipe is an input alignment and a
feature scaling, and every pipeline that can take them gets them:

- alignment (``none``, ``ea``, ``ra``): each subject's windows whitened on
  that subject's own unlabelled windows, train and test subjects alike, by the
  arithmetic (Euclidean alignment) or Riemannian mean of their covariances;
  applied to the input of CRIA and of every baseline;
- scaling (``subject``, ``global``): the features (CRIA embeddings, log
  variances, log band powers, tangent vectors) z-scored per subject
  (:class:`~sk_cria.alignment.GroupStandardScaler`) or over the training set
  (:class:`~sklearn.preprocessing.StandardScaler`) before the logistic
  regression. MDM has no feature step to scale; fine-tuning gets the
  subjects as ``groups`` and standardises its embeddings per subject in
  every recipe (:class:`~sk_cria.CRIAClassifier`).

CRIA reads the windows of :class:`~sk_cria.EEGPreprocessor`; the baselines
read the microvolt windows band-passed to 1-40 Hz as they are designed to
(a task may have its floors filter further, e.g. to 8-30 Hz for motor
imagery, after the alignment), and the ``*_cria_input`` floors read CRIA's own
input (whose per-window channel scaling, the default ``input_scaling``, removes
absolute power; "group" and a fixed unit keep it, and the per-subject alignment
that follows then makes them equal up to a rotation per subject).
Both are per-window and label-free, and the alignment is per subject and
label-free, so computing them once for all splits leaks nothing.

Pipelines come from the registry :data:`PIPELINES` (CRIA's, then every
task's floors); a run takes CRIA's and its task's by default. The report gives, per
protocol and recipe, each CRIA pipeline's margin over the best non-CRIA
pipeline of the same recipe, paired over the same splits and seeds
(:func:`margins`).

**Label efficiency.** ``train_subjects`` limits the labels a pipeline is
fitted with to those of N training subjects drawn at random (seeded); CRIA's
pre-training and every alignment still see all windows of the training split
(and alignment the test subjects' own windows), never a label.
"""

import dataclasses
from dataclasses import dataclass
import json
from functools import partial
from itertools import product
from pathlib import Path
import platform
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import get_routing_for_object
from skorch.callbacks import Callback
import torch
from tqdm.auto import tqdm

from .alignment import EuclideanAlignment, GroupStandardScaler, RiemannianAlignment
from .atomic import open_atomic
from .checkpointing import settings_differences
from .baselines import BandPassFilter
from .classification import HEAD_EMBEDDINGS, CRIAClassifier
from .model import CRIAConfig
from .model.io import resolve_pretrained
from ._check import check_params_of
from .preprocessing import TARGET_SFREQ, EEGPreprocessor, check_scaling
from .pretraining import EMBEDDINGS, ViewMaskPretrainer
from .runs import RunDirError, _read_run, _remove_outputs
from .tasks import TASKS, Entry
from .tasks.floors import FLOORS
from .tasks.eegmat import PROTOCOL_A, PUBLISHED  # noqa: F401 (public, as before tasks)
from .threads import machine_threads

#: Input alignment of a recipe: per-subject whitening of the windows (None: as is).
ALIGNMENTS = {"none": None, "ea": EuclideanAlignment, "ra": RiemannianAlignment}
#: Feature scaling of a recipe: z-scoring per subject or over the training set.
SCALINGS = ("subject", "global")
#: Band of the baselines' input (Hz), as in the design notes' measurements.
BASELINE_BAND = (1.0, 40.0)


#: The default encoder of the ``cria_probe_shipped*`` pipelines, used as shipped (no
#: training); ``BenchmarkConfig.shipped_encoder`` names another.
SHIPPED_ENCODER = "cria-small"


def _probe(encoder_kind, embedding="pooled"):
    def build(run):
        encoder, seconds = run.encoder(encoder_kind)
        # One fitted encoder serves every probe of a split; each probe sets the output
        # it reads just before it is fitted and scored (pipelines run one at a time).
        encoder.set_params(embedding=embedding)
        scaler = GroupStandardScaler() if run.scaling == "subject" else StandardScaler()
        probe = make_pipeline(FrozenEstimator(encoder), scaler,
                              LogisticRegression(max_iter=2000, class_weight="balanced"))
        return probe, seconds

    return build


def _hybrid(encoder_kind, embedding="regions"):
    """The re-centred tangent-space floor of CRIA's input, with CRIA's frozen features added.

    Both feature blocks read the same windows, CRIA's input (with ``input_scaling``
    a fixed unit and the floors' band, as the motor-imagery runs use it, the floors'
    signal scaled): the floor's steps up to its tangent vectors (covariances,
    per-subject re-centring, tangent space), and the encoder's ``embedding``, side by
    side in a FeatureUnion; then the floor's own scaling and logistic regression.
    So the hybrid differs from ``tangent_space_recentered_cria_input`` only by the
    added block: the paired difference is what CRIA adds to that geometry.
    """
    def build(run):
        encoder, seconds = run.encoder(encoder_kind)
        encoder.set_params(embedding=embedding)  # as _probe: set just before its fit
        # The floor it is compared with, built by its own entry: they differ by CRIA only.
        floor, _ = FLOORS["tangent_space_recentered_cria_input"].build(run)
        features = FeatureUnion([("tangent_space", floor[:-2]),
                                 ("cria", FrozenEstimator(encoder))])
        return Pipeline([("features", features), *floor.steps[-2:]]), seconds

    return build


def _finetune(encoder_kind, embedding="pooled"):
    def build(run):
        encoder, seconds = run.encoder(encoder_kind) if encoder_kind else (None, 0.0)
        clf = CRIAClassifier(encoder=encoder, config=run.config.encoder_config(),
                             embedding=embedding, max_epochs=run.config.finetune_epochs,
                             random_state=run.seed, batch_size=run.config.batch_size,
                             callbacks=[("epoch_bar", _EpochBar("fine-tuning"))])
        return clf, seconds

    return build


def _probe_name(encoder_kind, embedding):
    return f"cria_probe_{encoder_kind}" + ("" if embedding == "pooled" else f"_{embedding}")


def _finetune_name(encoder_kind, embedding):
    return f"cria_finetune_{encoder_kind}" + ("" if embedding == "pooled" else f"_{embedding}")


#: CRIA's pipelines, run on every task: linear probes of the pre-trained encoder
#: (pre-trained in the split), of the shipped one as it is (what a user gets without
#: pre-training) and of random weights; fine-tuning from each encoder or from scratch.
CRIA_PIPELINES = {
    "cria_probe_pretrained": Entry("cria", "cria", True, _probe("pretrained")),
    "cria_probe_shipped": Entry("cria", "cria", True, _probe("shipped")),
    "cria_probe_random": Entry("cria", "cria", True, _probe("random")),
    "cria_finetune_pretrained": Entry("cria", "cria", False, _finetune("pretrained")),
    "cria_finetune_shipped": Entry("cria", "cria", False, _finetune("shipped")),
    "cria_finetune_scratch": Entry("cria", "cria", False, _finetune(None)),
}


#: The linear probes of every encoder (the pre-trained, random weights, the shipped
#: encoder) and every output of ``ViewMaskPretrainer.transform`` (its ``embedding``):
#: ``cria_probe_<encoder>`` for the pooled embedding, else ``cria_probe_<encoder>_<output>``;
#: the same for fine-tuning with each head input of CRIAClassifier (its ``embedding``).
#: ``BenchmarkConfig.embeddings`` runs the pooled pipelines of a run for each output.
_FINETUNE_KINDS = {"pretrained": "pretrained", "shipped": "shipped", "scratch": None}
PROBES = {_probe_name(kind, embedding): Entry("cria", "cria", True, _probe(kind, embedding))
          for kind in ("pretrained", "random", "shipped") for embedding in EMBEDDINGS}
FINETUNES = {_finetune_name(kind, embedding): Entry("cria", "cria", False,
                                                    _finetune(encoder, embedding))
             for kind, encoder in _FINETUNE_KINDS.items() for embedding in HEAD_EMBEDDINGS}
#: The re-centred tangent space of CRIA's input concatenated with each encoder's frozen
#: per-region features, one logistic regression on both (issue 35):
#: ``cria_probe_<encoder>_hybrid``.
HYBRIDS = {f"cria_probe_{kind}_hybrid": Entry("cria", "cria", True, _hybrid(kind))
           for kind in ("pretrained", "random", "shipped")}
#: Pooled pipeline -> the name of its run with each output.
_PER_EMBEDDING = {
    **{_probe_name(kind, "pooled"): partial(_probe_name, kind)
       for kind in ("pretrained", "random", "shipped")},
    **{_finetune_name(kind, "pooled"): partial(_finetune_name, kind) for kind in _FINETUNE_KINDS},
}


def _registry():
    pipelines = {**CRIA_PIPELINES, **PROBES, **FINETUNES, **HYBRIDS}
    for task in TASKS.values():
        for name, entry in task.floors.items():
            if pipelines.setdefault(name, entry) is not entry:
                raise RuntimeError(f"Two pipelines are named {name!r}; task {task.name!r} "
                                   "must name its floor differently.")
    return pipelines


#: Name -> :class:`~sk_cria.tasks.Entry`: CRIA's pipelines and every task's floors.
#: Every entry gets the recipe's input alignment; the ``scaled`` ones also its feature
#: scaling. Any of them runs on any task (floors filter to that task's band).
PIPELINES = _registry()

COLUMNS = ("task", "protocol", "recipe", "pipeline", "family", "budget", "labelled_subjects",
           "seed", "fold", "bacc", "auroc", "auprc", "fit_seconds", "predict_per_second",
           "label_subjects", "test_subjects")


@dataclass
class BenchmarkConfig:
    """What one benchmark run does (the options of ``sk-cria benchmark``).

    Parameters
    ----------
    task : str, default="eegmat"
        The task, a key of :data:`sk_cria.tasks.TASKS` ("eegmat",
        "eegmmidb-mi").
    protocols : tuple of str or None, default=None
        The task's fixed splits (eegmat's (a): train on subjects 0-27, test
        on 32-35) and (b): grouped K-fold; None: the task's own (eegmat: a
        and b; eegmmidb-mi: b).
    seeds : int, default=5
        Seeds per split (CRIA's initialisation and batch order, and the
        draws of labelled subjects).
    folds : int, default=6
        Folds of protocol (b).
    encoder : {"default", "small"}, default="default"
        CRIA size preset.
    pretrain_epochs, finetune_epochs : int, default=10, 30
        Pre-training epochs; maximum fine-tuning epochs (early stopping).
    batch_size : int, default=32
        Batch size of pre-training and fine-tuning.
    fusion : {"asymmetric", "symmetric", "serial"}, default="asymmetric"
        Cross-view fusion of the encoder.
    masking : {"view", "token", "spatial_block"}, default="view"
        Pre-training masks.
    negatives : {"batch", "group"}, default="batch"
        Contrastive negatives of pre-training: any window of the batch, or
        batches drawn from one training subject each (ViewMaskPretrainer's
        ``negatives``, the subjects as ``groups``).
    purification : bool, default=False
        True keeps the top half of the channels and of their patches before
        pooling (``k_c=k_t=0.5``); False keeps everything, the encoder's
        default since the spectral-fidelity change (``CRIAConfig``).
    alignments : tuple of {"none", "ea", "ra"}, default=("ra",)
        Input alignments of the recipes, applied to every pipeline.
    scalings : tuple of {"subject", "global"}, default=("subject",)
        Feature scalings of the recipes, applied to every pipeline with a
        feature step; the recipes are ``alignments`` x ``scalings``.
    train_subjects : tuple of int or None, default=(None,)
        Label budgets: numbers of training subjects whose labels a pipeline
        is fitted with (None: all).
    input_band : tuple of (float, float) or None, default=None
        Band-pass of CRIA's input; None: the band the task's floors filter
        to (eegmmidb-mi: 8-30 Hz), so that CRIA reads the band they read,
        else (eegmat) EEGPreprocessor's.
    input_scaling : {"window", "group"} or float, default="window"
        EEGPreprocessor's ``scaling`` of CRIA's input ("group": per subject,
        on the subject's own windows, before the recipe's alignment).
    pipelines : tuple of str or None, default=None
        Which pipelines of :data:`PIPELINES` to run; None: CRIA's and the
        task's floors.
    embeddings : tuple of {"pooled", "channels", "regions"}, default=("pooled",)
        Outputs of the encoder (``ViewMaskPretrainer(embedding=...)``) that
        each pooled-embedding probe of ``pipelines`` (``cria_probe_<encoder>``)
        is run with, as ``cria_probe_<encoder>`` and
        ``cria_probe_<encoder>_<output>``, on the same fitted encoder; and
        the head inputs (``CRIAClassifier(embedding=...)``: pooled, regions)
        that each fine-tuning (``cria_finetune_<encoder>``) is run with.
    shipped_encoder : str or path-like, default="cria-small"
        The encoder of the ``cria_probe_shipped*`` pipelines, used as it is
        (no training), and the start of ``cria_finetune_shipped*``: a shipped name ("cria-small", "cria-base") or the
        folder of a saved encoder (an ``sk-cria pretrain`` run, or
        ``save_pretrained``). Feed it the input it was trained on
        (``input_scaling``): the estimators warn otherwise.
    data : str or None, default=None
        Folder holding eegmat/ and MNE-eegbci-data/.
    subjects : tuple of int or None, default=None
        Subjects to load; None loads the task's (eegmat: all 36;
        eegmmidb-mi: 1-11).
    """

    task: str = "eegmat"
    protocols: tuple = None
    seeds: int = 5
    folds: int = 6
    encoder: str = "default"
    pretrain_epochs: int = 10
    finetune_epochs: int = 30
    batch_size: int = 32
    fusion: str = "asymmetric"
    masking: str = "view"
    negatives: str = "batch"
    purification: bool = False
    # Riemannian alignment and per-subject scaling by default: the recipe that puts
    # every pipeline, CRIA or not, at its best on eegmat (benchmarks/results/).
    alignments: tuple = ("ra",)
    scalings: tuple = ("subject",)
    train_subjects: tuple = (None,)
    input_band: tuple = None  # (l_freq, h_freq) of the CRIA input; None: see cria_band()
    input_scaling: object = "window"  # EEGPreprocessor's scaling of the CRIA input
    pipelines: tuple = None
    embeddings: tuple = ("pooled",)
    shipped_encoder: object = SHIPPED_ENCODER
    data: str = None
    subjects: tuple = None  # None: the task's

    def __post_init__(self):
        # The task's defaults; an unknown task is reported by check().
        task = TASKS.get(self.task)
        if task is not None and self.protocols is None:
            self.protocols = task.protocols
        if task is not None and self.pipelines is None:
            self.pipelines = (*CRIA_PIPELINES, *task.floors)

    @classmethod
    def quick(cls, **overrides):
        """The quick configuration of a task: minutes on 2 CPU cores.

        One seed, the small encoder, few epochs, and the task's own quick
        settings (:attr:`Task.quick <sk_cria.tasks.Task>`: eegmat's protocol
        (c) on the subjects the shipped encoders never saw, the shipped
        encoder's linear probe against every floor; motor
        imagery's grouped 6-fold with the shipped encoder's probes against
        the re-centred floors); ``overrides`` win over both.
        """
        task = TASKS.get(overrides.get("task", cls.task))
        values = dict(seeds=1, encoder="small", pretrain_epochs=3, finetune_epochs=2,
                      **(task.quick if task else {}))
        values.update(overrides)
        return cls(**values)

    def settings(self):
        """What the run computes, as JSON-able values: the key of its rows in results.csv.

        ``data`` is left out: where the recordings lie does not change them.
        """
        values = dataclasses.asdict(self)
        values.pop("data")
        return json.loads(json.dumps(values, default=str))

    def selected_pipelines(self):
        """``pipelines``, each pooled-embedding probe and fine-tuning run once per ``embeddings``."""
        names = []
        for name in self.pipelines:
            named = _PER_EMBEDDING.get(name)
            names += [name] if named is None else [
                named(e) for e in self.embeddings
                # Fine-tuning's head reads no per-channel output (see HEAD_EMBEDDINGS).
                if name.startswith("cria_probe") or e in HEAD_EMBEDDINGS]
        return tuple(dict.fromkeys(names))

    def cria_band(self):
        """``(l_freq, h_freq)`` of CRIA's input, or None for EEGPreprocessor's default."""
        if self.input_band is not None:
            return tuple(self.input_band)
        return TASKS[self.task].floor_band

    def encoder_config(self):
        """The ``config`` of ViewMaskPretrainer and CRIAClassifier for this run."""
        options = {"fusion": self.fusion}
        if self.purification:
            options.update(k_c=0.5, k_t=0.5)
        if self.encoder == "small":
            return CRIAConfig.small(**options)
        return options

    def check(self):
        """Raise ValueError on options that name nothing known."""
        _check_choice("task", (self.task,), TASKS)
        _check_choice("alignments", self.alignments, ALIGNMENTS)
        _check_choice("scalings", self.scalings, SCALINGS)
        _check_choice("pipelines", self.pipelines, PIPELINES)
        _check_choice("embeddings", self.embeddings, EMBEDDINGS)
        _check_choice("protocols", self.protocols, TASKS[self.task].all_protocols,
                      f" for task {self.task!r}")
        if any(n is not None and n < 1 for n in self.train_subjects) or not self.train_subjects:
            raise ValueError("train_subjects must be positive counts or None (all); got "
                             f"{self.train_subjects!r}.")
        task = TASKS[self.task]
        if self.subjects is not None:
            unknown = sorted(set(self.subjects) - set(task.subjects))
            if unknown or not self.subjects:
                raise ValueError(
                    f"subjects {unknown or list(self.subjects)} are not subjects of task "
                    f"{self.task!r}, which are numbered {task.subjects.start} to "
                    f"{task.subjects.stop - 1}.")
        check_params_of(self, check_scaling, "input_scaling", self.input_scaling)
        if any(name.startswith(("cria_probe_shipped", "cria_finetune_shipped"))
               for name in self.pipelines):
            try:
                resolve_pretrained(self.shipped_encoder)
            except FileNotFoundError as error:
                raise ValueError(f"shipped_encoder: {error}") from None
        if self.input_band is not None and len(self.input_band) != 2:
            raise ValueError("input_band must be (l_freq, h_freq) in Hz; got "
                             f"{self.input_band!r}.")


def _check_choice(name, values, known, where=""):
    unknown = [v for v in values if v not in known]
    if unknown or not values:
        raise ValueError(f"{name} must be among {list(known)}{where}; got {list(values)}.")


class _Encoders:
    """The encoders of one split, seed and input, fitted on first use and then shared."""

    def __init__(self, config, X_train, groups_train, seed):
        self.config, self.X_train, self.seed = config, X_train, seed
        self.groups_train = groups_train
        self.fitted = {}

    def get(self, kind):
        """``(encoder, seconds spent fitting it)``; kind "pretrained", "random" or "shipped"."""
        if kind not in self.fitted:
            epochs = self.config.pretrain_epochs if kind == "pretrained" else 0
            start = time.perf_counter()
            with warnings.catch_warnings():
                # Random weights are this arm's point, not an oversight (also with
                # --pretrain-epochs 0): the "trains nothing" warning says nothing here.
                warnings.filterwarnings("ignore", "ViewMaskPretrainer: max_epochs=0")
                # The shipped encoder as it is: fit trains nothing, records the channels.
                source = ({"encoder": self.config.shipped_encoder} if kind == "shipped" else
                          {"config": self.config.encoder_config()})
                encoder = ViewMaskPretrainer(
                    **source, masking=self.config.masking,
                    negatives=self.config.negatives, max_epochs=epochs,
                    random_state=self.seed, batch_size=self.config.batch_size,
                    callbacks=[("epoch_bar", _EpochBar("pre-training"))] if epochs else None,
                ).fit(self.X_train, groups=self.groups_train)
            self.fitted[kind] = encoder, time.perf_counter() - start
        return self.fitted[kind]


@dataclass
class _Run:
    """One split, seed and recipe: what the registry's builders need."""

    config: BenchmarkConfig
    task: object  # sk_cria.tasks.Task
    seed: int
    scaling: str  # None for pipelines that the scaling does not apply to
    sfreq: float  # of the input the pipeline reads
    encoders: _Encoders

    def encoder(self, kind):
        return self.encoders.get(kind)


def run_benchmark(config, done=None, on_row=None):
    """Run every pipeline on every split, recipe and label budget.

    Shows a bar over the fits (with the time left) and, inside each fit that
    trains for epochs, a bar over its epochs.

    Parameters
    ----------
    config : BenchmarkConfig
        What to run.
    done : dict or None, default=None
        Rows of fits already run with this ``config``, by :func:`row_key`:
        these fits are not run again, their rows are returned as they are
        (how ``sk-cria benchmark`` resumes from its results.csv).
    on_row : callable or None, default=None
        Called with each new row as soon as its fit is scored (the command
        writes it to results.csv at once).

    Returns
    -------
    rows : list of dict
        One per protocol, recipe, pipeline, label budget, seed and fold, with
        the keys of :data:`COLUMNS`.
    """
    config.check()
    done = done or {}
    task = TASKS[config.task]
    with sklearn.config_context(enable_metadata_routing=True):
        data = task.load(config.subjects, config.data)
        units = [(protocol, fold, train, test, seed, alignment)
                 for protocol, fold, train, test in splits(config, data.groups)
                 for seed in range(config.seeds) for alignment in config.alignments]
        fits = list(product(config.train_subjects, config.scalings,
                            config.selected_pipelines()))
        todo = [(unit, fit) for unit in units for fit in fits
                if row_key(_row_head(task, unit, fit)) not in done]
        # The inputs are prepared only when something is left to run.
        inputs = _aligned_inputs(config, task, data) if todo else None
        sfreqs = {"cria": TARGET_SFREQ, "baseline": data.sfreq}
        rows, cache = [], {}
        with tqdm(total=len(units) * len(fits), initial=len(units) * len(fits) - len(todo),
                  unit="fit", desc=task.name, dynamic_ncols=True) as bar:
            for unit in units:
                protocol, fold, train, test, seed, alignment = unit
                encoders = None
                for fit in fits:
                    n, scaling, name = fit
                    head = _row_head(task, unit, fit)
                    if row_key(head) in done:
                        rows.append(done[row_key(head)])
                        continue
                    bar.set_description_str(f"{task.name} ({protocol}) fold {fold} seed {seed}")
                    bar.set_postfix_str(name)
                    entry = PIPELINES[name]
                    labelled = label_rows(data.groups, train, n, seed, fold)
                    applied = scaling if entry.scaled else None
                    # Unscaled pipelines do not depend on the scaling, and floors not on
                    # the seed, only on the rows: computed once, reported for each.
                    key = (protocol, fold, alignment, name, applied,
                           tuple(labelled) if entry.family == "floor" else (seed, n))
                    if key not in cache:
                        if encoders is None:  # fitted on first use, shared by the unit
                            encoders = _Encoders(config, inputs[alignment]["cria"][train],
                                                 data.groups[train], seed)
                        run = _Run(config, task, seed, applied, sfreqs[entry.input], encoders)
                        cache[key] = _evaluate_entry(entry, run, inputs[alignment][entry.input],
                                                     data, labelled, test)
                    subjects = np.unique(data.groups[labelled])
                    row = {**head, "family": entry.family,
                           "labelled_subjects": len(subjects), **cache[key],
                           "label_subjects": " ".join(str(g) for g in subjects),
                           "test_subjects": " ".join(str(g) for g in np.unique(
                               data.groups[test]))}
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
                    bar.update()
        return rows


def _row_head(task, unit, fit):
    """The columns of a row that say which fit it is."""
    protocol, fold, _, _, seed, alignment = unit
    n, scaling, name = fit
    return {"task": task.name, "protocol": protocol, "recipe": f"{alignment}/{scaling}",
            "pipeline": name, "budget": "all" if n is None else n, "seed": seed,
            "fold": fold}


def row_key(row):
    """Which fit a row of results.csv is: task, protocol, recipe, pipeline, budget, seed, fold.

    Values are compared as text, so that a row read back from results.csv
    matches the row it was written from.
    """
    return tuple(str(row[name]) for name in _ROW_KEY)


_ROW_KEY = ("task", "protocol", "recipe", "pipeline", "budget", "seed", "fold")


class _EpochBar(Callback):
    """A tqdm bar over the epochs of one fit, under the benchmark's bar over the fits."""

    def __init__(self, desc):
        self.desc = desc

    def on_train_begin(self, net, **kwargs):
        self.bar_ = tqdm(total=net.max_epochs, desc=self.desc, unit="epoch", leave=False,
                         position=1, dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        self.bar_.set_postfix_str(f"train loss {net.history[-1, 'train_loss']:.3f}",
                                  refresh=False)
        self.bar_.update()

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


def _aligned_inputs(config, task, data, kinds=("cria", "baseline")):
    """alignment -> {"cria": windows for CRIA, "baseline": windows for the baselines}.

    ``kinds`` limits it to some inputs (benchmarks/bench_noise.py prepares each
    corrupted input on its own, so that one that breaks does not take the other).
    """
    band = config.cria_band()
    band = {} if band is None else dict(zip(("l_freq", "h_freq"), band))
    prepare = {
        # "group" scales each subject on its own unlabelled windows, as the alignment.
        "cria": lambda: EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names,
                                        line_freq=task.line_freq, scaling=config.input_scaling,
                                        **band).fit_transform(data.data, groups=data.groups),
        "baseline": lambda: BandPassFilter(data.sfreq, *BASELINE_BAND).fit_transform(data.data),
    }
    base = {kind: prepare[kind]() for kind in kinds}
    inputs = {}
    for alignment in config.alignments:
        align = ALIGNMENTS[alignment]
        # Each subject whitened on its own unlabelled windows only.
        inputs[alignment] = {kind: X if align is None else
                             align().fit_transform(X, groups=data.groups)
                             for kind, X in base.items()}
    return inputs


def label_rows(groups, train, n_subjects, seed, fold=0):
    """The training rows whose labels a pipeline may use.

    Parameters
    ----------
    groups : ndarray of shape (n_windows,)
        Subject of each window.
    train : ndarray of int
        Indices of the training split.
    n_subjects : int or None
        How many training subjects to draw; None (or at least all of them)
        keeps the whole training split.
    seed, fold : int
        Seed of the draw, mixed with the fold so that each fold draws anew.

    Returns
    -------
    rows : ndarray of int
        The indices of ``train`` that belong to the drawn subjects, in order.
    """
    subjects = np.unique(groups[train])
    if n_subjects is None or n_subjects >= len(subjects):
        return np.asarray(train)
    rng = np.random.default_rng([seed, fold, n_subjects])
    chosen = rng.choice(subjects, size=n_subjects, replace=False)
    return np.asarray(train)[np.isin(groups[train], chosen)]


def splits(config, groups):
    """The cross-subject splits of a run.

    Parameters
    ----------
    config : BenchmarkConfig
        Its ``task``, ``protocols`` and ``folds`` are used.
    groups : ndarray of shape (n_windows,)
        Subject of each window.

    Yields
    ------
    protocol : str
        A fixed split of the task ("a") or "b".
    fold : int
        0 for a fixed split.
    train, test : ndarray of int
        Window indices.
    """
    for protocol, folds in TASKS[config.task].fixed_splits.items():
        if protocol not in config.protocols:
            continue
        for fold, subjects in enumerate([folds] if isinstance(folds, dict) else folds):
            test = np.isin(groups, subjects["test"])
            # Without "train", a fold trains on every other loaded subject.
            train = np.isin(groups, subjects["train"]) if "train" in subjects else ~test
            if not train.any() or not test.any():
                needs = (f"{_span(subjects['train'])} and " if "train" in subjects
                         else "") + _span(subjects["test"])
                raise ValueError(f"Protocol ({protocol}) needs subjects {needs}; load all "
                                 "subjects.")
            yield protocol, fold, np.flatnonzero(train), np.flatnonzero(test)
    if "b" in config.protocols:
        for fold, (train, test) in enumerate(GroupKFold(config.folds).split(groups, groups=groups)):
            yield "b", fold, train, test


def _span(subjects):
    """range(0, 28) -> '0-27'."""
    subjects = sorted(subjects)
    return f"{subjects[0]}-{subjects[-1]}" if len(subjects) > 1 else str(subjects[0])


def _evaluate_entry(entry, run, X, data, train, test):
    estimator, seconds = entry.build(run)
    return _evaluate(estimator, X, data.target, data.groups, train, test, seconds)


def _evaluate(pipe, X, y, groups, train, test, fit_seconds_before=0.0):
    """Fit on train, score on test; route groups to the steps that ask for them.

    Both run inside :func:`~sk_cria.threads.machine_threads`: the floors' numpy
    and scipy work, not only CRIA's torch, keeps to the cores that other
    processes leave free.
    """
    start = time.perf_counter()
    with machine_threads():
        pipe.fit(X[train], y[train], **_groups_for(pipe, "fit", groups[train]))
    fit_seconds = time.perf_counter() - start + fit_seconds_before
    start = time.perf_counter()
    with machine_threads():
        proba = pipe.predict_proba(X[test], **_groups_for(pipe, "predict_proba",
                                                          groups[test]))
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


# ----------------------------------------------------------------- reports
_KEYS = ["task", "protocol", "recipe", "labelled_subjects"]


def _frame(rows):
    """The rows as a table whose ``labelled_subjects`` is the key of a label budget.

    With all labels, folds of unequal size (11 subjects in 6 folds: 9 or 10
    training subjects) are one budget, keyed by the most training subjects of
    any split of the protocol; rows without a ``budget`` keep their count.
    """
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["task"] = frame.task.astype(object).fillna("eegmat")  # rows before tasks: eegmat
    full = frame.budget.astype(str) == "all"
    if full.any():
        most = frame[full].groupby(["task", "protocol"]).labelled_subjects.transform("max")
        frame.loc[full, "labelled_subjects"] = most
    return frame


def summarize(rows):
    """Mean and standard deviation per protocol, recipe, label budget and pipeline."""
    frame = _frame(rows)
    metrics = ["bacc", "auroc", "auprc", "fit_seconds", "predict_per_second"]
    by = _KEYS + ["pipeline"]
    summary = frame.groupby(by)[metrics].agg(["mean", "std"])
    summary[("runs", "")] = frame.groupby(by).size()
    return summary


def margins(rows):
    """Each CRIA pipeline's margin over the best floor of the same recipe, paired.

    For every protocol, recipe and label budget, the floor is the non-CRIA
    pipeline with the highest mean balanced accuracy; each CRIA row is paired
    with the floor's row of the same seed and fold (the same training and
    test windows), and the differences are averaged.

    Parameters
    ----------
    rows : list of dict
        The rows of :func:`run_benchmark`.

    Returns
    -------
    margins : pandas.DataFrame
        One row per protocol, recipe, label budget and CRIA pipeline:
        ``floor``, ``pairs``, the CRIA pipeline's and the floor's mean BAcc,
        and the mean and standard deviation of the paired differences
        ``d_bacc``, ``d_auroc``, ``d_auprc`` (CRIA minus floor; the
        standard deviations are NaN when there is a single pair).
    """
    frame = _frame(rows)
    out = []
    for key, part in frame.groupby(_KEYS):
        floors = part[part.family == "floor"]
        if floors.empty:
            continue
        floor = floors.groupby("pipeline").bacc.mean().idxmax()
        reference = floors[floors.pipeline == floor]
        for name, cria in part[part.family == "cria"].groupby("pipeline"):
            paired = cria.merge(reference, on=["seed", "fold"], suffixes=("", "_floor"))
            record = dict(zip(_KEYS, key), pipeline=name, floor=floor, pairs=len(paired),
                          bacc=paired.bacc.mean(), floor_bacc=paired.bacc_floor.mean())
            for metric in ("bacc", "auroc", "auprc"):
                diff = paired[metric] - paired[f"{metric}_floor"]
                record[f"d_{metric}"] = diff.mean()
                record[f"d_{metric}_sd"] = diff.std(ddof=1)  # NaN for a single pair
            out.append(record)
    return pd.DataFrame(out)


def overview(rows):
    """The run in one table: per task and protocol, CRIA's best pipeline against the best floor.

    Uses each protocol's largest label budget and, where a run has several
    recipes, the recipe of CRIA's best pipeline.

    Returns
    -------
    table : pandas.DataFrame
        One row per task and protocol: ``task``, ``protocol``, ``recipe``,
        ``cria`` (the CRIA pipeline with the highest mean BAcc) and
        ``cria_bacc``, ``floor`` (the best non-CRIA pipeline of the same
        recipe) and ``floor_bacc``, the paired margin ``d_bacc`` and its
        standard deviation ``d_bacc_sd`` over the paired splits (folds x
        seeds; NaN for one), ``test_subjects`` (how many subjects were
        scored), ``folds`` and ``pairs``.
    """
    table = margins(rows)
    if table.empty:
        return table
    frame = _frame(rows)
    out = []
    for (task, protocol), part in table.groupby(["task", "protocol"], sort=False):
        part = part[part.labelled_subjects == part.labelled_subjects.max()]
        best = part.loc[part.bacc.idxmax()]
        mine = frame[(frame.task == task) & (frame.protocol == protocol)
                     & (frame.pipeline == best.pipeline) & (frame.recipe == best.recipe)]
        tested = {s for text in mine.test_subjects.dropna().astype(str) for s in text.split()}
        out.append(dict(task=task, protocol=protocol, recipe=best.recipe,
                        cria=best.pipeline, cria_bacc=best.bacc, floor=best.floor,
                        floor_bacc=best.floor_bacc, d_bacc=best.d_bacc,
                        d_bacc_sd=best.d_bacc_sd, test_subjects=len(tested) or np.nan,
                        folds=mine.fold.nunique(), pairs=best.pairs))
    return pd.DataFrame(out)


def format_overview(table):
    """:func:`overview` as an aligned text table (what the command prints)."""
    header = ("task", "protocol", "CRIA's best (BAcc)", "best floor, same recipe (BAcc)",
              "margin ± sd", "subjects", "folds")
    lines = [header]
    for _, r in table.iterrows():
        lines.append((r.task, f"({r.protocol}) {r.recipe}", f"{r.cria} ({r.cria_bacc:.3f})",
                      f"{r.floor} ({r.floor_bacc:.3f})", _pm(r.d_bacc, r.d_bacc_sd),
                      "" if np.isnan(r.test_subjects) else f"{r.test_subjects:.0f} tested",
                      f"{r.folds} x {r.pairs // max(r.folds, 1)} seed(s)"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in lines)


def markdown_overview(table):
    """:func:`overview` as a Markdown table."""
    lines = ["| task | protocol, recipe | CRIA's best | BAcc | best floor, same recipe | BAcc "
             "| paired margin ± sd | subjects tested | folds x seeds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        subjects = "" if np.isnan(r.test_subjects) else f"{r.test_subjects:.0f}"
        lines.append(f"| {r.task} | ({r.protocol}) {r.recipe} | {r.cria} | {r.cria_bacc:.3f} "
                     f"| {r.floor} | {r.floor_bacc:.3f} | {_pm(r.d_bacc, r.d_bacc_sd)} "
                     f"| {subjects} | {r.folds} x {r.pairs // max(r.folds, 1)} |")
    return "\n".join(lines)


def markdown_report(rows, config, seconds):
    """The Markdown report: margins, the table, the published numbers beside it."""
    task = TASKS[config.task]
    rows = [row for row in rows if row.get("task", "eegmat") == task.name]
    summary = summarize(rows)
    floors = ("" if task.floor_band is None else
              ", floors then {:g}-{:g} Hz".format(*task.floor_band))
    as_floors = " (the floors' band)" if config.input_band is None and task.floor_band else ""
    lines = [
        f"# sk_cria benchmark on {task.title}",
        "",
        task.about,
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"sklearn {sklearn.__version__}. Run took {seconds / 60:.1f} min.",
        f"CRIA encoder `{config.encoder}`, fusion `{config.fusion}`, masking "
        f"`{config.masking}`, negatives `{config.negatives}`, probes' embeddings "
        f"{', '.join(f'`{e}`' for e in config.embeddings)}, purification "
        f"{'on' if config.purification else 'off'}, "
        f"CRIA input band {_band(config.cria_band())}{as_floors}, input scaling "
        f"`{config.input_scaling}` (baselines: "
        f"{BASELINE_BAND[0]:g}-{BASELINE_BAND[1]:g} Hz{floors}), "
        f"{config.pretrain_epochs} pre-training and up to {config.finetune_epochs} "
        f"fine-tuning epochs, {config.seeds} seed(s).",
        "",
        "Recipes `alignment/scaling`, applied to every pipeline that can take them: "
        "input alignment per subject (`none`; `ea`: Euclidean alignment; `ra`: whitened by "
        "the Riemannian mean of the subject's covariances) and feature scaling (`subject`: "
        "z-scored per subject; `global`: over the training set; MDM has no feature step, and "
        "fine-tuning standardises its embeddings per subject in every recipe).",
        "",
        "## CRIA's margin over the best non-CRIA pipeline of the same recipe",
        "",
        "Paired differences (CRIA minus floor) over the same splits and seeds, mean ± sd. "
        "Labelled subjects: the label budget (with all labels, the most training subjects "
        "of any split).",
        "",
        "| protocol | recipe | labelled subjects | CRIA pipeline | floor | pairs | CRIA BAcc "
        "| floor BAcc | ΔBAcc | ΔAUROC | ΔAUC-PR |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, m in margins(rows).iterrows():
        lines.append(
            f"| {m.protocol} | {m.recipe} | {m.labelled_subjects} | {m.pipeline} | {m.floor} "
            f"| {m.pairs} | {m.bacc:.3f} | {m.floor_bacc:.3f} "
            f"| {_pm(m.d_bacc, m.d_bacc_sd)} | {_pm(m.d_auroc, m.d_auroc_sd)} "
            f"| {_pm(m.d_auprc, m.d_auprc_sd)} |"
        )
    lines += [
        "",
        "## All pipelines",
        "",
        "Mean ± standard deviation over seeds and folds; fit_s includes pre-training for "
        "pipelines that use it.",
        "",
        "| protocol | recipe | labelled subjects | pipeline | runs | BAcc | AUROC | AUC-PR "
        "| fit_s | predict win/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (_, protocol, recipe, n, pipeline), row in summary.iterrows():
        cells = [_mean_std(row, m) for m in ("bacc", "auroc", "auprc")]
        lines.append(
            f"| {protocol} | {recipe} | {n} | {pipeline} | {int(row[('runs', '')])} | "
            f"{' | '.join(cells)} | {row[('fit_seconds', 'mean')]:.0f} | "
            f"{row[('predict_per_second', 'mean')]:.0f} |"
        )
    if not task.published:
        return "\n".join(lines) + "\n"
    lines += ["", f"Reported by their papers on protocol ({next(iter(task.fixed_splits))}), "
              "not measured here: fine-tuned "
              "foundation models (and EEGNet), each with its own preprocessing and no "
              "per-subject alignment, so not the same recipe as the rows above:", "",
              "| model | BAcc | AUC-PR | AUROC |", "|---|---|---|---|"]
    for model, (bacc, auprc, auroc) in task.published.items():
        lines.append(f"| {model} | {bacc:.4f} | {auprc:.4f} | {auroc:.4f} |")
    return "\n".join(lines) + "\n"


def _pm(mean, sd):
    """'+0.012 ± 0.034', or '+0.012' when the spread is undefined (one pair)."""
    return f"{mean:+.3f}" if np.isnan(sd) else f"{mean:+.3f} ± {sd:.3f}"


def _band(band):
    if band is None:
        return "0.5-90 Hz (EEGPreprocessor's default)"
    low, high = ("none" if f is None else f"{f:g}" for f in band)
    return f"{low}-{high} Hz"


def _mean_std(row, metric):
    std = row[(metric, "std")]
    std = 0.0 if np.isnan(std) else std
    return f"{row[(metric, 'mean')]:.3f} ± {std:.3f}"


#: Readable names of CRIA's pipelines and of the floors' parts (figures).
_LABELS = {
    "cria_probe_pretrained": "CRIA probe, pre-trained in the fold",
    "cria_probe_shipped": "CRIA probe, shipped encoder",
    "cria_probe_random": "CRIA probe, random weights",
    "cria_finetune_pretrained": "CRIA fine-tuned, pre-trained in the fold",
    "cria_finetune_shipped": "CRIA fine-tuned from the shipped encoder",
    "cria_finetune_scratch": "CRIA fine-tuned from scratch",
    "log_variance": "log-variance + LR",
    "band_power": "log band power + LR",
    "tangent_space": "tangent space + LR",
    "mdm": "MDM",
    "csp_lda": "CSP + LDA",
    "filter_bank_tangent_space": "filter-bank tangent space + LR",
}
_SUFFIXES = {"_recentered": ", re-centred", "_cria_input": " on CRIA's input",
             "_regions": ", per region", "_channels": ", per channel"}


def pipeline_label(name):
    """'tangent_space_recentered' -> 'tangent space + LR, re-centred' (figures, reports)."""
    base, tail = name, []
    while base not in _LABELS:
        suffix = next((s for s in _SUFFIXES if base.endswith(s)), None)
        if suffix is None:
            return name  # a pipeline added elsewhere: its own name
        tail.append(_SUFFIXES[suffix])
        base = base[:-len(suffix)]
    return _LABELS[base] + "".join(reversed(tail))


#: Colours of the two families in figures.
_COLOURS = {"cria": "tab:orange", "floor": "tab:blue"}


def plot_results(rows, path):
    """One panel per task and protocol: every pipeline's BAcc, sorted, with its spread.

    CRIA's pipelines and the floors in two colours, error bars one standard
    deviation over folds and seeds, the largest label budget of each
    protocol; the title carries CRIA's paired margin over the best floor of
    the same recipe. The papers' numbers on the field's protocol, where a
    task has them, are a dashed line marked as another recipe.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    summary = summarize(rows).reset_index()
    summary = summary[summary.labelled_subjects == summary.groupby(["task", "protocol"])
                      .labelled_subjects.transform("max")]
    table = overview(rows)
    panels = list(summary.groupby(["task", "protocol"], sort=False))
    height = max(len(part) for _, part in panels) * 0.32 + 1.6
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), height),
                             squeeze=False)
    for ax, ((task_name, protocol), part) in zip(axes[0], panels):
        task = TASKS[task_name]
        part = part.sort_values(("bacc", "mean"))
        several = part.recipe.nunique() > 1
        names = [pipeline_label(p) + (f" [{r}]" if several else "")
                 for p, r in zip(part.pipeline, part.recipe)]
        families = [PIPELINES[p].family if p in PIPELINES else "floor" for p in part.pipeline]
        y = np.arange(len(names))
        ax.barh(y, part[("bacc", "mean")], xerr=part[("bacc", "std")].fillna(0),
                color=[_COLOURS[f] for f in families], capsize=3)
        ax.set_yticks(y, names, fontsize=8)
        handles = [Patch(color=_COLOURS["cria"], label="CRIA"),
                   Patch(color=_COLOURS["floor"], label="floor (no learned encoder)")]
        if task.published and protocol == next(iter(task.fixed_splits)):
            model, (bacc, *_) = max(task.published.items(), key=lambda item: item[1][0])
            handles.append(ax.axvline(bacc, color="k", ls="--", lw=1,
                                      label=f"published, another recipe: {model}"))
        ax.axvline(0.5, color="grey", lw=0.8)
        ax.set_xlim(0.3, 1.0)
        ax.set_xlabel("balanced accuracy (mean ± sd over folds and seeds)")
        title = f"{task.title}, protocol ({protocol})"
        mine = table[(table.task == task_name) & (table.protocol == protocol)] \
            if not table.empty else table
        if not mine.empty:
            best = mine.iloc[0]
            title += (f"\nCRIA's margin over the best floor: "
                      f"{_pm(best.d_bacc, best.d_bacc_sd)} BAcc")
        ax.set_title(title, fontsize=9)
        ax.legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    with open_atomic(path, "wb") as file:  # never a half-written plot
        fig.savefig(file, dpi=110, format="png")
    plt.close(fig)


def plot_label_efficiency(rows, path):
    """BAcc and AUROC against the number of labelled training subjects.

    One row of panels per protocol and recipe; mean ± sd over draws (seeds)
    and folds.
    """
    plt = _pyplot()
    task = _task_of(rows)
    summary = summarize(rows).reset_index()
    panels = list(summary.groupby(["protocol", "recipe"]))
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 4 * len(panels)), squeeze=False)
    for row, ((protocol, recipe), part) in zip(axes, panels):
        for ax, metric in zip(row, ("bacc", "auroc")):
            for pipeline, curve in part.groupby("pipeline"):
                style = "-" if PIPELINES[pipeline].family == "cria" else "--"
                ax.errorbar(curve.labelled_subjects, curve[(metric, "mean")],
                            yerr=curve[(metric, "std")].fillna(0), fmt=style + "o",
                            capsize=3, label=pipeline)
            ax.set_xscale("log", base=2)
            budgets = sorted(part.labelled_subjects.unique())
            ax.set_xticks(budgets, [str(n) for n in budgets])
            ax.minorticks_off()
            ax.set_xlabel("training subjects with labels")
            ax.set_ylabel(metric.upper())
            ax.set_title(f"{task.title} ({protocol}), recipe {recipe}: {metric.upper()}",
                         fontsize=9)
            ax.axhline(0.5, color="grey", lw=0.8)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    with open_atomic(path, "wb") as file:  # never a half-written plot
        fig.savefig(file, dpi=120, format="png")
    plt.close(fig)


def _task_of(rows):
    """The task of a run's rows (rows without a task are eegmat's, as before tasks)."""
    return TASKS[rows[0].get("task", "eegmat") if rows else "eegmat"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------- the output folder
#: The file of a run's settings and status in its ``--out`` folder.
RUN_FILE = "benchmark.json"
#: Everything a run writes; ``--overwrite`` removes these, and only from a folder
#: whose RUN_FILE says that sk-cria wrote them.
OUTPUTS = (RUN_FILE, "results.csv", "results.md", "results.png", "label_efficiency.png")


def prepare_out(out, settings, *, overwrite=False):
    """Check that ``out`` can take this run; return the rows it already holds.

    A folder holding a run with the same ``settings`` is resumed: the fits
    in its results.csv are not run again. One holding a run with other
    settings is refused. ``overwrite`` starts afresh in either case, removing only the files
    of :data:`OUTPUTS` (sk-cria wrote them: the folder's ``benchmark.json``
    says so). Files under those names in a folder without ``benchmark.json``
    are not sk-cria's, or are from a version before it: never removed.

    Parameters
    ----------
    out : path-like
        The ``--out`` folder (need not exist).
    settings : dict
        Task name -> :meth:`BenchmarkConfig.settings` of this run.
    overwrite : bool, default=False
        Replace the run in ``out``, whatever its settings, instead of resuming
        or refusing it.

    Returns
    -------
    done : list of dict
        The rows of results.csv of the run being resumed; empty otherwise.

    Raises
    ------
    sk_cria.runs.RunDirError
        ``out`` cannot take this run; the message says why and what to do.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {str(out)!r} is a file, not a folder; choose a folder "
                          "(it is created if missing).")
    previous = _read_run(out / RUN_FILE)
    if previous is None:
        theirs = [name for name in OUTPUTS if (out / name).exists()]
        if theirs:
            raise RunDirError(
                f"{out} holds {', '.join(theirs)} but no {RUN_FILE}: results that this "
                "version of sk-cria did not write (or another program's files), which are "
                "never replaced, even with --overwrite: move them away or choose another --out.")
        return []
    details = settings_differences(_flat(previous["settings"]), _flat(settings))
    if details and not overwrite:
        raise RunDirError(
            f"{out} holds the results of a run with other settings ({details}); rerun "
            "with its settings to resume or re-report it, choose another --out, or pass "
            "--overwrite to replace its results (only the files sk-cria wrote).")
    if overwrite:  # a fresh start, as sk-cria pretrain --overwrite: the code may have changed
        _remove_outputs(out, OUTPUTS)
        return []
    try:
        rows = pd.read_csv(out / "results.csv", dtype={"budget": str, "task": str,
                                                     "protocol": str})
    except FileNotFoundError:
        return []  # stopped before its first fit
    except (OSError, ValueError) as error:
        raise RunDirError(f"{out / 'results.csv'} cannot be read ({error}); pass --overwrite "
                          "to start the run afresh.") from error
    return rows.to_dict("records")


def _flat(settings):
    """{"eegmat": {"seeds": 1}} -> {"eegmat.seeds": 1}; a task missing on one side differs."""
    return {f"{task}.{key}" if isinstance(values, dict) else task: value
            for task, values in settings.items()
            for key, value in (values.items() if isinstance(values, dict) else [(None, values)])}


def write_run_file(out, settings, status, **extra):
    """Write ``out``/benchmark.json: the run's settings, its status and ``extra``."""
    with open_atomic(Path(out) / RUN_FILE) as file:
        json.dump({"settings": settings, "status": status, **extra}, file, indent=2)
        file.write("\n")


def write_results(out, rows):
    """Write every row so far to ``out``/results.csv, whole (atomic rename)."""
    with open_atomic(Path(out) / "results.csv") as file:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(file, index=False)
