"""Per-subject alignment without labels, for cross-subject EEG decoding.

Each subject's features are re-centred (and for vectors, rescaled) on that
subject's own unlabelled rows, for training and test subjects alike. The
subjects travel as ``groups`` through scikit-learn's metadata routing, so the
transformers work inside :class:`~sklearn.pipeline.Pipeline`,
:func:`~sklearn.model_selection.cross_validate` and
:class:`~sklearn.model_selection.GridSearchCV`::

    import sklearn
    sklearn.set_config(enable_metadata_routing=True)
    cross_validate(pipe, X, y, groups=None, cv=GroupKFold(),
                   params={"groups": subjects}, scoring=GroupScorer("roc_auc"))

The statistics are transductive: ``transform`` computes them on the rows it
is given, one group at a time, so a subject never seen at ``fit`` is aligned
on its own data. Aligning each subject removes whatever is constant within
that subject, so a label that takes one value per subject (patient vs
control) cannot be learnt after it; the transformers warn when fitted with
such a ``y``. scikit-learn's scorers call ``predict`` without metadata;
:class:`GroupScorer` forwards ``groups`` to it so that the test subjects of a
cross-validation fold are aligned one by one, not as one batch.
"""

import warnings
from functools import partial, update_wrapper

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import get_scorer
from sklearn.utils.metadata_routing import MetadataRequest, get_routing_for_object
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from ._check import (boolean, check_eeg_values, check_groups, check_params, stackable,
                     warn_groups_not_routed, warn_if_constant_within_groups)

try:  # pyRiemann >= 0.12 moved its geometry out of ``utils``
    from pyriemann.geometry.base import invsqrtm
    from pyriemann.geometry.mean import gmean, mean_functions
except ImportError:  # pragma: no cover - older pyRiemann
    from pyriemann.utils.base import invsqrtm
    from pyriemann.utils.mean import mean_functions

    try:
        from pyriemann.utils.mean import gmean
    except ImportError:
        from pyriemann.utils.mean import mean_covariance as gmean

__all__ = [
    "EuclideanAlignment",
    "GroupScorer",
    "GroupStandardScaler",
    "RiemannianAlignment",
    "RiemannianRecentering",
]


class _GroupAlignment(TransformerMixin, BaseEstimator):
    """Shared mechanics: validate, split rows by group, align each group.

    Subclasses implement ``_validate(X, reset)`` and ``_align(X_group)``.
    """

    # Alignment without groups is rarely what the user means, so ``groups``
    # is requested by default once metadata routing is enabled; users can
    # still opt out with ``set_fit_request(groups=False)``.
    __metadata_request__fit = {"groups": True}
    __metadata_request__transform = {"groups": True}

    def fit(self, X, y=None, groups=None):
        """Check the data; the statistics are computed at transform time.

        Parameters
        ----------
        X : array-like
            Training data (see the class docstring for its shape).
        y : array-like of shape (n_samples,) or None, default=None
            Not used for the alignment; only checked: a warning says when it
            is constant within every group (see Notes of the class).
        groups : array-like of shape (n_samples,) or None, default=None
            Group (subject) of each row; None makes all rows one group.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        X = self._validate(X, reset=True)
        groups = check_groups(groups, X.shape[0])
        self.n_groups_ = len(np.unique(groups))
        warn_if_constant_within_groups(type(self).__name__, y, groups)
        return self

    def transform(self, X, groups=None):
        """Align each group of rows on its own statistics.

        Parameters
        ----------
        X : array-like
            Data to align (see the class docstring for its shape).
        groups : array-like of shape (n_samples,) or None, default=None
            Group (subject) of each row; groups need not have been seen at
            fit. None aligns all rows as one group, with a warning if fit
            saw several groups (the usual sign that ``groups`` was not routed
            to ``predict``; see :class:`GroupScorer`).

        Returns
        -------
        X_new : ndarray
            Aligned data, same shape and floating dtype as ``X``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if groups is None and self.n_groups_ > 1:
            warn_groups_not_routed(type(self).__name__, self.n_groups_, X.shape[0])
        return self._align_groups(X, check_groups(groups, X.shape[0]))

    def fit_transform(self, X, y=None, groups=None):
        """Fit, then align each group of ``X``; ``groups`` reaches both steps.

        Parameters
        ----------
        X : array-like
            Training data (see the class docstring for its shape).
        y : array-like of shape (n_samples,) or None, default=None
            Not used for the alignment; only checked, as in :meth:`fit`.
        groups : array-like of shape (n_samples,) or None, default=None
            Group (subject) of each row; None makes all rows one group.

        Returns
        -------
        X_new : ndarray
            Aligned data, same shape and floating dtype as ``X``.
        """
        # TransformerMixin.fit_transform would pass groups to fit only.
        self.fit(X, y, groups)
        X = self._validate(X, reset=False)
        return self._align_groups(X, check_groups(groups, X.shape[0]))

    def _align_groups(self, X, groups):
        X_new = np.empty_like(X)
        labels, index, counts = np.unique(groups, return_inverse=True, return_counts=True)
        singletons = labels[counts == 1]
        if len(singletons):
            warnings.warn(
                f"{type(self).__name__}: groups {singletons[:5].tolist()}"
                f"{' ...' if len(singletons) > 5 else ''} have a single row; aligned "
                "on itself, such a row carries no information.",
                UserWarning,
                stacklevel=3,
            )
        for i in range(len(labels)):
            rows = index == i
            X_new[rows] = self._align(X[rows])
        return X_new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class GroupStandardScaler(_GroupAlignment):
    """Z-score each group's feature vectors on that group's own rows.

    The per-subject standardisation of cross-subject EEG work: each subject's
    band powers or embeddings get zero mean and unit variance per feature,
    computed on that subject's unlabelled rows at transform time, so training
    and test subjects land on one scale. A feature constant within a group
    (or a group of one row) is centred and left unscaled, as in
    :class:`~sklearn.preprocessing.StandardScaler`.

    Pass ``groups`` with scikit-learn's metadata routing enabled (it is
    requested by default for ``fit`` and ``transform``); ``groups=None``
    treats all rows of the call as one group.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract each group's mean.
    with_std : bool, default=True
        Divide by each group's standard deviation.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    n_groups_ : int
        Number of groups seen during fit (1 when fitted without groups).

    See Also
    --------
    RiemannianRecentering : The same idea for covariance matrices.
    GroupScorer : Scoring that forwards ``groups`` to ``predict``.

    Notes
    -----
    Whatever is constant within a group is removed, so a label that is one
    value per group (patient vs control) cannot be learnt after this step;
    ``fit`` warns when ``y`` is constant within every group.

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn
    >>> from sk_cria.alignment import GroupStandardScaler
    >>> X = np.array([[1.0], [3.0], [10.0], [30.0]])
    >>> groups = np.array([0, 0, 1, 1])
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     GroupStandardScaler().fit_transform(X, groups=groups).ravel()
    array([-1.,  1., -1.,  1.])
    """

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def _validate(self, X, reset):
        if reset:  # a truthy string such as "no" would silently mean True
            check_params(self, {"with_mean": boolean, "with_std": boolean})
        with stackable(X, type(self).__name__):
            return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES)

    def _align(self, X):
        # In float64, as StandardScaler: float16 squares overflow beyond 256 (the std
        # of features near 1000 came out inf, and every value 0); the result is
        # returned in the input's dtype, as StandardScaler does.
        X = X.astype(np.float64)
        if self.with_mean:
            X = X - X.mean(axis=0)
        if self.with_std:
            std = X.std(axis=0)
            # A constant feature (or a single row) has no spread to divide by.
            X = X / np.where(std > 10 * np.finfo(X.dtype).eps, std, 1.0)
        return X


class RiemannianRecentering(_GroupAlignment):
    """Whiten each group's SPD matrices by that group's Riemannian mean.

    Each subject's covariance matrices ``C`` become ``M^{-1/2} C M^{-1/2}``
    where ``M`` is the mean of that subject's matrices, so every subject's
    mean is the identity (Zanini et al. 2018, "Transfer learning: a Riemannian
    geometry framework with applications to brain-computer interfaces"). The
    mean is computed on the subject's unlabelled matrices at transform time,
    so a test subject is re-centred on its own data.

    pyRiemann's :class:`pyriemann.transfer.TLCenter` does the same whitening
    (with :class:`pyriemann.preprocessing.Whitening`), but it reads the
    domains from labels encoded as ``"domain/label"`` and its ``transform``
    re-centres every matrix on a single target domain fitted beforehand, so a
    standard cross-validation could not re-centre unseen test subjects with
    it. This transformer takes the subjects as ``groups`` instead and uses
    pyRiemann's ``gmean`` and ``invsqrtm`` for the geometry.

    Parameters
    ----------
    metric : str, default="riemann"
        Mean used as each group's centre, any metric of
        :func:`pyriemann.geometry.mean.gmean`; only "riemann" makes each
        group's Riemannian mean exactly the identity.

    Attributes
    ----------
    n_channels_ : int
        Size of the matrices seen during fit.
    n_groups_ : int
        Number of groups seen during fit (1 when fitted without groups).

    See Also
    --------
    GroupStandardScaler : The same idea for feature vectors.
    GroupScorer : Scoring that forwards ``groups`` to ``predict``.

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn
    >>> from pyriemann.geometry.mean import mean_riemann
    >>> from sk_cria.alignment import RiemannianRecentering
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((6, 3, 50))
    >>> covs = A @ A.transpose(0, 2, 1) / 50
    >>> groups = [0, 0, 0, 1, 1, 1]
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     aligned = RiemannianRecentering().fit_transform(covs, groups=groups)
    >>> np.allclose(mean_riemann(aligned[3:]), np.eye(3), atol=1e-6)
    True
    """

    def __init__(self, metric="riemann"):
        self.metric = metric

    def _validate(self, X, reset):
        if reset and not (callable(self.metric) or self.metric in mean_functions):
            raise ValueError(
                f"metric must be one of {sorted(mean_functions)} or a callable; "
                f"got {self.metric!r}."
            )
        # float16 in float64: numpy's linear algebra has no float16.
        X = check_eeg_values(X, type(self).__name__, dtype=(np.float64, np.float32))
        if X.ndim != 3 or X.shape[1] != X.shape[2]:
            raise ValueError(
                "Expected SPD matrices of shape (n_matrices, n_channels, n_channels); "
                f"got an array of shape {X.shape}."
            )
        if reset:
            self.n_channels_ = X.shape[1]
        elif X.shape[1] != self.n_channels_:
            raise ValueError(
                f"X has {X.shape[1]} x {X.shape[2]} matrices, but "
                f"{type(self).__name__} was fitted on {self.n_channels_} x "
                f"{self.n_channels_} matrices."
            )
        _check_spd(X)
        return X

    def _align(self, X):
        W = invsqrtm(_mean_of(X, self.metric))
        return W @ X @ W

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # 3-D input: scikit-learn's generic checks, which feed 2-D arrays, do not apply.
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class EuclideanAlignment(_GroupAlignment):
    """Whiten each group's EEG signals by that group's mean spatial covariance.

    Euclidean alignment (He and Wu 2020, IEEE TBME 67(2)): each subject's
    trials ``X`` (channels x times) become ``R^{-1/2} X`` where ``R`` is the
    arithmetic mean of that subject's trial covariances, so every subject's
    mean covariance is the identity. It aligns the *input* of a neural
    network the way :class:`RiemannianRecentering` aligns covariance
    matrices, without labels; the symmetric square root keeps each channel
    as close as possible to the electrode it came from, so channel names
    still apply. An :class:`~sk_cria.EEGArray` input stays one.

    Attributes
    ----------
    n_channels_ : int
        Number of channels seen during fit.
    n_groups_ : int
        Number of groups seen during fit (1 when fitted without groups).

    See Also
    --------
    RiemannianAlignment : The same whitening by each group's Riemannian mean.
    RiemannianRecentering : The same whitening for covariance matrices.
    """

    def _validate(self, X, reset):
        X = check_eeg_values(X, type(self).__name__, dtype=FLOAT_DTYPES)
        if X.ndim != 3:
            raise ValueError(
                "Expected EEG of shape (n_trials, n_channels, n_times); got an array "
                f"of shape {X.shape}."
            )
        if 0 in X.shape[1:]:  # check_array counts the trials only, for 3-D input
            raise ValueError(
                f"X is empty (shape {X.shape}): EEG needs at least one channel and one "
                "sample per trial."
            )
        if reset:
            self.n_channels_ = X.shape[1]
        elif X.shape[1] != self.n_channels_:
            raise ValueError(
                f"X has {X.shape[1]} channels, but {type(self).__name__} was fitted "
                f"on {self.n_channels_}."
            )
        return X

    def _align(self, X):
        # In float64: float32 products of ill-conditioned trials (condition numbers
        # above 1e6, as eegmat's under strong mains hum) come out with negative
        # eigenvalues, which the ridge does not cover and the Riemannian mean refuses.
        X64 = X.astype(np.float64, copy=False)
        covariances = X64 @ X64.transpose(0, 2, 1) / X.shape[-1]
        return invsqrtm(self._mean(covariances)) @ X

    def _mean(self, covariances):
        mean = covariances.mean(axis=0)
        # A flat or duplicated channel makes the mean singular: regularise by
        # a trace-scaled ridge so its inverse square root stays finite.
        return mean + _ridge(mean) * np.eye(len(mean))

    def transform(self, X, groups=None):
        return _keep_eeg_metadata(X, super().transform(X, groups))

    def fit_transform(self, X, y=None, groups=None):
        return _keep_eeg_metadata(X, super().fit_transform(X, y, groups))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


class RiemannianAlignment(EuclideanAlignment):
    """Whiten each group's EEG signals by the Riemannian mean of its covariances.

    Each subject's trials ``X`` (channels x times) become ``M^{-1/2} X``
    where ``M`` is the Riemannian (affine-invariant) mean of that subject's
    trial covariances, so the covariances of the aligned trials have the
    identity as their Riemannian mean: the input-side counterpart of
    :class:`RiemannianRecentering` (Zanini et al. 2018), which does the same
    to covariance matrices. :class:`EuclideanAlignment` (He and Wu 2020)
    uses the arithmetic mean instead, which a few high-power trials (artefacts,
    drifts) dominate; the Riemannian mean is a geometric average, far less
    sensitive to them. Statistics come from each group's own unlabelled
    trials at transform time, as for every transformer of this module, and
    an :class:`~sk_cria.EEGArray` input stays one.

    Parameters
    ----------
    metric : str, default="riemann"
        Mean used as each group's centre, any metric of
        :func:`pyriemann.geometry.mean.gmean`; "euclid" gives
        :class:`EuclideanAlignment` (up to its regularisation).

    Attributes
    ----------
    n_channels_ : int
        Number of channels seen during fit.
    n_groups_ : int
        Number of groups seen during fit (1 when fitted without groups).

    See Also
    --------
    EuclideanAlignment : The same whitening by the arithmetic mean.
    RiemannianRecentering : The same whitening for covariance matrices.

    Notes
    -----
    Each trial covariance gets a ridge of 1e-6 times its mean eigenvalue
    before the mean is taken, so that a flat or duplicated channel (a
    singular covariance, whose logarithm the Riemannian mean needs) leaves
    the result finite.

    Whatever is constant within a group is removed, so a label that is one
    value per group (patient vs control) cannot be learnt after this step;
    ``fit`` warns when ``y`` is constant within every group.

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn
    >>> from pyriemann.geometry.mean import mean_riemann
    >>> from sk_cria.alignment import RiemannianAlignment
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((10, 3, 200)) * [[1.0], [2.0], [5.0]]
    >>> groups = np.repeat([0, 1], 5)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     aligned = RiemannianAlignment().fit_transform(X, groups=groups)
    >>> covs = aligned[:5] @ aligned[:5].transpose(0, 2, 1) / 200
    >>> np.allclose(mean_riemann(covs), np.eye(3), atol=1e-4)
    True
    """

    def __init__(self, metric="riemann"):
        self.metric = metric

    def _validate(self, X, reset):
        if reset and not (callable(self.metric) or self.metric in mean_functions):
            raise ValueError(
                f"metric must be one of {sorted(mean_functions)} or a callable; "
                f"got {self.metric!r}."
            )
        X = super()._validate(X, reset)
        self._check_samples(X)
        return X

    def _check_samples(self, X):
        if X.shape[-1] < X.shape[1]:
            raise ValueError(
                f"X has {X.shape[-1]} samples per trial for {X.shape[1]} channels, so "
                "every trial covariance is singular and their Riemannian mean is "
                "undefined (the aligned trials would blow up). Give trials of at least "
                f"{X.shape[1]} samples (longer windows), fewer channels, or use "
                "EuclideanAlignment, which averages the covariances first."
            )

    def _mean(self, covariances):
        # In float64: the ridge of a float32 flat channel would be near rounding.
        covariances = covariances.astype(np.float64)
        ridge = _ridge(covariances)[:, None, None] * np.eye(covariances.shape[-1])
        return _mean_of(covariances + ridge, self.metric)


#: pyRiemann's Riemannian mean stops after 50 iterations by default, before its 1e-8
#: tolerance on some eegmat subjects (up to 500 needed), and warns "Convergence not
#: reached" although its mean is then within 1e-5 of the converged one (the subject's
#: windows spread over about 5): the limit, not the data, is the cause.
_MEAN_OPTIONS = {"riemann": {"maxiter": 1000}}


def _mean_of(covariances, metric, sample_weight=None):
    """pyRiemann's mean of ``covariances`` under ``metric``, iterated to its tolerance."""
    options = _MEAN_OPTIONS.get(metric, {}) if isinstance(metric, str) else {}
    return gmean(covariances, metric=metric, sample_weight=sample_weight, **options)


def _check_spd(X):
    """Refuse matrices that are not symmetric positive definite, naming the first one.

    Singular up to rounding counts as not positive definite: the Riemannian
    mean would take the logarithm of its rounding noise.
    """
    scale = np.abs(X).max(initial=0.0)
    asymmetric = ~np.isclose(X, X.transpose(0, 2, 1), rtol=1e-5, atol=1e-8 * scale).all(
        axis=(1, 2))
    eigenvalues = np.linalg.eigvalsh(X)  # ascending
    tolerance = X.shape[-1] * np.finfo(X.dtype).eps * eigenvalues[:, -1]
    bad = asymmetric | (eigenvalues[:, 0] <= tolerance)
    if bad.any():
        which = int(np.flatnonzero(bad)[0])
        why = ("it is not symmetric" if asymmetric[which] else
               f"eigenvalues from {eigenvalues[which, 0]:.3g} to {eigenvalues[which, -1]:.3g}")
        raise ValueError(
            f"X[{which}] is not a symmetric positive definite matrix ({why}); "
            "covariances of windows with fewer samples than channels, or with a flat or "
            "duplicated channel, are singular. Regularise them, e.g. with "
            "pyriemann.estimation.Covariances(estimator='oas') or "
            "pyriemann.estimation.Shrinkage."
        )


def _ridge(covariances):
    """1e-6 times the mean eigenvalue of each matrix, kept above zero."""
    trace = np.trace(covariances, axis1=-2, axis2=-1)
    return 1e-6 * trace / covariances.shape[-1] + np.finfo(covariances.dtype).tiny


def _keep_eeg_metadata(X_in, X_out):
    """Re-attach the metadata of an EEGArray input (channels, padding, scaling) to the output."""
    from .preprocessing import EEGArray

    if not isinstance(X_in, EEGArray):
        return X_out
    return X_in.with_data(X_out.astype(X_in.dtype, copy=False))


class GroupScorer:
    """A scorer that forwards ``groups`` to the estimator's prediction.

    scikit-learn's scorers call ``predict``/``predict_proba`` without
    metadata, so inside :func:`~sklearn.model_selection.cross_validate` the
    test rows would reach :class:`GroupStandardScaler` or
    :class:`RiemannianRecentering` with ``groups=None`` and be aligned as one
    batch. This scorer requests ``groups`` (routed from ``params``) and binds
    them to the prediction methods of estimators that consume them; other
    estimators are scored as usual.

    Requires ``sklearn.set_config(enable_metadata_routing=True)``.

    Parameters
    ----------
    scoring : str or callable
        Any scorer that :func:`sklearn.metrics.get_scorer` accepts, e.g.
        ``"balanced_accuracy"`` or ``"roc_auc"``.

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GroupKFold, cross_val_score
    >>> from sklearn.pipeline import make_pipeline
    >>> from sk_cria.alignment import GroupScorer, GroupStandardScaler
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(6), 20)
    >>> y = np.tile([0, 1], 60)
    >>> X = rng.standard_normal((120, 3)) + y[:, None] + 5 * groups[:, None]
    >>> pipe = make_pipeline(GroupStandardScaler(), LogisticRegression())
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     scores = cross_val_score(pipe, X, y, cv=GroupKFold(3),
    ...                              scoring=GroupScorer("roc_auc"),
    ...                              params={"groups": groups})
    >>> bool(scores.min() > 0.7)
    True
    """

    def __init__(self, scoring):
        self.scoring = scoring

    def __call__(self, estimator, X, y_true, groups=None, **kwargs):
        scorer = get_scorer(self.scoring)
        if groups is not None:
            if not get_config()["enable_metadata_routing"]:
                raise RuntimeError(
                    "GroupScorer forwards groups through metadata routing; call "
                    "sklearn.set_config(enable_metadata_routing=True) first."
                )
            estimator = _GroupsBound(estimator, np.asarray(groups))
        return scorer(estimator, X, y_true, **kwargs)

    def get_metadata_routing(self):
        """Request ``groups`` for ``score``.

        Returns
        -------
        routing : MetadataRequest
            The scorer's metadata request.
        """
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="groups", alias=True)
        return request

    def __repr__(self):
        return f"{type(self).__name__}({self.scoring!r})"


class _GroupsBound:
    """Proxy that calls the prediction methods of an estimator with ``groups``."""

    _PREDICTIONS = ("predict", "predict_proba", "predict_log_proba", "decision_function")

    def __init__(self, estimator, groups):
        self._estimator = estimator
        self._groups = groups

    def __getattr__(self, name):
        attr = getattr(self._estimator, name)
        if name in self._PREDICTIONS and _consumes_groups(self._estimator, name):
            # scikit-learn reads the method's __name__ to decide how to use it.
            return update_wrapper(partial(attr, groups=self._groups), attr)
        return attr

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()


def _consumes_groups(estimator, method):
    try:
        return bool(get_routing_for_object(estimator).consumes(method, ["groups"]))
    except Exception:  # objects that know nothing of routing consume nothing
        return False
