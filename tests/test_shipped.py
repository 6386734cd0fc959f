"""The encoder shipped inside the package loads offline by name, as the README uses it."""

import warnings

import numpy as np
import pytest
import torch

from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer
from sk_cria.model import CRIA, CRIAConfig
from sk_cria.model.io import SHIPPED_DIR, available_pretrained, pretrained_scaling


#: Each shipped encoder and the EEGPreprocessor scaling its model card says to feed it.
SHIPPED = {"cria-small": "window", "cria-base": 100.0}


# Fine-tuning the base encoder takes ten times the small one's time: it runs with
# the slow tests, the small one in the fast lane too.
@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=[pytest.mark.slow] if name != "cria-small" else [])
    for name in sorted(SHIPPED)])
def shipped(request, eegmat_small):
    """(name, windows, labels): eegmat windows scaled as the encoder was trained on."""
    b = eegmat_small
    X = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0,
                        scaling=SHIPPED[request.param]).fit_transform(b.data)
    return request.param, X, b.target


def test_cria_small_is_shipped_small_and_with_its_model_card():
    assert "cria-small" in available_pretrained()
    folder = SHIPPED_DIR / "cria-small"
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20
    card = (folder / "README.md").read_text()
    for fact in ("subjects 00-27", "Not seen", "32-35", "ODC-By 1.0", "bench_pretext.py"):
        assert fact in card


def test_cria_base_is_shipped_under_8_mb_with_its_model_card():
    folder = SHIPPED_DIR / "cria-base"
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20
    card = (folder / "README.md").read_text()
    for fact in ("eegmat subjects 00-27", "Never seen", "28-35", "12-109", "ODC-By 1.0",
                 "bench_corpus.py", "scaling=100.0", "random_state=0", "steps"):
        assert fact in card, fact
    if "muse" in card.splitlines()[0]:
        assert "BSD-3-Clause" in card


def test_from_pretrained_by_name_embeds_real_windows(shipped):
    name, X, _ = shipped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the input it was trained on: no scaling warning
        net = ViewMaskPretrainer.from_pretrained(name)
        embedding = net.transform(X)
    assert embedding.shape == (len(X), net.encoder_.config.embed_dim)
    assert np.isfinite(embedding).all()
    # The same weights as the folder itself, not a fresh initialisation.
    direct = CRIA.from_pretrained(SHIPPED_DIR / name)
    for key, tensor in direct.state_dict().items():
        torch.testing.assert_close(net.encoder_.state_dict()[key], tensor, rtol=0, atol=0)
    assert pretrained_scaling(name) == SHIPPED[name]


def test_classifier_fine_tunes_from_the_name(shipped):
    name, X, y = shipped
    clf = CRIAClassifier(encoder=name, max_epochs=1, random_state=0).fit(X, y)
    assert set(clf.predict(X)) <= set(y)


def test_unknown_name_lists_the_shipped_encoders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"neither an encoder directory.*cria-small"):
        ViewMaskPretrainer.from_pretrained("cria-tiny")
    # A local folder of a shipped name is taken first, as in Hugging Face's from_pretrained.
    torch.manual_seed(1)
    local = CRIA(CRIAConfig.small())
    local.save_pretrained(tmp_path / "cria-small")
    loaded = ViewMaskPretrainer.from_pretrained("cria-small").encoder_
    for name, tensor in local.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0)
