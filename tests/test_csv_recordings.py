"""CSV recordings in the muse-lsl layout, and the loose-electrode rule, on real eegmat EEG.

The CSV files are written into tmp_path from a real recording: four eegmat
channels renamed as the Muse headband's electrodes, with muse-lsl's other
columns (Right AUX, Marker0) and timestamps rounded to the millisecond.
"""

import csv
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

from sk_cria import EEGPreprocessor
from sk_cria.cli import main
from sk_cria.datasets import EEGWindowsDataset
from sk_cria.datasets._csv import CSV_MAX_JITTER, regular_segments
from sk_cria.datasets._quality import FLAT_SD, LOOSE_SD
from sk_cria.datasets.recordings import NoUsableDataError

TASK = Path("eegmat/files/eegmat/1.0.0/Subject00_2.edf")  # 62 s at 500 Hz
MUSE = {"EEG T3": "TP9", "EEG F7": "AF7", "EEG F8": "AF8", "EEG T4": "TP10"}
GAP_AT, GAP = 25.0, 30.0  # seconds into the recording, seconds lost


@pytest.fixture(scope="module")
def signal_uv(data_path):
    raw = mne.io.read_raw_edf(data_path / TASK, preload=False, verbose="error")
    return raw.get_data(picks=list(MUSE), units="uV")  # (4, 31000)


def write_muse_csv(path, data, sfreq=500.0, gap=True, jitter=True):
    """``data`` (4, n) in uV as muse-lsl writes it, with a gap of GAP s at GAP_AT s."""
    rng = np.random.default_rng(0)
    n = data.shape[1]
    times = 11557.221 + np.arange(n) / sfreq
    if jitter:  # LSL stamps chunks of 12 samples: each chunk off by up to 20 ms
        times += np.repeat(rng.uniform(-0.02, 0.02, n // 12 + 1), 12)[:n]
    if gap:
        times[int(GAP_AT * sfreq):] += GAP
    table = pd.DataFrame({"timestamps": times, **dict(zip(MUSE.values(), data))})
    table["Right AUX"] = rng.normal(-800, 50, n)
    table["Marker0"] = 0
    table.loc[::1000, "Marker0"] = 1
    table.to_csv(path, index=False, float_format="%.3f")
    return path


def test_rate_channels_and_gap_come_from_the_file(tmp_path, signal_uv):
    path = write_muse_csv(tmp_path / "muse.csv", signal_uv)
    ds = EEGWindowsDataset(path, window=4, verbose=False)
    (rec,) = ds.recordings
    assert rec.sfreq == 500.0  # 2 ms apart, though jittered by up to 20 ms
    assert rec.ch_names == ("TP9", "AF7", "AF8", "TP10")
    split = int(GAP_AT * 500)
    assert rec.segments == ((0, split), (split, 31000))
    # 25 s: 6 windows of 4 s; 37 s: 9; none across the gap.
    assert len(ds) == 15 and ds.locate(6)[1] == GAP_AT
    assert ds.dropped_channels == {("Right AUX", "non-EEG"): 1, ("Marker0", "non-EEG"): 1}
    assert "Split at gaps in the timestamps (no window spans one): muse.csv (2 segments)" \
        in ds.summary()
    # The window is the preprocessor's output of the file's microvolts.
    stored = pd.read_csv(path)[list(MUSE.values())].to_numpy().T
    expected = EEGPreprocessor(sfreq=500, ch_names=list(rec.ch_names)).fit_transform(
        stored[np.newaxis, :, split:split + 2000])
    np.testing.assert_allclose(ds[6][0]["x"].numpy(), expected[0], rtol=1e-5, atol=1e-6)


def test_a_csv_that_is_not_a_recording_is_named_and_skipped(tmp_path, signal_uv):
    write_muse_csv(tmp_path / "muse.csv", signal_uv)
    pd.DataFrame({"Participant": [375, 376], "AccValid": [0.9, 0.8],
                  "RTValid": [0.41, 0.39]}).to_csv(tmp_path / "behaviour.csv", index=False)
    (tmp_path / "notes.csv").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "session2").mkdir()  # the same recording filed twice is read once
    (tmp_path / "session2" / "copy.csv").write_bytes((tmp_path / "muse.csv").read_bytes())
    with pytest.warns(UserWarning) as record:
        ds = EEGWindowsDataset(tmp_path, window=4, verbose=False)
    messages = " ".join(str(w.message) for w in record)
    assert "behaviour.csv: ValueError: not an EEG recording: no 'timestamps' column " \
           "(columns: Participant, AccValid, RTValid)" in messages
    assert "notes.csv: ValueError: not a CSV table" in messages
    assert f"copy.csv: the same bytes as {(tmp_path / 'muse.csv').resolve()}" in messages
    assert {p.name for p, _ in ds.skipped} == {"behaviour.csv", "notes.csv", "copy.csv"}
    assert len(ds.recordings) == 1 and "1 of 4 file(s) used" in ds.summary()
    # Alone, it is a clear error, as for any folder of unusable files.
    with pytest.warns(UserWarning), pytest.raises(NoUsableDataError, match="no 'timestamps'"):
        EEGWindowsDataset(tmp_path / "behaviour.csv", verbose=False)


def test_timestamps_that_are_not_seconds_or_not_regular_are_refused(signal_uv):
    n = signal_uv.shape[1]
    with pytest.raises(ValueError, match="in seconds \\(not milliseconds"):
        regular_segments(np.arange(n) * 2.0)  # milliseconds at 500 Hz
    # Samples at random times: no regular grid.
    times = np.sort(np.random.default_rng(0).uniform(0, n / 500, n))
    times[n // 2:] += np.linspace(0, 1, n - n // 2)  # and a slowing clock
    with pytest.raises(ValueError, match=f"irregular timestamps.*CSV_MAX_JITTER={CSV_MAX_JITTER}"):
        regular_segments(times)
    # 256 Hz stamped to the millisecond (median interval 4 ms): 256 Hz, one segment.
    times = np.round(np.arange(30000) / 256, 3)
    assert regular_segments(times) == (256.0, ((0, 30000),))


@pytest.fixture
def loose_csv(tmp_path, signal_uv):
    """AF8 dead (flat) throughout, TP9 loose (x40) from 4 to 8 s."""
    data = signal_uv.copy()
    data[2] = 800.0
    data[0, 2000:4000] *= 40
    return write_muse_csv(tmp_path / "loose.csv", data)


def test_flat_and_loose_channels_are_left_out_and_counted(loose_csv, tmp_path):
    ds = EEGWindowsDataset(loose_csv, window=4, verbose=False)
    (rec,) = ds.recordings
    assert rec.ch_names == ("TP9", "AF7", "TP10")  # AF8 flat in all 15 windows
    assert ds.dropped_channels[("AF8", "flat in most windows")] == 1
    assert len(ds) == 14 and ds.locate(0)[1] == 0.0 and ds.locate(1)[1] == 8.0
    entry = ds.left_out[rec.path]
    assert entry["windows"] == 1 and entry["channels"] == ("AF8",)
    assert entry["bad"] == {("AF8", "flat"): 15, ("TP9", "loose"): 1}
    assert "Left out for flat (SD < 0.5 uV), loose (SD > 200.0 uV), NaN/infinite or " \
           "marked-bad channels: 1 window(s) and 1 channel(s) of 1 file(s)" in ds.summary()
    off = EEGWindowsDataset(loose_csv, window=4, verbose=False, flat_sd=None, loose_sd=None)
    assert len(off) == 15 and len(off.recordings[0].ch_names) == 4 and not off.left_out
    # ... and the run's files.csv counts them, per file.
    out = tmp_path / "run"
    assert main(["pretrain", str(loose_csv), "--out", str(out), "--config", "small",
                 "--window", "4", "--batch-size", "4", "--max-epochs", "1"]) == 0
    (row,) = csv.DictReader((out / "files.csv").open())
    assert (row["used"], row["windows"], row["channels"], row["segments"]) == \
        ("True", "14", "3", "2")
    assert (row["windows_left_out"], row["channels_left_out"], row["bad_windows"]) == \
        ("1", "AF8", "AF8 flat 15; TP9 loose 1")
    assert "1 window(s), 1 channel(s) of 1 file(s)" in (out / "README.md").read_text()


def test_the_rule_applies_to_mne_formats_too(tmp_path, data_path):
    """The same rule on a FIF file: every channel loose in one window leaves that window out."""
    raw = mne.io.read_raw_edf(data_path / TASK, preload=True, verbose="error")
    raw.crop(0, 32, include_tmax=False).pick(list(MUSE))
    raw.apply_function(lambda x: x * 40, picks=[1])  # AF7's contact lost: > 200 uV
    raw._data[:, 12000:14000] = raw._data[:, 12000:14000] * 40  # every channel from 24 s
    path = tmp_path / "loose_raw.fif"
    raw.save(path, verbose="error")
    ds = EEGWindowsDataset(path, window=4, verbose=False)
    entry = ds.left_out[ds.recordings[0].path]
    assert entry["channels"] == ("F7",) and ds.recordings[0].ch_names == ("T7", "F8", "T8")
    assert len(ds) == 7 and entry["windows"] == 1  # 24-28 s is loose on all channels
    assert ds.locate(5)[1] == 20.0 and ds.locate(6)[1] == 28.0


def test_an_all_bad_file_is_skipped_with_the_counts(tmp_path, signal_uv):
    data = signal_uv * 40
    path = write_muse_csv(tmp_path / "off_head.csv", data, gap=False)
    with pytest.warns(UserWarning, match=r"off_head.csv: every window has a flat or loose "
                                         r"channel, or NaN or infinite samples \(AF7 loose "
                                         r"in 15, .* of 15 windows\)"), \
            pytest.raises(NoUsableDataError):
        EEGWindowsDataset(path, window=4, verbose=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(flat_sd=300), ValueError, r"flat_sd=300\.0 must be below loose_sd=200\.0"),
    (dict(loose_sd=0), ValueError, "loose_sd"),
    (dict(flat_sd=-1), ValueError, "flat_sd"),
    (dict(loose_sd="200"), TypeError, "loose_sd"),
])
def test_bad_thresholds_are_refused_before_any_file_is_read(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        EEGWindowsDataset(tmp_path / "nowhere", verbose=False, **kwargs)


def test_command_refuses_bad_thresholds_before_anything_is_written(tmp_path, loose_csv,
                                                                  capsys):
    out = tmp_path / "out"
    assert main(["pretrain", str(loose_csv), "--out", str(out), "--flat-sd", "250"]) == 2
    assert "flat_sd=250.0 must be below loose_sd=200.0" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["pretrain", str(loose_csv), "--out", str(out), "--loose-sd", "big"])
    assert "--loose-sd: must be a standard deviation in uV" in capsys.readouterr().err
    assert FLAT_SD < LOOSE_SD


def test_empty_cells_of_a_csv_leave_their_windows_out(tmp_path, signal_uv):
    """Issue 37: a recorder's dropped samples (empty cells, NaN) passed the scan."""
    path = write_muse_csv(tmp_path / "dropouts.csv", signal_uv, gap=False)
    table = pd.read_csv(path)
    table.loc[5100:5110, "AF7"] = np.nan  # 10.2 s: the third 4 s window
    table.to_csv(path, index=False, float_format="%.3f")
    assert ",," in path.read_text()
    ds = EEGWindowsDataset(path, window=4, verbose=False)
    assert len(ds) == 14 and ds.left_out[ds.recordings[0].path] == {
        "windows": 1, "channels": (), "bad": {("AF7", "non-finite"): 1}}
    assert all(np.isfinite(ds[i][0]["x"].numpy()).all() for i in range(len(ds)))
