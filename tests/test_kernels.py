"""The training kernels of issue 38: the feature map's backward and the CPU Dropout.

Both are speed-ups that must change nothing else: the feature map gives the
same values and gradients as autograd through ``exp(min(x, 0)) + max(x, 0)``;
the Dropout draws masks of the same distribution and scales as torch's; an
encoder in eval mode embeds real EEG exactly as with the kernels before.
"""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sk_cria.model import CRIA, CRIAConfig, attention
from sk_cria.model.attention import Dropout


def reference_feature_map(x):
    return torch.exp(x.clamp(max=0.0)) + F.relu(x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_feature_map_values_and_gradients_are_autograds(dtype):
    torch.manual_seed(0)
    x = (3 * torch.randn(4096, 64)).to(dtype)
    x[0, :3] = torch.tensor([0.0, -0.0, 1e-30]).to(dtype)  # the kink
    grad = torch.randn_like(x)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, out_b = attention._feature_map(a), reference_feature_map(b)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    out_a.backward(grad)
    out_b.backward(grad)
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    assert a.grad.dtype == dtype


def test_feature_map_passes_gradcheck():
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(attention._feature_map, (x,))


def test_dropout_keeps_the_distribution_and_scale():
    torch.manual_seed(0)
    layer = Dropout(0.1).train()
    x = torch.randn(1000, 1000)
    y = layer(x)
    dropped = y == 0
    # 1e6 Bernoulli(0.1) draws: the fraction is within 5 standard deviations (0.0015).
    assert abs(dropped.float().mean().item() - 0.1) < 0.0015
    torch.testing.assert_close(y[~dropped], x[~dropped] / 0.9, rtol=1e-6, atol=0)
    # The masks of neighbouring elements (three share a 64-bit draw) are independent.
    m = dropped.flatten().float()
    for lag in (1, 2, 3, 4):
        assert abs(torch.corrcoef(torch.stack([m[:-lag], m[lag:]]))[0, 1].item()) < 0.005
    # Gradients go through the kept elements, scaled as the values are.
    x.requires_grad_()
    torch.manual_seed(1)
    layer(x).sum().backward()
    torch.manual_seed(1)
    kept = layer(x.detach()) != 0
    torch.testing.assert_close(x.grad, kept.float() / 0.9)


def test_dropout_is_seeded_and_identity_outside_training():
    x = torch.randn(64, 128)
    layer = Dropout(0.3).train()
    torch.manual_seed(5)
    a = layer(x)
    torch.manual_seed(5)
    assert torch.equal(a, layer(x))
    assert not torch.equal(a, layer(x))  # a fresh draw
    assert layer.eval()(x) is x
    assert Dropout(0.0).train()(x) is x
    half = x.bfloat16()
    assert Dropout(0.5).train()(half).dtype == torch.bfloat16


def test_dropout_in_place_is_torchs():
    x = torch.randn(32, 32)
    torch.manual_seed(3)
    expected = nn.Dropout(0.2, inplace=True).train()(x.clone())
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.2, inplace=True).train()(x.clone()), expected)


def test_encoders_embed_as_before_and_keep_their_state(balanced_eeg):
    """Eval-mode embeddings of real windows equal those of the kernels before issue 38."""
    X = torch.as_tensor(np.asarray(balanced_eeg[0])[:8], dtype=torch.float32)
    names = list(balanced_eeg[0].ch_names)
    torch.manual_seed(0)
    model = CRIA(CRIAConfig.small()).eval()
    assert not any(type(m) is nn.Dropout for m in model.modules())
    with torch.inference_mode():
        now = model(X, names)
        saved = attention._feature_map
        attention._feature_map = reference_feature_map
        try:
            before = model(X, names)
        finally:
            attention._feature_map = saved
    torch.testing.assert_close(now, before, rtol=0, atol=0)
    # Dropout holds no state: the weights' keys are those of torch's, and it pickles.
    assert not any("dropout" in key and key.endswith(("weight", "bias"))
                   for key in model.state_dict())
    clone = pickle.loads(pickle.dumps(model))
    with torch.inference_mode():
        torch.testing.assert_close(clone(X, names), now, rtol=0, atol=0)
