"""CRIAClassifier with groups: per-group embedding normalisation, grouped early
stopping, a smaller learning rate for a pre-trained encoder (issue 25 item 4)."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_validate
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cria import CRIAClassifier
from sk_cria.alignment import GroupScorer


@pytest.fixture(scope="module")
def grouped(balanced_eeg):
    """Fine-tuned on three subjects with groups; subject 33 is never seen."""
    X, y, g = balanced_eeg
    train = g != 33
    clf = CRIAClassifier(encoder="cria-small", max_epochs=1, random_state=0)
    return clf.fit(X[train], y[train], groups=g[train])


def _predict_with_embedding_shift(clf, X, groups=None):
    """Probabilities when every pooled embedding of X is scaled and offset."""
    offset = torch.linspace(-2, 2, clf.module_.encoder.config.embed_dim)
    hook = clf.module_.encoder.register_forward_hook(lambda m, i, out: 3 * out + offset)
    try:
        return clf.predict_proba(X, groups=groups)
    finally:
        hook.remove()


def test_unseen_group_is_normalised_on_its_own_windows(grouped, balanced_eeg):
    X, y, g = balanced_eeg
    test = g == 33
    proba = grouped.predict_proba(X[test], groups=g[test])
    # An affine change of one subject's embeddings (a new subject's offset and
    # scale) is undone by its own statistics ...
    shifted = _predict_with_embedding_shift(grouped, X[test], groups=g[test])
    np.testing.assert_allclose(shifted, proba, atol=1e-4)
    # ... and the other subjects in X do not change its predictions.
    mixed = grouped.predict_proba(X, groups=g)
    np.testing.assert_allclose(mixed[test], proba, atol=1e-5)
    # Normalised as one group with the others, its probabilities differ.
    with pytest.warns(UserWarning, match="received groups=None: all 48 windows"):
        pooled = grouped.predict_proba(X)
    assert np.abs(pooled[test] - proba).max() > 1e-3


def test_without_groups_embeddings_are_not_normalised(balanced_eeg):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder="cria-small", max_epochs=1, random_state=0).fit(X, y)
    assert clf.n_groups_ is None and clf.validation_groups_ is None
    shifted = _predict_with_embedding_shift(clf, X[:8])
    assert np.abs(shifted - clf.predict_proba(X[:8])).max() > 1e-3
    with pytest.raises(ValueError, match="fitted without groups"):
        clf.predict(X[:8], groups=g[:8])


def test_without_groups_training_is_unchanged(balanced_eeg):
    X, y, _ = balanced_eeg
    fits = [CRIAClassifier(max_epochs=1, random_state=0).fit(X, y, **kw)
            for kw in ({}, {"groups": None})]
    for a, b in zip(*(f.module_.state_dict().values() for f in fits)):
        assert torch.equal(a, b)
    # From scratch the encoder and the head share one learning rate, lr="auto"'s.
    assert [group["lr"] for group in fits[0].optimizer_.param_groups] == [3e-4]


class _Splits(Callback):
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.train, self.valid = dataset_train.indices, dataset_valid.indices


def test_early_stopping_holds_out_whole_groups(balanced_eeg):
    X, y, g = balanced_eeg
    splits = _Splits()
    clf = CRIAClassifier(encoder="cria-small", max_epochs=1, random_state=0,
                         callbacks=[("splits", splits)]).fit(X, y, groups=g)
    held_out = np.unique(g[splits.valid])
    assert not np.isin(g[splits.train], held_out).any()
    assert len(held_out) == 1  # validation_fraction=0.2 of 4 subjects
    np.testing.assert_array_equal(clf.validation_groups_, held_out)
    assert np.isin(np.flatnonzero(np.isin(g, held_out)), splits.valid).all()


def test_grouped_early_stopping_refuses_one_group(balanced_eeg):
    X, y, g = balanced_eeg
    one = g == 0
    with pytest.raises(ValueError, match="holds out whole groups .* 1 group"):
        CRIAClassifier(max_epochs=1).fit(X[one], y[one], groups=g[one])


def test_group_of_one_window_is_refused(balanced_eeg):
    X, y, g = balanced_eeg
    groups = g.copy()
    groups[0] = 99
    with pytest.raises(ValueError, match=r"groups \[99\] hold a single window"):
        CRIAClassifier(max_epochs=1).fit(X, y, groups=groups)


def test_one_learning_rate_by_default_and_a_smaller_one_for_the_encoder_on_request(balanced_eeg,
                                                                                 grouped):
    # The default keeps one group at lr, as before the parameter existed.
    assert [g["lr"] for g in grouped.optimizer_.param_groups] == pytest.approx([1e-4])
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder="cria-small", encoder_lr_scale=0.1, max_epochs=1,
                         random_state=0).fit(X, y, groups=g)
    groups = clf.optimizer_.param_groups
    assert [group["lr"] for group in groups] == pytest.approx([1e-4, 1e-5])
    encoder = {id(p) for p in clf.module_.encoder.parameters()}
    assert {id(p) for p in groups[1]["params"]} == encoder
    assert not encoder & {id(p) for p in groups[0]["params"]}


def test_encoder_lr_scale_survives_clone_and_set_params(balanced_eeg):
    X, y, g = balanced_eeg
    clf = clone(CRIAClassifier(encoder="cria-small", encoder_lr_scale=0.5, max_epochs=1))
    assert clf.encoder_lr_scale == 0.5
    clf.set_params(encoder_lr_scale=0.25, lr=1e-3).fit(X, y, groups=g)
    assert [group["lr"] for group in clf.optimizer_.param_groups] == pytest.approx([1e-3, 2.5e-4])


@pytest.mark.parametrize("value", [0, -0.1, "0.1"])
def test_bad_encoder_lr_scale_is_refused(balanced_eeg, value):
    X, y, _ = balanced_eeg
    error = TypeError if isinstance(value, str) else ValueError
    with pytest.raises(error, match="encoder_lr_scale"):
        CRIAClassifier(encoder_lr_scale=value).fit(X, y)


def test_pipeline_routes_groups_to_the_classifier(balanced_windows):
    pre, X, y, g = balanced_windows
    pipe = Pipeline([("pre", clone(pre)),
                     ("clf", CRIAClassifier(encoder="cria-small", max_epochs=1,
                                            early_stopping=False, random_state=0))])
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "received groups=None"
        result = cross_validate(pipe, X, y, cv=GroupKFold(2), params={"groups": g},
                                scoring=GroupScorer("balanced_accuracy"),
                                return_estimator=True)
        score = pipe.fit(X, y, groups=g).score(X, y, groups=g)
    assert [est[-1].n_groups_ for est in result["estimator"]] == [2, 2]
    assert np.all(np.isfinite(result["test_score"])) and 0 <= score <= 1


def test_grouped_classifier_pickles_and_clones(grouped, balanced_eeg):
    X, _, g = balanced_eeg
    test = g == 33
    restored = pickle.loads(pickle.dumps(grouped))
    np.testing.assert_allclose(restored.predict_proba(X[test], groups=g[test]),
                               grouped.predict_proba(X[test], groups=g[test]), atol=1e-6)
    fresh = clone(grouped)
    assert not hasattr(fresh, "n_groups_") and fresh.encoder == "cria-small"


def test_partial_fit_keeps_to_how_the_classifier_was_fitted(balanced_eeg):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(max_epochs=1, early_stopping=False, random_state=0)
    clf.fit(X, y, groups=g)
    with pytest.raises(ValueError, match="fitted with 4 groups.*partial_fit received groups=None"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[g != 0], y[g != 0], groups=g[g != 0])
    assert clf.n_groups_ == 3 and len(clf.history) == 2


@pytest.mark.parametrize("encoder, expected", [(None, 3e-4), ("cria-small", 1e-4)])
def test_auto_learning_rate_follows_where_the_encoder_starts(balanced_eeg, encoder, expected):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder=encoder, config="small", max_epochs=1, random_state=0)
    assert clf.lr == "auto"
    clf.fit(X, y, groups=g)
    assert [group["lr"] for group in clf.optimizer_.param_groups] == pytest.approx([expected])
    assert clf.get_params()["lr"] == "auto"  # the parameter keeps the user's value
    assert clone(clf).lr == "auto"


def test_set_params_lr_on_a_fitted_net_resolves_auto_and_keeps_the_encoder_scale(
        balanced_eeg):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder="cria-small", encoder_lr_scale=0.1, lr=1e-3, max_epochs=1,
                         random_state=0).fit(X, y, groups=g)
    clf.set_params(lr="auto")
    assert clf.lr == "auto"
    assert [group["lr"] for group in clf.optimizer_.param_groups] == pytest.approx([1e-4, 1e-5])
    clf.set_params(lr=2e-3)
    assert [group["lr"] for group in clf.optimizer_.param_groups] == pytest.approx([2e-3, 2e-4])
    clf.partial_fit(X, y, groups=g)  # trains with them
    assert [group["lr"] for group in clf.optimizer_.param_groups] == pytest.approx([2e-3, 2e-4])
