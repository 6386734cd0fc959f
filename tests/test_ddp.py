"""Data-parallel pre-training under torchrun with gloo on 127.0.0.1 (CPU only)."""

import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import sk_cria
from sk_cria._net import native_cpu_bfloat16
from sk_cria.checkpointing import find_checkpoints

pytestmark = [pytest.mark.skipif(not torch.distributed.is_available(),
                                 reason="torch built without torch.distributed"),
              pytest.mark.slow]  # torchrun launches

SCRIPT = Path(__file__).with_name("ddp_pretrain.py")
# The script runs from tests/, where Python would import whichever sk_cria is
# installed: give it the one under test.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    filter(None, [str(Path(sk_cria.__file__).parents[1]), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def task_files(data_path):
    """Two 60 s recordings: 30 windows of 4 s."""
    return [str(data_path / f"eegmat/files/eegmat/1.0.0/Subject0{i}_2.edf") for i in (0, 1)]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(nproc, *args):
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
            f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
            f"--master_port={_free_port()}", *args]


def test_two_processes_train_like_one_with_the_global_batch(task_files, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    subprocess.run([sys.executable, str(SCRIPT), str(one), "6", *task_files], check=True,
                   capture_output=True, env=ENV)
    run = subprocess.run(_torchrun(2, str(SCRIPT), str(two), "3", *task_files),
                         capture_output=True, text=True, env=ENV)
    assert run.returncode == 0, run.stderr[-3000:]
    rank0, rank1 = (torch.load(two / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # replicas stay identical
    logs = [json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [log["world_size"] for log in logs] == [2, 2]
    assert all(log["threads"] == 1 for log in logs)  # torchrun's 1 thread per process
    assert logs[0]["loss"] == logs[1]["loss"]  # the global batch's loss, on every rank
    # 30 windows in 5 global batches of 3 x 2. Same windows, masks and negatives
    # per step as one process with batch 6:
    # only the order of floating-point sums differs. The default precision trains in
    # bfloat16 on CPUs with native bfloat16 products, where the two runs' gradients
    # round apart by about bfloat16's 2**-8 and AdamW turns that into up to a few
    # lr-sized (1e-3) steps over the 10 steps; in float32 they stay within 1e-3.
    bf16 = native_cpu_bfloat16()
    single = json.loads((one / "rank0.json").read_text())["loss"]
    np.testing.assert_allclose(logs[0]["loss"], single, rtol=1e-2 if bf16 else 1e-3)
    weights = torch.load(one / "rank0.pt", weights_only=True)
    drift = max((weights[k] - rank0[k]).abs().max().item() for k in weights)
    assert drift < (1e-2 if bf16 else 1e-3)


def _pretrain(out, *extra):
    return ["-m", "sk_cria", "pretrain", "--out", str(out), "--config", "small",
            "--window", "4", "--batch-size", "2", "--max-epochs", "2", "--line-freq", "50",
            "--checkpoint-every", "1", *extra]


def test_killed_rank_resumes_with_the_same_or_another_number_of_processes(
        task_files, tmp_path):
    whole, killed, other = tmp_path / "whole", tmp_path / "killed", tmp_path / "other"
    ref = subprocess.run(_torchrun(2, *_pretrain(whole, *task_files)),
                         capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-3000:]
    launcher = subprocess.Popen(_torchrun(2, *_pretrain(killed, *task_files)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # 30 windows in global batches of 4: 7 steps an epoch. Kill rank 1 mid-epoch 2.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and launcher.poll() is None:
        steps = [int(p.stem.split("-")[1]) for p in find_checkpoints(killed / "checkpoints")]
        if any(8 <= step < 14 for step in steps):
            workers = subprocess.run(["ps", "-o", "pid=", "--ppid", str(launcher.pid)],
                                     capture_output=True, text=True).stdout.split()
            subprocess.run(["kill", "-KILL", workers[-1]])
            break
        time.sleep(0.01)
    assert launcher.wait() != 0, "the run ended before a rank could be killed"
    assert not (killed / "model.safetensors").exists()
    shutil.copytree(killed, other)
    resumed = subprocess.run(_torchrun(2, *_pretrain(killed, *task_files)),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stderr
    a, b = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # One process can take over the run of two (a new batch order; with a warning).
    alone = subprocess.run([sys.executable, *_pretrain(other, *task_files)],
                           capture_output=True, text=True)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "Resuming a run of 2 process(es) with 1" in alone.stderr
    assert len((other / "train_log.csv").read_text().splitlines()) == 3
