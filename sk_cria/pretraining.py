"""ViewMaskPretrainer: self-supervised pre-training of CRIA as a transformer.

Design section 6: for each example one of the three views (temporal, spatial,
spectral) is replaced by a learned placeholder; the masked and the unmasked
example are encoded, projected, and pulled together by an InfoNCE loss that
pushes the other examples of the batch apart. ``transform`` returns the frozen
embeddings of the encoder.
"""

import hashlib
import numbers
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import ProgressBar
from sklearn.base import TransformerMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _check, _net, ddp
from ._check import check_groups
from .callbacks import WindowProgressBar
from .checkpointing import ResumeTraining, TrainingCheckpoint
from .channels import REGIONS
from .model import CRIA, EMBEDDINGS
from .model.pretext import MASKINGS, InfoNCELoss, ViewMaskModule
from .sampling import MontageBatchSampler

__all__ = ["EMBEDDINGS", "NEGATIVES", "ViewMaskPretrainer"]

#: Where the contrastive negatives of a window come from (see ``negatives``).
NEGATIVES = ("batch", "group")
#: The widest projection head taken: 512 times the default width, 67 MB of float32
#: weights from the default 256-wide embedding (projection_dim=10**9 from a 32-wide
#: embedding asked torch for 128 GB).
MAX_PROJECTION_DIM = 2**16
#: What to do instead of fit(sample_weight=...), which skorch would pass to torch.
_HOW_TO_WEIGH = ("pre-training uses no labels, so there is nothing to weigh by class; to "
                 "weigh recordings, repeat or leave out their windows in X.")
#: What ``transform`` returns (see ``embedding``).


class ViewMaskPretrainer(TransformerMixin, _net.CRIANetMixin, NeuralNet):
    """Pre-train a CRIA encoder without labels; transform EEG into embeddings.

    ``fit`` trains the encoder by view-wise masking and contrastive alignment
    (skorch's training loop: ``history``, callbacks and ``set_params`` work as
    in any skorch net). ``transform`` embeds examples with the frozen encoder,
    in eval mode, in batches, without gradients. Put a scikit-learn classifier
    after it for linear probing::

        Pipeline([EEGPreprocessor(...), ViewMaskPretrainer(), LogisticRegression()])

    ``fit`` and ``transform`` also take an
    :class:`~sk_cria.datasets.EEGWindowsDataset`: windows read lazily from
    recordings on disk, with any mix of montages and sampling rates.

    Parameters
    ----------
    config : None, "default", "small", dict or CRIAConfig, default=None
        Encoder architecture (see :class:`sk_cria.model.CRIAConfig`); None is
        the default preset. Ignored when ``encoder`` is given.
    encoder : str, path-like, ViewMaskPretrainer or None, default=None
        Start from a pre-trained encoder: a directory written by
        ``save_pretrained`` or ``sk-cria pretrain``, or a fitted
        ViewMaskPretrainer (the same word as in :class:`CRIAClassifier`);
        with ``max_epochs=0`` it is used as it is (see :meth:`from_pretrained`).
        None starts from random weights of the architecture ``config``.
    masking : {"view", "token", "spatial_block"}, default="view"
        What is hidden from the encoder: a whole view (CRIA), random tokens,
        or S-JEPA's block of neighbouring channels.
    mask_ratio : float in [0, 1], default=0.5
        Fraction hidden by "token" and "spatial_block" masking.
    temperature : float > 0, default=0.1
        InfoNCE temperature (the similarities are divided by it).
    negatives : {"batch", "group"}, default="batch"
        Where each window's contrastive negatives come from. "batch": the
        other windows of its batch, drawn from any subject or recording (the
        design's pretext). "group": every batch is drawn from the windows of
        one group, so the pretext has to tell apart moments of one subject
        instead of telling subjects apart (subject identity is the easiest
        cue across subjects; see ``benchmarks/bench_pretext.py``). The
        groups are ``fit``'s ``groups`` (subject or recording ids); for an
        :class:`~sk_cria.datasets.EEGWindowsDataset` without ``groups``,
        its recordings.
    projection_dim : int in [1, 65536], default=128
        Width of the contrastive projection head (dropped after training).
    embedding : {"pooled", "channels", "regions", "tangent"}, default="pooled"
        What ``transform`` returns for each window (training is the same for
        all four):

        - "pooled": the encoder's embedding, ``embed_dim`` features: all
          channels pooled (mean and top-channel mean) and read out. For any
          montage, and for tasks that do not hinge on where on the scalp
          something happens (mental workload, sleep stages, a rhythm's
          strength).
        - "channels": each channel's features, in the order of the channels
          seen at ``fit``: its LayerNorm'd fused tokens of the three views
          (``3 * d_model`` features) averaged over its patches, the features
          the pooled embedding is read from before channels are mixed.
          ``n_channels * 3 * d_model`` features, for one montage (``fit``
          records it; other channels, or the same in another order, are
          refused at ``transform``). For lateralised or focal patterns a
          linear probe must see by position, such as left vs right motor
          imagery.
        - "regions": the same features averaged over the channels of each of
          the 14 scalp regions of :data:`sk_cria.channels.REGIONS` (each
          lobe's left, midline and right part, read from the 10-05 names),
          ``14 * 3 * d_model`` features whatever the montage: spatial
          layout for data of several montages, or fewer features than
          "channels" for few labels. A region without any channel of the
          window's montage gives zeros; channels outside the vocabulary
          count in no region.
        - "tangent": second order, as Riemannian EEG pipelines read a
          window: the covariance of the regions' feature vectors (14 x 14,
          over their ``3 * d_model`` features, shrunk so that it is always
          positive definite) mapped to the tangent space at the identity
          (matrix logarithm, upper triangle, off-diagonals times sqrt 2:
          pyRiemann's ``TangentSpace`` with the identity as reference), 105
          features whatever the montage (:mod:`sk_cria.model.tangent`). Put
          :class:`~sk_cria.alignment.GroupStandardScaler` after it with
          subjects as ``groups`` to re-centre each subject at its
          log-Euclidean mean (subtracting the subject's mean ``log C``).

        "channels" and "regions" skip purification (``k_c``/``k_t``), which
        would drop different channels in different windows; padding never
        counts. They read the LayerNorm'd features, not the read-out: it was
        trained on pooled statistics (and ``readout_init="primary"`` starts
        it from the spectral view only). On the tasks measured so far
        (``benchmarks/results/embeddings.md``) neither beats "pooled" with a
        trained encoder.
    ch_names : list of str or None, default=None
        Channel names when X carries none (an EEGPreprocessor before this step
        passes them on).
    checkpoint_dir : str or path-like or None, default=None
        Make the run resumable: write training checkpoints (model, optimizer,
        schedulers, history, data order, RNG states) to this folder at each
        epoch end, atomically. If the folder already holds a checkpoint of
        the same run (same data and parameters), ``fit`` resumes from the
        newest readable one and ends with the weights an uninterrupted run
        would have (bit for bit on the CPU); a run of other settings is
        refused. ``max_epochs`` may be raised to extend a finished run.
    checkpoint_every : int or None, default=None
        With ``checkpoint_dir``, also checkpoint every this many batches.
    random_state : int or None, default=None
        Seeds weight initialisation, masking and batch order (reproducible on
        the CPU).
    lr : float in (0, 10], default=1e-3
    max_epochs : int >= 0, default=10
        0 trains nothing (with a warning unless ``encoder`` is given): the
        encoder is used as it is (see :meth:`from_pretrained`).
    batch_size : int, default=64
        Windows per batch (per process in a distributed run). Batches never
        mix montages, and a batch of one window (no negatives) is left out.
    optimizer : torch optimizer class, default=torch.optim.AdamW
    device : str, default="auto"
        "auto" uses CUDA (with bf16 mixed precision) when present, else the CPU.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of training and ``transform``: "auto" is bfloat16 autocast
        on CUDA; on the CPU it trains in bfloat16 where the CPU multiplies
        bfloat16 natively (AVX512-BF16 or AMX, as torch reports) and in
        float32 elsewhere, and ``transform`` is float32. Under bfloat16 the
        masked pass also reuses the streams view masking leaves unchanged
        (``module__reuse_streams="auto"``): that pair matched float32's loss
        and probe curves in two seed runs as long as ``cria-small``'s
        (``benchmarks/results/precision.md``, ``precision_seed1.md``); step
        times: ``pretrain_profile.md``. "bfloat16" autocasts training and
        ``transform`` on any CPU; "float32" never autocasts. The weights
        stay float32 either way.
    verbose : int, default=0
        1 prints the loss per epoch and a progress bar in windows per second
        with the loss and the ETA.
    **kwargs
        Any other skorch ``NeuralNet`` parameter (``callbacks``,
        ``optimizer__weight_decay``, ``iterator_train__num_workers``, ...).
        ``module__reuse_streams`` (True, False or "auto") chooses whether the
        streams that view masking leaves unchanged are fused once
        (:class:`~sk_cria.model.pretext.ViewMaskModule`).

    Attributes
    ----------
    encoder_ : sk_cria.model.CRIA
        The pre-trained encoder.
    ch_names_ : list of str or None
        Channel names seen at fit (None after fitting on several montages).
    montages_ : list of list of str
        Every channel list seen at fit.
    n_channels_in_ : int
        Channels seen at fit (array input only).
    n_features_in_ : int
        Length of axis 1 at fit (array input only, as in scikit-learn).
    n_groups_ : int
        Groups the batches were drawn from (``negatives="group"`` only).
    data_seed_ : int
        Seed of the batch order of every epoch (drawn from ``random_state``).
    history_ : skorch.History
        Loss per epoch and batch (also as ``history``).

    See Also
    --------
    CRIAClassifier : fine-tunes an encoder pre-trained here.
    sk_cria.datasets.EEGWindowsDataset : recordings on disk as training data.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_cria import ViewMaskPretrainer
    >>> X = np.random.default_rng(0).normal(size=(32, 3, 400)).astype("float32")
    >>> pre = ViewMaskPretrainer(config="small", max_epochs=1, ch_names=["C3", "Cz", "C4"],
    ...                          random_state=0).fit(X)
    >>> pre.transform(X).shape[0]
    32
    """

    def __init__(
        self,
        module=ViewMaskModule,
        *,
        config=None,
        encoder=None,
        masking="view",
        mask_ratio=0.5,
        temperature=0.1,
        negatives="batch",
        projection_dim=128,
        embedding="pooled",
        ch_names=None,
        checkpoint_dir=None,
        checkpoint_every=None,
        random_state=None,
        criterion=InfoNCELoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=10,
        batch_size=64,
        train_split=None,
        device="auto",
        precision="auto",
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            device=device, verbose=verbose, **kwargs,
        )
        self.config = config
        self.encoder = encoder
        self.masking = masking
        self.mask_ratio = mask_ratio
        self.temperature = temperature
        self.negatives = negatives
        self.projection_dim = projection_dim
        self.embedding = embedding
        self.ch_names = ch_names
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.random_state = random_state
        self.precision = precision

    # precision="auto" pre-trains in bfloat16 (with reused streams) on CPUs with
    # native bfloat16 products: loss and probe curves as float32's in two seed runs
    # as long as cria-small's (benchmarks/results/precision*.md); transform stays
    # float32 there.
    _cpu_auto_bfloat16 = True

    #: Constructor parameters checked by fit (sk_cria._check.check_params).
    _param_checks = {
        **_net.PARAM_CHECKS,
        "masking": _check.one_of(MASKINGS),
        "mask_ratio": _check.number(numbers.Real, 0, 1),
        "temperature": _check.number(
            numbers.Real, 0, None, "neither",
            hint="(the InfoNCE logits are divided by it; 0.05-0.5 is usual)"),
        "negatives": _check.one_of(NEGATIVES),
        # Bounded so that a typo is refused before torch allocates its head.
        "projection_dim": _check.number(
            numbers.Integral, 1, MAX_PROJECTION_DIM,
            hint="(the width of the InfoNCE projection head: 128 by default, a few "
                 "thousand in the widest self-supervised heads)"),
        "embedding": _check.one_of(EMBEDDINGS),
        "checkpoint_dir": _check.optional_path,
        "checkpoint_every": _check.number(numbers.Integral, 1, none=True),
        # A window's negatives are the other windows of its batch: a batch of
        # one trains nothing.
        "batch_size": _check.number(
            numbers.Integral, 2, also=(-1,),
            hint="ViewMaskPretrainer contrasts each window with the other windows "
                 "of its batch, so a batch needs at least 2 (-1: all windows in one "
                 "batch)."),
    }
    # What else than lr makes the loss diverge (named by the error that stops it).
    _divergence_causes = {"temperature": "a temperature too small"}

    # ----------------------------------------------------------- skorch hooks
    def initialize_module(self):
        if self.encoder is not None:
            encoder = _net.load_encoder(self.encoder)
        else:
            encoder = CRIA(_net.build_encoder_config(self.config))
        self.module_ = self.module(
            encoder, projection_dim=self.projection_dim, masking=self.masking,
            mask_ratio=self.mask_ratio, **self.get_params_for("module"),
        ).to(self.device)
        # Drawn after the weights, from the same seeded generator: the batch
        # order of epoch e is a function of (data_seed_, e) only.
        self.data_seed_ = int(torch.randint(2**31 - 1, ()).item())
        return self

    def initialize_criterion(self):
        kwargs = {"temperature": self.temperature, **self.get_params_for("criterion")}
        self.criterion_ = self.criterion(**kwargs)
        return self

    def get_default_callbacks(self):
        callbacks = [
            (name, callback) for name, callback in super().get_default_callbacks()
            if not isinstance(callback, ProgressBar)
        ]
        if self.verbose:
            callbacks.append(("progress_bar", WindowProgressBar()))
        if self.checkpoint_dir is not None:
            checkpoint = TrainingCheckpoint(self.checkpoint_dir,
                                            every_n_steps=self.checkpoint_every)
            callbacks += [("resume_training", ResumeTraining(checkpoint)),
                          ("training_checkpoint", checkpoint)]
        return callbacks

    def initialize_callbacks(self):
        super().initialize_callbacks()
        # The restore goes first, before the user's learning-rate schedulers
        # build theirs from the optimizer and history it restores. The
        # checkpoint goes last, after them (a scheduler steps in on_batch_end),
        # so that it saves the state the next batch starts from.
        order = {"resume_training": -1, "training_checkpoint": 1}
        self.callbacks_.sort(key=lambda item: order.get(item[0], 0))
        return self

    def get_iterator(self, dataset, training=False):
        """A DataLoader whose batches hold one montage each, in a seeded order."""
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = len(dataset)
        kwargs.pop("shuffle", None)
        montage_ids = _net.montage_ids(dataset)
        if montage_ids is None:
            montage_ids = np.zeros(len(dataset), dtype=np.int64)
        batch_groups = getattr(self, "_batch_groups", None)
        if training and batch_groups is not None:
            # A batch holds one montage and one group: ids of the (montage, group) pairs.
            montage_ids = np.unique(np.stack([montage_ids, batch_groups]), axis=1,
                                    return_inverse=True)[1].reshape(-1)
        sampler = MontageBatchSampler(
            montage_ids, batch_size, shuffle=training, seed=self.data_seed_,
            min_batch_size=2 if training else 1,
            num_replicas=ddp.world_size() if training else 1,
            rank=ddp.rank() if training else 0,
        )
        if training and len(sampler) == 0 and len(dataset):
            raise ValueError(
                f"ViewMaskPretrainer has no batch to train on: it contrasts each window "
                f"with the other windows of its batch, so a batch needs at least 2 "
                f"windows of one montage{' and one group' if batch_groups is not None else ''}"
                f"{f' on each of {ddp.world_size()} processes' if ddp.world_size() > 1 else ''}; "
                f"got {len(dataset)} window(s) (n_samples={len(dataset)}) with "
                f"batch_size={batch_size}. Give more "
                "windows (or more per montage or group)."
            )
        if training:
            # skorch builds the training iterator once per fit: it starts at
            # the first epoch not yet in the history (ResumeTraining skips
            # the batches a checkpoint had trained of it).
            sampler.set_epoch(len(self.history))
            self.train_sampler_ = sampler
        kwargs.setdefault("pin_memory", torch.device(self.device).type == "cuda")
        if kwargs.get("num_workers", 0) > 0:
            # Loader processes live for the whole fit, not one epoch: starting
            # them again at each epoch costs seconds.
            kwargs.setdefault("persistent_workers", True)
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, batch_sampler=sampler,
                        generator=torch.Generator().manual_seed(self.data_seed_), **kwargs)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(*y_pred)

    # --------------------------------------------------- distributed hooks
    def infer(self, x, **fit_params):
        if not (self.module_.training and ddp.is_distributed()):
            return super().infer(x, **fit_params)
        # Training steps of a distributed run go through DistributedDataParallel,
        # which averages the gradients of all processes during backward.
        if getattr(self, "_ddp", None) is None or self._ddp.module is not self.module_:
            # A view of module_ for this fit, not a component of its own: set past
            # skorch's guard on modules, and dropped when fit returns.
            object.__setattr__(self, "_ddp",
                               ddp.data_parallel(self.module_, self.device))
        x = _net.to_device_async(x, self.device)
        with _net.autocast(self.device, self.precision, self._training_bfloat16()):
            return self._ddp(**x) if isinstance(x, dict) else self._ddp(x, **fit_params)

    # ----------------------------------------------------------- public API
    # The groups of a cross-subject recipe (routed to RiemannianAlignment too)
    # reach fit without a set_fit_request; only negatives="group" uses them.
    __metadata_request__fit = {"groups": True}
    __metadata_request__partial_fit = {"groups": True}

    def fit(self, X, y=None, groups=None, **fit_params):
        """Pre-train the encoder on X (labels, if given, are ignored).

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or Dataset
            Preprocessed EEG at 200 Hz (the output of EEGPreprocessor, which
            also carries the channel names), or an
            :class:`~sk_cria.datasets.EEGWindowsDataset` of recordings on disk.
        y : None
            Ignored: pre-training uses no labels.
        groups : array-like of shape (n_examples,) or None, default=None
            The subject (or recording) of each window; used by
            ``negatives="group"`` only, which draws each batch from one group.

        Returns
        -------
        self : ViewMaskPretrainer

        Raises
        ------
        TypeError, ValueError
            A constructor parameter of the wrong type or value (the message
            names it, its value and what is valid), or data with no batch
            of at least 2 windows of one montage to train on.
        FloatingPointError
            The loss became NaN or infinite: training stops at that batch
            and the message names the epoch, the batch and the likely
            causes (``lr`` too high, ``temperature`` too small, bad input).
        """
        self._check_params()
        _check.check_fit_params(self, fit_params, _HOW_TO_WEIGH)
        ddp.init_from_env(_net.resolve_device(self.device))
        X = self._check_input(X, reset=True)
        if self.max_epochs == 0 and self.encoder is None:
            warnings.warn(
                "ViewMaskPretrainer: max_epochs=0 trains nothing; the encoder keeps "
                "its random initial weights. Set max_epochs >= 1 to pre-train, or "
                "start from a trained encoder (ViewMaskPretrainer.from_pretrained).",
                UserWarning, stacklevel=2,
            )
        return self._train_on(X, groups, reset=True, **fit_params)

    def partial_fit(self, X, y=None, classes=None, groups=None, **fit_params):
        """Continue pre-training on X for ``max_epochs`` more epochs (``groups`` as in fit)."""
        if not getattr(self, "initialized_", False):
            return self.fit(X, y, groups=groups, **fit_params)
        self._check_params()
        _check.check_fit_params(self, fit_params, _HOW_TO_WEIGH)
        X = self._check_input(X, reset=False)
        return self._train_on(X, groups, reset=False, **fit_params)

    def _train_on(self, X, groups, reset, **fit_params):
        self._batch_groups = self._negative_groups(X, groups)
        try:
            return self._train(X, None, reset=reset, **fit_params)
        finally:
            # The DistributedDataParallel wrapper lives for one fit (it cannot be
            # pickled, and a fitted net embeds in one process); the groups too.
            self.__dict__.pop("_ddp", None)
            self.__dict__.pop("_batch_groups", None)

    def _negative_groups(self, X, groups):
        """Integer group of each window for negatives="group", else None."""
        if self.negatives != "group":
            self.__dict__.pop("n_groups_", None)  # not left over from an earlier fit
            return None
        if groups is None:
            groups = getattr(X, "recording_ids", None)
        if groups is None:
            raise ValueError(
                'negatives="group" draws each batch from one group: pass the subject '
                "(or recording) of each window, fit(X, groups=...), or use "
                'negatives="batch".'
            )
        groups = np.unique(check_groups(groups, _net.n_windows(X)), return_inverse=True)[1].reshape(-1)
        sizes = np.bincount(groups)
        if (sizes < 2).any():
            warnings.warn(
                f"{int((sizes < 2).sum())} group(s) hold a single window, which has no "
                'negatives within its group and is never trained on with negatives="group".',
                UserWarning, stacklevel=4,
            )
        self.n_groups_ = len(sizes)
        return groups

    def transform(self, X):
        """Embed X with the frozen encoder.

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or Dataset
            Preprocessed EEG, or an :class:`~sk_cria.datasets.EEGWindowsDataset`
            (embedded in its own order).

        Returns
        -------
        embeddings : ndarray of shape (n_examples, n_features), float32
            ``n_features`` is ``embed_dim`` for ``embedding="pooled"``,
            ``n_channels * 3 * d_model`` for "channels",
            ``len(REGIONS) * 3 * d_model`` for "regions" and
            ``len(REGIONS) * (len(REGIONS) + 1) / 2`` for "tangent"
            (:meth:`get_feature_names_out` names them).

        Raises
        ------
        ValueError
            ``embedding="channels"`` and X's channels are not those seen at
            fit, in the same order (or nothing was fitted on one montage).
        FloatingPointError
            The encoder gave NaN or infinite embeddings (non-finite or huge
            weights, or windows with extreme values).
        """
        check_is_fitted(self, "montages_")
        _check.check_params_of(self, self._param_checks["embedding"], "embedding",
                               self.embedding)
        X, montages = _net.model_input(self, X, reset=False)
        if self.embedding == "channels":
            for names in montages:
                self._check_channel_layout(names)
        with _net.concrete_device(self):
            return embed(self, self.encoder_, self.embedding, X)

    def get_feature_names_out(self, input_features=None):
        """Names of the features ``transform`` returns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Names of the channels (axis 1 of X); None uses those seen at fit.

        Returns
        -------
        feature_names_out : ndarray of str
            "pooled": ``embedding0``, ``embedding1``, ...; "channels":
            ``<channel>_<view><unit>`` (``C3_spectral12``), channel by channel
            in the order seen at fit; "regions": ``<region>_<view><unit>``
            (``central_left_spectral12``), region by region in the order of
            :data:`sk_cria.channels.REGIONS`; "tangent":
            ``tangent_<region>_<region>`` for each entry of the upper
            triangle, row by row.
        """
        check_is_fitted(self, "montages_")
        config = self.encoder_.config
        if self.embedding == "pooled":
            return np.asarray([f"embedding{i}" for i in range(config.embed_dim)], dtype=object)
        if self.embedding == "tangent":
            rows, cols = np.triu_indices(len(REGIONS))
            return np.asarray([f"tangent_{REGIONS[a]}_{REGIONS[b]}" for a, b in zip(rows, cols)],
                              dtype=object)
        if input_features is not None and len(input_features) != getattr(
                self, "n_features_in_", len(input_features)):
            raise ValueError(
                f"input_features should have length equal to number of features "
                f"({self.n_features_in_}), got {len(input_features)}.")
        units = [f"{view}{i}" for view in CRIA.VIEWS for i in range(config.d_model)]
        if self.embedding == "regions":
            places = REGIONS
        elif input_features is not None:
            places = list(input_features)
        else:
            places = self._channel_layout()
        return np.asarray([f"{place}_{unit}" for place in places for unit in units],
                          dtype=object)

    def _channel_layout(self):
        """The channels of ``embedding="channels"``, in output order: those seen at fit."""
        if len(self.montages_) != 1:
            raise ValueError(
                'ViewMaskPretrainer(embedding="channels") gives each channel\'s features in '
                "the order of the channels seen at fit, so it needs one montage at fit; "
                + ("nothing was fitted yet: fit it first (after from_pretrained, fit "
                   "trains nothing and records the channels)" if not self.montages_ else
                   f"it was fitted on {len(self.montages_)} montages")
                + '. embedding="regions" gives the same features by scalp region, for '
                "any montage."
            )
        return self.montages_[0]

    def _check_channel_layout(self, names):
        layout = self._channel_layout()
        if list(names) != list(layout):
            raise ValueError(
                f'ViewMaskPretrainer(embedding="channels") was fitted on channels '
                f"{layout}, and lays out its features in that order; X has channels "
                f"{list(names)}. Give the same channels in the same order, fit again, "
                'or use embedding="regions" (any montage).'
            )

    # skorch's predict methods return the raw contrastive projections, which
    # mean nothing to a user: a transformer exposes transform only.
    predict = available_if(lambda self: False)(NeuralNet.predict)
    predict_proba = available_if(lambda self: False)(NeuralNet.predict_proba)

    @property
    def encoder_(self):
        check_is_fitted(self, "module_")
        return self.module_.encoder

    def save_pretrained(self, directory, overwrite=False, dtype="float32"):
        """Save the encoder (JSON config + safetensors) for CRIAClassifier or sharing.

        Parameters
        ----------
        directory : str or path-like
            Created if missing; gets ``config.json`` and ``model.safetensors``.
        overwrite : bool, default=False
            Replace an encoder the folder already holds; without it such a
            folder is refused (``FileExistsError``). Other files are kept.
        dtype : {"float32", "float16", "bfloat16"}, default="float32"
            Storage precision of the weights: "float16" halves the file;
            loading casts the weights back to float32.
        """
        encoder = self.encoder_
        # What it was trained on (fit's input), else what its source was (from_pretrained).
        encoder.input_scaling = getattr(self, "input_scaling_", None) or getattr(
            encoder, "input_scaling", None)
        encoder.save_pretrained(directory, overwrite=overwrite, dtype=dtype)

    @classmethod
    def from_pretrained(cls, directory, **params):
        """A pretrainer that embeds with a saved encoder as it is, ready to use.

        The encoder is loaded at once, so ``transform`` works straight away on
        any montage whose channels are named (by the :class:`~sk_cria.EEGArray`
        of an :class:`~sk_cria.EEGPreprocessor` before it, or ``ch_names=``).
        It is ``ViewMaskPretrainer(encoder=directory, max_epochs=0)``
        loaded: ``fit`` trains nothing and only records the channels of its
        data (then checked at ``transform``, as after any fit), so it fits in a
        Pipeline, and a ``clone`` (unfitted, as scikit-learn's contract wants)
        loads the same weights when fitted.

        Parameters
        ----------
        directory : str or path-like
            A folder written by :meth:`save_pretrained` or ``sk-cria pretrain``.
        **params
            Other constructor parameters (``device``, ``ch_names``, ``batch_size``,
            ...); ``max_epochs`` > 0 fine-tunes the loaded encoder on ``fit``.

        Returns
        -------
        ViewMaskPretrainer
            Initialised with the saved weights; ``montages_`` is empty until
            ``fit``.
        """
        params.setdefault("max_epochs", 0)
        net = cls(encoder=directory, **params)
        net.initialize()
        net.montages_ = []  # no channels seen yet: transform takes any named ones
        return net

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = False
        return tags

    # ----------------------------------------------------------- internals
    def _check_input(self, X, reset):
        """Validate X for training; record its montages (all seen in ``montages_``)."""
        X, montages = _net.model_input(self, X, reset)
        _net.record_montages(self, montages, reset)
        return X

    # ------------------------------------------- resuming (sk_cria.checkpointing)
    def training_fingerprint(self, X):
        """What a run resumed from a checkpoint must share with the checkpointed one.

        Parameters
        ----------
        X : array-like or Dataset
            The training data, as checked by ``fit``.

        Returns
        -------
        fingerprint : dict
            JSON-able: the encoder, the parameters of the loss and the
            optimisation, the number of windows and the montages.
        """
        # "checkpoint:" is the parameter's old name, kept so runs begun before
        # the rename still resume.
        encoder = (f"checkpoint:{self.encoder}" if self.encoder is not None
                   else repr(_net.build_encoder_config(self.config)))
        optimizer = getattr(self.optimizer, "__qualname__", repr(self.optimizer))
        # Keys added after runs had been checkpointed only appear when they
        # differ from the old behaviour, so those runs still resume.
        extra = {}
        if self.precision != "auto":
            extra["precision"] = self.precision
        if self.negatives != "batch":
            groups = getattr(self, "_batch_groups", None)
            extra |= {"negatives": self.negatives,
                      "groups": None if groups is None else
                      hashlib.sha1(np.ascontiguousarray(groups).tobytes()).hexdigest()}
        return {
            **extra,
            "encoder": encoder, "masking": self.masking, "mask_ratio": self.mask_ratio,
            "temperature": self.temperature, "projection_dim": self.projection_dim,
            "lr": self.lr, "batch_size": self.batch_size,
            "random_state": repr(self.random_state), "optimizer": optimizer,
            "optimizer_params": repr(sorted(self.get_params_for("optimizer").items())),
            "n_windows": len(X), "montages": self.montages_,
        }

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        if epochs is None:
            # max_epochs in all: a fit that ResumeTraining resumed (at
            # on_train_begin, before this loop) had done some of them.
            done = next((callback.epochs_done_ for _, callback in self.callbacks_
                         if isinstance(callback, ResumeTraining)), 0)
            epochs = self.max_epochs - done
        if epochs <= 0:
            # Nothing to train (from_pretrained, or a resumed run already
            # finished): no training iterator is built, so fit records the
            # channels of any data, even a single window.
            return self
        return super().fit_loop(X, y, epochs=epochs, **fit_params)


def embed(net, encoder, embedding, X):
    """``encoder.features`` of X (``embedding`` as there), in eval mode, batch by batch."""
    net.module_.eval()
    dataset = net.get_dataset(X)
    outputs = []
    with torch.inference_mode(), _net.autocast(net.device, net.precision):
        for Xi, _ in _net.device_batches(net, dataset):
            out = encoder.features(Xi["x"], Xi["channels"], embedding)
            outputs.append(out.float().cpu())
    return _net.check_finite_output(net, torch.cat(outputs).numpy(), "embeddings")
