"""The tangent-space readout of CRIA's tokens (issue 35 item 1): SPD covariances,
pyRiemann's tangent vectors, finite gradients, per-group re-centring."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
from pyriemann.geometry.base import logm
from pyriemann.geometry.mean import mean_logeuclid
from pyriemann.geometry.tangentspace import tangent_space, upper as pyriemann_upper
from sklearn.base import clone

from sk_cria import CRIAClassifier, ViewMaskPretrainer
from sk_cria.alignment import GroupStandardScaler
from sk_cria.channels import REGIONS
from sk_cria.model.tangent import RIDGE, covariance, spd_logm, tangent_features, upper

N_TANGENT = len(REGIONS) * (len(REGIONS) + 1) // 2


@pytest.fixture(scope="module")
def shipped(balanced_eeg):
    X, _, _ = balanced_eeg
    return ViewMaskPretrainer.from_pretrained("cria-small", embedding="tangent").fit(X)


def _region_features(pretrainer, X):
    """The regions' feature vectors the tangent readout reads: (windows, regions, features)."""
    regions = pretrainer.set_params(embedding="regions").transform(X)
    pretrainer.set_params(embedding="tangent")
    return torch.as_tensor(regions, dtype=torch.float64).reshape(len(X), len(REGIONS), -1)


@pytest.mark.parametrize("features", [
    torch.zeros(3, 6, 10),                                  # nothing at all
    torch.ones(3, 6, 10) * torch.arange(6.)[:, None],      # constant rows
    torch.randn(3, 1, 10).expand(3, 6, 10),                 # rank one
    torch.randn(3, 6, 4),                                   # fewer features than rows
])
def test_covariance_is_always_positive_definite(features):
    cov = covariance(features.double())
    assert torch.allclose(cov, cov.transpose(-1, -2))
    assert torch.linalg.eigvalsh(cov).min() >= RIDGE * (1 - 1e-9)
    assert torch.isfinite(tangent_features(features)).all()


def test_real_windows_give_positive_definite_covariances(shipped, balanced_eeg):
    # eegmat's 19 channels leave some regions empty (zero rows): still SPD.
    X, _, _ = balanced_eeg
    cov = covariance(_region_features(shipped, X))
    values = torch.linalg.eigvalsh(cov)
    assert values.min() >= RIDGE * (1 - 1e-9)
    assert (torch.linalg.matrix_rank(cov) == len(REGIONS)).all()


def test_tangent_vectors_are_pyriemanns_at_the_identity(shipped, balanced_eeg):
    X, _, _ = balanced_eeg
    features = _region_features(shipped, X)
    cov = covariance(features).numpy()
    expected = tangent_space(cov, np.eye(len(REGIONS)), metric="riemann")
    np.testing.assert_allclose(tangent_features(features).numpy(), expected, atol=1e-9)
    # transform (float32, batch by batch) gives the same vectors.
    Z = shipped.transform(X)
    assert Z.shape == (len(X), N_TANGENT) and Z.dtype == np.float32
    np.testing.assert_allclose(Z, expected, atol=2e-4)
    names = shipped.get_feature_names_out()
    assert len(names) == N_TANGENT and names[1] == f"tangent_{REGIONS[0]}_{REGIONS[1]}"
    # The same ordering and sqrt(2) weights as pyRiemann's upper().
    sym = np.random.default_rng(0).normal(size=(2, 5, 5))
    sym = sym + sym.transpose(0, 2, 1)
    np.testing.assert_allclose(upper(torch.as_tensor(sym)).numpy(), pyriemann_upper(sym))


def test_group_recentring_is_at_the_groups_own_log_euclidean_mean(shipped, balanced_eeg):
    """GroupStandardScaler after the tangent output re-centres each subject on its windows."""
    X, _, g = balanced_eeg
    features = _region_features(shipped, X)
    cov = covariance(features).numpy()
    Z = tangent_features(features).numpy()
    with sklearn.config_context(enable_metadata_routing=True):
        centred = GroupStandardScaler(with_std=False).fit_transform(Z, groups=g)
        # Another subject's windows replaced: a subject's vectors do not move.
        other = g != g[0]
        changed = Z.copy()
        changed[other] = Z[other][::-1] * 2 + 1
        moved = GroupStandardScaler(with_std=False).fit_transform(changed, groups=g)
    for subject in np.unique(g):
        rows = g == subject
        reference = mean_logeuclid(cov[rows])
        expected = pyriemann_upper(logm(cov[rows]) - logm(reference))
        np.testing.assert_allclose(centred[rows], expected, atol=1e-8)
    np.testing.assert_allclose(moved[~other], centred[~other])


@pytest.mark.parametrize("matrices", [
    torch.eye(4, dtype=torch.float64).repeat(2, 1, 1),              # all equal
    torch.diag(torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=torch.float64))[None],  # a pair
])
def test_log_gradient_is_finite_where_eigenvalues_coincide(matrices):
    weights = torch.randn_like(matrices)
    ours = matrices.clone().requires_grad_()
    (spd_logm(ours) * weights).sum().backward()
    assert torch.isfinite(ours.grad).all()
    # torch's own eigh backward is not (why SymmetricMatrixLog exists).
    theirs = matrices.clone().requires_grad_()
    values, vectors = torch.linalg.eigh(theirs)
    (((vectors * values.log()[..., None, :]) @ vectors.mT) * weights).sum().backward()
    assert not torch.isfinite(theirs.grad).all()
    # Diagonal matrices: the derivative of log at a diagonal entry, 1 / lambda, on the
    # diagonal (the Daleckii-Krein limit).
    sym = (weights + weights.mT) / 2
    diag = matrices.diagonal(dim1=-2, dim2=-1)
    np.testing.assert_allclose(ours.grad.diagonal(dim1=-2, dim2=-1), sym.diagonal(
        dim1=-2, dim2=-1) / diag)


def test_log_gradient_matches_finite_differences():
    X = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    eye = torch.eye(5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda X: spd_logm(X @ X.mT / 7 + 0.1 * eye), (X,))
    # Through the whole readout, rank-deficient features included.
    Z = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tangent_features, (Z,))


def test_tangent_head_trains_end_to_end_and_recentres_per_group(balanced_eeg):
    X, y, g = balanced_eeg
    train = g != 33
    clf = CRIAClassifier(encoder="cria-small", embedding="tangent", max_epochs=2,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X[train], y[train], groups=g[train])
    assert clf.module_.head[-1].in_features == N_TANGENT
    assert np.isfinite([row["train_loss"] for row in clf.history]).all()
    # The gradient reached the encoder through the matrix logarithm.
    loaded = ViewMaskPretrainer.from_pretrained("cria-small").fit(X[:2]).encoder_
    moved = [not torch.equal(a, b) for a, b in zip(
        clf.module_.encoder.state_dict().values(), loaded.state_dict().values())]
    assert any(moved)
    # The unseen subject is re-centred on its own windows only.
    test = g == 33
    mixed = clf.predict_proba(X, groups=g)
    proba = clf.predict_proba(X[test], groups=g[test])
    np.testing.assert_allclose(mixed[test], proba, atol=1e-5)
    # Its statistics (the last predict's, one group) are the mean of its own vectors.
    mean, _ = clf.module_.group_stats
    clf.module_.eval()
    with torch.no_grad():
        Z = clf.module_.features(torch.as_tensor(np.asarray(X[test])), X.ch_names)
    np.testing.assert_allclose(mean[0].numpy(), Z.mean(0).numpy(), atol=1e-4)


def test_tangent_options_clone_get_params_and_pickle(balanced_eeg):
    X, y, g = balanced_eeg
    clf = CRIAClassifier(encoder="cria-small", embedding="tangent", max_epochs=1,
                         random_state=0)
    assert clone(clf).get_params()["embedding"] == "tangent"
    pre = ViewMaskPretrainer(embedding="tangent")
    assert clone(pre).get_params()["embedding"] == "tangent"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X, y, groups=g)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(X, groups=g),
                               clf.predict_proba(X, groups=g), atol=1e-6)
    fitted = ViewMaskPretrainer.from_pretrained("cria-small", embedding="tangent").fit(X)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(fitted)).transform(X[:4]),
                               fitted.transform(X[:4]), atol=1e-6)
    with pytest.raises(ValueError, match="embedding must be one of"):
        CRIAClassifier(embedding="logm", max_epochs=1).fit(X, y)
