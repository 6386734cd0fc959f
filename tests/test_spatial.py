"""Learned spatial filters before the encoder (issue 35 item 2): the virtual channels'
coding, sklearn conventions, montage checks, and training on real motor imagery."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_cria import CRIAClassifier, EEGPreprocessor
from sk_cria.channels import lookup_channels
from sk_cria.model import CRIA, CRIAConfig
from sk_cria.model.spatial import SpatialFilter

NAMES = ["C3", "Cz", "C4", "Fz", "Pz", "Oz"]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, len(NAMES), 400)).astype("float32")
    return X, np.tile([0, 1], 20), np.repeat(np.arange(4), 10)


@pytest.fixture(scope="module")
def motor_imagery(data_path):
    """Imagined left/right fist of eegmmidb subjects 1 and 2 (runs 4, 8, 12), 2 s trials."""
    from sk_cria.datasets import load_eegbci_imagery

    parts = [load_eegbci_imagery(subject, path=data_path, tmin=0.5, tmax=2.5)
             for subject in (1, 2)]
    pre = EEGPreprocessor(sfreq=parts[0].sfreq, ch_names=parts[0].ch_names, line_freq=60.0,
                          l_freq=8.0, h_freq=30.0)
    X = pre.fit_transform(np.concatenate([p.data for p in parts]))
    y = np.concatenate([p.target for p in parts])
    groups = np.concatenate([np.full(len(p.target), i) for i, p in enumerate(parts)])
    return X, y, groups


def test_virtual_channel_of_one_electrode_is_coded_as_that_electrode():
    encoder = CRIA(CRIAConfig.small())
    spatial = SpatialFilter(len(NAMES), 2)
    with torch.no_grad():
        spatial.weight.zero_()
        spatial.weight[0, 0] = -3.0          # C3 alone, whatever the sign and scale
        spatial.weight[1, 1] = spatial.weight[1, 2] = 1.0  # Cz and C4 alike
    table = encoder.channel_embedding(torch.as_tensor(lookup_channels(NAMES).indices))
    coded = spatial.embed(table)
    assert torch.allclose(coded[0], table[0])
    assert torch.allclose(coded[1], (table[1] + table[2]) / 2)


def test_filters_get_gradient_through_the_signal_and_the_coding():
    encoder = CRIA(CRIAConfig.small())
    spatial = SpatialFilter(len(NAMES), 3)
    channels = torch.as_tensor(lookup_channels(NAMES).indices)
    x = torch.randn(4, len(NAMES), 400)
    for embedding in ("pooled", "channels", "covariance"):
        spatial.zero_grad()
        spatial.features(encoder, x, channels, embedding).square().sum().backward()
        grad = spatial.weight.grad
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, embedding
    # The coding alone (x = 0 carries no signal) still moves the filters.
    spatial.zero_grad()
    coded = spatial.embed(encoder.channel_embedding(channels))
    coded.square().sum().backward()
    assert spatial.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("embedding, width", [("pooled", 128), ("channels", 3 * 3 * 64),
                                              ("covariance", 6)])
def test_fit_predict_clone_pickle(toy, embedding, width):
    X, y, groups = toy
    clf = CRIAClassifier(config="small", spatial_filters=3, embedding=embedding,
                         ch_names=NAMES, max_epochs=2, random_state=0)
    assert clone(clf).get_params()["spatial_filters"] == 3
    clf.fit(X, y, groups=groups)
    assert clf.module_.spatial.weight.shape == (3, len(NAMES))
    assert clf.module_.head[-1].in_features == width
    proba = clf.predict_proba(X, groups=groups)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(X, groups=groups), proba, rtol=1e-5)
    # A fresh clone trains the same filters from the same seed.
    twin = clone(clf).fit(X, y, groups=groups)
    assert torch.equal(twin.module_.spatial.weight, clf.module_.spatial.weight)


def test_filters_learn_faster_than_the_head(toy):
    X, y, _ = toy
    clf = CRIAClassifier(config="small", spatial_filters=2, embedding="covariance",
                         ch_names=NAMES, max_epochs=1, lr=1e-3, random_state=0).fit(X, y)
    spatial = [g["lr"] for g in clf.optimizer_.param_groups
               if any(p is clf.module_.spatial.weight for p in g["params"])]
    head = [g["lr"] for g in clf.optimizer_.param_groups
            if any(p is clf.module_.head[-1].weight for p in g["params"])]
    assert spatial == [pytest.approx(1e-2)] and head == [pytest.approx(1e-3)]


@pytest.mark.parametrize("params, error, match", [
    (dict(spatial_filters=0), ValueError, "spatial_filters"),
    (dict(spatial_filters=2.5), TypeError, "spatial_filters"),
    (dict(spatial_filters=3, embedding="regions"), ValueError, "scalp regions"),
    (dict(spatial_filters=3, embedding="tangent"), ValueError, "scalp regions"),
    (dict(embedding="covariance"), ValueError, "set spatial_filters"),
    (dict(embedding="channels"), ValueError, "set spatial_filters"),
])
def test_bad_combinations_are_refused_at_fit(toy, params, error, match):
    X, y, _ = toy
    clf = CRIAClassifier(config="small", ch_names=NAMES, max_epochs=1, **params)
    with pytest.raises(error, match=match):
        clf.fit(X, y)


def test_other_montage_is_refused_at_predict_but_the_encoder_takes_any(toy):
    X, y, _ = toy
    clf = CRIAClassifier(encoder="cria-small", spatial_filters=2, embedding="channels",
                         ch_names=NAMES, max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="expecting 6 features"):
        clf.predict(X[:, :5])
    pre = EEGPreprocessor(sfreq=200.0, ch_names=NAMES[::-1])
    with pytest.raises(ValueError, match="reorder or rename"):
        clf.predict(pre.fit_transform(X))
    # The fine-tuned encoder on its own still reads any montage by name.
    out = clf.module_.encoder(torch.as_tensor(X[:2, :4]), ["F3", "F4", "P3", "P4"])
    assert torch.isfinite(out).all()


def test_windows_datasets_are_refused(toy):
    X, y, _ = toy

    class Windows(torch.utils.data.Dataset):
        montages = [NAMES]

        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return {"x": X[i], "channels": lookup_channels(NAMES).indices}, 0

    clf = CRIAClassifier(config="small", spatial_filters=2, max_epochs=1)
    with pytest.raises(ValueError, match="arrays of one montage"):
        clf.fit(Windows(), y)


@pytest.mark.parametrize("embedding", ["covariance", "channels"])
def test_trains_on_real_motor_imagery(motor_imagery, embedding):
    X, y, groups = motor_imagery
    clf = CRIAClassifier(config="small", spatial_filters=4, embedding=embedding,
                         max_epochs=4, early_stopping=False, head_init="random",
                         random_state=0)
    clf.fit(X, y, groups=groups)
    losses = clf.history[:, "train_loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    with pytest.warns(UserWarning, match="trains nothing"):  # the filters it started from
        start = clone(clf).set_params(max_epochs=0).fit(X, y, groups=groups)
    moved = clf.module_.spatial.weight - start.module_.spatial.weight
    assert moved.abs().max() > 5e-3
    proba = clf.predict_proba(X, groups=groups)
    assert np.isfinite(proba).all() and len(np.unique(proba.argmax(1))) == 2
