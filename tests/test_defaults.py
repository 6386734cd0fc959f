"""The estimators as the README builds them: default arguments, real eegmat windows.

Nothing here pins ``device``, ``dtype`` or anything else that the README does not
pass: a pin once hid that default estimators could not be pickled. Small config and
one epoch keep it quick. Searches with ``n_jobs=2`` on loky and on a Dask
LocalCluster, also with the default device, are in ``test_threads.py``.
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer

# What the README passes, at the quick end of it.
README = dict(config="small", max_epochs=1, random_state=0)


@pytest.fixture(scope="module")
def raw(eegmat_small):
    """48 raw windows of four subjects (12 each, both classes), as load_eegmat gives them."""
    b = eegmat_small
    rows = np.concatenate([np.flatnonzero(b.groups == g)[[0, 1, 2, 3, 4, 5, -6, -5, -4, -3, -2, -1]]
                           for g in np.unique(b.groups)])
    return b.data[rows], b.target[rows], b.groups[rows], b


@pytest.fixture(scope="module")
def windows(raw):
    X, y, groups, b = raw
    pre = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)
    return pre.fit_transform(X), y, groups


@pytest.fixture(scope="module")
def pretrainer(windows):
    X, _, _ = windows
    return ViewMaskPretrainer(**README).fit(X)


def _round_trips(estimator, tmp_path):
    """The estimator back from pickle and from joblib."""
    yield pickle.loads(pickle.dumps(estimator))
    joblib.dump(estimator, tmp_path / "estimator.joblib")
    yield joblib.load(tmp_path / "estimator.joblib")


@pytest.mark.parametrize("Estimator", [ViewMaskPretrainer, CRIAClassifier])
def test_unfitted_default_estimators_pickle(Estimator, tmp_path):
    estimator = Estimator()
    for back in _round_trips(estimator, tmp_path):
        assert back.get_params()["device"] == "auto"
        assert clone(back).get_params().keys() == estimator.get_params().keys()


def test_fitted_default_estimators_pickle_and_embed_identically(windows, pretrainer, tmp_path):
    X, y, _ = windows
    clf = CRIAClassifier(**README).fit(X, y)
    for fitted, method in ((pretrainer, "transform"), (clf, "predict_proba")):
        expected = getattr(fitted, method)(X[:8])
        for back in _round_trips(fitted, tmp_path):
            assert back.device == "auto"
            np.testing.assert_array_equal(getattr(back, method)(X[:8]), expected)


@pytest.mark.slow
def test_fitted_pipeline_and_grid_search_round_trip(raw, tmp_path):
    X, y, groups, b = raw
    pre = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)
    probe = Pipeline([("pre", pre), ("embed", ViewMaskPretrainer(**README)),
                      ("clf", LogisticRegression(max_iter=1000, class_weight="balanced"))])
    probe.fit(X, y)
    search = GridSearchCV(Pipeline([("pre", clone(pre)), ("clf", CRIAClassifier(**README))]),
                          {"clf__lr": [1e-3, 3e-4]}, cv=GroupKFold(2),
                          scoring="balanced_accuracy")
    search.fit(X, y, groups=groups)
    for fitted in (probe, search):
        expected = fitted.predict_proba(X[:8])
        for back in _round_trips(fitted, tmp_path):
            np.testing.assert_array_equal(back.predict_proba(X[:8]), expected)


@pytest.mark.parametrize("kind", ["str", "bool", "object", "sparse ints"])
def test_any_label_type_fits_and_predicts_those_labels(windows, kind):
    X, y, _ = windows
    labels = {
        "str": np.array(["rest", "arithmetic"])[y],
        "bool": y.astype(bool),
        "object": np.array(["rest", "arithmetic"], dtype=object)[y],
        "sparse ints": np.array([3, 10])[y],
    }[kind]
    # The default holds out a stratified validation split and scores it every epoch.
    clf = CRIAClassifier(**{**README, "max_epochs": 2}).fit(X, labels)
    assert sorted(clf.classes_.tolist()) == sorted(set(labels.tolist()))
    predicted = clf.predict(X[:10])
    assert predicted.dtype == labels.dtype and set(predicted) <= set(labels)
    assert clf.predict_proba(X[:10]).shape == (10, 2)
    # The validation accuracy is computed on the same labels as the predictions: at
    # the epoch whose weights early stopping restored, it is the accuracy of predict
    # on the held-out windows.
    best = np.flatnonzero(clf.history[:, "valid_loss_best"])[-1]
    held_out = clf.get_split_datasets(X, clf.label_encoder_.transform(labels))[1].indices
    np.testing.assert_allclose(clf.history[int(best), "valid_acc"],
                               np.mean(clf.predict(X[held_out]) == labels[held_out]))


def test_dict_class_weight_is_keyed_by_the_users_labels(windows):
    X, y, _ = windows
    labels = np.array(["rest", "arithmetic"])[y]
    clf = CRIAClassifier(**README, class_weight={"rest": 1.0, "arithmetic": 3.0})
    clf.fit(X, labels)
    weights = dict(zip(clf.classes_, clf.class_weight_))
    assert weights == {"rest": 1.0, "arithmetic": 3.0}


def test_from_pretrained_embeds_at_once(windows, pretrainer, tmp_path):
    X, y, _ = windows
    pretrainer.save_pretrained(tmp_path / "encoder")
    loaded = ViewMaskPretrainer.from_pretrained(tmp_path / "encoder")
    # Straight away: channel names from the EEGArray, or from ch_names=.
    np.testing.assert_allclose(loaded.transform(X[:6]), pretrainer.transform(X[:6]),
                               rtol=1e-5, atol=1e-6)
    named = ViewMaskPretrainer.from_pretrained(tmp_path / "encoder", ch_names=X.ch_names)
    np.testing.assert_allclose(named.transform(np.asarray(X[:6])), loaded.transform(X[:6]),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="names of the 20 channels"):
        loaded.transform(np.asarray(X[:2]))
    # fit trains nothing, so a Pipeline or a clone gives the same embeddings.
    before = loaded.transform(X[:6])
    np.testing.assert_array_equal(loaded.fit(X).transform(X[:6]), before)
    np.testing.assert_array_equal(clone(loaded).fit(X).transform(X[:6]), before)
    clf = CRIAClassifier(encoder=str(tmp_path / "encoder"), **README).fit(X, y)
    assert clf.predict(X[:3]).shape == (3,)


def test_padded_samples_change_nothing(raw, pretrainer):
    """2.5 s windows: three patches, the last half padding. Noise there changes nothing."""
    X, y, _, b = raw
    pre = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)
    short = pre.fit_transform(X[..., : int(2.5 * b.sfreq)])
    assert short.shape[-1] == 600 and short.n_valid_times == 500
    noisy = short.copy()  # an EEGArray with the same metadata
    noisy[..., 500:] = np.random.default_rng(0).normal(scale=5.0, size=noisy[..., 500:].shape)
    assert noisy.n_valid_times == 500 and not np.array_equal(noisy, short)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning about it either
        np.testing.assert_allclose(pretrainer.transform(noisy), pretrainer.transform(short),
                                   rtol=0, atol=1e-5)
    clf = CRIAClassifier(**README).fit(short, y)
    np.testing.assert_allclose(clf.predict_proba(noisy), clf.predict_proba(short),
                               rtol=0, atol=1e-5)
    # Pre-training: the same run on either gives the same weights.
    a = ViewMaskPretrainer(**README).fit(short).transform(short[:4])
    c = ViewMaskPretrainer(**README).fit(noisy).transform(short[:4])
    np.testing.assert_allclose(a, c, rtol=0, atol=1e-5)
    # The caller's array is left as it was.
    assert np.abs(noisy[..., 500:]).max() > 1.0
    # And without the metadata the same samples are signal: the test can fail.
    assert not np.allclose(pretrainer.transform(np.asarray(noisy)),
                           pretrainer.transform(np.asarray(short)), atol=1e-5)


def test_fit_then_partial_fit_is_reproducible(windows):
    # partial_fit is seeded from random_state and the epochs done, as fit is.
    X, _, _ = windows
    runs = []
    for _ in range(2):
        net = ViewMaskPretrainer(**README).fit(X)
        runs.append(net.partial_fit(X).transform(X))
    np.testing.assert_array_equal(*runs)
