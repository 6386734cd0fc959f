"""Per-group alignment: estimator contract, behaviour, metadata routing."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from pyriemann.geometry.mean import mean_riemann
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
    parametrize_with_checks,
)

from sk_cria import EEGArray
from sk_cria.alignment import (
    EuclideanAlignment,
    GroupScorer,
    GroupStandardScaler,
    RiemannianAlignment,
    RiemannianRecentering,
)

# Transductive by design: each call's statistics come from the rows it is given.
_TRANSDUCTIVE = {
    "check_methods_subset_invariance": (
        "statistics are computed per group on the rows passed to transform, so a "
        "subset of a group is standardised on that subset"
    )
}


@pytest.fixture(autouse=True)
def _routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _expected_failed_checks(estimator):
    return _TRANSDUCTIVE if estimator.with_mean or estimator.with_std else {}


# The checks' tiny data sets hold groups of one row, which warn by design.
@pytest.mark.filterwarnings("ignore:GroupStandardScaler. groups.*single row:UserWarning")
@parametrize_with_checks(
    [GroupStandardScaler(), GroupStandardScaler(with_std=False)],
    expected_failed_checks=_expected_failed_checks,
)
def test_group_standard_scaler_is_sklearn_compatible(estimator, check):
    check(estimator)


def _spd_groups(n_groups=3, n_per_group=30, n_channels=4, seed=0):
    """SPD matrices whose groups differ by a congruence A_g C A_g^T (a "subject")."""
    rng = np.random.default_rng(seed)
    covs, groups = [], []
    for g in range(n_groups):
        mixing = rng.standard_normal((n_channels, n_channels)) + 2 * np.eye(n_channels)
        signals = rng.standard_normal((n_per_group, n_channels, 200))
        covs.append(mixing @ (signals @ signals.transpose(0, 2, 1) / 200) @ mixing.T)
        groups.append(np.full(n_per_group, g))
    return np.concatenate(covs), np.concatenate(groups)


def _vector_groups(seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(4), 25)
    y = np.tile([0, 1], 50)
    # Each group has its own offset and scale, larger than the class effect.
    offset, scale = 10.0 * groups[:, None], 1.0 + groups[:, None]
    X = (rng.standard_normal((100, 3)) + y[:, None]) * scale + offset
    return X, y, groups


@pytest.mark.parametrize(
    "estimator", [RiemannianRecentering(), RiemannianRecentering("logeuclid")]
)
def test_recentering_follows_the_estimator_contract(estimator):
    covs, groups = _spd_groups()
    name = type(estimator).__name__
    check_no_attributes_set_in_init(name, estimator)
    check_get_params_invariance(name, estimator)
    check_set_params(name, estimator)
    with pytest.raises(NotFittedError):
        clone(estimator).transform(covs)
    fitted = clone(estimator)
    assert fitted.fit(covs, groups=groups) is fitted
    assert (fitted.n_channels_, fitted.n_groups_) == (4, 3)
    np.testing.assert_allclose(
        fitted.transform(covs, groups=groups),
        clone(estimator).fit_transform(covs, groups=groups),
    )
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(
        restored.transform(covs, groups=groups), fitted.transform(covs, groups=groups)
    )


def test_recentering_refuses_bad_input():
    covs, groups = _spd_groups()
    with pytest.raises(ValueError, match=r"\(n_matrices, n_channels, n_channels\)"):
        RiemannianRecentering().fit(covs[:, :, :3])
    with pytest.raises(ValueError, match="fitted on 4 x 4"):
        RiemannianRecentering().fit(covs, groups=groups).transform(
            covs[:, :3, :3], groups=groups
        )
    with pytest.raises(ValueError, match="metric must be one of"):
        RiemannianRecentering(metric="nope").fit(covs)
    with pytest.raises(ValueError, match=r"groups must have shape \(90,\)"):
        RiemannianRecentering().fit(covs, groups=groups[:10])


def test_recentering_makes_each_group_mean_the_identity():
    covs, groups = _spd_groups()
    aligned = RiemannianRecentering().fit_transform(covs, groups=groups)
    for g in np.unique(groups):
        assert not np.allclose(mean_riemann(covs[groups == g]), np.eye(4), atol=0.1)
        np.testing.assert_allclose(mean_riemann(aligned[groups == g]), np.eye(4), atol=1e-6)
    # Still SPD, and symmetric to rounding.
    np.testing.assert_allclose(aligned, aligned.transpose(0, 2, 1), atol=1e-10)
    assert np.linalg.eigvalsh(aligned).min() > 0


def test_group_unseen_at_fit_is_aligned_on_its_own_data():
    covs, groups = _spd_groups(n_groups=4)
    X, _, vector_groups = _vector_groups()
    recentering = RiemannianRecentering().fit(covs[groups < 3], groups=groups[groups < 3])
    new = recentering.transform(covs[groups == 3], groups=groups[groups == 3])
    np.testing.assert_allclose(mean_riemann(new), np.eye(4), atol=1e-6)
    seen = vector_groups < 3
    scaler = GroupStandardScaler().fit(X[seen], groups=vector_groups[seen])
    new = scaler.transform(X[~seen], groups=vector_groups[~seen])
    np.testing.assert_allclose(new.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(new.std(axis=0), 1)


def test_group_standard_scaler_gives_each_group_zero_mean_unit_std():
    X, _, groups = _vector_groups()
    Z = GroupStandardScaler().fit_transform(X, groups=groups)
    for g in np.unique(groups):
        np.testing.assert_allclose(Z[groups == g].mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(Z[groups == g].std(axis=0), 1)
    assert Z.dtype == np.float64
    Z32 = GroupStandardScaler().fit_transform(X.astype(np.float32), groups=groups)
    assert Z32.dtype == np.float32


def test_constant_features_and_single_row_groups_stay_finite():
    X = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 7.0]])
    with pytest.warns(UserWarning, match=r"groups \[1\] have a single row"):
        Z = GroupStandardScaler().fit_transform(X, groups=[0, 0, 1])
    np.testing.assert_allclose(Z, [[-1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("make_data", ["vectors", "matrices"])
def test_no_labels_are_used(make_data):
    if make_data == "vectors":
        X, y, groups = _vector_groups()
        estimator = GroupStandardScaler()
    else:
        X, groups = _spd_groups()
        y = np.arange(len(X)) % 2
        estimator = RiemannianRecentering()
    shuffled = np.random.default_rng(1).permutation(y)
    np.testing.assert_array_equal(
        clone(estimator).fit_transform(X, y, groups=groups),
        clone(estimator).fit_transform(X, shuffled, groups=groups),
    )


@pytest.mark.parametrize("estimator", [GroupStandardScaler(), RiemannianAlignment()])
def test_warns_when_y_is_constant_within_every_group(estimator):
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1, 2, 3], 6)
    X = rng.standard_normal((24, 3)) if isinstance(estimator, GroupStandardScaler) else \
        rng.standard_normal((24, 3, 100))
    per_subject_label = np.repeat([0, 1, 0, 1], 6)  # patient vs control
    with pytest.warns(UserWarning, match="constant within every group"):
        clone(estimator).fit(X, per_subject_label, groups=groups)
    with pytest.warns(UserWarning, match="constant within every group"):
        clone(estimator).fit_transform(X, per_subject_label, groups=groups)
    # A label that varies within subjects, no label, or a single group: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone(estimator).fit(X, np.tile([0, 1], 12), groups=groups)
        clone(estimator).fit(X, groups=groups)
        clone(estimator).fit(X, per_subject_label)


def test_no_groups_makes_one_group_and_warns_when_fit_had_several():
    X, _, groups = _vector_groups()
    scaler = GroupStandardScaler().fit(X)
    assert scaler.n_groups_ == 1
    np.testing.assert_allclose(scaler.transform(X), (X - X.mean(0)) / X.std(0))
    scaler.fit(X, groups=groups)
    with pytest.warns(UserWarning, match="transform received groups=None"):
        scaler.transform(X)


def test_groups_are_routed_through_pipeline_fit_and_predict():
    X, y, groups = _vector_groups()
    pipe = make_pipeline(GroupStandardScaler(), LogisticRegression())
    pipe.fit(X, y, groups=groups)
    # Shifting a whole group leaves its aligned features, hence its predictions, unchanged.
    shifted = X + 100.0 * (groups == 2)[:, None]
    np.testing.assert_allclose(
        pipe.predict_proba(shifted, groups=groups), pipe.predict_proba(X, groups=groups)
    )


def test_cross_val_score_with_group_scorer_aligns_test_subjects_one_by_one():
    X, y, groups = _vector_groups()
    pipe = make_pipeline(GroupStandardScaler(), LogisticRegression())
    cv = GroupKFold(n_splits=2)
    aligned = cross_val_score(
        pipe, X, y, cv=cv, scoring=GroupScorer("roc_auc"), params={"groups": groups}
    )
    with pytest.warns(UserWarning, match="transform received groups=None"):
        batch = cross_val_score(pipe, X, y, cv=cv, scoring="roc_auc", params={"groups": groups})
    assert aligned.min() > 0.75
    # Without groups at predict, the two test groups are standardised together.
    assert aligned.mean() > batch.mean() + 0.1
    # An estimator that consumes no groups is scored as usual.
    plain = {
        scoring: cross_val_score(
            LogisticRegression(), X, y, cv=cv, scoring=scoring, params={"groups": groups}
        )
        for scoring in (GroupScorer("roc_auc"), "roc_auc")
    }
    np.testing.assert_allclose(*plain.values())


def test_grid_search_routes_groups():
    X, y, groups = _vector_groups()
    pipe = make_pipeline(GroupStandardScaler(), LogisticRegression())
    search = GridSearchCV(
        pipe,
        {"groupstandardscaler__with_std": [False, True]},
        cv=GroupKFold(n_splits=2),
        scoring=GroupScorer("roc_auc"),
    ).fit(X, y, groups=groups)
    assert search.best_score_ > 0.75


def test_group_scorer_needs_routing():
    X, y, groups = _vector_groups()
    pipe = make_pipeline(GroupStandardScaler(), LogisticRegression()).fit(X, y, groups=groups)
    with sklearn.config_context(enable_metadata_routing=False):
        with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
            GroupScorer("roc_auc")(pipe, X, y, groups=groups)


def _signal_groups(seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([0, 1, 2], 8)
    # Each subject mixes the channels differently and has its own gain.
    mixing = rng.standard_normal((3, 4, 4)) + 3 * np.eye(4)
    X = np.stack([mixing[g] @ rng.standard_normal((4, 300)) * (1 + g) for g in groups])
    return X, groups


def test_euclidean_alignment_whitens_each_subject_and_keeps_channel_names():
    X, groups = _signal_groups()
    X = EEGArray(X.astype(np.float32), ch_names=["C3", "Cz", "C4", "Pz"])
    with sklearn.config_context(enable_metadata_routing=True):
        ea = EuclideanAlignment().fit(X[groups < 2], groups=groups[groups < 2])
        out = ea.transform(X, groups=groups)  # subject 2 is unseen at fit
    assert isinstance(out, EEGArray) and out.ch_names == ["C3", "Cz", "C4", "Pz"]
    assert out.dtype == np.float32
    for g in range(3):
        rows = out[groups == g].astype(np.float64)
        mean_cov = (rows @ rows.transpose(0, 2, 1) / rows.shape[-1]).mean(axis=0)
        np.testing.assert_allclose(mean_cov, np.eye(4), atol=1e-3)
    with pytest.raises(ValueError, match="X has 3 channels"):
        ea.transform(X[:, :3])


@pytest.mark.parametrize("estimator", [EuclideanAlignment(), RiemannianAlignment()])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_signal_alignment_survives_a_flat_channel(estimator, dtype):
    X, groups = _signal_groups()
    X[:, 2] = 0.0
    out = clone(estimator).fit_transform(X.astype(dtype), groups=groups)
    assert out.dtype == dtype
    assert np.isfinite(out).all()


def test_riemannian_alignment_of_ill_conditioned_float32_eeg(data_path):
    # eegmat subject 31 under mains hum at -20 dB, preprocessed as CRIA's input:
    # float32 windows with condition numbers above 1e6, whose covariances came out
    # of a float32 product with negative eigenvalues and broke the Riemannian mean
    # ("Matrices must be positive definite", found by benchmarks/bench_noise.py).
    from sk_cria import EEGPreprocessor
    from sk_cria.datasets import load_eegmat
    from sk_cria.noise import add_mains_hum

    bunch = load_eegmat([31], data_path, download=False)
    noisy = add_mains_hum(bunch.data, bunch.sfreq, -20, line_freq=50, random_state=0)
    X = EEGPreprocessor(sfreq=bunch.sfreq, ch_names=bunch.ch_names,
                        line_freq=50).fit_transform(noisy)
    assert X.dtype == np.float32
    windows = np.asarray(X, dtype=np.float64)
    eigenvalues = np.linalg.eigvalsh(windows @ windows.transpose(0, 2, 1))
    assert (eigenvalues[:, -1] / eigenvalues[:, 0]).max() > 1e6  # ill-conditioned indeed
    out = RiemannianAlignment().fit_transform(X, groups=bunch.groups)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    # As aligned as the same windows in float64, to float32 precision.
    reference = RiemannianAlignment().fit_transform(np.asarray(X, dtype=np.float64),
                                                   groups=bunch.groups)
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-4 * np.abs(reference).max())


def test_riemannian_alignment_centres_each_subject_at_the_identity():
    X, groups = _signal_groups()
    X = EEGArray(X.astype(np.float32), ch_names=["C3", "Cz", "C4", "Pz"])
    ra = RiemannianAlignment().fit(X[groups < 2], groups=groups[groups < 2])
    out = ra.transform(X, groups=groups)  # subject 2 is unseen at fit
    assert isinstance(out, EEGArray) and out.ch_names == ["C3", "Cz", "C4", "Pz"]
    assert out.dtype == np.float32 and (ra.n_channels_, ra.n_groups_) == (4, 2)
    covs = _covariances(X)
    aligned_covs = _covariances(out)
    recentred = RiemannianRecentering().fit_transform(covs, groups=groups)
    for g in range(3):
        rows = groups == g
        np.testing.assert_allclose(mean_riemann(aligned_covs[rows]), np.eye(4), atol=1e-3)
        # Whitening the signals re-centres their covariances as RiemannianRecentering does.
        np.testing.assert_allclose(aligned_covs[rows], recentred[rows], rtol=1e-3, atol=1e-4)
    # metric="euclid" is Euclidean alignment.
    np.testing.assert_allclose(
        RiemannianAlignment(metric="euclid").fit_transform(X, groups=groups),
        EuclideanAlignment().fit_transform(X, groups=groups), rtol=1e-4, atol=1e-5,
    )


def test_riemannian_alignment_follows_the_estimator_contract():
    X, groups = _signal_groups()
    estimator = RiemannianAlignment(metric="logeuclid")
    name = type(estimator).__name__
    check_no_attributes_set_in_init(name, estimator)
    check_get_params_invariance(name, estimator)
    check_set_params(name, estimator)
    with pytest.raises(NotFittedError):
        clone(estimator).transform(X)
    fitted = clone(estimator).fit(X, groups=groups)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(
        restored.transform(X, groups=groups), fitted.fit_transform(X, groups=groups)
    )
    with pytest.raises(ValueError, match="metric must be one of"):
        RiemannianAlignment(metric="nope").fit(X)
    with pytest.raises(ValueError, match=r"\(n_trials, n_channels, n_times\)"):
        RiemannianAlignment().fit(X[:, 0])
    with pytest.raises(ValueError, match="X has 3 channels"):
        fitted.transform(X[:, :3], groups=groups)


def test_riemannian_alignment_resists_an_artefact_window(eegmat_small):
    """On real eegmat windows, one high-amplitude window moves the arithmetic mean
    of a subject's covariances, hence Euclidean alignment, far more than the
    Riemannian mean."""
    X = eegmat_small.data[eegmat_small.groups == 0][:, :, :500]
    artefact = X.copy()
    artefact[0] *= 30.0  # e.g. an electrode pop: 30 times the amplitude in one window
    changes = {}
    for estimator in (EuclideanAlignment(), RiemannianAlignment()):
        clean = estimator.fit_transform(X)[1:]
        spoilt = estimator.fit_transform(artefact)[1:]
        changes[type(estimator).__name__] = (
            np.linalg.norm(spoilt - clean) / np.linalg.norm(clean)
        )
    assert changes["EuclideanAlignment"] > 0.5  # the clean windows shrink by half or more
    assert changes["RiemannianAlignment"] < 0.5 * changes["EuclideanAlignment"]


def _covariances(X):
    X = np.asarray(X, dtype=np.float64)
    return X @ X.transpose(0, 2, 1) / X.shape[-1]


def _short_real_windows(eegmat_small, n_times):
    """Ten real eegmat windows of subject 0 (20 channels), cut to n_times samples."""
    return eegmat_small.data[eegmat_small.groups == 0][:10, :, :n_times].astype(np.float64)


@pytest.mark.parametrize("estimator", [GroupStandardScaler(), RiemannianRecentering(),
                                       EuclideanAlignment(), RiemannianAlignment()])
@pytest.mark.parametrize("bad", [None, np.nan])
def test_groups_with_a_missing_value_are_refused(eegmat_small, estimator, bad):
    X = _short_real_windows(eegmat_small, 500)
    if isinstance(estimator, RiemannianRecentering):
        X = _covariances(X) + 1e-3 * np.eye(20)  # eegmat's 20 channels are near rank 18
    elif isinstance(estimator, GroupStandardScaler):
        X = X.var(axis=-1)
    groups = np.array([0, 0, 0, 1, 1, bad, 2, 2, 2, 2], dtype=object if bad is None else float)
    match = r"groups has no group \(None or NaN\) for row\(s\) \[5\] of 10"
    with pytest.raises(ValueError, match=match):
        clone(estimator).fit(X, groups=groups)
    fitted = clone(estimator).fit(X, groups=np.repeat([0, 1], 5))
    with pytest.raises(ValueError, match=match):
        fitted.transform(X, groups=groups)


def test_riemannian_alignment_refuses_fewer_samples_than_channels(eegmat_small):
    X = _short_real_windows(eegmat_small, 10)
    with pytest.raises(ValueError, match=r"10 samples per trial for 20 channels.*"
                                         r"at least 20 samples.*EuclideanAlignment"):
        RiemannianAlignment().fit(X)
    fitted = RiemannianAlignment().fit(_short_real_windows(eegmat_small, 500))
    with pytest.raises(ValueError, match="10 samples per trial for 20 channels"):
        fitted.transform(X)


def test_euclidean_alignment_of_fewer_samples_than_channels_stays_whitened(eegmat_small):
    # The arithmetic mean of ten 10-sample covariances has rank 20 again, and a
    # single trial is whitened within its own span: no blow-up either way.
    X = _short_real_windows(eegmat_small, 10)
    with pytest.warns(UserWarning, match="single row"):
        one = EuclideanAlignment().fit_transform(X[:1])
    for out in (EuclideanAlignment().fit_transform(X), one):
        assert np.isfinite(out).all()
        assert 0.5 < np.sqrt(np.mean(out ** 2)) <= 1.0 + 1e-6
        assert np.abs(out).max() < 10


def test_recentering_refuses_singular_covariances(eegmat_small):
    covs = _covariances(_short_real_windows(eegmat_small, 10))  # rank 10 of 20
    with pytest.raises(ValueError, match=r"X\[0\] is not a symmetric positive definite.*"
                                         r"Covariances\(estimator='oas'\)"):
        RiemannianRecentering().fit(covs)
    asymmetric = np.tile(np.eye(3), (4, 1, 1))
    asymmetric[2, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"X\[2\] .*it is not symmetric"):
        RiemannianRecentering().fit(asymmetric)


def test_group_standard_scaler_computes_half_precision_in_float64():
    # float16 features near 1000 came out all zeros: their squares overflowed float16.
    X = (1000 * np.random.default_rng(0).normal(size=(40, 3))).astype(np.float16)
    scaled = GroupStandardScaler().fit_transform(X)
    expected = StandardScaler().fit_transform(X.astype(np.float64))
    assert scaled.dtype == np.float16  # as StandardScaler: float16 in, float16 out
    np.testing.assert_allclose(scaled.astype(np.float64), expected, atol=4e-3)
