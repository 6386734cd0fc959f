"""CRIAClassifier's head: what it reads (embedding) and how it starts (head_init)."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from skorch.callbacks import Callback

from sk_cria import CRIAClassifier, ViewMaskPretrainer
from sk_cria.alignment import GroupStandardScaler
from sk_cria.channels import REGIONS


class _FirstHead(Callback):
    """The head's last linear layer as the first training batch sees it."""

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training and not hasattr(self, "weight"):
            linear = net.module_.head[-1]
            self.weight, self.bias = linear.weight.detach().clone(), linear.bias.detach().clone()


@pytest.mark.parametrize("embedding", ["pooled", "regions"])
def test_probe_head_starts_from_the_frozen_probe(balanced_eeg, embedding):
    X, y, g = balanced_eeg
    first = _FirstHead()
    # The defaults: a linear head that starts from the probe.
    CRIAClassifier(encoder="cria-small", embedding=embedding, early_stopping=False,
                   max_epochs=1, random_state=0,
                   callbacks=[("first", first)]).fit(X, y, groups=g)
    # The probe a user would build by hand: frozen features, per-subject and then
    # global z-scoring, logistic regression with balanced class weights.
    frozen = ViewMaskPretrainer(encoder="cria-small", embedding=embedding, max_epochs=0)
    Z = frozen.fit(X).transform(X)  # max_epochs=0: the encoder as shipped
    Z = GroupStandardScaler().fit_transform(Z, groups=g)
    scaler = StandardScaler().fit(Z)
    probe = LogisticRegression(max_iter=2000).fit(
        scaler.transform(Z), y, sample_weight=compute_sample_weight("balanced", y))
    expected = probe.decision_function(scaler.transform(Z))
    # The head's logit difference on the same per-subject standardised features.
    logits = torch.as_tensor(Z, dtype=torch.float32) @ first.weight.T + first.bias
    got = (logits[:, 1] - logits[:, 0]).numpy()
    np.testing.assert_allclose(got, expected, atol=0.05 * np.abs(expected).max())
    assert np.mean((got > 0) == (expected > 0)) == 1.0


def test_random_head_is_not_the_probe(balanced_eeg):
    X, y, g = balanced_eeg
    first = _FirstHead()
    CRIAClassifier(encoder="cria-small", head_init="random", early_stopping=False,
                   max_epochs=1, random_state=0, callbacks=[("first", first)]).fit(X, y)
    # nn.Linear's initialisation: uniform within 1/sqrt(fan_in) of zero.
    assert first.weight.abs().max() <= 1 / np.sqrt(first.weight.shape[1])


def test_probe_head_needs_a_linear_head(balanced_eeg):
    X, y, _ = balanced_eeg
    with pytest.raises(ValueError, match="head_init='probe' .* head_hidden=128 .* "
                                         "head_hidden=None"):
        CRIAClassifier(head_hidden=128).fit(X, y)  # head_init="probe" by default
    CRIAClassifier(head_hidden=128, head_init="random", max_epochs=1).fit(X, y)


@pytest.mark.parametrize("param, value, error", [
    ("embedding", "channels", ValueError), ("embedding", 1, TypeError),
    ("head_init", "lp", ValueError), ("head_hidden", 0, ValueError),
])
def test_head_params_are_checked(balanced_eeg, param, value, error):
    X, y, _ = balanced_eeg
    with pytest.raises(error, match=param):
        CRIAClassifier(**{param: value}).fit(X, y)


def test_regions_head_reads_every_region(balanced_eeg):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder="cria-small", embedding="regions", max_epochs=1,
                         random_state=0).fit(X, y, groups=g)
    width = len(REGIONS) * 3 * clf.module_.encoder.config.d_model
    assert clf.module_.head[-1].in_features == width
    assert clf.module_.group_stats[0].shape == (4, width)


def test_probe_headed_classifier_clones_and_pickles(balanced_eeg):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder="cria-small", embedding="regions", head_hidden=16,
                         head_init="random", max_epochs=1, random_state=0)
    assert clone(clf).get_params()["head_hidden"] == 16
    clf.fit(X, y, groups=g)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X, groups=g),
                               clf.predict_proba(X, groups=g), atol=1e-6)


def test_early_stopping_ends_a_fit_without_calling_it_interrupted(balanced_eeg, recwarn):
    X, y, g = balanced_eeg
    # lr so small that epoch 2 cannot improve on epoch 1: patience 1 ends the fit there.
    clf = CRIAClassifier(encoder="cria-small", lr=1e-12, max_epochs=3, n_iter_no_change=1,
                         random_state=0).fit(X, y, groups=g)
    assert len(clf.history) == 2
    # skorch's EarlyStopping raises KeyboardInterrupt, as a Ctrl-C does: the fit is
    # still a finished one, with no warning that it was interrupted.
    assert not clf.interrupted_
    assert not [w for w in recwarn if "interrupted" in str(w.message)]
