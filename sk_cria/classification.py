"""CRIAClassifier: fine-tune a (pre-trained) CRIA encoder with skorch."""

import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochScoring
from skorch.dataset import ValidSplit
from torch import nn

from . import _check, _net
from .model import CRIA
from .sampling import MontageBatchSampler

__all__ = ["CRIAClassifier"]


class _ClassifierModule(nn.Module):
    """Encoder + fully connected ELU head returning class logits."""

    def __init__(self, encoder, n_classes, hidden=128, dropout=0.3):
        super().__init__()
        self.encoder = encoder
        width = encoder.config.embed_dim
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(width, hidden), nn.ELU(),
            nn.Dropout(dropout), nn.Linear(hidden, n_classes),
        )

    def forward(self, x, channels):
        """Class logits; ``channels`` are the index pairs every batch carries."""
        return self.head(self.encoder(x, channels))


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
    head_hidden : int, default=128
        Width of the hidden layer of the head.
    head_dropout : float in [0, 1), default=0.3
    class_weight : "balanced", dict or None, default="balanced"
        Weight the loss by inverse class frequency (eegmat has 3 rest windows
        per arithmetic window), or by ``{label: weight}``.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data (stratified) and
        stop when its loss has not improved for ``n_iter_no_change`` epochs,
        restoring the best weights.
    validation_fraction : float in (0, 1), default=0.2
        With ``early_stopping``: each class needs at least 2 windows, so that
        it is on both sides of the stratified hold-out.
    n_iter_no_change : int >= 1, default=5
    ch_names : list of str or None, default=None
        Channel names when X carries none.
    random_state : int or None, default=None
        Seeds the head, the validation split, dropout, masking and batch order.
    lr : float > 0, default=3e-4
    max_epochs : int >= 0, default=30
        0 trains nothing (the head keeps random weights; warned about).
    batch_size : int, default=32
    optimizer : torch optimizer class, default=torch.optim.AdamW
    device : str, default="auto"
        "auto" uses CUDA (with bf16 mixed precision) when present, else the CPU.
    n_threads : int or None, default=None
        torch intra-op threads during fit and predict; the caller's setting is
        restored afterwards. None keeps torch's setting (``cores // n_jobs``
        in the workers of joblib's loky backend, 1 in Dask worker processes:
        both set ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` there), lowered if
        needed to the CPUs this process may use divided by the Dask worker
        threads sharing it (:func:`sk_cria.threads.effective_n_threads`).
        Give ``cores // n_jobs`` on backends that limit nothing (joblib's
        ``"threading"``, Dask workers without a nanny) and for identical
        results across backends. See :doc:`/scaling`.
    verbose : int, default=0
        1 prints per-epoch losses and a progress bar.
    **kwargs
        Any other skorch parameter (``callbacks``, ``optimizer__weight_decay``,
        ``module__...``, ``train_split``, ...).

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
        attn_mask_ratio=0.1,
        head_hidden=128,
        head_dropout=0.3,
        class_weight="balanced",
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        ch_names=None,
        random_state=None,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=3e-4,
        max_epochs=30,
        batch_size=32,
        train_split=None,
        device="auto",
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
        self.attn_mask_ratio = attn_mask_ratio
        self.head_hidden = head_hidden
        self.head_dropout = head_dropout
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.ch_names = ch_names
        self.random_state = random_state
        self.n_threads = n_threads

    #: Constructor parameters checked by fit (sk_cria._check.check_params).
    _param_checks = {
        **_net.PARAM_CHECKS,
        "freeze_encoder": _check.boolean,
        "attn_mask_ratio": _check.number(numbers.Real, 0, 1, "left", none=True),
        "head_hidden": _check.number(numbers.Integral, 1),
        "head_dropout": _check.number(numbers.Real, 0, 1, "left"),
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
        self.module_ = self.module(
            encoder, n_classes=len(self.classes_), hidden=self.head_hidden,
            dropout=self.head_dropout, **self.get_params_for("module"),
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

    def get_split_datasets(self, X, y=None, **fit_params):
        if self.train_split is None and self.early_stopping:
            split = ValidSplit(self.validation_fraction, stratified=True,
                               random_state=self.random_state)
            dataset = self.get_dataset(X, y)
            return split(dataset, y, **fit_params)
        return super().get_split_datasets(X, y, **fit_params)

    # ----------------------------------------------------------- public API
    @property
    def classes_(self):
        return self.label_encoder_.classes_

    def fit(self, X, y, **fit_params):
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
        X, montages = _net.model_input(self, X, reset=True)
        _net.record_montages(self, montages, reset=True)
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
        return self._train(_labelled(X, y_enc), y_enc, reset=True, **fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training for ``max_epochs`` more epochs (or fit if new)."""
        if not getattr(self, "initialized_", False):
            return self.fit(X, y, **fit_params)
        self._check_params()
        X, montages = _net.model_input(self, X, reset=False)
        _net.record_montages(self, montages, reset=False)
        y_enc = self.label_encoder_.transform(column_or_1d(y)).astype(np.int64)
        return self._train(_labelled(X, y_enc), y_enc, reset=False, **fit_params)

    def predict_proba(self, X):
        """Class probabilities, shape (n_examples, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_examples, n_channels, n_times) or Dataset
            Preprocessed EEG, or an :class:`~sk_cria.datasets.EEGWindowsDataset`
            (in its own order).

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
        if not isinstance(X, torch.utils.data.Dataset):
            # Datasets go as they are: windows datasets carry their channels,
            # and skorch's scoring callbacks pass the validation split.
            X, _ = _net.model_input(self, X, reset=False)
        with _net.concrete_device(self):
            proba = super().predict_proba(X).astype(np.float64)
        return _net.check_finite_output(self, proba, "probabilities")

    def _check_classes(self, y_enc):
        """Refuse labels that cannot be learnt, or split, before training starts."""
        counts = np.bincount(y_enc)
        if len(counts) < 2:
            raise ValueError(
                f"CRIAClassifier needs samples of at least 2 classes in y, but y holds "
                f"only one class: {self.classes_.tolist()[0]!r}. Give windows of every class."
            )
        if not (self.early_stopping and self.train_split is None):
            return
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

    def predict(self, X):
        """Predicted class labels, shape (n_examples,)."""
        index = self.predict_proba(X).argmax(axis=1)
        return self.classes_[index]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
