"""The `sk-cria` command line refuses bad numbers at parsing: one line, exit code 2."""

import re

import pytest
import torch

from sk_cria.cli import main


def _refused(capsys, argv):
    """Run ``sk-cria argv`` in-process; return the error line (and check the exit)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.mark.parametrize("option, value, message", [
    ("--window", "0", "--window: must be a whole number of 1 or more, got '0'"),
    ("--window", "2.5", "--window: must be a whole number"),
    ("--stride", "0", "--stride: must be a finite number above 0"),
    ("--stride", "-1", "--stride: must be a finite number above 0, got '-1'"),
    ("--num-workers", "-1", "--num-workers: must be a whole number of 0 or more"),
    ("--batch-size", "0", "--batch-size: must be a whole number of 2 or more"),
    ("--batch-size", "1", "batch of one window has no contrastive negatives"),
    ("--lr", "-1", "--lr: must be a finite number above 0, got '-1'"),
    ("--lr", "0", "--lr: must be a finite number above 0"),
    ("--lr", "nan", "--lr: must be a finite number above 0, got 'nan'"),
    ("--line-freq", "0", "--line-freq: must be a frequency in Hz above 0"),
    ("--line-freq", "-50", "--line-freq: must be a frequency"),
    ("--line-freq", "fifty", "--line-freq: must be a frequency in Hz above 0 .* or none"),
    ("--checkpoint-every", "0", "--checkpoint-every: must be a whole number of 1 or more"),
    ("--max-epochs", "0", "--max-epochs: must be a whole number of 1 or more, got '0'"),
    ("--max-epochs", "-3", "--max-epochs: must be a whole number of 1 or more"),
    ("--seed", "-1", "--seed: must be a whole number of 0 or more"),
    ("--device", "gpu", "--device: --device='gpu' is not a torch device; use 'auto', 'cpu'"),
    ("--device", "cuda:x", "--device='cuda:x' is not a torch device"),
    ("--scaling", "group", "--scaling: must be window or a unit in microvolts > 0, e.g. 100 "
     r"\(windows read from disk one at a time have no group to scale by\), got 'group'"),
    ("--scaling", "0", "--scaling: must be window or a unit in microvolts > 0"),
])
def test_pretrain_refuses_bad_numbers(tmp_path, capsys, option, value, message):
    line = _refused(capsys, ["pretrain", str(tmp_path), "--out", str(tmp_path / "out"),
                             option, value])
    assert line.startswith("sk-cria pretrain: error: argument")
    assert re.search(message, line), line
    assert not (tmp_path / "out").exists()  # nothing written


def test_pretrain_refuses_cuda_without_a_gpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _refused(capsys, ["pretrain", str(tmp_path), "--out", str(tmp_path / "out"),
                             "--device", "cuda"])
    assert "--device='cuda', but CUDA is not available" in line and "'cpu'" in line


@pytest.mark.parametrize("argv, message", [
    (["--subjects", "abc"], "--subjects: must be subject numbers as N, N-M .* got 'abc'"),
    (["--subjects", "3-1"], "--subjects: must be subject numbers .* got '3-1'"),
    (["--subjects", "-1"], "--subjects: must be subject numbers"),
    (["--folds", "1"], "--folds: must be a whole number of 2 or more, got '1'"),
    (["--folds", "0"], "--folds: must be a whole number of 2 or more"),
    (["--seeds", "0"], "--seeds: must be a whole number of 1 or more, got '0'"),
    (["--pretrain-epochs", "-1"], "--pretrain-epochs: must be a whole number of 0 or more"),
    (["--finetune-epochs", "-5"], "--finetune-epochs: must be a whole number of 0 or more"),
    (["--train-subjects", "0"], "--train-subjects: must be a whole number of 1 or more, or all"),
    (["--train-subjects", "x"], "--train-subjects: must be a whole number"),
    (["--input-band", "0", "40"], "--input-band: must be a finite number above 0"),
    (["--input-scaling", "subject"], '--input-scaling: must be "window", "group" or a unit '
                                     "in microvolts > 0, e.g. 100, got 'subject'"),
    (["--input-scaling", "-100"], "--input-scaling: must be .* got '-100'"),
])
def test_benchmark_refuses_bad_numbers(tmp_path, capsys, argv, message):
    line = _refused(capsys, ["benchmark", "--out", str(tmp_path / "out"), *argv])
    assert re.search(message, line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--subjects", "0-36"], "subjects [36] are not subjects of task 'eegmat', which are "
                             "numbered 0 to 35"),
    (["--task", "eegmmidb-mi", "--subjects", "0-3"],
     "subjects [0] are not subjects of task 'eegmmidb-mi', which are numbered 1 to 109"),
])
def test_benchmark_refuses_subjects_its_task_does_not_have(tmp_path, capsys, argv, message):
    code = main(["benchmark", "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task, folder", [("eegmat", "eegmat"),
                                          ("eegmmidb-mi", "MNE-eegbci-data")])
def test_benchmark_refuses_a_data_folder_without_the_tasks_data(tmp_path, capsys, task,
                                                                folder):
    code = main(["benchmark", "--task", task, "--data", str(tmp_path), "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"--data '{tmp_path}' holds no {folder}/ folder, which task '{task}' reads" in err
    assert not (tmp_path / "out").exists()


def test_benchmark_refuses_a_data_folder_that_does_not_exist(tmp_path, capsys):
    line = _refused(capsys, ["benchmark", "--data", str(tmp_path / "nowhere"), "--out",
                             str(tmp_path / "out")])
    assert f"--data: '{tmp_path / 'nowhere'}' is not a folder" in line


def test_benchmark_names_a_missing_eegmat_file_in_one_line(tmp_path, capsys):
    (tmp_path / "eegmat").mkdir()  # the folder is there, its files are not
    code = main(["benchmark", "--task", "eegmat", "--data", str(tmp_path), "--subjects", "0",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "sk-cria benchmark: error: Subject00_1.edf was not found" in err


def test_benchmark_refuses_an_inverted_input_band(tmp_path, capsys):
    code = main(["benchmark", "--input-band", "40", "1", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "--input-band: the low edge (40 Hz) must be below the high one (1 Hz)" in (
        capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_benchmark_help_describes_every_flag_and_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    options = re.findall(r"\[(--[a-z-]+)", text.split("options:")[0])
    assert len(options) >= 20
    switches = {"--full", "--quick", "--overwrite", "--purification"}  # off unless given
    for option in options:
        described = text.split(f"{option} ", 2)[-1][:600]
        assert option in switches or "default" in described, option
