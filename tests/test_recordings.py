"""EEGWindowsDataset on the real recordings: lazy windows over files of mixed montages."""

from pathlib import Path

import mne
import numpy as np
import pytest
import torch

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.datasets import EEGWindowsDataset, find_recordings
from sk_cria.datasets.recordings import NoUsableDataError
from sk_cria.sampling import MontageBatchSampler

EEGMAT = Path("eegmat/files/eegmat/1.0.0")
EEGMMIDB = Path("MNE-eegbci-data/files/eegmmidb/1.0.0/S001")


@pytest.fixture(scope="module")
def files(data_path):
    return {
        "rest": data_path / EEGMAT / "Subject00_1.edf",  # 182 s, 500 Hz
        "task": data_path / EEGMAT / "Subject00_2.edf",  # 60 s
        "mi": data_path / EEGMMIDB / "S001R04.edf",  # 125 s, 160 Hz, 64 channels
    }


@pytest.fixture(scope="module")
def mixed(files):
    return EEGWindowsDataset(
        [files["rest"], files["task"], files["mi"]], window=4,
        preprocessor=EEGPreprocessor(line_freq=50), verbose=False,
    )


def test_windows_and_channels_are_what_the_files_say(mixed, files):
    expected = {}
    for key, path in files.items():
        raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
        expected[key] = int(raw.n_times // (4 * raw.info["sfreq"]))
    assert [rec.n_windows for rec in mixed.recordings] == [
        expected["rest"], expected["task"], expected["mi"]]
    assert len(mixed) == sum(expected.values())
    # eegmat: 21 channels minus ECG; eegmmidb: 64 EEG channels.
    assert [len(m) for m in mixed.montages] == [20, 64]
    assert ("ECG ECG", "non-EEG") in mixed.dropped_channels
    assert mixed.dropped_channels[("ECG ECG", "non-EEG")] == 2
    first, last = mixed[0], mixed[len(mixed) - 1]
    assert first[0]["x"].shape == (20, 800) and first[0]["channels"].shape == (20, 2)
    assert last[0]["x"].shape == (64, 800) and last[0]["channels"].shape == (64, 2)
    assert mixed.montage_ids[0] == 0 and mixed.montage_ids[-1] == 1
    assert first[0]["x"].dtype == torch.float32
    assert "3 of 3 file(s) used" in mixed.summary()
    assert "Dropped channels: ECG ECG (non-EEG, 2 files)" in mixed.summary()


def test_window_is_exactly_the_preprocessor_output(mixed, files):
    """One code path: the window equals EEGPreprocessor applied to the same samples."""
    raw = mne.io.read_raw_edf(files["task"], preload=False, verbose="error")
    picks = [i for i, name in enumerate(raw.ch_names) if name != "ECG ECG"]
    index = mixed.recordings[0].n_windows + 3  # 4th window of the second file
    recording, start = mixed.locate(index)
    assert recording.path == files["task"].resolve() and start == 12.0
    data = raw.get_data(picks=picks, start=6000, stop=8000, units="uV")[np.newaxis]
    expected = EEGPreprocessor(sfreq=500, ch_names=list(recording.ch_names),
                               line_freq=50).fit_transform(data)
    np.testing.assert_array_equal(mixed[index][0]["x"].numpy(), expected[0])


def test_kept_windows_are_the_windows_read_and_stay_as_read(files):
    paths = [files["task"], files["mi"]]
    kept = EEGWindowsDataset(paths, window=4, verbose=False, keep_windows=True)
    read = EEGWindowsDataset(paths, window=4, verbose=False, keep_windows=False)
    assert kept.nbytes == sum(read[i][0]["x"].numpy().nbytes for i in range(len(read)))
    for i in (0, 5, len(kept) - 1, -1):
        first = kept[i][0]["x"]
        np.testing.assert_array_equal(first.numpy(), read[i][0]["x"].numpy())
        first.zero_()  # a caller editing its window in place
        np.testing.assert_array_equal(kept[i][0]["x"].numpy(), read[i][0]["x"].numpy())
    assert len(kept._kept) == 3  # -1 is the last window: one kept copy
    kept._cache.clear()
    kept.cache_size = 0  # kept windows need no open file
    np.testing.assert_array_equal(kept[0][0]["x"].numpy(), read[0][0]["x"].numpy())
    with pytest.raises(ValueError, match="keep_windows must be one of \\(.auto.,\\) or a bool, got .yes."):
        EEGWindowsDataset(paths, window=4, verbose=False, keep_windows="yes")


def test_stride_overlaps_windows(files):
    n_times = mne.io.read_raw_edf(files["task"], preload=False, verbose="error").n_times
    ds = EEGWindowsDataset([files["task"]], window=4, stride=2, verbose=False)
    assert len(ds) == 1 + (n_times - 2000) // 1000
    np.testing.assert_allclose(ds.locate(3)[1], 6.0)


def test_unreadable_files_are_skipped_with_a_warning(tmp_path, files):
    good = tmp_path / "good.edf"
    good.symlink_to(files["task"])
    data = files["rest"].read_bytes()
    (tmp_path / "truncated.edf").write_bytes(data[: len(data) // 3])
    (tmp_path / "notes.edf").write_text("this is not an EDF file")
    with pytest.warns(UserWarning) as record:
        ds = EEGWindowsDataset(tmp_path, window=4, verbose=False)
    messages = " ".join(str(w.message) for w in record)
    assert "truncated.edf: OSError: truncated file" in messages
    assert "notes.edf" in messages
    assert len(ds.recordings) == 1 and len(ds) == 15
    assert {p.name for p, _ in ds.skipped} == {"truncated.edf", "notes.edf"}
    assert "1 of 3 file(s) used" in ds.summary() and "2 file(s) skipped" in ds.summary()
    # ... and a pre-training run on the folder completes.
    pre = ViewMaskPretrainer(config="small", max_epochs=1, batch_size=8,
                             random_state=0).fit(ds)
    assert len(pre.history) == 1 and np.isfinite(pre.history[-1, "train_loss"])


def test_short_recordings_and_unknown_channels(files):
    with pytest.warns(UserWarning, match="shorter than one 100 s window"):
        ds = EEGWindowsDataset([files["rest"], files["task"]], window=100, verbose=False)
    assert len(ds.recordings) == 1
    kept = EEGWindowsDataset([files["task"]], window=4, unknown_channels="keep", verbose=False)
    assert len(kept.montages[0]) == 20  # ECG is non-EEG by name, kept or not


def test_bad_input_is_refused_before_anything(tmp_path, files):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EEGWindowsDataset(tmp_path / "nowhere", verbose=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no EEG recording"):
        EEGWindowsDataset(tmp_path / "empty", verbose=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.edf").write_text("nope")
    with pytest.warns(UserWarning), pytest.raises(NoUsableDataError, match="usable EEG"):
        EEGWindowsDataset(tmp_path / "junk", verbose=False)
    with pytest.raises(ValueError, match="whole number of seconds"):
        EEGWindowsDataset(files["task"], window=2.5, verbose=False)


def test_find_recordings_searches_folders_recursively(data_path):
    # Compared with an independent walk, never with a file count: ../shared/data
    # may hold more subjects or runs over time.
    root = data_path / "MNE-eegbci-data"
    found = find_recordings(root)
    expected = sorted(path.resolve() for path in root.rglob("*") if path.suffix == ".edf")
    assert len(found) > 1 and found == sorted(found)
    assert [path.resolve() for path in found] == expected
    # Recordings lie five folders down (files/eegmmidb/1.0.0/S001/...).
    assert all(len(path.resolve().relative_to(root.resolve()).parts) > 1 for path in found)


def test_open_files_are_bounded(data_path):
    """Reading windows of many recordings keeps at most cache_size of them open."""
    ds = EEGWindowsDataset(data_path / EEGMMIDB, window=4, cache_size=3, verbose=False)
    for rec_start in ds._offsets[:-1]:
        ds[int(rec_start)]
    n_files = len(list((data_path / EEGMMIDB).glob("*.edf")))
    assert n_files > 3 and len(ds.recordings) == n_files and len(ds._cache) == 3


def test_sampler_groups_montages_and_replays_epochs():
    ids = np.array([0] * 10 + [1] * 7 + [0] * 3)
    sampler = MontageBatchSampler(ids, 4, seed=3, min_batch_size=2)
    first = [list(b) for b in sampler]
    assert all(len(set(ids[b])) == 1 for b in first)
    # 13 windows of montage 0 make 4 + 4 + 4 + 1: the single one has no negatives.
    assert len(sum(first, [])) == 19 and len(set(sum(first, []))) == 19
    second = [list(b) for b in sampler]
    assert first != second  # a new order each epoch
    replay = MontageBatchSampler(ids, 4, seed=3, min_batch_size=2)
    replay.set_epoch(1, skip=2)
    assert [list(b) for b in replay] == second[2:]
    # Two ranks of batch 2 share each global batch of one process with batch 4.
    ranks = [MontageBatchSampler(ids, 2, seed=3, min_batch_size=1, num_replicas=2, rank=r)
             for r in (0, 1)]
    a, b = ([list(x) for x in r] for r in ranks)
    assert [x + y for x, y in zip(a, b)] == [f[: len(f) // 2 * 2] for f in first]
    assert all(len(x) == len(y) for x, y in zip(a, b))
    # In order: consecutive windows, never across a montage change.
    ordered = [list(b) for b in MontageBatchSampler(ids, 4, shuffle=False)]
    assert sum(ordered, []) == list(range(20)) and [10, 11, 12, 13] in ordered


def test_bids_root_uses_the_sidecars_channel_types(tmp_path, files):
    mne_bids = pytest.importorskip("mne_bids")
    # Two recordings (the same one twice would be skipped as a copy).
    for subject, source in (("01", files["task"]), ("02", files["rest"])):
        raw = mne.io.read_raw_edf(source, verbose="error")
        # Types that names alone would not give: the sidecar must be what drops them.
        with pytest.warns(RuntimeWarning, match="unit"):  # misc has no unit
            raw.set_channel_types({"ECG ECG": "ecg", "EEG Pz": "misc"})
        raw.info["line_freq"] = 50
        path = mne_bids.BIDSPath(subject=subject, task="arithmetic", datatype="eeg",
                                 root=tmp_path / "bids")
        mne_bids.write_raw_bids(raw, path, verbose="error", overwrite=True)
    derivative = tmp_path / "bids" / "derivatives" / "clean.edf"
    derivative.parent.mkdir()
    derivative.symlink_to(files["task"])
    ds = EEGWindowsDataset(tmp_path / "bids", window=4, verbose=False)
    assert len(ds.recordings) == 2  # derivatives/ is not raw data
    assert ds.montages == [tuple(n for n in ds.montages[0] if n != "Pz")]
    assert len(ds.montages[0]) == 19
    assert ds.dropped_channels[("EEG Pz", "misc")] == 2
    assert ds.dropped_channels[("ECG ECG", "ecg")] == 2


@pytest.fixture
def nan_recording(tmp_path, files):
    """20 s of a real eegmat recording with NaN on three channels from 9.0 to 9.5 s, as FIF."""
    raw = mne.io.read_raw_edf(files["task"], preload=True, verbose="error")
    raw.crop(0, 20, include_tmax=False)
    data = raw.get_data()
    data[:3, int(9.0 * raw.info["sfreq"]):int(9.5 * raw.info["sfreq"])] = np.nan
    raw = mne.io.RawArray(data, raw.info, verbose="error")
    path = tmp_path / "nan_raw.fif"
    raw.save(path, verbose="error")
    return path


@pytest.mark.parametrize("thresholds", [{}, dict(flat_sd=None, loose_sd=None)])
def test_nan_windows_are_left_out_at_the_scan_and_counted(nan_recording, thresholds):
    """Issue 37: the scan passed them, and training stopped at the first batch reaching one."""
    ds = EEGWindowsDataset(nan_recording, window=4, verbose=False, **thresholds)
    assert len(ds) == 4 and ds.recordings[0].starts == tuple(i * 2000 for i in (0, 1, 3, 4))
    names = ds.recordings[0].ch_names
    assert ds.left_out == {nan_recording: {
        "windows": 1, "channels": (),
        "bad": {(name, "non-finite"): 1 for name in names[:3]}}}
    assert all(np.isfinite(ds[i][0]["x"].numpy()).all() for i in range(len(ds)))
    assert "NaN/infinite or marked-bad channels: 1 window(s) and 0 channel(s) of 1 file(s)" \
        in ds.summary()
    ViewMaskPretrainer(config="small", max_epochs=1, batch_size=4).fit(ds)  # trains


def _with_nan(source, tmp_path, name, edit):
    raw = mne.io.read_raw_edf(source, preload=True, verbose="error").crop(0, 20,
                                                                          include_tmax=False)
    data = raw.get_data()
    edit(data)
    path = tmp_path / name
    mne.io.RawArray(data, raw.info, verbose="error").save(path, verbose="error")
    return path


def test_nan_in_every_window_leaves_out_the_channel_or_the_file(files, tmp_path):
    channel = _with_nan(files["task"], tmp_path, "channel_raw.fif",
                        lambda d: d.__setitem__((0, slice(None, None, 500)), np.inf))
    whole = _with_nan(files["rest"], tmp_path, "whole_raw.fif",
                      lambda d: d.__setitem__((slice(None), slice(None, None, 997)), np.nan))
    with pytest.warns(UserWarning, match=r"whole_raw\.fif: every window has a flat or loose "
                      r"channel, or NaN or infinite samples \(.*Fp1 non-finite in 5.* of 5 "
                      r"windows\)"):
        ds = EEGWindowsDataset([channel, whole], window=4, verbose=False)
    assert [rec.path for rec in ds.recordings] == [channel]
    assert len(ds) == 5 and "Fp1" not in ds.montages[0] and len(ds.montages[0]) == 19
    assert ds.left_out[channel]["channels"] == ("Fp1",)
    assert ds.dropped_channels[("Fp1", "non-finite in most windows")] == 1
    assert ds.skipped[0][0] == whole and ds.left_out[whole]["windows"] == 5
    with pytest.warns(UserWarning, match="whole_raw"), \
            pytest.raises(NoUsableDataError, match="NaN or infinite samples"):
        EEGWindowsDataset(whole, window=4, verbose=False)


@pytest.mark.parametrize("stride", [0.01, 0.1, 0.00625, 1.6])
def test_fractional_stride_gives_every_window(files, stride):
    # Both quality thresholds off: this is about where windows start (the tests
    # of flat and loose channels are above); the NaN check still reads them all.
    ds = EEGWindowsDataset(files["mi"], window=4, stride=stride, flat_sd=None, loose_sd=None,
                           verbose=False)  # 125 s, 160 Hz
    n_times = ds.recordings[0].n_times
    assert len(ds) == 1 + int(np.floor((n_times / 160 - 4) / stride + 1e-9))
    assert len(ds) > 1
    # Starts are k strides from 0, each rounded to a sample, and the last window fits.
    np.testing.assert_allclose(ds.locate(7)[1], round(7 * stride * 160) / 160)
    last_start = ds.locate(len(ds) - 1)[1]
    assert last_start + 4 <= n_times / 160
    assert ds[len(ds) - 1][0]["x"].shape == (64, 800)


def test_stride_shorter_than_one_sample_is_refused(files):
    with pytest.raises(ValueError, match=r"stride=0\.001 s is shorter than one sample at "
                                         r"500 Hz.*stride >= 0\.002 s"):
        EEGWindowsDataset([files["mi"], files["task"]], window=4, stride=0.001, verbose=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"window": 0}, ValueError, r"window must be an integer >= 1, got 0.*whole number of seconds"),
        ({"window": -4}, ValueError, r"window must be an integer >= 1"),
        ({"window": "4"}, TypeError, r"window must be an integer >= 1, got '4'"),
        ({"stride": 0}, ValueError, r"stride must be a number > 0 or None, got 0"),
        ({"stride": -2}, ValueError, r"stride must be a number > 0 or None"),
        ({"stride": np.nan}, ValueError, r"stride must be a number > 0 or None"),
        ({"stride": "2"}, TypeError, r"stride must be a number > 0 or None"),
        ({"cache_size": -1}, ValueError, r"cache_size must be an integer >= 0, got -1"),
        ({"cache_size": 2.5}, ValueError, r"cache_size must be an integer >= 0"),
        ({"extensions": 5}, TypeError, r"extensions must be a file ending such as '\.edf'"),
        ({"extensions": []}, ValueError, r"extensions must be a file ending"),
        ({"unknown_channels": ["drop"]}, ValueError, r"unknown_channels must be 'drop' or 'keep'"),
        ({"preprocessor": EEGPreprocessor(line_freq=0)}, ValueError,
         r"line_freq must be a number > 0 or None"),
    ],
)
def test_bad_arguments_are_refused_before_any_file_is_read(files, kwargs, error, match):
    with pytest.raises(error, match=match):
        EEGWindowsDataset(files["task"], verbose=False, **kwargs)


def test_a_single_extension_string_is_one_extension(tmp_path, files):
    (tmp_path / "rec.edf").symlink_to(files["task"])
    (tmp_path / "notes.pdf").write_text("not EEG")  # would match 'f' if '.edf' were split
    (tmp_path / "data.fif").write_text("not EEG either")
    assert find_recordings(tmp_path, extensions=".edf") == [(tmp_path / "rec.edf").resolve()]
    assert find_recordings(tmp_path, extensions=".EDF") == [(tmp_path / "rec.edf").resolve()]
    ds = EEGWindowsDataset(tmp_path, window=4, extensions=".edf", verbose=False)
    assert len(ds.recordings) == 1 and not ds.skipped


def test_cache_size_zero_keeps_no_file_open(files):
    ds = EEGWindowsDataset(files["task"], window=4, cache_size=0, verbose=False)
    np.testing.assert_array_equal(
        ds[3][0]["x"].numpy(),
        EEGWindowsDataset(files["task"], window=4, verbose=False)[3][0]["x"].numpy())
    assert len(ds._cache) == 0


def test_window_longer_than_every_recording_is_an_error(files):
    with pytest.warns(UserWarning, match="shorter than one 1000 s window"), \
            pytest.raises(NoUsableDataError, match=r"Subject00_2\.edf: 62\.0 s long, shorter than one 1000 s window"):
        EEGWindowsDataset([files["task"]], window=1000, verbose=False)


def test_find_recordings_refuses_bad_paths_and_takes_a_generator(data_path, files):
    with pytest.raises(TypeError, match="paths must be a file or folder.*got None"):
        find_recordings(None)
    with pytest.raises(TypeError, match="paths must be a file or folder"):
        find_recordings([files["task"], 3])
    with pytest.raises(ValueError, match="paths is empty"):
        EEGWindowsDataset([], verbose=False)
    found = find_recordings((data_path / EEGMAT).glob("Subject00_*.edf"))
    assert sorted(found) == sorted([files["rest"].resolve(), files["task"].resolve()])


def test_window_index_must_be_an_integer(files):
    ds = EEGWindowsDataset(files["task"], window=4, verbose=False)
    with pytest.raises(TypeError, match="window index is an integer, got 2.5"):
        ds[2.5]
    np.testing.assert_array_equal(ds[np.int64(2)][0]["x"], ds[2][0]["x"])


# ------------------------------------------------ channels a file marks bad
def test_channels_a_fif_marks_bad_are_left_out_and_counted(files, tmp_path):
    """Issue 37: info["bads"] of a FIF file were pre-trained on."""
    raw = mne.io.read_raw_edf(files["task"], preload=True, verbose="error")
    raw.info["bads"] = ["EEG Fp1", "EEG O2"]
    path = tmp_path / "bads_raw.fif"
    raw.save(path, verbose="error")
    ds = EEGWindowsDataset(path, window=4, verbose=False)
    assert ds.montages == [tuple(n for n in ds.montages[0])] and len(ds.montages[0]) == 18
    assert not {"Fp1", "O2"} & set(ds.montages[0])
    assert ds.left_out[path]["channels"] == ("Fp1", "O2")
    assert ds.left_out[path]["windows"] == 0
    assert ds.left_out[path]["bad"][("Fp1", "marked bad in the file")] == 15
    assert ds.dropped_channels[("O2", "marked bad in the file")] == 1
    assert ds[0][0]["x"].shape == (18, 800)
    # Every EEG channel marked bad: the file is skipped, saying so.
    raw.info["bads"] = [name for name in raw.ch_names if name != "ECG ECG"]
    raw.save(tmp_path / "all_bad_raw.fif", verbose="error")
    with pytest.warns(UserWarning, match=r"all_bad_raw\.fif: every EEG channel \(Fp1, .*\) "
                                         r"is marked bad in the file"), \
            pytest.raises(NoUsableDataError):
        EEGWindowsDataset(tmp_path / "all_bad_raw.fif", window=4, verbose=False)


def test_bids_channels_marked_bad_in_channels_tsv_are_left_out(tmp_path, files):
    mne_bids = pytest.importorskip("mne_bids")
    raw = mne.io.read_raw_edf(files["task"], verbose="error")
    raw.info["line_freq"] = 50
    path = mne_bids.BIDSPath(subject="01", task="arithmetic", datatype="eeg",
                             root=tmp_path / "bids")
    mne_bids.write_raw_bids(raw, path, verbose="error")
    mne_bids.mark_channels(path, ch_names=["EEG Cz"], status="bad", verbose="error")
    tsv = next((tmp_path / "bids").rglob("*_channels.tsv")).read_text()
    assert [line.split("\t")[0] for line in tsv.splitlines() if "\tbad\t" in line] == ["EEG Cz"]
    ds = EEGWindowsDataset(tmp_path / "bids", window=4, verbose=False)
    assert "Cz" not in ds.montages[0] and len(ds.montages[0]) == 19
    assert ds.left_out[ds.recordings[0].path]["channels"] == ("Cz",)


# ------------------------------------------------ folders reached through links
def test_a_subject_folder_reached_through_a_link_is_searched(tmp_path, files):
    """Issue 37: linked files were found, a linked folder silently was not."""
    elsewhere = tmp_path / "elsewhere" / "sub-02"
    elsewhere.mkdir(parents=True)
    (elsewhere / "rest.edf").symlink_to(files["rest"])
    root = tmp_path / "study"
    (root / "sub-01").mkdir(parents=True)
    (root / "sub-01" / "task.edf").symlink_to(files["task"])
    (root / "sub-02").symlink_to(elsewhere, target_is_directory=True)
    (root / "sub-02-again").symlink_to(elsewhere, target_is_directory=True)  # once only
    (root / "sub-01" / "loop").symlink_to(root, target_is_directory=True)  # a loop
    (root / "broken").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "mi.edf").symlink_to(files["mi"])
    found = find_recordings(root)
    assert found == [files["task"].resolve(), files["rest"].resolve()]
    assert len(EEGWindowsDataset(root, window=4, verbose=False).recordings) == 2


def test_a_bids_root_leaves_out_its_derivatives_also_through_links(tmp_path, files):
    root = tmp_path / "bids"
    (root / "sub-01" / "eeg").mkdir(parents=True)
    (root / "dataset_description.json").write_text("{}")
    (root / "sub-01" / "eeg" / "x.edf").symlink_to(files["task"])
    (tmp_path / "derived").mkdir()
    (tmp_path / "derived" / "clean.edf").symlink_to(files["rest"])
    (root / "derivatives").symlink_to(tmp_path / "derived", target_is_directory=True)
    assert find_recordings(root) == [files["task"].resolve()]


# ------------------------------------------------ sampling rates
RATES = [128, 160, 250, 256, 500, 512, 1000, 1024, 100.5, 173.61, 100.7, 199.9, 120.7]


@pytest.fixture(scope="module")
def resampled(files, tmp_path_factory):
    """30 s of a real recording (3 channels) at each rate of RATES, as FIF files."""
    raw = mne.io.read_raw_edf(files["task"], preload=True, verbose="error")
    raw.pick(["EEG Fz", "EEG Cz", "EEG Pz"]).crop(0, 30, include_tmax=False)
    folder = tmp_path_factory.mktemp("rates")
    paths = {}
    for rate in RATES:
        # Resampled by MNE, then labelled with the rate exactly (173.61 is
        # not a ratio MNE's resampling keeps).
        data = raw.copy().resample(rate, verbose="error").get_data()
        info = mne.create_info(["Fz", "Cz", "Pz"], rate, "eeg")
        paths[rate] = folder / f"rate{rate}_raw.fif"
        mne.io.RawArray(data, info, verbose="error").save(paths[rate], verbose="error")
    return paths


@pytest.mark.parametrize("window", [1, 3, 10])
def test_every_rate_gives_window_patches(resampled, window):
    """Issue 37: 173.61, 199.9 Hz (and others) gave a window a patch too many."""
    ds = EEGWindowsDataset(list(resampled.values()), window=window, verbose=False,
                           preprocessor=EEGPreprocessor(line_freq=None))
    assert len(ds.recordings) == len(RATES) and len(ds.montages) == 1
    for k, rec in enumerate(ds.recordings):
        shapes = {tuple(ds[i][0]["x"].shape) for i in range(ds._offsets[k], ds._offsets[k + 1])}
        assert shapes == {(3, window * 200)}, f"{rec.sfreq} Hz"
    # Windows of any rates batch together (one montage).
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    assert batch[0]["x"].shape == (len(ds), 3, window * 200)


@pytest.mark.parametrize("rate", RATES)
def test_preprocessor_gives_the_patches_of_the_duration(rate):
    """1 s at 173.61 Hz (174 samples) was 201 samples at 200 Hz: a second patch."""
    rng = np.random.default_rng(0)
    for seconds in (1, 4, 10):
        n = int(round(seconds * rate))  # the samples nearest to `seconds`
        X = rng.standard_normal((2, 3, n)) * 20
        out = EEGPreprocessor(sfreq=rate, line_freq=None).fit_transform(X)
        # As many samples at 200 Hz as the n samples last, and the patches they need.
        assert out.n_valid_times == round(n * 200 / rate)
        assert out.shape == (2, 3, 200 * -(-out.n_valid_times // 200))
        if rate >= 200 or n == seconds * rate:  # then exactly `seconds` long at 200 Hz
            assert out.shape == (2, 3, seconds * 200)
