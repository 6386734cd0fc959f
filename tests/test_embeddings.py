"""ViewMaskPretrainer's outputs that keep space: per-channel and per-region features.

Real eegmat windows, the shipped encoder loaded as the README loads it.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sk_cria import EEGArray, EEGPreprocessor, ViewMaskPretrainer
from sk_cria.benchmark import BenchmarkConfig
from sk_cria.channels import REGIONS, channel_regions

D_MODEL = 64  # cria-small
UNITS = 3 * D_MODEL  # three views side by side


@pytest.fixture(scope="module")
def windows(eegmat_small):
    """Six preprocessed 5-s eegmat windows (EEGArray, 20 named channels)."""
    pre = EEGPreprocessor(sfreq=eegmat_small.sfreq, ch_names=eegmat_small.ch_names,
                          line_freq=50.0)
    return pre.fit_transform(eegmat_small.data[::40][:6])


def _fitted(embedding, X):
    return ViewMaskPretrainer.from_pretrained("cria-small", embedding=embedding).fit(X)


@pytest.mark.parametrize("embedding, width", [("pooled", 128), ("channels", 20 * UNITS),
                                              ("regions", len(REGIONS) * UNITS)])
def test_shapes_and_feature_names(windows, embedding, width):
    pre = _fitted(embedding, windows)
    Z = pre.transform(windows)
    names = pre.get_feature_names_out()
    assert Z.shape == (len(windows), width) and Z.dtype == np.float32
    assert len(names) == width and len(set(names)) == width
    first = {"pooled": "embedding0", "channels": f"{windows.ch_names[0]}_temporal0",
             "regions": "frontal_left_temporal0"}[embedding]
    assert names[0] == first
    # Same features, same meaning, on every call.
    np.testing.assert_array_equal(Z, pre.transform(windows))


def test_channels_block_belongs_to_its_channel(windows):
    """A channel's block holds that channel's features, wherever it sits in X."""
    pre = _fitted("channels", windows)
    Z = pre.transform(windows).reshape(len(windows), 20, UNITS)
    order = np.random.default_rng(0).permutation(20)
    permuted = EEGArray(np.asarray(windows)[:, order], ch_names=[windows.ch_names[i] for i in order])
    Z_perm = _fitted("channels", permuted).transform(permuted).reshape(len(windows), 20, UNITS)
    np.testing.assert_allclose(Z_perm, Z[:, order], atol=1e-5)
    # The pooled embedding's LayerNorm'd features: every channel has its own.
    assert not np.allclose(Z[:, 0], Z[:, 1])


def test_channels_refuse_other_layouts(windows):
    pre = _fitted("channels", windows)
    order = np.arange(20)[::-1]
    permuted = EEGArray(np.asarray(windows)[:, order], ch_names=[windows.ch_names[i] for i in order])
    with pytest.raises(ValueError, match="reorder or rename them, or fit again"):
        pre.transform(permuted)
    unfitted = ViewMaskPretrainer.from_pretrained("cria-small", embedding="channels")
    with pytest.raises(ValueError, match=r'needs one montage at fit; nothing was fitted yet: '
                                         r'fit it first.*embedding="regions"'):
        unfitted.transform(windows)
    # Regions take any montage, unfitted included.
    assert unfitted.set_params(embedding="regions").transform(permuted).shape == (
        len(windows), len(REGIONS) * UNITS)


def test_regions_do_not_depend_on_channel_order(windows):
    Z = _fitted("regions", windows).transform(windows)
    order = np.random.default_rng(1).permutation(20)
    permuted = EEGArray(np.asarray(windows)[:, order], ch_names=[windows.ch_names[i] for i in order])
    np.testing.assert_allclose(_fitted("regions", permuted).transform(permuted), Z, atol=1e-5)


def test_left_channels_land_in_left_regions(windows):
    """A montage of left-hemisphere channels fills left regions only; the rest are zeros."""
    left = [i for i, name in enumerate(windows.ch_names)
            if name.split()[-1] in ("Fp1", "F3", "F7", "T3", "C3", "T5", "P3", "O1")]
    X = EEGArray(np.asarray(windows)[:, left], ch_names=[windows.ch_names[i] for i in left])
    Z = _fitted("regions", X).transform(X).reshape(len(X), len(REGIONS), UNITS)
    filled = [region for region, block in zip(REGIONS, np.abs(Z).sum(axis=(0, 2))) if block > 0]
    assert filled == ["frontal_left", "central_left", "temporal_left", "parietal_left",
                      "occipital_left"]


def test_padding_does_not_change_a_channels_features(windows):
    """Padded patches (garbage inside) and padded channels leave the others' features as they are."""
    encoder = ViewMaskPretrainer.from_pretrained("cria-small").encoder_
    x, names = torch.as_tensor(np.asarray(windows)), windows.ch_names
    with torch.no_grad():
        short, _ = encoder.channel_features(encoder.encode(x[..., :600], names))
        garbage = x.clone()
        garbage[..., 600:] = 1e3 * torch.randn_like(garbage[..., 600:])
        patches = torch.zeros(len(x), 5, dtype=torch.bool)
        patches[:, 3:] = True
        padded, _ = encoder.channel_features(encoder.encode(garbage, names, patches))
        torch.testing.assert_close(padded, short, atol=1e-5, rtol=0)
        # Channel 8 (C3) padded entirely: zeros, flagged, and the others as without it.
        keep = [c for c in range(20) if c != 8]
        without, _ = encoder.channel_features(encoder.encode(x[:, keep], [names[c] for c in keep]))
        channel = torch.zeros(len(x), 20, 5, dtype=torch.bool)
        channel[:, 8] = True
        garbage = x.clone()
        garbage[:, 8] = 1e3
        features, real = encoder.channel_features(encoder.encode(garbage, names, channel))
        torch.testing.assert_close(features[:, keep], without, atol=1e-5, rtol=0)
        assert not real[:, 8].any() and real[:, keep].all()
        assert not features[:, 8].any()


def test_channel_regions():
    regions = channel_regions(["C3", "Cz", "C4", "T3", "F7", "P8", "O1", "Oz", "Fpz",
                               "EEG A2-A1", "FC1h", "EKG"])
    assert [REGIONS[r] if r >= 0 else None for r in regions] == [
        "central_left", "central_mid", "central_right", "temporal_left", "frontal_left",
        "parietal_right", "occipital_left", "occipital_mid", "frontal_mid",
        "temporal_right", "central_left", None]


def test_embedding_is_checked(windows):
    with pytest.raises(ValueError, match=r"embedding must be one of \('pooled', 'channels', "
                                         r"'regions', 'tangent'\), got 'space'"):
        ViewMaskPretrainer(embedding="space").fit(windows)
    pre = _fitted("pooled", windows).set_params(embedding="channel")
    with pytest.raises(ValueError, match="embedding must be one of.*got 'channel'"):
        pre.transform(windows)


def test_clone_and_pickle_keep_the_output(windows):
    pre = _fitted("regions", windows)
    assert clone(pre).embedding == "regions"
    again = pickle.loads(pickle.dumps(pre))
    np.testing.assert_array_equal(again.transform(windows), pre.transform(windows))


def test_benchmark_runs_each_probe_per_embedding():
    config = BenchmarkConfig.quick(
        embeddings=("pooled", "regions"),
        pipelines=("cria_probe_pretrained", "cria_probe_shipped_channels", "band_power"))
    config.check()
    assert config.selected_pipelines() == (
        "cria_probe_pretrained", "cria_probe_pretrained_regions",
        "cria_probe_shipped_channels", "band_power")
    with pytest.raises(ValueError, match=r"embeddings must be among \['pooled', 'channels', "
                                         r"'regions', 'tangent'\]; got \['space'\]"):
        BenchmarkConfig.quick(embeddings=("space",)).check()


def test_mixed_montages_get_regions_and_refuse_channels(data_path):
    """eegmat (20 channels) and eegmmidb (64) windows from disk: one region layout for both."""
    from sk_cria.datasets import EEGWindowsDataset

    mixed = EEGWindowsDataset(
        [data_path / "eegmat/files/eegmat/1.0.0/Subject00_2.edf",
         data_path / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf"],
        window=4, verbose=False)
    pre = ViewMaskPretrainer.from_pretrained("cria-small", embedding="regions").fit(mixed)
    Z = pre.transform(mixed)
    assert Z.shape == (len(mixed), len(REGIONS) * UNITS) and np.isfinite(Z).all()
    with pytest.raises(ValueError, match="needs one montage at fit; it was fitted on 2 montages"):
        pre.set_params(embedding="channels").transform(mixed)
    eegmat = EEGWindowsDataset(mixed.files[:1], window=4, verbose=False)
    pre.fit(eegmat)
    motor = EEGWindowsDataset(mixed.files[1:], window=4, verbose=False)
    with pytest.raises(ValueError, match=r"lays out its features in that order; X has channels "
                                         r"\['FC5', 'FC3'.*or use embedding=\"regions\""):
        pre.transform(motor)


def test_benchmark_refuses_an_unknown_embedding(capsys):
    from sk_cria.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--embedding", "space"])
    assert exit_info.value.code == 2
    assert "argument --embedding: invalid choice: 'space'" in capsys.readouterr().err
