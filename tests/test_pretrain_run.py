"""Resumable pre-training: checkpoints, kill-and-resume, and the `sk-cria pretrain` command."""

from pathlib import Path
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer
from sk_cria.checkpointing import find_checkpoints, load_latest, save_atomic
from sk_cria.cli import main
from sk_cria.datasets import EEGWindowsDataset
from sk_cria.model import CRIA, CRIAConfig

EEGMAT = Path("eegmat/files/eegmat/1.0.0")


@pytest.fixture(scope="module")
def task_files(data_path):
    """Two 60 s arithmetic recordings: 30 windows of 4 s, 8 batches of 4 per epoch."""
    return [data_path / EEGMAT / f"Subject0{i}_2.edf" for i in (0, 1)]


@pytest.fixture(scope="module")
def dataset(task_files):
    return EEGWindowsDataset(task_files, window=4, preprocessor=EEGPreprocessor(line_freq=50),
                             verbose=False)


class Crash(Exception):
    pass


class CrashAt(Callback):
    """Stand-in for a kill: stop the process's training after ``step`` batches."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, net, training=False, **kwargs):
        if sum(len(e["batches"]) for e in net.history) == self.step:
            raise Crash


def _pretrainer(extra_callbacks=(), **params):
    """Small, seeded, with a per-batch cosine schedule (its state must resume too)."""
    callbacks = [("lr", LRScheduler(CosineAnnealingLR, T_max=24, step_every="batch")),
                 *extra_callbacks]
    defaults = dict(config="small", max_epochs=3, batch_size=4, random_state=0,
                    callbacks=callbacks)
    return ViewMaskPretrainer(**{**defaults, **params})


def _same_weights(a, b):
    a, b = a.module_.state_dict(), b.module_.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fit_on_dataset_equals_fit_on_the_same_windows_as_array(dataset):
    from sk_cria import EEGArray

    X = EEGArray(np.stack([dataset[i][0]["x"].numpy() for i in range(len(dataset))]),
                 ch_names=list(dataset.montages[0]))
    a = _pretrainer(max_epochs=1).fit(dataset)
    b = _pretrainer(max_epochs=1).fit(X)
    assert _same_weights(a, b)
    np.testing.assert_array_equal(a.transform(dataset), b.transform(X))


@pytest.mark.slow  # crash and resume
def test_resume_mid_epoch_gives_the_uninterrupted_weights(dataset, tmp_path):
    whole = _pretrainer().fit(dataset)
    crashing = _pretrainer([("crash", CrashAt(13))], checkpoint_dir=tmp_path,
                           checkpoint_every=3)
    with pytest.raises(Crash):
        crashing.fit(dataset)
    # The newest two remain: steps 12 (the last before the crash) and 9.
    assert [p.name for p in find_checkpoints(tmp_path)] == [
        "step-0000000012.pt", "step-0000000009.pt"]
    resumed = _pretrainer(checkpoint_dir=tmp_path, checkpoint_every=3)
    resumed.fit(dataset)
    assert _same_weights(resumed, whole)
    np.testing.assert_allclose(resumed.history[:, "train_loss"],
                               whole.history[:, "train_loss"], rtol=0, atol=0)
    # The resumed run trained only what the checkpoint lacked.
    assert resumed.history[1, "train_batch_count"] == 8 - 4


@pytest.mark.slow  # crash and resume
def test_a_damaged_newest_checkpoint_is_never_loaded(dataset, tmp_path):
    _pretrainer(max_epochs=2, checkpoint_dir=tmp_path).fit(dataset)
    newest, previous = find_checkpoints(tmp_path)
    good = load_latest(tmp_path)[0]
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # as a non-atomic write cut by a crash
    with pytest.warns(UserWarning, match="cannot be read"):
        state, path = load_latest(tmp_path)
    assert path == previous and state["epoch"] == 1 and good["epoch"] == 2
    # Resuming continues from epoch 1's checkpoint and redoes epoch 2.
    with pytest.warns(UserWarning, match="cannot be read"):
        resumed = _pretrainer(max_epochs=2, checkpoint_dir=tmp_path).fit(dataset)
    assert resumed.history[-1, "train_batch_count"] == 8


def test_atomic_save_leaves_the_previous_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "state.pt"
    save_atomic({"a": torch.ones(3)}, target)

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        save_atomic({"a": torch.zeros(3)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary left


def test_epoch_log_works_on_any_skorch_net(tmp_path):
    from skorch import NeuralNetRegressor

    from sk_cria.callbacks import EpochLog

    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = X.sum(axis=1, keepdims=True)
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             max_epochs=2, batch_size=5, train_split=None, verbose=0,
                             callbacks=[EpochLog(tmp_path / "log.csv")]).fit(X, y)
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == ",".join(EpochLog.COLUMNS) and len(rows) == 1 + len(net.history)
    assert rows[1].split(",")[2] == "20"  # windows of the epoch
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]  # no temporary left


def test_a_checkpoint_of_other_settings_is_refused(dataset, tmp_path):
    _pretrainer(max_epochs=1, checkpoint_dir=tmp_path).fit(dataset)
    with pytest.raises(ValueError, match="other data or settings.*lr"):
        _pretrainer(max_epochs=1, checkpoint_dir=tmp_path, lr=0.01).fit(dataset)


def test_mixed_montages_fit_and_transform(data_path, dataset):
    mixed = EEGWindowsDataset(
        [data_path / EEGMAT / "Subject00_2.edf",
         data_path / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf"],
        window=4, verbose=False)
    pre = _pretrainer(max_epochs=1, callbacks=None).fit(mixed)
    assert pre.ch_names_ is None and len(pre.montages_) == 2
    assert not hasattr(pre, "n_features_in_")
    emb = pre.transform(mixed)
    assert emb.shape == (len(mixed), pre.encoder_.config.embed_dim)
    assert np.isfinite(emb).all()
    # Arrays of any montage, when their channels are named.
    window = dataset[0][0]["x"].numpy()[np.newaxis]
    with pytest.raises(ValueError, match="needs the names"):
        pre.transform(window)
    pre.set_params(ch_names=list(dataset.montages[0]))
    np.testing.assert_allclose(pre.transform(window), pre.transform(dataset)[:1], atol=1e-5)
    # Continuing on a dataset whose montage 0 is another one (64 channels).
    motor = EEGWindowsDataset(mixed.files[1:], window=4, verbose=False)
    pre.set_params(ch_names=None)
    pre.partial_fit(motor)
    assert len(pre.history) == 2 and len(pre.montages_) == 2


def test_classifier_fits_and_predicts_a_dataset_of_mixed_montages(data_path):
    mixed = EEGWindowsDataset(
        [data_path / EEGMAT / "Subject00_2.edf",
         data_path / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf"],
        window=4, verbose=False)
    # A label per window (which recording it comes from, as strings); batches of one
    # montage each, or the 20- and 64-channel windows could not be stacked.
    y = np.where(mixed.montage_ids == 0, "eegmat", "eegmmidb")
    clf = CRIAClassifier(config="small", max_epochs=2, batch_size=8, random_state=0)
    clf.fit(mixed, y)
    assert clf.ch_names_ is None and len(clf.montages_) == 2
    assert not hasattr(clf, "n_features_in_")
    proba = clf.predict_proba(mixed)
    assert proba.shape == (len(mixed), 2) and np.isfinite(proba).all()
    # Arrays of any of the montages, named, give what the dataset's windows give.
    window = mixed[0][0]["x"].numpy()[np.newaxis]
    clf.set_params(ch_names=list(mixed.montages[0]))
    np.testing.assert_allclose(clf.predict_proba(window), proba[:1], atol=1e-5)
    assert set(clf.predict(mixed)) <= {"eegmat", "eegmmidb"}


# ------------------------------------------------------------------ the command
def _command(files, out, *extra):
    return [sys.executable, "-m", "sk_cria", "pretrain", *map(str, files), "--out", str(out),
            "--config", "small", "--window", "4", "--batch-size", "4", "--max-epochs", "3",
            "--line-freq", "50", "--seed", "1", *extra]


def _weights(out):
    return load_file(out / "model.safetensors")


@pytest.fixture(scope="module")
def whole(task_files, tmp_path_factory):
    """The output folder of an uninterrupted `sk-cria pretrain` (3 epochs of 8 batches)."""
    out = tmp_path_factory.mktemp("whole") / "run"
    subprocess.run(_command(task_files, out), check=True, capture_output=True)
    return out


def _signal_mid_second_epoch(command, out, signum):
    """Start ``command``; send ``signum`` once a checkpoint inside epoch 2 exists."""
    log = out.with_name(out.name + ".stderr")  # a file: a full pipe would stall the run
    with open(log, "w") as stderr:
        # The child handles SIGINT by default even if something in this test process
        # left it ignored (an ignored disposition is inherited across exec, and Python
        # then installs no KeyboardInterrupt handler).
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            steps = [int(p.stem.split("-")[1]) for p in find_checkpoints(out / "checkpoints")]
            if any(9 <= step < 16 for step in steps):
                proc.send_signal(signum)
                break
            time.sleep(0.01)
        code = proc.wait()
    return code, log.read_text()


@pytest.mark.slow
def test_kill_and_resume_ends_with_the_uninterrupted_weights(task_files, whole, tmp_path):
    killed = tmp_path / "killed"
    code, _ = _signal_mid_second_epoch(_command(task_files, killed, "--checkpoint-every", "1"),
                                       killed, signal.SIGKILL)
    assert code == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "model.safetensors").exists()
    done = subprocess.run(_command(task_files, killed, "--checkpoint-every", "1"),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Resuming from" in done.stderr and "epoch 2" in done.stderr
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = (killed / "train_log.csv").read_text().splitlines()
    assert len(log) == 4 and log[0].startswith("epoch,train_loss")
    # The result is a checkpoint the estimators load.
    card = (killed / "README.md").read_text()
    n_params = sum(p.numel() for p in CRIA(CRIAConfig.small()).parameters())
    assert "2 recording(s) used" in card and f"{n_params:,} encoder parameters" in card
    windows = EEGWindowsDataset(task_files[:1], window=4, verbose=False,
                                preprocessor=EEGPreprocessor(line_freq=50))
    X = np.stack([windows[i][0]["x"].numpy() for i in range(4)])
    names = list(windows.montages[0])
    pre = ViewMaskPretrainer.from_pretrained(killed, ch_names=names).fit(X)
    clf = CRIAClassifier(encoder=killed, max_epochs=0, early_stopping=False,
                         ch_names=names).fit(X, [0, 1, 0, 1])
    loaded, fine_tuned = pre.encoder_.state_dict(), clf.module_.encoder.state_dict()
    for key, value in b.items():
        assert torch.equal(loaded[key], value) and torch.equal(fine_tuned[key], value)


def test_command_refuses_bad_input_before_training(task_files, tmp_path, capsys):
    def run(*args):
        code = main(["pretrain", *map(str, args)])
        return code, capsys.readouterr().err

    code, err = run(tmp_path / "nowhere.edf", "--out", tmp_path / "out")
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "empty").mkdir()
    code, err = run(tmp_path / "empty", "--out", tmp_path / "out")
    assert code == 2 and "holds no EEG recording" in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.edf").write_text("not EEG")
    with pytest.warns(UserWarning, match="x.edf"):
        code, err = run(tmp_path / "junk", "--out", tmp_path / "out")
    assert code == 2 and "usable EEG" in err
    (tmp_path / "file").write_text("")
    code, err = run(task_files[0], "--out", tmp_path / "file" / "out")
    assert code == 2 and "Cannot write" in err
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("keep me")
    code, err = run(task_files[0], "--out", tmp_path / "theirs")
    assert code == 2 and "holds no sk-cria run" in err
    code, err = run(task_files[0], "--out", tmp_path / "new", "--resume")
    assert code == 2 and "no unfinished run" in err
    assert not any((tmp_path / "new").glob("*"))  # nothing was trained or written


def test_finished_or_different_runs_are_refused_unless_overwrite(task_files, tmp_path, capsys):
    out = tmp_path / "run"
    command = _command(task_files[:1], out)[3:]  # in-process: main(argv)
    command[command.index("--max-epochs") + 1] = "1"
    assert main(command) == 0
    capsys.readouterr()
    assert main(command) == 2
    assert "finished run" in capsys.readouterr().err
    (out / "mine.txt").write_text("not sk-cria's")
    assert main(command + ["--overwrite", "--lr", "0.01"]) == 0
    assert (out / "mine.txt").exists() and (out / "model.safetensors").exists()
    run = (out / "run.json").read_text()
    assert '"lr": 0.01' in run and '"status": "finished"' in run
    # An unfinished run with other settings is refused too.
    (out / "run.json").write_text(run.replace('"finished"', '"running"'))
    assert main(command + ["--lr", "0.1"]) == 2
    assert "other settings (lr=0.01 there, 0.1 now)" in capsys.readouterr().err


def test_command_draws_negatives_within_recordings(task_files, tmp_path):
    out = tmp_path / "run"
    command = _command(task_files[:2], out, "--negatives", "group")[3:]
    command[command.index("--max-epochs") + 1] = "1"
    assert main(command) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["negatives"] == "group"
    assert "(negatives: group)" in (out / "README.md").read_text()


def test_command_trains_in_bfloat16_with_kept_windows(task_files, tmp_path):
    out = tmp_path / "run"
    command = _command(task_files[:1], out, "--precision", "bfloat16",
                       "--keep-windows", "yes")[3:]
    command[command.index("--max-epochs") + 1] = "2"
    assert main(command) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["precision"] == "bfloat16"
    net = ViewMaskPretrainer.from_pretrained(out)
    assert all(p.dtype == torch.float32 for p in net.encoder_.parameters())


def test_command_records_the_scaling_in_the_encoder(task_files, tmp_path):
    from sk_cria.model.io import pretrained_scaling

    out = tmp_path / "run"
    command = _command(task_files[:1], out, "--scaling", "100")[3:]
    command[command.index("--max-epochs") + 1] = "1"
    assert main(command) == 0
    assert json.loads((out / "config.json").read_text())["preprocessing"] == {"scaling": 100.0}
    assert pretrained_scaling(out) == 100.0
    assert json.loads((out / "run.json").read_text())["settings"]["scaling"] == 100.0
    assert "scaling 100.0" in (out / "README.md").read_text()


def test_kept_windows_train_the_same_weights(task_files, tmp_path):
    """Keeping the windows in memory changes the speed only: the same encoder, bit for bit."""
    from safetensors.torch import load_file

    from sk_cria.runs import pretrain

    for keep in (True, False):
        pretrain(task_files[:2], tmp_path / str(keep), config="small", max_epochs=2,
                 batch_size=8, keep_windows=keep, verbose=0)
    kept, read = (load_file(tmp_path / str(k) / "model.safetensors") for k in (True, False))
    assert kept.keys() == read.keys()
    assert all(torch.equal(kept[name], read[name]) for name in kept)


@pytest.mark.slow
def test_ctrl_c_leaves_a_run_that_resumes_to_the_uninterrupted_weights(task_files, whole,
                                                                       tmp_path):
    out = tmp_path / "interrupted"
    command = _command(task_files, out, "--checkpoint-every", "1")
    code, err = _signal_mid_second_epoch(command, out, signal.SIGINT)
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("sk-cria pretrain: interrupted in epoch 2 after ") and (
        "is kept: rerun the same command to resume the run." in last), err
    assert "Traceback" not in err
    # Resumable, and nothing published: no encoder, no model card, not finished.
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert find_checkpoints(out / "checkpoints")
    for name in ("model.safetensors", "config.json", "README.md", "files.csv"):
        assert not (out / name).exists(), name
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Resuming from" in done.stderr and "epoch 2" in done.stderr
    a, b = _weights(whole), _weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


class InterruptAt(Callback):
    """Stand-in for Ctrl-C: a KeyboardInterrupt after ``step`` training batches."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, net, training=False, **kwargs):
        trained = sum("train_loss" in b for e in net.history for b in e["batches"])
        if training and trained == self.step:
            raise KeyboardInterrupt


def test_an_interrupted_run_warns_publishes_nothing_and_resumes(task_files, tmp_path,
                                                                monkeypatch, capsys):
    from sk_cria import runs

    out = tmp_path / "run"
    # A run that failed before its first checkpoint, with other settings: nothing
    # to protect, so it does not block this one.
    (out / "checkpoints").mkdir(parents=True)
    (out / "run.json").write_text(json.dumps(
        {"status": "running", "settings": {"batch_size": 0}, "sk_cria": "0"}))
    settings = dict(window=4, config="small", max_epochs=1, batch_size=4, line_freq=50,
                    seed=1, checkpoint_every=2)
    callbacks = runs._callbacks
    monkeypatch.setattr(runs, "_callbacks", lambda *args: [*callbacks(*args),
                                                           ("ctrl_c", InterruptAt(3))])
    with pytest.warns(UserWarning, match=r"interrupted \(KeyboardInterrupt\) in epoch 1, "
                      r"after 3 training batch\(es\) in all; the model is only partly "
                      r"trained\. Fit again .* resume from the last checkpoint"):
        net = runs.pretrain(task_files[:1], out, **settings)
    assert "stopped before its first checkpoint; starting afresh" in capsys.readouterr().err
    assert net.interrupted_
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted" and run["settings"]["batch_size"] == 4
    assert [p.name for p in find_checkpoints(out / "checkpoints")] == ["step-0000000002.pt"]
    for name in ("model.safetensors", "config.json", "README.md", "files.csv"):
        assert not (out / name).exists(), name
    # The same call resumes the run and finishes it.
    monkeypatch.setattr(runs, "_callbacks", callbacks)
    net = runs.pretrain(task_files[:1], out, **settings)
    assert not net.interrupted_ and "Resuming from" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
    assert net.history[-1, "train_batch_count"] == 4 - 2


def test_overwrite_never_removes_the_users_files(task_files, tmp_path, capsys):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "README.md").write_text("my notes")
    (out / "config.json").write_text('{"mine": true}')
    command = _command(task_files[:1], out)[3:]
    for extra in ([], ["--overwrite"]):
        assert main(command + extra) == 2
        err = capsys.readouterr().err
        assert "holds no sk-cria run (run.json is missing) but holds config.json, README.md" \
            in err and "never removed, even with --overwrite" in err
    # Nor does a run.json that is not sk-cria's make the folder sk-cria's.
    (out / "run.json").write_text('{"name": "my experiment"}')
    assert main(command + ["--overwrite"]) == 2
    assert "run.json is not an sk-cria run file" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "my notes"
    assert (out / "config.json").read_text() == '{"mine": true}'
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "run.json"]


@pytest.mark.parametrize("max_epochs", [0, -1])
def test_a_run_of_no_epoch_is_refused_before_anything_is_written(task_files, tmp_path,
                                                                 max_epochs):
    from sk_cria.runs import pretrain

    with pytest.raises(ValueError, match=f"max_epochs must be an integer >= 1, got {max_epochs}"):
        pretrain(task_files[:1], tmp_path / "out", max_epochs=max_epochs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, value, error, message", [
    ("batch_size", 1, ValueError, "batch_size must be an integer >= 2, got 1"),
    ("lr", float("nan"), ValueError, "lr must be a number > 0, got nan"),
    ("window", 0, ValueError, "window must be an integer >= 1, got 0"),
    ("checkpoint_every", 0, ValueError, "checkpoint_every must be an integer >= 1, got 0"),
    ("num_workers", -1, ValueError, "num_workers must be an integer >= 0, got -1"),
    ("max_epochs", "3", TypeError, "max_epochs must be an integer >= 1, got '3'"),
    ("lr_schedule", "linear", ValueError, "lr_schedule must be 'cosine' or 'constant'"),
    ("negatives", "subject", ValueError, "negatives must be one of"),
    ("config", "huge", ValueError, "config must be None, 'default', 'small'"),
    ("scaling", "group", ValueError, "scaling='group' cannot apply to pre-training on "
     "recordings on disk: their windows are read and preprocessed one at a time"),
    ("scaling", 0, ValueError, "scaling must be \"window\", \"group\" or a fixed unit"),
    ("keep_windows", "yes", ValueError, "keep_windows must be one of \\('auto',\\) or a bool, "
     "got 'yes'"),
    ("precision", "fp16", ValueError, "precision must be one of \\('auto', 'float32', "
     "'bfloat16'\\), got 'fp16'"),
])
def test_pretrain_refuses_bad_numbers_before_anything_is_written(task_files, tmp_path, name,
                                                                 value, error, message):
    from sk_cria.runs import pretrain

    with pytest.raises(error, match=message):
        pretrain(task_files[:1], tmp_path / "out", **{name: value})
    assert not (tmp_path / "out").exists()


def test_data_that_give_no_batch_train_nothing_and_are_refused(task_files, tmp_path, capsys):
    # One 40 s window per 60 s recording: no batch of two windows, nothing to train.
    out = tmp_path / "out"
    command = _command(task_files[:1], out)[3:]
    command[command.index("--window") + 1] = "40"
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "error: No batch of batch_size=4 (or at least 2) windows of one montage can be " \
        "formed from the 1 window(s)" in err and "Traceback" not in err
    assert not out.exists()  # no run.json (nor folder): nothing to protect or to resume


def test_ctrl_c_in_a_classifier_fit_warns_and_returns(dataset):
    X = np.stack([dataset[i][0]["x"].numpy() for i in range(8)])
    clf = CRIAClassifier(config="small", max_epochs=3, batch_size=4, random_state=0,
                         ch_names=list(dataset.montages[0]),
                         callbacks=[("ctrl_c", InterruptAt(3))])
    with pytest.warns(UserWarning, match=r"CRIAClassifier: training was interrupted .* "
                      r"in epoch 2, after 3 training batch\(es\) in all; the model is only "
                      r"partly trained\.$"):
        clf.fit(X, [0, 1] * 4)
    assert clf.interrupted_ and len(clf.history) == 2
    clf.set_params(callbacks=None).fit(X, [0, 1] * 4)  # a new fit clears the flag
    assert not clf.interrupted_


def test_overwrite_removes_nothing_when_the_new_run_is_refused(task_files, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": "finished", "settings": {}}))
    CRIA.from_pretrained("cria-small").save_pretrained(out)  # an earlier run's encoder
    earlier = (out / "model.safetensors").read_bytes()
    command = _command(task_files[:1], out, "--overwrite")[3:]
    command[command.index("--window") + 1] = "40"  # one window: no batch to train
    assert main(command) == 2
    assert "nothing would be trained" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == earlier


@pytest.mark.parametrize("status", ["finished", "running"])
def test_an_encoder_file_of_someone_else_in_a_run_folder_is_never_removed(
        task_files, tmp_path, capsys, status):
    """Issue 37 variant: --overwrite removed any config.json of an sk-cria run folder."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": status, "settings": {}}))
    (out / "config.json").write_text('{"mine": true}')
    command = _command(task_files[:1], out, "--overwrite")[3:]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"{out} holds an sk-cria run but config.json there is not sk-cria's" in err
    assert "never removed or replaced, even with --overwrite" in err
    assert (out / "config.json").read_text() == '{"mine": true}'


def test_nan_samples_and_marked_bad_channels_are_left_out_and_listed(task_files, tmp_path,
                                                                      capsys):
    """Issue 37: one NaN stopped the whole run at the first batch reaching it, and
    channels the file marks bad were pre-trained on."""
    import csv

    import mne

    raw = mne.io.read_raw_edf(task_files[0], preload=True, verbose="error")
    data = raw.get_data()
    data[:2, int(9.0 * 500):int(9.5 * 500)] = np.nan  # Fp1, Fp2 in the third 4 s window
    raw = mne.io.RawArray(data, raw.info, verbose="error")
    raw.info["bads"] = ["EEG O2"]
    marked = tmp_path / "marked_raw.fif"
    raw.save(marked, verbose="error")
    out = tmp_path / "run"
    command = _command([marked, task_files[1]], out)[3:]
    command[command.index("--max-epochs") + 1] = "1"
    assert main(command) == 0, capsys.readouterr().err
    rows = {Path(row["path"]).name: row for row in csv.DictReader(open(out / "files.csv"))}
    row = rows["marked_raw.fif"]
    assert row["used"] == "True" and row["windows"] == "14" and row["channels"] == "19"
    assert row["windows_left_out"] == "1" and row["channels_left_out"] == "O2"
    assert row["bad_windows"] == ("Fp1 non-finite 1; Fp2 non-finite 1; "
                                  "O2 marked bad in the file 15")
    assert rows["Subject01_2.edf"]["windows_left_out"] == "0"
    card = (out / "README.md").read_text()
    assert "NaN or infinite samples, or a channel marked bad in the file: 1 window(s), " \
        "1 channel(s) of 1 file(s)" in card


@pytest.mark.parametrize("name, value, message", [
    ("lr", 50.0, "lr"),  # the estimator's own limit (above 10 the weights overflow)
    ("device", "tpu", "device"),
])
def test_parameters_the_estimator_refuses_write_nothing(task_files, tmp_path, name, value,
                                                        message):
    from sk_cria.runs import pretrain

    with pytest.raises(ValueError, match=message):
        pretrain(task_files[:1], tmp_path / "out", **{name: value})
    assert not (tmp_path / "out").exists()  # no run.json to say a run was under way
