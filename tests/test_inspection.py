"""sk_cria.inspection on real eegmat windows, through the estimators as the README builds them."""

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import Pipeline

from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer
from sk_cria import inspection
from sk_cria.channels import lookup_channels
from sk_cria.datasets import EEGWindowsDataset
from sk_cria.model import CRIA, CRIAConfig

EEGMAT = "eegmat/files/eegmat/1.0.0"


@pytest.fixture(scope="module")
def raw(eegmat_small):
    """Eight windows of each condition from two subjects (500 Hz, microvolts)."""
    picks = np.concatenate([
        np.flatnonzero((eegmat_small.groups == subject) & (eegmat_small.target == label))[:4]
        for subject in (0, 32) for label in (0, 1)
    ])
    return eegmat_small.data[picks], eegmat_small.target[picks], eegmat_small


@pytest.fixture(scope="module")
def preprocessor(raw):
    return EEGPreprocessor(sfreq=raw[2].sfreq, ch_names=raw[2].ch_names, line_freq=50.0)


@pytest.fixture(scope="module")
def X(raw, preprocessor):
    return preprocessor.fit_transform(raw[0])


@pytest.fixture(scope="module")
def probe(raw, preprocessor):
    data, target, _ = raw
    return Pipeline([("pre", preprocessor),
                     ("embed", ViewMaskPretrainer.from_pretrained("cria-small")),
                     ("clf", LogisticRegression(max_iter=1000))]).fit(data, target)


def _spectral_mask(encoder, x):
    mask = torch.zeros(len(x), 3, x.shape[1], x.shape[2] // 200, dtype=torch.bool)
    mask[:, encoder.VIEWS.index("spectral")] = True
    return mask


# ---------------------------------------------------------------- masking
def test_masking_a_view_changes_the_embeddings_and_is_undone(probe, X):
    embed = probe.named_steps["embed"]
    before = embed.transform(X)
    with inspection.masked_views(probe, "spectral"):
        masked = embed.transform(X)
    assert np.abs(masked - before).max() > 1e-2
    np.testing.assert_array_equal(embed.transform(X), before)
    # Undone on an error too.
    with pytest.raises(RuntimeError, match="inside"):
        with inspection.masked_views(probe, ["temporal", "spatial"]):
            raise RuntimeError("inside")
    np.testing.assert_array_equal(embed.transform(X), before)


def test_masked_transform_is_encode_with_a_whole_view_token_mask(probe, X):
    embed = probe.named_steps["embed"]
    encoder = embed.encoder_
    with torch.inference_mode():
        x = torch.as_tensor(np.asarray(X))
        direct = encoder.encode(x, X.ch_names, token_mask=_spectral_mask(encoder, x)).embedding
    with inspection.masked_views(embed, "spectral"):
        np.testing.assert_allclose(embed.transform(X), direct.numpy(), atol=1e-5)


def test_masked_views_refuses_unknown_views_and_names(probe):
    with pytest.raises(ValueError, match="views must be names from.*'frequency'"):
        inspection.masked_views(probe, "frequency")
    with pytest.raises(TypeError, match="not the name of a saved encoder"):
        inspection.masked_views("cria-small", "spectral")


# ------------------------------------------------------------ view ablation
def test_view_ablation_scores_match_the_pipeline_and_a_direct_computation(probe, raw, X):
    data, target, _ = raw
    table = inspection.view_ablation(probe, data, target, scoring="balanced_accuracy")
    assert list(table.index) == ["none", "temporal", "spatial", "spectral"]
    assert table.score["none"] == balanced_accuracy_score(target, probe.predict(data))
    np.testing.assert_allclose(table["drop"], table.score["none"] - table.score)
    # The spectral row: the same classifier on embeddings encoded with that view masked.
    encoder = probe.named_steps["embed"].encoder_
    with torch.inference_mode():
        x = torch.as_tensor(np.asarray(X))
        z = encoder.encode(x, X.ch_names, token_mask=_spectral_mask(encoder, x)).embedding
    expected = balanced_accuracy_score(target, probe.named_steps["clf"].predict(z.numpy()))
    assert table.score["spectral"] == pytest.approx(expected)
    # The estimator's own score by default, and views masked together.
    few, labels = data[::2], target[::2]
    default = inspection.view_ablation(probe, few, labels, views=[("temporal", "spatial")])
    assert list(default.index) == ["none", "temporal+spatial"]
    assert default.score["none"] == probe.score(few, labels)


def test_view_ablation_needs_an_estimator_that_predicts(probe):
    with pytest.raises(TypeError, match="only embeds"):
        inspection.view_ablation(probe.named_steps["embed"], None, None)
    with pytest.raises(TypeError, match="only embeds"):
        inspection.view_ablation("cria-small", None, None)
    with pytest.raises(NotFittedError):
        inspection.view_ablation(CRIAClassifier(encoder="cria-small"), None, None)


def test_an_estimator_without_cria_is_refused(raw):
    pipe = Pipeline([("clf", LogisticRegression())])
    with pytest.raises(TypeError, match="holds no ViewMaskPretrainer or CRIAClassifier"):
        inspection.attention_maps(pipe, raw[0])
    with pytest.raises(TypeError, match="estimator must be a fitted"):
        inspection.purification_counts(LogisticRegression(), raw[0])


# ----------------------------------------------------------- attention maps
def _captured_inputs(encoder, x, names, layer, query, padding_mask=None):
    store = {}
    block = encoder.layers[layer].blocks[query]
    handle = block.register_forward_pre_hook(inspection._capturer(store, "in"), with_kwargs=True)
    try:
        with torch.no_grad():
            encoder.encode(x, names, padding_mask=padding_mask)
    finally:
        handle.remove()
    return block, store["in"]


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_attention_weights_are_what_the_layer_applies(X, attention, padded):
    encoder = (CRIA.from_pretrained("cria-small") if attention == "linear"
               else CRIA(CRIAConfig.small(attention="softmax")).eval())
    x = torch.as_tensor(np.asarray(X[:2]))
    padding = None
    if padded:  # the last second of the second window is padding
        padding = torch.zeros(2, 5, dtype=torch.bool)
        padding[1, -1] = True
    block, (q_in, context, keep, rope_q, rope_k) = _captured_inputs(
        encoder, x, X.ch_names, layer=-1, query="temporal", padding_mask=padding)
    assert (keep is not None) == padded
    with torch.no_grad():
        weights = block.attention_weights(q_in, context, keep, rope_q, rope_k)
        # The block's output rebuilt from the weights: residual + out(weights @ values) + FF.
        values = block.attention.key_value(block.context_norm(context)).chunk(2, dim=-1)[1]
        heads = block.attention.n_heads
        mixed = torch.einsum("bhqk,bkhd->bqhd", weights, values.unflatten(-1, (heads, -1)))
        rebuilt = q_in + block.attention.out(mixed.flatten(-2))
        rebuilt = rebuilt + block.ff(block.ff_norm(rebuilt))
        actual = block(q_in, context, key_keep=keep, rope_q=rope_q, rope_k=rope_k)
    torch.testing.assert_close(rebuilt, actual, atol=1e-4, rtol=1e-4)
    if padded:  # padded keys (patch 4 of every channel) get no weight
        assert weights[1][..., 4::5].abs().max() == 0 and weights[0][..., 4::5].abs().max() > 0
    if attention == "softmax":
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights[..., 0]))


def test_attention_maps_are_shaped_by_channel_and_patch(probe, raw):
    maps = inspection.attention_maps(probe, raw[0], windows=[0, 3], layers=-1)
    assert set(maps.weights) == {"temporal", "spatial"}
    assert maps.sources == {"temporal": ("spectral",), "spatial": ("spectral",)}
    assert maps.ch_names == list(raw[2].ch_names) and maps.layers == [1]
    assert maps.weights["temporal"].shape == (2, 1, 20, 5, 20, 5)
    assert maps.attention == "linear"
    # Window 3's map is window 3's, whatever else is asked for.
    alone = inspection.attention_maps(probe, raw[0], windows=3, layers=[1],
                                      average_heads=False)
    assert alone.weights["spatial"].shape == (1, 1, 2, 20, 5, 20, 5)
    np.testing.assert_allclose(alone.weights["spatial"].mean(axis=2)[0],
                               maps.weights["spatial"][1], atol=1e-6)
    assert not np.allclose(maps.weights["temporal"][0], maps.weights["temporal"][1])


def test_attention_maps_refuse_bad_windows_and_layers(probe, raw):
    with pytest.raises(IndexError, match=r"windows \[16\] are out of range for X of 16"):
        inspection.attention_maps(probe, raw[0], windows=16)
    with pytest.raises(ValueError, match="layers \\[2\\] do not exist: the encoder has 2"):
        inspection.attention_maps(probe, raw[0], layers=2)
    with pytest.raises(TypeError, match="windows must be an int"):
        inspection.attention_maps(probe, raw[0], windows=[0.5])


# ------------------------------------------------ purification and datasets
def test_purification_counts_match_the_kept_masks(X, tmp_path):
    # cria-small with purification turned on, saved and loaded as a user would.
    CRIA.from_pretrained("cria-small", k_c=0.5, k_t=0.5).save_pretrained(tmp_path)
    net = ViewMaskPretrainer.from_pretrained(tmp_path).fit(X)
    encoder = net.encoder_.eval()  # no dropout, as in transform
    counts = inspection.purification_counts(net, X)
    with torch.inference_mode():
        kept = encoder.encode(torch.as_tensor(np.asarray(X)), X.ch_names).kept.numpy()
    assert list(counts.index) == list(X.ch_names) and counts.attrs["purification"]
    np.testing.assert_array_equal(counts.kept_tokens, kept.sum(axis=(0, 2)))
    np.testing.assert_array_equal(counts.kept_windows, kept.any(axis=2).sum(axis=0))
    assert (counts.n_windows == len(X)).all() and (counts.n_tokens == len(X) * 5).all()
    assert counts.kept_windows.sum() == len(X) * 10  # half of the 20 channels per window
    by_patch = inspection.purification_counts(net, X, by="patch")
    np.testing.assert_array_equal(by_patch.kept_tokens, kept.sum(axis=(0, 1)))


def test_purification_off_is_said(X):
    with pytest.warns(UserWarning, match="purification is off.*every share is 1"):
        counts = inspection.purification_counts("cria-small", X[:4])
    assert not counts.attrs["purification"] and (counts.token_share == 1).all()


def test_windows_datasets_of_two_montages(data_path):
    mixed = EEGWindowsDataset(
        [data_path / EEGMAT / "Subject00_2.edf",
         data_path / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf"],
        window=5, preprocessor=EEGPreprocessor(line_freq=50.0), verbose=False)
    first = np.flatnonzero(mixed.montage_ids == 0)[:2]
    maps = inspection.attention_maps("cria-small", mixed, windows=first)
    assert maps.ch_names == list(mixed.montages[0])
    assert maps.weights["temporal"].shape[2] == len(mixed.montages[0])
    other = int(np.flatnonzero(mixed.montage_ids == 1)[0])
    with pytest.raises(ValueError, match="hold 2 montages"):
        inspection.attention_maps("cria-small", mixed, windows=[int(first[0]), other])
    with pytest.warns(UserWarning, match="purification is off"):
        counts = inspection.purification_counts("cria-small", mixed)
    # Every channel of both montages, counted over the windows that hold it.
    sizes = np.bincount(mixed.montage_ids)
    assert counts.n_windows[mixed.montages[1][0]] == sizes[1]
    assert counts.n_windows.sum() == sum(len(m) * n for m, n in zip(mixed.montages, sizes))
    coverage = inspection.channel_coverage(mixed)
    assert len(coverage) == len(counts) and coverage.known.all()


# ---------------------------------------------------------- channel coverage
def test_channel_coverage_reports_what_the_warning_names(raw):
    names = ["EEG Fp1", "T3", "FP1-F7", "EEG T5-REF", "EKG", "Photic"]
    coverage = inspection.channel_coverage(names)
    assert coverage.normalized.tolist() == ["Fp1", "T7", "Fp1-F7", "P7", None, None]
    assert coverage.kind.tolist() == ["electrode", "electrode", "bipolar", "electrode",
                                      "unknown", "unknown"]
    unknown = coverage.index[~coverage.known].tolist()
    assert unknown == lookup_channels(names).unknown == ["EKG", "Photic"]
    # The loader's Bunch and the preprocessed array carry their names.
    assert inspection.channel_coverage(raw[2]).known.all()
    with pytest.raises(TypeError, match="not the string 'Fp1'"):
        inspection.channel_coverage("Fp1")
    with pytest.raises(ValueError, match="needs channel names"):
        inspection.channel_coverage(np.zeros((2, 3, 200)))


# ---------------------------------------------------------------- plotting
def test_plots_draw_without_a_display(probe, raw):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        data, target, bunch = raw
        table = inspection.view_ablation(probe, data[:8], target[:8], views=["spectral"])
        assert len(inspection.plot_view_ablation(table).patches) == 1
        maps = inspection.attention_maps(probe, data, windows=0, layers=0)
        image = inspection.plot_attention(maps, "spatial", by="token")
        assert image.get_array().shape == (100, 100)
        assert inspection.plot_attention(maps).get_array().shape == (20, 20)
        by_patch = inspection.plot_attention(maps, by="patch").get_array()
        np.testing.assert_allclose(by_patch, maps.weights["temporal"][0, 0].sum(2).mean(0),
                                   rtol=1e-6)
        values = dict(zip(bunch.ch_names, np.linspace(0, 1, 20)))
        ax = inspection.plot_channel_topomap(values).axes
        assert "EEG A2-A1" in ax.get_title()  # a derivation has no scalp position
        coverage = inspection.channel_coverage([*bunch.ch_names, "EKG"])
        assert "unknown: EKG" in inspection.plot_channel_coverage(coverage).get_title()
    finally:
        plt.close("all")


def test_plots_refuse_what_the_maps_and_tables_do_not_hold(probe, raw):
    """Issue 37: an index or view the maps do not hold failed deep in numpy or a dict."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data, target, bunch = raw
    maps = inspection.attention_maps(probe, data, windows=[3, 5], layers=[1])
    try:
        with pytest.raises(ValueError, match=r"query 'spectral' is not in these maps, which "
                           r"hold the queries \['temporal', 'spatial'\].*queries=\['spectral'\]"):
            inspection.plot_attention(maps, "spectral")
        with pytest.raises(ValueError, match=r"query \['temporal'\] is not in these maps"):
            inspection.plot_attention(maps, ["temporal"])
        with pytest.raises(IndexError, match=r"window=5 is not a position in "
                           r"maps\.windows=\[3, 5\] \(0 to 1, .*\); window 5 of the encoder is "
                           r"at position 1: window counts the windows the maps hold"):
            inspection.plot_attention(maps, window=5)
        with pytest.raises(IndexError, match=r"layer=1 is not a position in maps\.layers=\[1\]"):
            inspection.plot_attention(maps, layer=1)
        with pytest.raises(IndexError, match=r"window=-3 is not a position"):
            inspection.plot_attention(maps, window=-3)
        for bad in (0.0, "0", True, None):
            with pytest.raises(TypeError, match=r"window must be an int, a position in "
                                                r"maps\.windows"):
                inspection.plot_attention(maps, window=bad)
        with pytest.raises(TypeError, match="maps must be what attention_maps returns; "
                                            "got a dict with keys"):
            inspection.plot_attention(dict(maps.weights))
        # Positions that exist still draw, negative ones from the last.
        assert inspection.plot_attention(maps, window=-1, layer=0).get_array().shape == (20, 20)
        table = inspection.view_ablation(probe, data[:8], target[:8], views=["spectral"])
        with pytest.raises(ValueError, match=r"plot_view_ablation draws what view_ablation "
                           r"returns .* got a DataFrame with columns \['score', 'drop'\] and rows "
                           r"\['spectral'\]"):
            inspection.plot_view_ablation(table.drop(index="none"))
        with pytest.raises(ValueError, match="plot_channel_coverage draws what channel_coverage"):
            inspection.plot_channel_coverage(table)
        with pytest.raises(TypeError, match="values must be a pandas Series or a dict"):
            inspection.plot_channel_topomap(np.linspace(0, 1, 20))
        with pytest.raises(ValueError, match="values must be numbers, one per channel name"):
            inspection.plot_channel_topomap(dict.fromkeys(bunch.ch_names, "high"))
    finally:
        plt.close("all")
