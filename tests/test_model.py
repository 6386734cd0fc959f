"""Tests of the CRIA torch model (sk_cria.model)."""

import dataclasses
import json
import pickle
import warnings

import pytest
import torch

from sk_cria.channels import CHANNEL_VOCABULARY
from sk_cria.model import CRIA, CRIAConfig, linear_attention, softmax_attention
from sk_cria.model.attention import AttentionBlock, rotary_tables
from sk_cria.model.config import LEGACY_DEFAULTS

NAMES = ["Fp1", "Fp2", "C3", "Cz", "C4", "O1", "O2", "T3"]
PATCH = 200


def small_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return CRIA(CRIAConfig.small(**overrides)).eval()


def eeg(batch, channels, patches, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, patches * PATCH, generator=generator)


@pytest.fixture(scope="module")
def model():
    return small_model()


@pytest.mark.parametrize("n_channels", [1, 5, 20, 64])
def test_shapes_for_any_number_of_channels(model, n_channels):
    names = list(CHANNEL_VOCABULARY[:n_channels])
    out = model.encode(eeg(2, n_channels, 3), names)
    assert out.embedding.shape == (2, model.config.embed_dim)
    for view in CRIA.VIEWS:
        assert getattr(out, view).shape == (2, n_channels, 3, model.config.d_model)
    assert out.padding_mask.shape == out.kept.shape == (2, n_channels, 3)


@pytest.mark.parametrize("n_patches", [1, 2, 13, 60])
def test_shapes_for_any_number_of_patches(model, n_patches):
    embedding = model(eeg(3, 2, n_patches), ["Cz", "Pz"])
    assert embedding.shape == (3, model.config.embed_dim)
    assert torch.isfinite(embedding).all()


def test_unknown_channels_share_one_embedding_and_warn_once():
    model = small_model()
    x = eeg(1, 3, 2)
    with pytest.warns(UserWarning, match=r"\['EKG', 'Photic'\]") as record:
        first = model(x, ["Cz", "EKG", "Photic"])
    assert len(record) == 1 and record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(x, ["Cz", "EKG", "Photic"])
    # Another set of unknown names warns again, and gets the same embedding.
    with pytest.warns(UserWarning, match="foo"):
        renamed = model(x, ["Cz", "foo", "bar"])
    torch.testing.assert_close(first, renamed, rtol=0, atol=0)


def test_channel_names_are_looked_up_by_name_and_alias(model):
    x = eeg(1, 3, 2)
    reference = model(x, ["Fp1", "T7", "Cz"])
    torch.testing.assert_close(model(x, ["EEG FP1-REF", "T3", "Cz."]), reference, rtol=0, atol=0)
    assert not torch.allclose(model(x, ["Fp1", "T8", "Cz"]), reference)


@pytest.mark.parametrize("value", [0.0, 3.0, 1e6, 1e30])
@pytest.mark.parametrize("training", [False, True])
def test_no_nan_for_flat_zero_or_huge_input(value, training):
    model = small_model(attn_mask_ratio=0.3)
    model.train(training)
    out = model.encode(torch.full((2, 3, 2 * PATCH), value), ["Cz", "C3", "C4"])
    for tensor in (out.embedding, out.temporal, out.spatial, out.spectral):
        assert torch.isfinite(tensor).all()


def _backward_through_every_view(model):
    token_mask = torch.zeros(2, 3, 4, 3, dtype=torch.bool)
    token_mask[:, :, 0, 0] = True  # one token of each view uses its placeholder
    out = model.encode(eeg(2, 4, 3), ["Cz", "FP1-F7", "O2", "Photic"], token_mask=token_mask)
    (out.embedding.square().mean() + out.spatial.mean()).backward()


@pytest.mark.filterwarnings("ignore:1 channel name")
@pytest.mark.parametrize("pooling", ["mean", "mean_top"])
@pytest.mark.parametrize("fusion", ["asymmetric", "symmetric", "serial"])
def test_gradients_reach_every_parameter(fusion, pooling):
    # A random readout, so that every view reaches the embedding at once
    # (the "primary" readout is tested below).
    model = small_model(fusion=fusion, attn_mask_ratio=0.2, pooling=pooling, readout_init="random")
    _backward_through_every_view(model.train())
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.filterwarnings("ignore:1 channel name")
def test_primary_readout_starts_on_the_spectral_view_and_learns_the_others():
    model = small_model(attn_mask_ratio=0.2).train()
    weight = model.pooling.projection.weight
    d_model, views = model.config.d_model, len(CRIA.VIEWS)
    view_of_column = torch.arange(weight.shape[1]) // d_model % views
    spectral = view_of_column == CRIA.VIEWS.index("spectral")
    # Each unit reads one pooled spectral feature, each feature once.
    assert torch.equal(weight[:, spectral], torch.eye(int(spectral.sum())))
    assert not weight[:, ~spectral].any() and not model.pooling.projection.bias.any()
    # So, untrained, the embedding changes when the spectral view is masked
    # and only then.
    x, names = eeg(2, 4, 3), ["Cz", "FP1-F7", "O2", "Photic"]
    with torch.no_grad():
        reference = model.eval()(x, names)
        for index, view in enumerate(CRIA.VIEWS):
            token_mask = torch.zeros(2, 3, 4, 3, dtype=torch.bool)
            token_mask[:, index] = True
            masked = model.encode(x, names, token_mask=token_mask).embedding
            assert torch.equal(masked, reference) == (view != "spectral"), view
    model.train()
    _backward_through_every_view(model)
    # The other views' columns get gradients, so one optimiser step brings
    # them in, and from then on every parameter learns.
    assert weight.grad[:, ~spectral].abs().sum(dim=0).all()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.zero_grad()
    _backward_through_every_view(model)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("fusion", ["asymmetric", "symmetric", "serial"])
def test_every_fusion_and_attention_kind_runs(fusion, attention):
    # A random readout: the "primary" one starts on the spectral view only,
    # which asymmetric and serial fusion update alike.
    model = small_model(fusion=fusion, attention=attention, readout_init="random")
    embedding = model(eeg(2, 3, 4), NAMES[:3])
    assert embedding.shape == (2, model.config.embed_dim) and torch.isfinite(embedding).all()
    # The choice is real: the same weights seed and input give another result.
    other_fusion = "serial" if fusion != "serial" else "asymmetric"
    other = small_model(fusion=other_fusion, attention=attention, readout_init="random")
    assert not torch.allclose(other(eeg(2, 3, 4), NAMES[:3]), embedding)


@pytest.mark.parametrize("attention", ["linear", "softmax"])
@pytest.mark.parametrize("mask_rank", [2, 3])
def test_padded_patches_change_nothing(attention, mask_rank):
    model = small_model(attention=attention, k_c=None, k_t=None)
    x = eeg(2, 3, 4)
    reference = model.encode(x, NAMES[:3])
    garbage = 1e3 * eeg(2, 3, 5, seed=7)
    garbage[0, 0, 0] = torch.nan
    padded = torch.cat([x, garbage], dim=-1)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[:, 4:] = True
    if mask_rank == 3:
        padding = padding[:, None, :].expand(2, 3, 9)
    out = model.encode(padded, NAMES[:3], padding_mask=padding)
    torch.testing.assert_close(out.embedding, reference.embedding, rtol=1e-5, atol=1e-5)
    for view in CRIA.VIEWS:
        torch.testing.assert_close(getattr(out, view)[..., :4, :], getattr(reference, view))
    assert not (out.kept & out.padding_mask).any()


@pytest.mark.parametrize(
    "overrides",
    [{}, dict(k_c=2, k_t=0.5), dict(k_c=2, k_t=0.5, pool_top_channels=1), dict(LEGACY_DEFAULTS)],
    ids=["default", "purified", "purified-max", "legacy"],
)
def test_padded_channel_changes_nothing(overrides):
    # A padded channel must reach neither the mean nor the top-channel pooling.
    model = small_model(**overrides)
    x = eeg(2, 3, 4)
    reference = model(x, NAMES[:3])
    with_extra = torch.cat([x, 50 * eeg(2, 1, 4, seed=3)], dim=1)
    padding = torch.zeros(2, 4, 4, dtype=torch.bool)
    padding[:, 3] = True
    out = model(with_extra, NAMES[:4], padding_mask=padding)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


def test_chunked_blocks_match_whole_blocks():
    """Chunks change neither the output nor, in training, the gradients."""
    model = small_model(k_c=None, k_t=None, dropout=0.0).train()
    x = eeg(3, 3, 5)
    padding = torch.zeros(3, 5, dtype=torch.bool)
    padding[1, 3:] = True

    def run():
        model.zero_grad()
        out = model(x, NAMES[:3], padding_mask=padding)
        out.square().sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                              if p.grad is not None}

    reference, reference_grads = run()
    for module in model.modules():
        if isinstance(module, AttentionBlock):
            module.chunk_rows = 8  # forces both sequence and token chunks
    out, grads = run()
    torch.testing.assert_close(out, reference)
    assert grads.keys() == reference_grads.keys()
    for name, grad in grads.items():
        # Float32 sums in another order: within 1e-5 of each gradient's scale.
        scale = reference_grads[name].abs().max().item()
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-4, atol=1e-5 * scale,
                                   msg=name)


def naive_attention(kind, q, k, v, keep, rope):
    """Attention written out token by token, the reference for the kernels."""
    rotate = lambda x: apply(x, rope)  # noqa: E731
    if kind == "linear":
        fq, fk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
        weights = torch.einsum("bqhd,bkhd->bhqk", rotate(fq), rotate(fk)) * keep[:, :, None, :]
        normaliser = torch.einsum("bqhd,bkhd->bhqk", fq, fk * keep.transpose(1, 2)[..., None])
        weights = weights / normaliser.sum(-1, keepdim=True)
    else:
        scores = torch.einsum("bqhd,bkhd->bhqk", rotate(q), rotate(k)) / q.shape[-1] ** 0.5
        weights = scores.masked_fill(keep[:, :, None, :] == 0, -torch.inf).softmax(-1)
    return torch.einsum("bhqk,bkhd->bqhd", weights, v)


def apply(x, rope):
    angles = torch.angle(rope)
    cos, sin = angles.cos()[:, None, :], angles.sin()[:, None, :]
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


@pytest.mark.parametrize("kind, kernel", [("linear", linear_attention), ("softmax", softmax_attention)])
def test_attention_kernels_match_naive_formula(kind, kernel):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 7, 2, 8, dtype=torch.float64) for _ in range(3))
    keep = (torch.rand(2, 2, 7) > 0.3).double()
    keep[..., 0] = 1
    rope = rotary_tables(torch.arange(7), 8).to(torch.complex128)
    expected = naive_attention(kind, q, k, v, keep, rope)
    torch.testing.assert_close(kernel(q, k, v, keep, rope, rope), expected)


def test_attention_masking_only_in_training():
    model = small_model(attn_mask_ratio=0.5, dropout=0.0)
    x, names = eeg(2, 3, 5), NAMES[:3]
    torch.testing.assert_close(model(x, names), model(x, names), rtol=0, atol=0)
    model.train()
    assert not torch.allclose(model(x, names), model(x, names))
    unmasked = small_model(attn_mask_ratio=0.0, dropout=0.0).train()
    torch.testing.assert_close(unmasked(x, names), unmasked(x, names), rtol=0, atol=0)


def test_same_seed_same_output():
    x, names = eeg(2, 3, 4), NAMES[:3]
    outputs = []
    for _ in range(2):
        model = small_model(seed=5, attn_mask_ratio=0.3).train()
        torch.manual_seed(11)
        outputs.append(model(x, names))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    assert not torch.allclose(small_model(seed=6)(x, names), small_model(seed=5)(x, names))


def test_token_mask_replaces_view_tokens():
    # A random readout, so that every view reaches the embedding at once.
    model = small_model(readout_init="random")
    x, names = eeg(2, 3, 4), NAMES[:3]
    reference = model(x, names)
    none_masked = torch.zeros(2, 3, 3, 4, dtype=torch.bool)
    unchanged = model.encode(x, names, token_mask=none_masked).embedding
    torch.testing.assert_close(unchanged, reference, rtol=0, atol=0)
    for view in range(3):
        view_masked = none_masked.clone()
        view_masked[:, view] = True
        masked = model.encode(x, names, token_mask=view_masked).embedding
        assert not torch.allclose(masked, reference)
    with pytest.raises(ValueError, match="token_mask"):
        model.encode(x, names, token_mask=none_masked[:, :2])


@pytest.mark.parametrize("masking", ["view", "token"])
@pytest.mark.parametrize("overrides", [{}, {"k_c": 0.5, "k_t": 0.5}, {"fusion": "symmetric"}])
def test_masked_pair_equals_two_passes(masking, overrides):
    # Pre-training encodes each batch with its mask and without it in one
    # pass; every output must equal that of the two separate encode calls,
    # padded patches included.
    from sk_cria.model.pretext import make_token_mask

    model = small_model(readout_init="random", **overrides)
    x, names = eeg(4, 5, 3), NAMES[:5]
    mask = make_token_mask(masking, 4, 5, 3, 0.5, generator=torch.Generator().manual_seed(0))
    padding = torch.zeros(4, 3, dtype=torch.bool)
    padding[:2, -1] = True
    masked, full = model.encode_masked_pair(x, names, mask, padding)
    for pair, alone in ((masked, model.encode(x, names, padding, token_mask=mask)),
                        (full, model.encode(x, names, padding))):
        for field, value in vars(alone).items():
            torch.testing.assert_close(getattr(pair, field), value, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(masked.embedding, full.embedding)


@pytest.mark.parametrize(
    "k_c, k_t, kept_per_example",
    [(1, 1, 1), (None, None, 5 * 4), (0.5, 0.5, 3 * 2), (2, 0.25, 2 * 1), (1.0, 3, 5 * 3)],
)
def test_purification_keeps_top_k_channels_and_patches(k_c, k_t, kept_per_example):
    model = small_model(k_c=k_c, k_t=k_t)
    out = model.encode(eeg(2, 5, 4), NAMES[:5])
    assert out.kept.sum(dim=(1, 2)).tolist() == [kept_per_example] * 2
    kept_channels = out.kept.any(dim=-1)
    # The kept channels are those of highest mean token norm.
    norms = torch.cat([out.temporal, out.spatial, out.spectral], -1).norm(dim=-1).mean(-1)
    for example in range(2):
        n_kept = int(kept_channels[example].sum())
        top = norms[example].topk(n_kept).indices
        assert kept_channels[example, top].all()


def test_save_load_round_trip(tmp_path):
    model = small_model(fusion="serial", k_c=2, k_t=None)
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = CRIA.from_pretrained(tmp_path)
    assert loaded.config == model.config and not loaded.training
    x, names = eeg(2, 3, 3), NAMES[:3]
    torch.testing.assert_close(loaded(x, names), model(x, names), rtol=0, atol=0)
    tuned = CRIA.from_pretrained(tmp_path, attn_mask_ratio=0.25)
    assert tuned.config.attn_mask_ratio == 0.25


def test_checkpoint_saved_before_issue_21_loads_and_embeds_identically(tmp_path):
    # A config.json written before issue 21 lacks the fields it added and
    # gives the old k_c, k_t and small embed_dim explicitly.
    old = small_model(embed_dim=64, k_c=0.5, k_t=0.5, **LEGACY_DEFAULTS)
    old.save_pretrained(tmp_path)
    header = json.loads((tmp_path / "config.json").read_text())
    for field in (*LEGACY_DEFAULTS, "pool_top_channels"):
        del header["config"][field]
    (tmp_path / "config.json").write_text(json.dumps(header))
    loaded = CRIA.from_pretrained(tmp_path)
    assert loaded.config == old.config
    x, names = eeg(2, 5, 3), NAMES[:5]
    torch.testing.assert_close(loaded(x, names), old(x, names), rtol=0, atol=0)
    # Whereas the new defaults build another network, which these weights
    # do not fit: the legacy values are what makes the old checkpoint load.
    with pytest.raises(RuntimeError, match="state_dict"):
        CRIA(CRIAConfig.small(embed_dim=64)).load_state_dict(old.state_dict())


def test_legacy_defaults_rebuild_the_old_encoder_from_the_same_seed():
    # Same seed, same weights, same embedding as before issue 21: the added
    # buffers and options draw no random numbers when set to their legacy
    # values (a Hann window and a filter bank are deterministic anyway).
    legacy = small_model(**LEGACY_DEFAULTS)
    names = {name for name, _ in legacy.named_parameters()}
    assert "pooling.norm.weight" in names and not any("norms" in name for name in names)
    assert legacy.pooling.projection.in_features == 3 * legacy.config.d_model
    assert torch.equal(legacy.tokenizer.window, torch.ones(PATCH))


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("target", ["model.safetensors", "config.json"])
@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_pickled_checkpoint_is_refused(tmp_path, target, writer):
    small_model().save_pretrained(tmp_path)
    marker = tmp_path / "code_ran"
    payload = {"weights": _Exploit(marker)}
    with open(tmp_path / target, "wb") as stream:
        if writer == "torch":
            torch.save(payload, stream)
        else:
            pickle.dump(payload, stream)
    with pytest.raises(ValueError, match="pickled payload"):
        CRIA.from_pretrained(tmp_path)
    assert not marker.exists()


def test_missing_or_foreign_checkpoints_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        CRIA.from_pretrained(tmp_path / "nowhere")
    small_model().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a tensor file at all")
    with pytest.raises(ValueError, match="safetensors"):
        CRIA.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="config"):
        CRIA.from_pretrained(tmp_path)


def test_config_presets_and_json_round_trip():
    default, small = CRIAConfig(), CRIAConfig.small()
    assert 3e6 <= sum(p.numel() for p in CRIA(default).parameters()) <= 6e6
    assert 2e5 <= sum(p.numel() for p in CRIA(small).parameters()) <= 5e5
    assert (default.patch_size, default.sfreq, default.n_layers) == (200, 200.0, 5)
    assert (default.fusion, default.attention) == ("asymmetric", "linear")
    for config in (default, small, CRIAConfig(k_c=3, k_t=None), CRIAConfig(k_c=1.0)):
        text = json.dumps(dataclasses.asdict(config))
        assert CRIAConfig.from_dict(json.loads(text)) == config
    with pytest.raises(ValueError, match="Unknown CRIAConfig field"):
        CRIAConfig.from_dict({"widht": 3})


@pytest.mark.parametrize(
    "field, value",
    [
        ("fusion", "parallel"),
        ("attention", "flash"),
        ("d_model", 0),
        ("n_heads", 3),
        ("n_layers", 2.0),
        ("k_c", 0.0),
        ("k_c", 1.5),
        ("k_t", True),
        ("k_t", -2),
        ("attn_mask_ratio", 1.0),
        ("dropout", -0.1),
        ("patch_size", 1),
        ("sfreq", 0),
    ],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        CRIAConfig(**{field: value})


def test_bad_inputs_are_explained(model):
    with pytest.raises(ValueError, match="multiple of patch_size=200"):
        model(torch.randn(1, 2, 250), ["Cz", "Pz"])
    with pytest.raises(ValueError, match="one name per channel"):
        model(torch.randn(1, 2, 200), ["Cz"])
    with pytest.raises(ValueError, match="padding_mask"):
        model(torch.randn(1, 2, 400), ["Cz", "Pz"], padding_mask=torch.zeros(1, 3, dtype=torch.bool))


def test_training_after_inference_mode_call():
    # transform() embeds under inference_mode; fine-tuning the same encoder after it must work.
    model = CRIA(CRIAConfig.small())
    x = torch.randn(2, 3, 400)
    with torch.inference_mode():
        model(x, ["C3", "Cz", "C4"])
    model.train()
    model(x, ["C3", "Cz", "C4"]).sum().backward()
    assert model.channel_embedding.table.weight.grad is not None
