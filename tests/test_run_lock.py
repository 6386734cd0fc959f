"""One `sk-cria pretrain` run per folder: a second is refused at once, a killed one never blocks.

Issue 37: two runs started on the same --out both trained into it (one died
with a traceback, the other left a folder mixing both). These tests start
real processes: the lock is the operating system's (fcntl.flock), held by
the process for the whole run and released when it dies.
"""

import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

import pytest

from sk_cria.checkpointing import find_checkpoints
from sk_cria.runs import LOCK_FILE, RunDirError, RunLock

pytest.importorskip("fcntl")
EEGMAT = Path("eegmat/files/eegmat/1.0.0")


@pytest.fixture(scope="module")
def task_files(data_path):
    return [data_path / EEGMAT / f"Subject0{i}_2.edf" for i in (0, 1)]


def _command(files, out, *extra):
    return [sys.executable, "-m", "sk_cria", "pretrain", *map(str, files), "--out", str(out),
            "--config", "small", "--window", "4", "--batch-size", "4", "--max-epochs", "2",
            "--line-freq", "50", "--seed", "1", "--checkpoint-every", "1", *extra]


def _env():
    # The children import this checkout's sk_cria, as the test process does.
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])]), "OMP_NUM_THREADS": "1"}


def _start_and_pause(command, out, log):
    """Start a run and stop it (SIGSTOP) once it wrote its first checkpoint: a live run."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=_env())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if find_checkpoints(out / "checkpoints"):
            proc.send_signal(signal.SIGSTOP)
            return proc
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"the first run wrote no checkpoint (exit {proc.poll()})")


@pytest.mark.slow
def test_a_second_run_is_refused_at_once_and_a_killed_one_does_not_block(task_files, tmp_path):
    out = tmp_path / "run"
    with open(tmp_path / "first.stderr", "w") as log:
        first = _start_and_pause(_command(task_files, out), out, log)
    try:
        run_json = (out / "run.json").read_text()
        # The same folder by another path: relative, through a symbolic link.
        (tmp_path / "link").symlink_to(out)
        for where in ("run", "./link/", "link/../run"):
            start = time.monotonic()
            second = subprocess.run(_command(task_files, where), cwd=tmp_path, env=_env(),
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sk-cria pretrain: error: "), lines
            assert (f"is in use by another sk-cria pretrain run (pid {first.pid} on host "
                    f"{socket.gethostname()}, started 20") in lines[0]
            assert "choose another --out" in lines[0]
            # At once: before reading the data (a Python start and an import take seconds).
            assert time.monotonic() - start < 60
            assert (out / "run.json").read_text() == run_json  # the first run's, untouched
        # In-process too, whatever the path.
        with pytest.raises(RunDirError, match=f"pid {first.pid}"):
            RunLock(tmp_path / "link").acquire()
    finally:
        first.kill()  # SIGKILL: no cleanup, the lock file stays behind
        first.wait()
    assert (out / LOCK_FILE).exists(), "a killed run leaves its lock file"
    resumed = subprocess.run(_command(task_files, out), env=_env(), capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from" in resumed.stderr
    assert (out / "model.safetensors").exists() and not (out / LOCK_FILE).exists()


def test_a_lock_released_by_the_os_leaves_the_folder_to_the_next_run(tmp_path):
    """A process that held the lock and died (even by SIGKILL) blocks nothing."""
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from sk_cria.runs import RunLock; "
         "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)",
         str(out)], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=rf"{out} is in use by another sk-cria pretrain "
                                              rf"run \(pid {holder.pid} on host "):
            RunLock(out).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(out):  # the stale file is no lock
        assert (out / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} on host ")
    assert not (out / LOCK_FILE).exists()


def test_out_that_is_a_file_is_refused(task_files, tmp_path, capsys):
    from sk_cria.cli import main

    (tmp_path / "out").write_text("my file")
    assert main(["pretrain", str(task_files[0]), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 'out'} is a file" in err and "give a folder path" in err
    assert (tmp_path / "out").read_text() == "my file"


def test_a_refused_run_leaves_no_lock_and_no_folder(task_files, tmp_path, capsys):
    from sk_cria.cli import main

    out = tmp_path / "new"
    assert main(["pretrain", str(task_files[0]), "--out", str(out), "--resume"]) == 2
    assert "no unfinished run" in capsys.readouterr().err
    assert not out.exists()
