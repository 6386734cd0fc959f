"""ViewMaskPretrainer and CRIAClassifier as scikit-learn citizens, on real eegmat data."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer

FAST = dict(config="small", batch_size=16, random_state=0)
# sklearn's checks fit dozens of times on toy data: a one-layer encoder keeps them quick.
TINY = dict(FAST, config=dict(d_model=32, n_heads=2, n_layers=1, embed_dim=32))

SKORCH_XFAIL = {
    "check_no_attributes_set_in_init": "skorch's NeuralNet.__init__ itself sets "
    "history_, initialized_ and virtual_params_",
    "check_set_params": "skorch's get_params exposes its private _params_to_validate "
    "set, which the check overwrites with floats",
}
# On some CPUs (AVX-512 Intel) PyTorch's CPU matrix products round a batch of a few rows
# differently from a large one, so a window's float32 output moves by ~1e-7 with the size
# of its batch, more than these two checks allow. They pass on other CPUs (non-strict
# xfail); test_outputs_do_not_depend_on_batch_mates checks the same invariances at
# float32 tolerance on real windows, everywhere.
FLOAT32_XFAIL = {
    check: "float32 round-off of batch-size-dependent CPU matrix-product kernels (~1e-7); "
    "tested at float32 tolerance in test_outputs_do_not_depend_on_batch_mates"
    for check in ("check_methods_sample_order_invariance", "check_methods_subset_invariance")
}
ESTIMATOR_XFAIL = {**SKORCH_XFAIL, **FLOAT32_XFAIL}


def _quiet(check, estimator):
    with warnings.catch_warnings():
        # Toy 2-D data is not whole 1 s patches: warned about, by design.
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [ViewMaskPretrainer(max_epochs=2, **TINY),
     # The per-channel output: another feature count, named by get_feature_names_out.
     ViewMaskPretrainer(max_epochs=2, embedding="channels", **TINY)],
    expected_failed_checks=lambda est: ESTIMATOR_XFAIL,
)
def test_pretrainer_sklearn_compatible(estimator, check):
    _quiet(check, estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [CRIAClassifier(max_epochs=3, early_stopping=False, **TINY)],
    expected_failed_checks=lambda est: ESTIMATOR_XFAIL,
)
def test_classifier_sklearn_compatible(estimator, check):
    _quiet(check, estimator)


@pytest.fixture(scope="module")
def eegmat(eegmat_small):
    """Preprocessed real eegmat windows of four subjects (EEGArray with ch_names)."""
    pre = EEGPreprocessor(sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                          line_freq=50.0)
    return pre.fit_transform(eegmat_small.data), eegmat_small.target, eegmat_small.groups


@pytest.fixture(scope="module")
def pretrained(eegmat):
    X, _, _ = eegmat
    return ViewMaskPretrainer(max_epochs=2, **FAST).fit(X)


def test_pretrainer_learns_and_embeds(eegmat, pretrained):
    X, _, _ = eegmat
    losses = pretrained.history[:, "train_loss"]
    assert len(losses) == 2 and np.isfinite(losses).all()
    emb = pretrained.transform(X[:10])
    assert emb.shape == (10, pretrained.encoder_.config.embed_dim)
    assert emb.dtype == np.float32 and np.isfinite(emb).all()
    assert pretrained.ch_names_ == X.ch_names
    # eval mode, no gradients: the same input embeds the same way twice.
    np.testing.assert_array_equal(emb, pretrained.transform(X[:10]))


def test_same_random_state_gives_identical_embeddings(eegmat):
    X, _, _ = eegmat
    a = ViewMaskPretrainer(max_epochs=1, **FAST).fit(X[:48]).transform(X[:8])
    b = ViewMaskPretrainer(max_epochs=1, **FAST).fit(X[:48]).transform(X[:8])
    c = ViewMaskPretrainer(max_epochs=1, **{**FAST, "random_state": 1}).fit(X[:48]).transform(X[:8])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_on_the_cpu_trains_and_embeds_close_to_float32(eegmat, monkeypatch, native):
    """precision="bfloat16" autocasts on the CPU. "auto" pre-trains as "bfloat16" where the
    CPU multiplies bfloat16 natively and as "float32" elsewhere, bit for bit; its
    ``transform`` is float32's either way."""
    from sk_cria import _net

    monkeypatch.setattr(_net, "native_cpu_bfloat16", lambda: native)
    X, y, _ = eegmat
    runs = {p: ViewMaskPretrainer(max_epochs=1, precision=p, **FAST).fit(X[:48])
            for p in ("auto", "float32", "bfloat16")}
    emb = {p: net.transform(X[:8]) for p, net in runs.items()}
    trained_as = "bfloat16" if native else "float32"
    for auto, other in zip(runs["auto"].encoder_.parameters(),
                           runs[trained_as].encoder_.parameters()):
        torch.testing.assert_close(auto, other, rtol=0, atol=0)
    # The same weights embedded in float32: "auto" transforms as "float32" does.
    np.testing.assert_array_equal(emb["auto"],
                                  runs["auto"].set_params(precision="float32").transform(X[:8]))
    assert emb["bfloat16"].dtype == np.float32 and np.isfinite(emb["bfloat16"]).all()
    assert not np.array_equal(emb["bfloat16"], emb["float32"])  # it did autocast
    # One epoch in bfloat16 ends near the float32 weights: embeddings correlate closely.
    assert np.corrcoef(emb["bfloat16"].ravel(), emb["float32"].ravel())[0, 1] > 0.95
    assert all(p.dtype == torch.float32 for p in runs["bfloat16"].encoder_.parameters())
    clf = CRIAClassifier(encoder=runs["bfloat16"], precision="bfloat16", max_epochs=1,
                         random_state=0, early_stopping=False)
    rows = np.r_[np.flatnonzero(y == 0)[:8], np.flatnonzero(y == 1)[:8]]
    clf.fit(X[rows], y[rows])
    assert np.isfinite(clf.predict_proba(X[:4])).all()
    # The classifier's "auto" stays float32 on the CPU, whatever the CPU.
    fits = [CRIAClassifier(encoder=runs["float32"], max_epochs=1, random_state=0,
                           early_stopping=False, **extra).fit(X[rows], y[rows])
            for extra in ({}, {"precision": "float32"})]
    np.testing.assert_array_equal(*(f.predict_proba(X[:4]) for f in fits))


@pytest.mark.parametrize("masking", ["token", "spatial_block"])
def test_other_maskings_train(eegmat, masking):
    X, _, _ = eegmat
    pre = ViewMaskPretrainer(max_epochs=1, masking=masking, **FAST).fit(X[:32])
    assert np.isfinite(pre.history[-1, "train_loss"])


def test_linear_probe_pipeline_in_grouped_cross_validation(eegmat_small):
    b = eegmat_small
    pipe = Pipeline([
        ("pre", EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)),
        # Pre-trained inside each fold, on that fold's training windows only.
        ("embed", ViewMaskPretrainer(max_epochs=1, **FAST)),
        ("probe", LogisticRegression(max_iter=500, class_weight="balanced")),
    ])
    scores = cross_val_score(pipe, b.data, b.target, groups=b.groups, cv=GroupKFold(2),
                             scoring="balanced_accuracy")
    assert scores.shape == (2,) and np.isfinite(scores).all()


@pytest.mark.slow
def test_classifier_pipeline_cross_val_and_grid_search(eegmat_small):
    b = eegmat_small
    pipe = Pipeline([
        ("pre", EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)),
        ("clf", CRIAClassifier(max_epochs=2, **FAST)),
    ])
    scores = cross_val_score(pipe, b.data, b.target, groups=b.groups, cv=GroupKFold(2),
                             scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all()
    search = GridSearchCV(pipe, {"clf__lr": [1e-3, 3e-4]}, cv=GroupKFold(2),
                          scoring="balanced_accuracy")
    search.fit(b.data, b.target, groups=b.groups)
    assert search.best_params_["clf__lr"] in (1e-3, 3e-4)
    assert search.best_estimator_.predict(b.data[:5]).shape == (5,)


def _encoder_state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_clones_start_from_pretrained_weights_and_never_share(eegmat, pretrained):
    X, y, _ = eegmat
    before = _encoder_state(pretrained.encoder_)
    clf = CRIAClassifier(encoder=pretrained, max_epochs=1, **FAST)
    twin = clone(clf)
    assert twin.encoder is pretrained  # read-only source, not an unfitted clone
    twin.fit(X[:64], y[:64])
    # Fine-tuning moved the classifier's encoder, never the source's weights.
    after = _encoder_state(pretrained.encoder_)
    assert all(torch.equal(before[k], after[k]) for k in before)
    tuned = _encoder_state(twin.module_.encoder)
    assert any(not torch.equal(before[k], tuned[k]) for k in before)
    # A clone of the fitted classifier starts again from the pre-trained weights.
    again = clone(twin).set_params(max_epochs=0, early_stopping=False).fit(X[:64], y[:64])
    fresh = _encoder_state(again.module_.encoder)
    assert all(torch.equal(before[k], fresh[k]) for k in before)
    assert not hasattr(clone(twin), "module_")


def test_checkpoint_path_and_frozen_encoder(eegmat, pretrained, tmp_path):
    X, y, _ = eegmat
    pretrained.save_pretrained(tmp_path / "ckpt")
    clf = CRIAClassifier(encoder=str(tmp_path / "ckpt"), freeze_encoder=True, max_epochs=1,
                         **FAST).fit(X[:64], y[:64])
    before = _encoder_state(pretrained.encoder_)
    frozen = _encoder_state(clf.module_.encoder)
    assert all(torch.equal(before[k], frozen[k]) for k in before)
    embedder = ViewMaskPretrainer.from_pretrained(tmp_path / "ckpt").fit(X[:4])
    np.testing.assert_allclose(embedder.transform(X[:6]), pretrained.transform(X[:6]), atol=1e-6)


def test_pickle_and_joblib_round_trips_predict_identically(eegmat, tmp_path):
    X, y, _ = eegmat
    clf = CRIAClassifier(max_epochs=1, **FAST).fit(X[:64], y[:64])
    expected = clf.predict_proba(X[64:80])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X[64:80]), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "clf.joblib").predict_proba(X[64:80]),
                                  expected)


def test_outputs_do_not_depend_on_batch_mates(eegmat, pretrained):
    """Shuffled windows and windows one at a time give the same outputs, to float32 round-off.

    What sklearn's sample-order and subset checks ask, at a tolerance that float32 can
    keep (see FLOAT32_XFAIL); anything that mixed windows of a batch (batch statistics,
    a batch-level top-k) would move outputs by far more than this.
    """
    X, y, _ = eegmat
    X = X[:40]
    order = np.random.default_rng(0).permutation(len(X))
    clf = CRIAClassifier(encoder=pretrained, max_epochs=1, **FAST).fit(X, y[:40])
    for method in (pretrained.transform, clf.predict_proba):
        whole = method(X)
        np.testing.assert_allclose(method(X[order]), whole[order], rtol=1e-4, atol=1e-5)
        one_by_one = np.concatenate([method(X[i : i + 1]) for i in range(5)])
        np.testing.assert_allclose(one_by_one, whole[:5], rtol=1e-4, atol=1e-5)


def test_refuses_unfitted_use_wrong_shapes_and_changed_channels(eegmat, pretrained):
    X, y, _ = eegmat
    with pytest.raises(NotFittedError):
        CRIAClassifier(**FAST).predict(X[:2])
    with pytest.raises(NotFittedError):
        ViewMaskPretrainer(**FAST).transform(X[:2])
    with pytest.raises(ValueError, match="features"):
        pretrained.transform(np.asarray(X)[:4, :10])
    with pytest.raises(ValueError, match="Expected a 3-D array"):
        pretrained.transform(np.zeros((2, 20, 5, 200), dtype=np.float32))
    with pytest.raises(ValueError, match="one label per example"):
        CRIAClassifier(**FAST).fit(X[:10], y[:5])


def test_spatial_blocks_follow_scalp_neighbours():
    from sk_cria.channels import channel_neighbour_order
    from sk_cria.model.pretext import make_token_mask

    order = channel_neighbour_order(["EEG O1", "EEG Fp1", "EEG Cz", "EEG Fp2"])
    assert order[1].tolist()[:2] == [1, 3]  # Fp1's nearest other channel is Fp2, not O1
    mask = make_token_mask("spatial_block", 8, 4, 3, 0.5, channel_order=order)
    # Each example hides 2 of 4 channels, in every view and every patch.
    assert mask.shape == (8, 3, 4, 3)
    assert (mask[:, :, :, 0].sum(-1) == 2).all() and (mask == mask[..., :1]).all()
