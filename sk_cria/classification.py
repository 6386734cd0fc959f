"""CRIAClassifier: fine-tune a (pre-trained) CRIA encoder with skorch."""

import math
import numbers
import warnings
from itertools import chain

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochScoring
from skorch.dataset import ValidSplit
from torch import nn

from . import _check, _net
from .channels import REGIONS
from .model import CRIA
from .model.spatial import SPATIAL_EMBEDDINGS, SpatialFilter
from .sampling import MontageBatchSampler

__all__ = ["CRIAClassifier"]


#: What the head of CRIAClassifier can read (CRIA.features): channel-wise
#: features would tie the head to one montage, so they are not offered.
HEAD_EMBEDDINGS = ("pooled", "regions", "tangent")
#: Learning rate of the spatial filters relative to the head's: AdamW moves each
#: weight by about lr per step, and the filters' weights are about n_channels**-0.5
#: (0.125 for 64 channels), so at lr=1e-4 they would move by less than a third of
#: that in 30 epochs of 14 batches; ten times faster they can turn.
SPATIAL_LR_SCALE = 10.0
#: How the head starts: random weights, or a logistic-regression probe's.
HEAD_INITS = ("random", "probe")
#: lr="auto": small steps keep a pre-trained encoder's features (LP-FT);
#: random weights have none to keep and learn faster with larger ones
#: (benchmarks/results/finetune.md).
AUTO_LR = {"pretrained": 1e-4, "scratch": 3e-4}
#: What to do instead of fit(sample_weight=...), which skorch would pass to torch.
_HOW_TO_WEIGH = ("weigh classes with class_weight='balanced' or {label: weight}, or "
                 "weigh windows by repeating or leaving them out of X.")


class _ClassifierModule(nn.Module):
    """Encoder + head returning class logits.

    The head reads ``encoder.features(x, channels, embedding)``; ``hidden``
    None makes it linear (dropout, then one linear layer), else a fully
    connected ELU layer of that width comes first. With ``groups`` (an index
    per window into ``group_stats``), each window's features are
    standardised with its group's mean and standard deviation before the
    head; the net computes ``group_stats`` (constants, no gradient) from the
    group's own windows.
    """

    def __init__(self, encoder, n_classes, hidden=128, dropout=0.3, embedding="pooled",
                 spatial_filters=None, n_channels=None):
        super().__init__()
        self.encoder = encoder
        self.embedding = embedding
        config = encoder.config
        # Virtual channels (sk_cria.model.spatial) take the place of the regions.
        self.spatial = (None if spatial_filters is None else
                        SpatialFilter(n_channels, spatial_filters))
        k = spatial_filters
        width = {"pooled": config.embed_dim,
                 "regions": len(REGIONS) * len(CRIA.VIEWS) * config.d_model,
                 "tangent": len(REGIONS) * (len(REGIONS) + 1) // 2,
                 "channels": (k or 0) * len(CRIA.VIEWS) * config.d_model,
                 "covariance": (k or 0) * ((k or 0) + 1) // 2}[embedding]
        hidden_layers = ([] if hidden is None else
                         [nn.Linear(width, hidden), nn.ELU(), nn.Dropout(dropout)])
        self.head = nn.Sequential(nn.Dropout(dropout), *hidden_layers,
                                  nn.Linear(width if hidden is None else hidden, n_classes))
        self.group_stats = None  # (mean, std), each (n_groups, n_features)

    def features(self, x, channels):
        """What the head reads, before any per-group standardisation."""
        # getattr: a module pickled before the head could read regions (or had filters).
        embedding = getattr(self, "embedding", "pooled")
        if getattr(self, "spatial", None) is not None:
            return self.spatial.features(self.encoder, x, channels, embedding)
        return self.encoder.features(x, channels, embedding)

    def forward(self, x, channels, groups=None):
        """Class logits; ``channels`` are the index pairs every batch carries."""
        z = self.features(x, channels)
        if groups is not None:
            mean, std = self.group_stats
            z = (z - mean[groups]) / std[groups]
        return self.head(z)


class _LabelledWindows(torch.utils.data.Dataset):
    """A windows dataset with a label per window: items ``(window, label)`` as skorch expects."""

    def __init__(self, windows, y):
        self.windows, self.y = windows, y
        self.montage_ids = _net.montage_ids(windows)

    def __len__(self):
        return len(self.windows)

    def __getitem__(self, index):
        return self.windows[index][0], self.y[index]


def _labelled(X, y):
    """An array's dict goes to skorch with y beside it; a dataset gets its labels inside."""
    return _LabelledWindows(X, y) if isinstance(X, torch.utils.data.Dataset) else X


def _scale_lr(param_groups, lr, scaled):
    """skorch's parameter groups with some modules' parameters at scaled learning rates.

    ``scaled`` is a list of ``(module, scale)``. Each group
    (``optimizer__param_groups`` included) is split into the rest, at the
    group's learning rate, and each module's part, at ``scale`` times the
    group's learning rate (``lr`` when it sets none); modules of scale 1 stay
    in the rest.
    """
    scaled = [(module, scale) for module, scale in scaled if module is not None and scale != 1]
    if not scaled:
        return param_groups
    ids = [({id(p) for p in module.parameters()}, scale) for module, scale in scaled]
    groups = []
    for group in param_groups:
        options = {k: v for k, v in group.items() if k != "params"}
        params = list(group["params"])
        rest = [p for p in params if not any(id(p) in part for part, _ in ids)]
        groups += [{**options, "params": rest}] if rest else []
        for part, scale in ids:
            own = [p for p in params if id(p) in part]
            groups += ([{**options, "params": own, "lr": options.get("lr", lr) * scale}]
                       if own else [])
    return groups


def _encoded_accuracy(net, X, y):
    """Validation accuracy on the encoded labels skorch trains on.

    skorch's default ``valid_acc`` compares ``net.predict`` (the user's labels,
    e.g. strings) with the encoded ``y`` of the validation split, which fails
    for string labels and is silently wrong for labels other than 0..n-1.
    """
    return accuracy_score(y, net.predict_proba(X).argmax(axis=1))


class CRIAClassifier(_net.CRIANetMixin, NeuralNetClassifier):
    """Fine-tune CRIA (encoder + ELU head) as a scikit-learn classifier.

    A skorch :class:`~skorch.NeuralNetClassifier`: callbacks, ``history``,
    ``set_params``, ``clone`` and ``GridSearchCV`` work as skorch users expect.
    The encoder starts from ``encoder`` (a fitted ViewMaskPretrainer or an
    encoder directory) every time the net is initialised, so each clone and
    each cross-validation fold starts from the pre-trained weights, never from
    another fold's. Random attention masking regularises training only.

    Parameters
    ----------
    encoder : ViewMaskPretrainer, str, path-like or None, default=None
        Pre-trained encoder: a fitted :class:`~sk_cria.ViewMaskPretrainer` or a
        directory written by ``save_pretrained``. None trains from scratch
        with the architecture ``config``.
    config : None, "default", "small", dict or CRIAConfig, default=None
        Architecture when training from scratch (ignored with ``encoder``).
    freeze_encoder : bool, default=False
        Train the head only (linear probing with an MLP head).
    attn_mask_ratio : float or None, default=0.1
        Fraction of attention values dropped at random during training (an
        information bottleneck; 0 turns it off, None keeps the encoder's).
    embedding : {"pooled", "regions", "tangent", "channels", "covariance"}, default="pooled"
        What the head reads, as ``ViewMaskPretrainer(embedding=...)`` returns
        it: the pooled embedding (``embed_dim`` features), each scalp
        region's features (``len(REGIONS) * 3 * d_model``, any montage), which
        keep left apart from right (motor imagery; see
        ``benchmarks/results/finetune.md``), or "tangent": the tangent vector
        of the regions' shrunk covariance (``len(REGIONS) * (len(REGIONS) +
        1) / 2`` features; :mod:`sk_cria.model.tangent`), trained end to end
        through the matrix logarithm. With ``groups`` the per-group
        standardisation of the Notes then re-centres each group at its
        log-Euclidean mean (it subtracts the group's mean ``log C``), the
        per-subject re-centring of Riemannian pipelines, as a layer
        (``benchmarks/results/geometry.md``).
        With ``spatial_filters``: "pooled", "channels" (each virtual channel's
        features, ``spatial_filters * 3 * d_model``) or "covariance" (the
        tangent vector of the virtual channels' covariance over time,
        ``spatial_filters * (spatial_filters + 1) / 2`` features, re-centred
        per group as "tangent" is; the encoder is not used: TSMNet's core,
        a Riemannian pipeline with learned filters).
    spatial_filters : int >= 1 or None, default=None
        Put a learned linear map from the montage's channels to this many
        virtual channels before the encoder (S-JEPA's "pre-local" spatial
        filter; :mod:`sk_cria.model.spatial`), built at fit for the montage
        of X (arrays of one montage; predict refuses other channels), with
        orthonormal rows at the start and ``SPATIAL_LR_SCALE`` (10) times the
        head's learning rate. Virtual channels have no electrode names: each
        is coded by the energy-weighted mean of its electrodes' channel
        embeddings (weights ``W_kc**2``), so a pre-trained encoder reads them
        with its own embeddings and still accepts any montage on its own.
        None (the default): the encoder reads the electrodes.
    head_hidden : int or None, default=None
        Width of a hidden ELU layer of the head; None (the default) makes the
        head linear (dropout, then one linear layer), as a linear probe is.
    head_dropout : float in [0, 1), default=0.3
    head_init : {"probe", "random"}, default="probe"
        How the head starts. "probe" (needs ``head_hidden=None``): linear
        probing, then fine-tuning (LP-FT). At the start of fit a logistic
        regression (scikit-learn's, L2, C=1, the loss's class weights) is
        fitted on the frozen encoder's features of the training windows
        (standardised per group with ``groups``, then over the training
        windows, as the benchmark's probe), and the head starts from its
        weights: the encoder's first updates then follow a head that
        already separates the classes, not a random one, so that
        fine-tuning starts where the frozen probe ends. "random": the
        initialisation of :class:`torch.nn.Linear` (with ``head_hidden=128``
        and ``lr=3e-4``, the head of earlier versions).
    class_weight : "balanced", dict or None, default="balanced"
        Weight the loss by inverse class frequency (eegmat has 3 rest windows
        per arithmetic window), or by ``{label: weight}``.
    encoder_lr_scale : float > 0, default=1.0
        Learning rate of the encoder relative to the head's (``lr *
        encoder_lr_scale`` for the encoder, ``lr`` for the head, in two
        parameter groups of the optimizer); below 1 a pre-trained encoder
        moves less while the new head is still random. The default keeps one
        learning rate: 0.1 did not help on motor imagery
        (``benchmarks/results/eegmmidb-mi-quick-groups/``).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data and stop when
        its loss has not improved for ``n_iter_no_change`` epochs, restoring
        the best weights. Without ``groups`` the hold-out is a stratified
        sample of windows; with ``groups`` it is whole groups
        (:class:`~sklearn.model_selection.GroupShuffleSplit`), so that it
        measures what cross-subject evaluation measures.
    validation_fraction : float in (0, 1), default=0.2
        With ``early_stopping``: without groups each class needs at least 2
        windows, so that it is on both sides of the stratified hold-out; with
        groups, the fraction of groups held out (at least one).
    n_iter_no_change : int >= 1, default=5
    ch_names : list of str or None, default=None
        Channel names when X carries none.
    random_state : int or None, default=None
        Seeds the head, the validation split, dropout, masking and batch order.
    lr : float in (0, 10] or "auto", default="auto"
        Of the head (and of the encoder, times ``encoder_lr_scale``). "auto"
        is 1e-4 with a pre-trained ``encoder``, small steps that keep its
        features as fine-tuning leaves the probe, and 3e-4 from scratch
        (``encoder=None``), where there are no features to keep and larger
        steps learn in fewer epochs (``AUTO_LR``;
        ``benchmarks/results/finetune.md``).
    max_epochs : int >= 0, default=30
        0 trains nothing (the head keeps random weights; warned about).
    batch_size : int, default=32
    optimizer : torch optimizer class, default=torch.optim.AdamW
    device : str, default="auto"
        "auto" uses CUDA (with bf16 mixed precision) when present, else the CPU.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of fit and predict: "auto" is bfloat16 autocast on CUDA and
        float32 on the CPU; "bfloat16" autocasts on the CPU too; "float32"
        never autocasts. The weights stay float32 either way.
    n_threads : int or None, default=None
        torch intra-op threads during fit and predict; the caller's setting is
        restored afterwards. None keeps torch's setting (``cores // n_jobs``
        in the workers of joblib's loky backend, 1 in Dask worker processes:
        both set ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` there), lowered if
        needed to the CPUs this process may use divided by the Dask worker
        threads sharing it (:func:`sk_cria.threads.effective_n_threads`), and
        to the cores that other processes leave free, read again every few
        seconds between batches. Give ``cores // n_jobs`` on backends that
        limit nothing (joblib's ``"threading"``, Dask workers without a
        nanny), and an int for results identical to the bit across backends
        and machine loads. See :doc:`/scaling`.
    verbose : int, default=0
        1 prints per-epoch losses and a progress bar.
    **kwargs
        Any other skorch parameter (``callbacks``, ``optimizer__weight_decay``,
        ``module__...``, ``train_split``, ...).

    Notes
    -----
    **Groups** (subjects or recordings; arrays only). With
    ``fit(X, y, groups=...)`` each group's pooled embeddings are standardised
    (mean 0, standard deviation 1 per dimension) on that group's own windows,
    without labels, before the head, as the frozen probe's per-subject
    z-scoring does: at fit, the statistics of every group are computed over
    all of its windows with the encoder in eval mode at the start of each
    epoch (constants for that epoch's gradient steps); at
    ``predict(X, groups=...)`` over the windows of each group of X with the
    fitted encoder, so a subject never seen at fit adapts on its own
    unlabelled windows, and a group's predictions do not depend on the
    other groups in X. Each group needs at least 2 windows. ``groups`` is
    requested by default for ``fit``, ``partial_fit``, ``predict``,
    ``predict_proba`` and ``score`` once scikit-learn's metadata routing is
    enabled, as for the aligners of :mod:`sk_cria.alignment`; score with
    :class:`~sk_cria.alignment.GroupScorer` so that scorers pass it on.
    Without ``groups`` nothing is normalised and the classifier trains as
    it always did.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    ch_names_ : list of str or None
        Channel names seen at fit (None after fitting on several montages).
    montages_ : list of list of str
        Every channel list seen at fit.
    n_channels_in_ : int
        Channels seen at fit (array input only).
    n_features_in_ : int
        Length of axis 1 at fit (array input only, as in scikit-learn).
    module_ : torch.nn.Module
        Encoder (``module_.encoder``) and head (``module_.head``).
    n_groups_ : int or None
        Groups seen at fit; None when fitted without ``groups``.
    validation_groups_ : ndarray or None
        The groups early stopping held out (None without groups or without
        early stopping).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria import CRIAClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 3, 400)).astype("float32"), rng.integers(0, 2, 40)
    >>> clf = CRIAClassifier(config="small", max_epochs=2, ch_names=["C3", "Cz", "C4"],
    ...                      random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        module=_ClassifierModule,
        *,
        encoder=None,
        config=None,
        freeze_encoder=False,
        encoder_lr_scale=1.0,
        attn_mask_ratio=0.1,
        embedding="pooled",
        spatial_filters=None,
        head_hidden=None,
        head_dropout=0.3,
        head_init="probe",
        class_weight="balanced",
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        ch_names=None,
        random_state=None,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr="auto",
        max_epochs=30,
        batch_size=32,
        train_split=None,
        device="auto",
        precision="auto",
        n_threads=None,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            device=device, verbose=verbose, **kwargs,
        )
        self.encoder = encoder
        self.config = config
        self.freeze_encoder = freeze_encoder
        self.encoder_lr_scale = encoder_lr_scale
        self.attn_mask_ratio = attn_mask_ratio
        self.embedding = embedding
        self.spatial_filters = spatial_filters
        self.head_hidden = head_hidden
        self.head_dropout = head_dropout
        self.head_init = head_init
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.ch_names = ch_names
        self.random_state = random_state
        self.precision = precision
        self.n_threads = n_threads

    #: Constructor parameters checked by fit (sk_cria._check.check_params).
    _param_checks = {
        **_net.PARAM_CHECKS,
        "freeze_encoder": _check.boolean,
        "encoder_lr_scale": _check.number(numbers.Real, 0, None, "neither"),
        "lr": _net.lr_check(also=("auto",)),
        "attn_mask_ratio": _check.number(numbers.Real, 0, 1, "left", none=True),
        "embedding": _check.one_of(tuple(dict.fromkeys(HEAD_EMBEDDINGS + SPATIAL_EMBEDDINGS))),
        "spatial_filters": _check.number(numbers.Integral, 1, none=True),
        "head_hidden": _check.number(numbers.Integral, 1, none=True),
        "head_dropout": _check.number(numbers.Real, 0, 1, "left"),
        "head_init": _check.one_of(HEAD_INITS),
        "class_weight": _check.class_weight,
        "early_stopping": _check.boolean,
        "validation_fraction": _check.number(
            numbers.Real, 0, 1, "neither",
            hint="It is the fraction of the training windows that early stopping "
                 "holds out."),
        "n_iter_no_change": _check.number(numbers.Integral, 1),
        "n_threads": _check.number(numbers.Integral, 1, none=True),
    }

    # ----------------------------------------------------------- skorch hooks
    def initialize_module(self):
        if self.encoder is None:
            encoder = CRIA(
                _net.build_encoder_config(self.config, attn_mask_ratio=self.attn_mask_ratio)
            )
        else:
            encoder = _net.load_encoder(self.encoder, attn_mask_ratio=self.attn_mask_ratio)
        if self.freeze_encoder:
            encoder.requires_grad_(False)
        # Only the embedding that is not the default goes to the module, so that
        # a custom module= without an embedding argument still works.
        options = {} if self.embedding == "pooled" else {"embedding": self.embedding}
        if self.spatial_filters is not None:
            options.update(spatial_filters=self.spatial_filters, n_channels=len(self.ch_names_))
        self.module_ = self.module(
            encoder, n_classes=len(self.classes_), hidden=self.head_hidden,
            dropout=self.head_dropout, **options, **self.get_params_for("module"),
        ).to(self.device)
        return self

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        if self.class_weight is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(self.class_weight_, dtype=torch.float32)
        self.criterion_ = self.criterion(**kwargs).to(self.device)
        return self

    def get_default_callbacks(self):
        callbacks = [
            ("valid_acc", EpochScoring(_encoded_accuracy, name="valid_acc",
                                       lower_is_better=False))
            if name == "valid_acc" else (name, callback)
            for name, callback in super().get_default_callbacks()
        ]
        if self.early_stopping:
            callbacks.append((
                "early_stopping",
                EarlyStopping(monitor="valid_loss", patience=self.n_iter_no_change,
                              load_best=True),
            ))
        return callbacks

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer":
            kwargs["lr"] = lr = self._resolved_lr(kwargs.get("lr", self.lr))
            args = (_scale_lr(args[0], lr, [
                (self.module_.encoder, self.encoder_lr_scale),
                (getattr(self.module_, "spatial", None), SPATIAL_LR_SCALE)]), *args[1:])
        return args, kwargs

    def _resolved_lr(self, lr):
        """The learning rate ``lr`` stands for ("auto": by where the encoder starts)."""
        if isinstance(lr, str) and lr == "auto":
            return AUTO_LR["scratch" if self.encoder is None else "pretrained"]
        return lr

    def set_params(self, **params):
        super().set_params(**params)
        if "lr" in params and getattr(self, "initialized_", False):
            # skorch's setter gave every group of the optimizer lr as it was given:
            # resolve "auto", and keep the encoder's group at its scale, as fit does.
            lr = self._resolved_lr(params["lr"])
            encoder = {id(p) for p in self.module_.encoder.parameters()}
            spatial = getattr(self.module_, "spatial", None)
            spatial = set() if spatial is None else {id(p) for p in spatial.parameters()}
            for group in self.optimizer_.param_groups:
                in_encoder = any(id(p) in encoder for p in group["params"])
                in_spatial = any(id(p) in spatial for p in group["params"])
                group["lr"] = lr * (self.encoder_lr_scale if in_encoder else
                                    SPATIAL_LR_SCALE if in_spatial else 1)
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        if self.train_split is None and self.early_stopping:
            dataset = self.get_dataset(X, y)
            if isinstance(X, dict) and "groups" in X:
                return self._group_split(dataset, X["groups"], y)
            split = ValidSplit(self.validation_fraction, stratified=True,
                               random_state=self.random_state)
            return split(dataset, y, **fit_params)
        return super().get_split_datasets(X, y, **fit_params)

    def _group_split(self, dataset, groups, y):
        """Early stopping's hold-out: whole groups, each class on both sides."""
        if self.n_groups_ < 2:
            raise ValueError(
                "CRIAClassifier: early stopping holds out whole groups when groups are "
                f"given, but fit received {self.n_groups_} group; give windows of at "
                "least 2 groups, or set early_stopping=False."
            )
        split = GroupShuffleSplit(n_splits=1, test_size=self.validation_fraction,
                                  random_state=self.random_state)
        train, valid = next(split.split(groups, groups=groups))
        missing = [self.classes_[c].item() for c in range(len(self.classes_))
                   if not (np.any(y[train] == c) and np.any(y[valid] == c))]
        if missing:
            raise ValueError(
                f"CRIAClassifier: early stopping held out groups "
                f"{self.group_labels_[np.unique(groups[valid])].tolist()} "
                f"(validation_fraction={self.validation_fraction}), and class(es) "
                f"{missing} are not on both sides of that split. Give groups that hold "
                "windows of every class, or set early_stopping=False."
            )
        self.validation_groups_ = self.group_labels_[np.unique(groups[valid])]
        return (torch.utils.data.Subset(dataset, train),
                torch.utils.data.Subset(dataset, valid))

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # Per-group statistics of this epoch: every group (training and
        # held-out) on its own windows, with the encoder as it is now; then,
        # once per fit, the probe that the head starts from.
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        grouped = getattr(self, "n_groups_", None) is not None
        probe = getattr(self, "_probe_pending", False)
        if not (grouped or probe):
            return
        # The probe needs the training features whole; the statistics alone are
        # accumulated batch by batch, so that no epoch holds every window's features.
        train = self._frozen_features(dataset_train)
        if probe:
            train = list(train)
        if grouped:
            valid = () if dataset_valid is None else self._frozen_features(dataset_valid)
            self._set_group_stats(chain(train, valid), self.n_groups_)
        if probe:
            self._probe_pending = False
            self._init_head_from_probe(*(torch.cat(part) if part[0] is not None else None
                                         for part in zip(*train)))

    def _frozen_features(self, dataset):
        """Yield ``(features, groups, labels)`` per batch of ``dataset``, encoder in eval mode.

        ``features`` are what the head reads before per-group standardisation
        (float32, CPU); ``groups`` is None for windows without groups.
        """
        module = self.module_
        # A custom module= without features() is read as the pooled embedding.
        read = getattr(module, "features", None) or module.encoder
        was_training = module.training
        module.eval()
        try:
            for x, y in _net.device_batches(self, dataset):
                with torch.no_grad(), _net.autocast(self.device, self.precision):
                    z = read(x["x"], x["channels"]).float().cpu()
                yield z, (x["groups"].cpu() if "groups" in x else None), torch.as_tensor(y)
        finally:
            module.train(was_training)

    def _set_group_stats(self, batches, n_groups):
        """Per-group mean and std over ``batches`` of ``_frozen_features``."""
        total = squares = None
        counts = torch.zeros(n_groups, dtype=torch.float64)
        for z, index, _ in batches:
            z = z.double()
            if total is None:
                total = torch.zeros(n_groups, z.shape[1], dtype=torch.float64)
                squares = torch.zeros_like(total)
            total.index_add_(0, index, z)
            squares.index_add_(0, index, z * z)
            counts.index_add_(0, index, torch.ones(len(index), dtype=torch.float64))
        mean = total / counts[:, None]
        std = (squares / counts[:, None] - mean**2).clamp_min(0).sqrt().clamp_min(1e-6)
        self.module_.group_stats = (mean.float().to(self.device), std.float().to(self.device))

    def _init_head_from_probe(self, z, groups, y):
        """Start the linear head from a logistic regression on the frozen features.

        Linear probing, then fine-tuning (LP-FT): the encoder's first updates
        follow the gradient of a head that already separates the classes,
        instead of that of a random one. The probe is the benchmark's: the
        (per-group standardised) features z-scored over the training windows,
        then scikit-learn's L2 logistic regression with the loss's class
        weights; the z-scoring is folded into the head's weights.
        """
        if groups is not None:
            mean, std = (t.cpu() for t in self.module_.group_stats)
            z = (z - mean[groups]) / std[groups]
        z, y = z.double().numpy(), y.numpy()
        center, scale = z.mean(axis=0), z.std(axis=0)
        scale[scale < 1e-6] = 1.0
        weight = None if self.class_weight is None else self.class_weight_[y]
        probe = LogisticRegression(max_iter=2000).fit((z - center) / scale, y,
                                                       sample_weight=weight)
        coef, intercept = probe.coef_ / scale, probe.intercept_ - probe.coef_ @ (center / scale)
        if len(self.classes_) == 2:
            # One logit difference for two classes: split it between their logits.
            coef = np.vstack([-coef, coef]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        linear = getattr(self.module_, "head", [None])[-1]
        if not isinstance(linear, nn.Linear) or linear.weight.shape != coef.shape:
            raise ValueError(
                f"CRIAClassifier: head_init='probe' starts the head's last layer from a "
                f"logistic regression on {coef.shape[1]} features, but the module's "
                "head does not end in a linear layer of that size. Give a module whose "
                "head ends so, or set head_init='random'."
            )
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(coef, dtype=linear.weight.dtype))
            linear.bias.copy_(torch.as_tensor(intercept, dtype=linear.bias.dtype))

    def _with_groups(self, X, groups, fitting):
        """Add each window's group index to the batch dict; record the groups at fit."""
        if fitting:
            self.n_groups_ = self.validation_groups_ = None
            self.__dict__.pop("group_labels_", None)
        if groups is None:
            return X, None
        if isinstance(X, torch.utils.data.Dataset):
            raise ValueError(
                "CRIAClassifier normalises embeddings per group for arrays of windows "
                f"only; got groups with a {type(X).__name__}. Pass the windows as an "
                "array (EEGPreprocessor's output), or groups=None."
            )
        labels, codes, sizes = np.unique(_check.check_groups(groups, _net.n_windows(X)),
                                         return_inverse=True, return_counts=True)
        if np.any(sizes < 2):
            raise ValueError(
                f"CRIAClassifier: groups {labels[sizes < 2][:5].tolist()} hold a single "
                "window; each group's embeddings are standardised on its own windows, "
                "which needs at least 2 windows per group. Merge or drop those windows."
            )
        if fitting:
            self.n_groups_, self.group_labels_ = len(labels), labels
        return {**X, "groups": codes.reshape(-1).astype(np.int64)}, len(labels)

    # ----------------------------------------------------------- public API
    @property
    def classes_(self):
        return self.label_encoder_.classes_

    def fit(self, X, y, groups=None, **fit_params):
        """Fine-tune on labelled EEG.

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or Dataset
            Preprocessed EEG at 200 Hz (the output of EEGPreprocessor, which
            also carries the channel names), or an
            :class:`~sk_cria.datasets.EEGWindowsDataset` of recordings on disk
            (any mix of montages).
        y : array-like of shape (n_examples,)
            Class labels of any type scikit-learn accepts (int, str, bool,
            object), one per window; ``predict`` returns them.
        groups : array-like of shape (n_examples,) or None, default=None
            Group (subject or recording) of each window, arrays only: each
            group's embeddings are standardised on its own windows and early
            stopping holds out whole groups (see Notes of the class).

        Returns
        -------
        self : CRIAClassifier

        Raises
        ------
        TypeError, ValueError
            A constructor parameter of the wrong type or value (the message
            names it, its value and what is valid); a y of one class; a class
            too small for early stopping's stratified hold-out.
        FloatingPointError
            The loss became NaN or infinite: training stops at that batch,
            naming the epoch, the batch and the likely causes.
        """
        if y is None:
            raise ValueError(
                "CRIAClassifier requires y to be passed, but the target y is None; "
                "for training without labels use ViewMaskPretrainer."
            )
        self._check_params()
        _check.check_fit_params(self, fit_params, _HOW_TO_WEIGH)
        if self.head_init == "probe" and self.head_hidden is not None:
            raise ValueError(
                f"CRIAClassifier: head_init='probe' starts a linear head from a logistic "
                f"regression, but head_hidden={self.head_hidden} asks for a hidden layer. "
                "Set head_hidden=None, or head_init='random'."
            )
        self._check_spatial(X, fitting=True)
        X, montages = _net.model_input(self, X, reset=True)
        _net.record_montages(self, montages, reset=True)
        X, _ = self._with_groups(X, groups, fitting=True)
        n_windows = _net.n_windows(X)
        y = column_or_1d(y, warn=True)
        if len(y) != n_windows:
            raise ValueError(
                f"y must be 1-D with one label per example; got shape {y.shape} for "
                f"{n_windows} examples."
            )
        check_classification_targets(y)
        self.label_encoder_ = LabelEncoder().fit(y)
        y_enc = self.label_encoder_.transform(y).astype(np.int64)
        self._check_classes(y_enc)
        if self.max_epochs == 0:
            warnings.warn(
                "CRIAClassifier: max_epochs=0 trains nothing; the classification head "
                "keeps its random initial weights, so predictions are random. Set "
                "max_epochs >= 1.", UserWarning, stacklevel=2,
            )
        if self.class_weight is not None:
            # On the user's labels: a dict class_weight is keyed by them.
            self.class_weight_ = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y
            )
        # Consumed at the start of the first epoch, once the hold-out is drawn.
        self._probe_pending = self.head_init == "probe" and not (
            self.warm_start and getattr(self, "initialized_", False))
        return self._train(_labelled(X, y_enc), y_enc, reset=True, **fit_params)

    def partial_fit(self, X, y=None, classes=None, groups=None, **fit_params):
        """Continue training for ``max_epochs`` more epochs (or fit if new).

        ``groups`` as in :meth:`fit`; a classifier fitted with groups needs them
        here too, and one fitted without takes none.
        """
        if not getattr(self, "initialized_", False):
            return self.fit(X, y, groups=groups, **fit_params)
        self._check_params()
        _check.check_fit_params(self, fit_params, _HOW_TO_WEIGH)
        self._check_groups_given(groups)
        if groups is None and getattr(self, "n_groups_", None) is not None:
            raise ValueError(
                f"CRIAClassifier was fitted with {self.n_groups_} groups, so its head "
                "reads embeddings normalised per group; partial_fit received "
                "groups=None. Pass groups=... (route them with metadata routing)."
            )
        self._check_spatial(X, fitting=False)
        X, montages = _net.model_input(self, X, reset=False)
        _net.record_montages(self, montages, reset=False)
        X, n_groups = self._with_groups(X, groups, fitting=False)
        if n_groups is not None:
            # The continuation's own groups (its hold-out is drawn among them).
            self.n_groups_, self.group_labels_ = n_groups, np.unique(groups)
        y_enc = self.label_encoder_.transform(column_or_1d(y)).astype(np.int64)
        return self._train(_labelled(X, y_enc), y_enc, reset=False, **fit_params)

    def predict_proba(self, X, groups=None):
        """Class probabilities, shape (n_examples, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or Dataset
            Preprocessed EEG, or an :class:`~sk_cria.datasets.EEGWindowsDataset`
            (in its own order).
        groups : array-like of shape (n_examples,) or None, default=None
            Group of each window when the classifier was fitted with groups:
            each group is normalised on its own windows here (groups unseen at
            fit included). None with such a classifier normalises all of X as
            one group, with a warning.

        Returns
        -------
        proba : ndarray of shape (n_examples, n_classes)

        Raises
        ------
        FloatingPointError
            The model gave NaN or infinite probabilities (non-finite or huge
            weights, or windows with extreme values), which would otherwise
            predict the first class for every window.
        """
        check_is_fitted(self, "montages_")
        self._check_groups_given(groups)
        self._check_spatial(X, fitting=False)
        n_groups = None
        if not isinstance(X, torch.utils.data.Dataset):
            # Datasets go as they are: windows datasets carry their channels,
            # and skorch's scoring callbacks pass the validation split (whose
            # group statistics were computed at the start of the epoch).
            X, _ = _net.model_input(self, X, reset=False)
            if getattr(self, "n_groups_", None) is not None and groups is None:
                warnings.warn(
                    f"CRIAClassifier was fitted with {self.n_groups_} groups but "
                    f"received groups=None: all {_net.n_windows(X)} windows are normalised "
                    "as one group. Route groups to predict (enable metadata routing and "
                    "pass groups=..., or score with sk_cria.alignment.GroupScorer).",
                    UserWarning, stacklevel=3,
                )
                groups = np.zeros(_net.n_windows(X), dtype=int)
            X, n_groups = self._with_groups(X, groups, fitting=False)
        with _net.concrete_device(self):
            if n_groups is not None:
                self._set_group_stats(self._frozen_features(self.get_dataset(X)), n_groups)
            proba = super().predict_proba(X).astype(np.float64)
        return _net.check_finite_output(self, proba, "probabilities")

    def _check_spatial(self, X, fitting):
        """Refuse what spatial filters cannot take: heads without them, other montages."""
        spatial = self.spatial_filters is not None if fitting else (
            getattr(getattr(self, "module_", None), "spatial", None) is not None)
        if fitting and self.embedding in (("regions", "tangent") if spatial else
                                          ("channels", "covariance")):
            raise ValueError(
                f"CRIAClassifier: embedding={self.embedding!r} "
                + (f"reads scalp regions, which the {self.spatial_filters} virtual channels "
                   "of spatial_filters do not have; use embedding='pooled', 'channels' "
                   "or 'covariance' with spatial filters, or spatial_filters=None."
                   if spatial else
                   "reads the virtual channels of spatial filters; set spatial_filters "
                   "to their number (e.g. 8), or use 'pooled', 'regions' or 'tangent'.")
            )
        if not spatial:
            return
        # Windows datasets list their montages; skorch's own (validation) ones do not.
        if isinstance(X, torch.utils.data.Dataset) and hasattr(X, "montages"):
            montages = [list(m) for m in X.montages]
            if fitting or montages != [self.ch_names_]:
                raise ValueError(
                    "CRIAClassifier: spatial_filters are a map from the channels of the "
                    "montage seen at fit, built at fit from arrays of one montage; got a "
                    f"{type(X).__name__}" + ("" if fitting else
                                             f" of montages {montages}") +
                    ". Give the windows as an array (EEGPreprocessor's output) of "
                    + ("one montage" if fitting else f"the fitted channels {self.ch_names_}")
                    + ", or set spatial_filters=None."
                )

    def _check_classes(self, y_enc):
        """Refuse labels that cannot be learnt, or split, before training starts."""
        counts = np.bincount(y_enc)
        if len(counts) < 2:
            raise ValueError(
                f"CRIAClassifier needs samples of at least 2 classes in y, but y holds "
                f"only one class: {self.classes_.tolist()[0]!r}. Give windows of every class."
            )
        if not (self.early_stopping and self.train_split is None) or self.n_groups_:
            return  # a grouped hold-out is checked when it is drawn
        # The stratified hold-out of early stopping (ValidSplit, as sklearn's
        # StratifiedShuffleSplit): every class in both parts.
        n_valid = math.ceil(self.validation_fraction * len(y_enc))
        rare = self.classes_[counts < 2].tolist()
        if rare or min(n_valid, len(y_enc) - n_valid) < len(counts):
            problem = (f"class(es) {rare} hold a single window" if rare else
                       f"{len(y_enc)} windows with validation_fraction="
                       f"{self.validation_fraction} give {n_valid} held-out and "
                       f"{len(y_enc) - n_valid} training windows for {len(counts)} classes")
            raise ValueError(
                f"CRIAClassifier: early stopping holds out validation_fraction="
                f"{self.validation_fraction} of the windows, stratified by class, so each "
                f"class needs windows on both sides; but {problem}. Give more windows "
                "of each class, or set early_stopping=False."
            )

    def get_iterator(self, dataset, training=False):
        """skorch's loader; windows of several montages go in batches of one montage each."""
        ids = _net.montage_ids(dataset)
        if ids is None or len(np.unique(ids)) < 2:
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        batch_size = kwargs.pop("batch_size", self.batch_size)
        kwargs.pop("shuffle", None)
        # Drawn from torch's generator, which random_state seeds, as skorch's shuffling is.
        sampler = MontageBatchSampler(ids, batch_size, shuffle=training,
                                      seed=int(torch.randint(2**31 - 1, ()).item()))
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, batch_sampler=sampler, **kwargs)

    def predict(self, X, groups=None):
        """Predicted class labels, shape (n_examples,); ``groups`` as in :meth:`predict_proba`."""
        index = self.predict_proba(X, groups=groups).argmax(axis=1)
        return self.classes_[index]

    def score(self, X, y, groups=None, sample_weight=None):
        """Accuracy of :meth:`predict` (``groups`` as there) against ``y``."""
        return accuracy_score(y, self.predict(X, groups=groups), sample_weight=sample_weight)

    def _check_groups_given(self, groups):
        if groups is not None and getattr(self, "n_groups_", None) is None:
            raise ValueError(
                "CRIAClassifier was fitted without groups, so its head reads embeddings "
                "that are not normalised per group; got groups at predict or "
                "partial_fit. Fit with groups=..., or pass groups=None."
            )

    # The subjects of a cross-subject recipe, routed as to the aligners of
    # sk_cria.alignment once metadata routing is enabled (opt out with
    # set_fit_request(groups=False) and the like).
    __metadata_request__fit = {"groups": True}
    __metadata_request__partial_fit = {"groups": True}
    __metadata_request__predict = {"groups": True}
    __metadata_request__predict_proba = {"groups": True}
    __metadata_request__score = {"groups": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
