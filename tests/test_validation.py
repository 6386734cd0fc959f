"""Bad parameters, bad data and training that trains nothing: clear errors, not silence.

Estimators are built as the README builds them, plus the one bad setting;
parameter errors are raised by ``fit`` before any training, so they cost
nothing. Data-dependent behaviour is checked on real eegmat windows.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_cria import CRIAClassifier, EEGArray, EEGPreprocessor, ViewMaskPretrainer


@pytest.fixture(scope="module")
def eegmat(eegmat_small):
    """Real eegmat windows, preprocessed as the README does (an EEGArray with channel names)."""
    b = eegmat_small
    pre = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)
    return pre.fit_transform(b.data), b.target


NAN = float("nan")

# (parameter, bad value, error type) for both estimators.
SHARED = [
    ("lr", "1e-3", TypeError),
    ("lr", 0, ValueError),
    ("lr", -1e-3, ValueError),
    ("lr", NAN, ValueError),
    ("max_epochs", -1, ValueError),
    ("max_epochs", "10", TypeError),
    ("max_epochs", 2.5, TypeError),
    ("batch_size", 0, ValueError),
    ("batch_size", 2.5, TypeError),
    ("optimizer", "adam", TypeError),
    ("optimizer", torch.nn.Linear, TypeError),
    ("config", "large", ValueError),
    ("config", {"widht": 3}, ValueError),
    ("config", {"d_model": 0}, ValueError),
    ("config", 3, TypeError),
    ("encoder", 3, TypeError),
    ("ch_names", "Fz", TypeError),
    ("ch_names", ["Fz", "Cz", "Fz"], ValueError),
    ("random_state", "0", TypeError),
    ("device", "gpu", ValueError),
    ("device", "cuda:999", ValueError),
    ("precision", "fp16", ValueError),
    ("verbose", "yes", TypeError),
    ("verbose", -1, ValueError),
]
PRETRAINER = SHARED + [
    ("temperature", 0, ValueError),
    ("temperature", -0.1, ValueError),
    ("temperature", "0.1", TypeError),
    ("batch_size", 1, ValueError),
    ("mask_ratio", 1.5, ValueError),
    ("mask_ratio", -0.1, ValueError),
    ("projection_dim", 0, ValueError),
    ("masking", "random", ValueError),
    ("negatives", "subject", ValueError),
    ("checkpoint_every", 0, ValueError),
    ("checkpoint_dir", __file__, ValueError),  # a file, not a folder
    ("lr", "auto", TypeError),  # the classifier's only
]
CLASSIFIER = SHARED + [
    ("lr", "fast", TypeError),
    ("validation_fraction", 0, ValueError),
    ("validation_fraction", 1, ValueError),
    ("validation_fraction", 1.5, ValueError),
    ("head_dropout", 1.5, ValueError),
    ("head_dropout", -0.1, ValueError),
    ("head_hidden", 0, ValueError),
    ("freeze_encoder", "no", TypeError),
    ("early_stopping", "no", TypeError),
    ("n_iter_no_change", -1, ValueError),
    ("n_iter_no_change", 0, ValueError),
    ("attn_mask_ratio", 1.0, ValueError),
    ("attn_mask_ratio", -0.5, ValueError),
    ("class_weight", "bal", ValueError),
    ("class_weight", [1, 2], TypeError),
    ("class_weight", {0: -1.0, 1: 1.0}, ValueError),
    ("class_weight", {0: NAN, 1: 1.0}, ValueError),
    ("n_threads", 0, ValueError),
]


def _check_error(fit, estimator, param, value, error):
    with pytest.raises(error, match=param) as info:
        fit()
    message = str(info.value)
    assert message.startswith(type(estimator).__name__)
    assert str(value) in message  # the bad value, as given


@pytest.mark.parametrize("param, value, error", PRETRAINER)
def test_pretrainer_refuses_bad_parameters_in_fit(eegmat, param, value, error):
    X, _ = eegmat
    net = ViewMaskPretrainer(**{param: value})  # the constructor only stores it
    assert net.get_params()[param] is value
    _check_error(lambda: net.fit(X[:8]), net, param, value, error)


@pytest.mark.parametrize("param, value, error", CLASSIFIER)
def test_classifier_refuses_bad_parameters_in_fit(eegmat, param, value, error):
    X, y = eegmat
    clf = CRIAClassifier(**{param: value})
    _check_error(lambda: clf.fit(X[:8], y[:8]), clf, param, value, error)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so_and_the_fix(eegmat):
    X, y = eegmat
    for fit in (lambda: ViewMaskPretrainer(device="cuda").fit(X[:8]),
                lambda: CRIAClassifier(device="cuda").fit(X[:8], y[:8]),
                lambda: ViewMaskPretrainer.from_pretrained("cria-small", device="cuda")):
        with pytest.raises(ValueError, match=r"device='cuda', but CUDA is not available.*'auto'.*'cpu'"):
            fit()


def test_parameters_set_later_are_checked_too(eegmat):
    X, _ = eegmat
    net = ViewMaskPretrainer().set_params(temperature=-1.0)
    with pytest.raises(ValueError, match=r"temperature must be a number > 0, got -1\.0"):
        net.fit(X[:8])
    # The checks leave the skorch contract alone: clone, get_params, set_params.
    net = clone(ViewMaskPretrainer(config="small", max_epochs=3, random_state=0))
    assert net.get_params()["temperature"] == 0.1


def test_an_unfitted_pretrainer_as_encoder_is_explained(eegmat):
    X, y = eegmat
    with pytest.raises(ValueError, match="encoder is an unfitted ViewMaskPretrainer; fit it first"):
        CRIAClassifier(encoder=ViewMaskPretrainer(), max_epochs=10, random_state=0).fit(X[:8], y[:8])


# ------------------------------------------------------ training that trains nothing
def test_pretrainer_with_no_trainable_batch_is_refused(eegmat):
    X, _ = eegmat
    with pytest.raises(ValueError, match=r"no batch to train on.*at least 2.*got 1 window"):
        ViewMaskPretrainer(config="small", max_epochs=3, random_state=0).fit(X[:1])


def test_pretrained_encoder_used_as_it_is_still_fits_anything(eegmat):
    X, _ = eegmat
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # max_epochs=0 on purpose: no warning
        net = ViewMaskPretrainer.from_pretrained("cria-small").fit(X[:1])
    assert np.isfinite(net.transform(X[:2])).all()


def test_fresh_fit_without_epochs_warns(eegmat):
    X, y = eegmat
    with pytest.warns(UserWarning, match="max_epochs=0 trains nothing.*random"):
        ViewMaskPretrainer(config="small", max_epochs=0, random_state=0).fit(X[:4])
    with pytest.warns(UserWarning, match="max_epochs=0 trains nothing.*random"):
        CRIAClassifier(encoder="cria-small", max_epochs=0, early_stopping=False).fit(X[:4], [0, 1] * 2)


def test_classifier_needs_two_classes(eegmat):
    X, y = eegmat
    assert len(np.unique(y[:10])) == 1
    with pytest.raises(ValueError, match=f"only one class: {y[0].item()!r}"):
        CRIAClassifier(encoder="cria-small", max_epochs=10, random_state=0).fit(X[:10], y[:10])


def test_a_class_too_small_for_early_stopping_names_the_hold_out_and_the_fix(eegmat):
    X, _ = eegmat
    y = np.array(["rest"] * 9 + ["task"])
    clf = CRIAClassifier(encoder="cria-small", max_epochs=10, random_state=0)
    with pytest.raises(ValueError, match=r"early stopping holds out.*stratified.*\['task'\] hold "
                                         r"a single window.*early_stopping=False"):
        clf.fit(X[:10], y)
    with pytest.raises(ValueError, match=r"1 held-out and 4 training windows for 2 classes"):
        clf.fit(X[:5], np.array(["rest"] * 3 + ["task"] * 2))


def test_duplicate_channel_names_of_x_are_refused(eegmat):
    X, y = eegmat
    names = list(X.ch_names)
    names[3] = names[2]
    with pytest.raises(ValueError, match="appear more than once"):
        EEGArray(np.asarray(X[:8]), ch_names=names, sfreq=X.sfreq)  # refused at once
    duplicated = EEGArray(np.asarray(X[:8]), sfreq=X.sfreq)
    duplicated.ch_names = names  # set by hand: the estimators check again
    with pytest.raises(ValueError, match=rf"channel name\(s\) \['{names[2]}'\] appear more than once"):
        ViewMaskPretrainer(config="small", max_epochs=3, random_state=0).fit(duplicated)
    with pytest.raises(ValueError, match="appear more than once"):
        ViewMaskPretrainer.from_pretrained("cria-small").transform(duplicated)
    with pytest.raises(ValueError, match="appear more than once"):
        CRIAClassifier(encoder="cria-small").fit(duplicated, y[:8])


def test_all_zero_x_is_warned_about(eegmat):
    X, _ = eegmat
    zeros = EEGArray(np.zeros_like(np.asarray(X[:4])), ch_names=X.ch_names, sfreq=X.sfreq)
    with pytest.warns(UserWarning, match="X is all zeros"):
        ViewMaskPretrainer.from_pretrained("cria-small").fit(zeros)


# ------------------------------------------------------------ non-finite losses
def test_diverging_pretraining_stops_naming_epoch_batch_and_causes(eegmat):
    X, _ = eegmat
    # lr is bounded (1e6 was taken); plain SGD at the bound with a tiny temperature diverges.
    net = ViewMaskPretrainer(config="small", max_epochs=3, random_state=0, lr=10.0,
                             temperature=1e-12, optimizer=torch.optim.SGD)
    with pytest.raises(FloatingPointError, match=r"training loss is nan at epoch \d+, batch \d+.*"
                                                 r"lr=10.0.*temperature"):
        net.fit(X[:16])


def test_diverging_fine_tuning_stops_and_keeps_the_last_finite_weights(eegmat):
    X, y = eegmat
    clf = CRIAClassifier(encoder="cria-small", max_epochs=10, random_state=0, lr=10.0,
                         optimizer=torch.optim.SGD)
    # Whichever loss turns NaN first (training's names the batch) stops the fit.
    with pytest.raises(FloatingPointError, match=r"(training|validation) loss is nan at epoch "
                                                 r"\d+.*learning rate too high"):
        clf.fit(X[:48], y[:48])
    # The weights are those before the failing batch, finite but huge: predict refuses
    # the NaN probabilities they give, instead of predicting the first class everywhere.
    assert all(torch.isfinite(p).all() for p in clf.module_.parameters())
    with pytest.raises(FloatingPointError, match="non-finite probabilities for 4 of 4 windows.*"
                                                 "weights are finite.*lr too high"):
        clf.predict(X[:4])
    with torch.no_grad():
        clf.module_.head[-1].bias.fill_(NAN)
    with pytest.raises(FloatingPointError, match="weights hold NaN"):
        clf.predict_proba(X[:4])


def test_non_finite_embeddings_are_refused(eegmat):
    X, _ = eegmat
    net = ViewMaskPretrainer.from_pretrained("cria-small")
    with torch.no_grad():
        net.encoder_.tokenizer.time_norm.weight.fill_(NAN)
    with pytest.raises(FloatingPointError, match="non-finite embeddings for 3 of 3 windows"):
        net.transform(X[:3])


# ------------------------------------------- issue 37: hostile input, silent results
@pytest.mark.parametrize("names, match", [
    (["Fp1", "FP1", "EEG Fp1-REF"], r"'Fp1', 'FP1' and 'EEG Fp1-REF' are one channel, Fp1"),
    (["T3", "Cz", "T7"], r"'T3' and 'T7' are one channel, T7"),
])
def test_spellings_of_one_electrode_are_refused_by_the_estimators(eegmat, names, match):
    # Three channels shared one embedding without a word; the file readers already refused.
    X, y = eegmat
    X = np.asarray(X[:8, :3])  # a plain array: the names come from ch_names=
    with pytest.raises(ValueError, match=match):
        ViewMaskPretrainer(config="small", max_epochs=1, ch_names=names).fit(X)
    with pytest.raises(ValueError, match=match):
        CRIAClassifier(config="small", max_epochs=1, ch_names=names).fit(X, y[:8])


def test_reordered_channels_of_an_eeg_array_reach_the_estimators_renamed(eegmat):
    # X[:, ::-1] kept the old names and was embedded under them without a word.
    X, _ = eegmat
    net = ViewMaskPretrainer.from_pretrained("cria-small").fit(X[:8])  # max_epochs=0
    reordered = X[:8, ::-1]
    assert reordered.ch_names == list(X.ch_names)[::-1]
    with pytest.raises(ValueError, match=r"X carries channels .* but ViewMaskPretrainer was "
                                         r"fitted on"):
        net.transform(reordered)
    # Named correctly, the same channels in another order are embedded under their names.
    shipped = ViewMaskPretrainer.from_pretrained("cria-small")
    np.testing.assert_allclose(shipped.transform(reordered), shipped.transform(X[:8]),
                               rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("make", [
    lambda: ViewMaskPretrainer(config="small", max_epochs=1),
    lambda: CRIAClassifier(config="small", max_epochs=1),
])
def test_sample_weight_is_refused_before_training(eegmat, make):
    # It reached the module's forward and failed inside torch after training started.
    X, y = eegmat
    net = make()
    fit = net.fit if isinstance(net, CRIAClassifier) else (lambda X, y, **kw: net.fit(X, **kw))
    with pytest.raises(TypeError, match=r"fit does not take sample_weight.*(class_weight|"
                                        r"repeat or leave out)"):
        fit(X[:8], y[:8], sample_weight=np.ones(8))
    assert not getattr(net, "initialized_", False)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['weights'\]"):
        fit(X[:8], y[:8], weights=np.ones(8))


def test_half_precision_windows_are_computed_in_float32_with_a_warning(eegmat):
    X, _ = eegmat
    net = ViewMaskPretrainer.from_pretrained("cria-small")
    half = X[:4].astype(np.float16)
    with pytest.warns(UserWarning, match=r"ViewMaskPretrainer: X is float16 .*computed in "
                                         r"float32"):
        embedded = net.transform(half)
    np.testing.assert_array_equal(embedded, net.transform(half.astype(np.float32)))
