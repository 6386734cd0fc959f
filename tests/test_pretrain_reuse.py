"""encode_masked_pair(reuse_streams=True): the streams a mask leaves unchanged fused once.

Issue 38 item 2. On real eegmat windows: the same outputs as the two passes it
replaces (eval mode, every fusion route and masking), the same gradients in
training without dropout, and the option reachable from the estimator.
"""

import dataclasses

import numpy as np
import pytest
import torch

from sk_cria import ViewMaskPretrainer
from sk_cria.model import CRIA, CRIAConfig
from sk_cria.model.pretext import InfoNCELoss, ViewMaskModule, make_token_mask


@pytest.fixture(scope="module")
def windows(balanced_eeg):
    """12 preprocessed eegmat windows of 5 s (rest and arithmetic, 4 subjects)."""
    X = balanced_eeg[0]
    return torch.as_tensor(np.asarray(X)[::4], dtype=torch.float32), list(X.ch_names)


def encoder(fusion, dropout=0.0):
    torch.manual_seed(0)
    return CRIA(dataclasses.replace(CRIAConfig.small(), fusion=fusion, dropout=dropout))


@pytest.mark.parametrize("fusion", ["asymmetric", "symmetric", "serial"])
@pytest.mark.parametrize("masking", ["view", "token", "spatial_block"])
def test_reused_streams_give_the_two_passes(windows, fusion, masking):
    x, names = windows
    model = encoder(fusion).eval()
    patches = x.shape[2] // model.config.patch_size
    mask = make_token_mask(masking, len(x), x.shape[1], patches, 0.5,
                           generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = (model.encode(x, names, token_mask=mask), model.encode(x, names))
        reused = model.encode_masked_pair(x, names, mask, reuse_streams=True)
    for want, got in zip(expected, reused):
        for field in ("embedding", *CRIA.VIEWS):
            torch.testing.assert_close(getattr(got, field), getattr(want, field),
                                       rtol=1e-5, atol=1e-5, msg=field)


def test_reused_streams_train_the_same_without_dropout(windows):
    x, names = windows
    from sk_cria._net import channel_pairs

    channels = torch.from_numpy(channel_pairs(names))
    grads = []
    for reuse in (False, True):
        module = ViewMaskModule(encoder("asymmetric"), reuse_streams=reuse).train()
        torch.manual_seed(2)  # the same view masks
        loss = InfoNCELoss(0.1)(*module(x, channels))
        loss.backward()
        grads.append({name: p.grad.clone() for name, p in module.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_the_estimator_takes_reuse_streams(windows):
    x, names = windows
    pre = ViewMaskPretrainer(config="small", max_epochs=1, batch_size=6, ch_names=names,
                             random_state=0, module__reuse_streams=True).fit(x.numpy())
    assert pre.module_.reuse_streams is True
    assert np.isfinite(pre.history[-1, "train_loss"])


def test_auto_reuses_streams_under_bfloat16_only(windows, monkeypatch):
    """reuse_streams="auto" (the default) reuses under bfloat16 autocast, not in float32."""
    x, names = windows
    from sk_cria._net import channel_pairs

    seen = []
    model = encoder("asymmetric")
    original = model.encode_masked_pair

    def spy(*args, reuse_streams, **kwargs):
        seen.append(reuse_streams)
        return original(*args, reuse_streams=reuse_streams, **kwargs)

    monkeypatch.setattr(model, "encode_masked_pair", spy)
    module = ViewMaskModule(model).train()
    assert module.reuse_streams == "auto"
    channels = torch.from_numpy(channel_pairs(names))
    module(x, channels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        module(x, channels)
    assert seen == [False, True]
    with pytest.raises(ValueError, match="reuse_streams must be True, False or 'auto', got 'yes'"):
        ViewMaskModule(model, reuse_streams="yes")
