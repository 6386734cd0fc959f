"""The main job, `sk-cria benchmark`, end to end on a few real eegmat subjects."""

import pandas as pd
import pytest

from sk_cria.benchmark import PUBLISHED
from sk_cria.cli import main


def test_benchmark_command_writes_csv_table_and_figure(data_path, tmp_path, capsys):
    code = main([
        "benchmark", "--data", str(data_path), "--out", str(tmp_path), "--protocol", "b",
        "--subjects", "0-3", "--folds", "2", "--encoder", "small", "--pretrain-epochs", "1",
        "--finetune-epochs", "1", "--fusion", "serial", "--no-purification",
        "--input-alignment", "both",
        "--pipelines", "cria_probe_pretrained_aligned", "cria_finetune_scratch", "mdm_recentered",
    ])
    assert code == 0
    results = pd.read_csv(tmp_path / "results.csv")
    for column in ("protocol", "pipeline", "seed", "bacc", "auroc", "auprc", "fit_seconds"):
        assert column in results.columns
    # two CRIA pipelines on two inputs plus one baseline, two folds each
    assert len(results) == 5 * 2
    assert set(results.pipeline) == {
        "cria_probe_pretrained_aligned", "cria_finetune_scratch", "mdm_recentered",
        "cria_probe_pretrained_aligned+ea", "cria_finetune_scratch+ea",
    }
    assert results[["bacc", "auroc", "auprc"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (results.fit_seconds > 0).all()
    table = (tmp_path / "results.md").read_text()
    assert "mdm_recentered" in table and "CBraMod" in table
    assert f"{PUBLISHED['CBraMod'][0]:.4f}" in table
    assert (tmp_path / "results.png").stat().st_size > 10_000


def test_protocol_a_refuses_missing_subjects(data_path, tmp_path):
    with pytest.raises(ValueError, match="subjects 0-27 and 32-35"):
        main(["benchmark", "--data", str(data_path), "--out", str(tmp_path), "--protocol", "a",
              "--subjects", "0-3", "--pipelines", "mdm"])


def test_riemannian_aligned_input_and_input_band(data_path, tmp_path):
    code = main([
        "benchmark", "--data", str(data_path), "--out", str(tmp_path), "--protocol", "b",
        "--subjects", "0-3", "--folds", "2", "--encoder", "small",
        "--input-alignment", "ea", "ra", "--input-band", "1", "40",
        "--pipelines", "cria_probe_random_aligned",
    ])
    assert code == 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert sorted(set(results.pipeline)) == [
        "cria_probe_random_aligned+ea", "cria_probe_random_aligned+ra",
    ]
    assert len(results) == 2 * 2
    ea, ra = (results[results.pipeline.str.endswith(kind)].auroc.to_numpy() for kind in ("ea", "ra"))
    assert not (ea == ra).all()  # the two alignments are different inputs
    assert "1-40 Hz" in (tmp_path / "results.md").read_text()
