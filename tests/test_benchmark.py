"""The main job, `sk-cria benchmark`, end to end on a few real subjects of each task."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from sk_cria import benchmark
from sk_cria.benchmark import PUBLISHED, margins
from sk_cria.cli import main
from sk_cria.datasets import load_eegmat
from sk_cria.tasks import TASKS

SMALL = ["--protocol", "b", "--subjects", "0-3", "--folds", "2", "--encoder", "small"]


def test_benchmark_command_writes_csv_table_figure_and_margin(data_path, tmp_path, capsys):
    code = main([
        "benchmark", "--data", str(data_path), "--out", str(tmp_path), *SMALL, "--seeds", "1",
        "--pretrain-epochs", "1", "--finetune-epochs", "1", "--fusion", "serial",
        "--purification", "--input-band", "1", "40",
        "--pipelines", "cria_probe_pretrained", "cria_finetune_scratch", "log_variance",
    ])
    assert code == 0
    results = pd.read_csv(tmp_path / "results.csv")
    for column in benchmark.COLUMNS:
        assert column in results.columns
    assert len(results) == 3 * 2  # three pipelines, two folds, one seed, one recipe
    assert set(results.recipe) == {"ra/subject"}  # the default recipe
    assert results[["bacc", "auroc", "auprc"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (results.fit_seconds > 0).all()
    table = (tmp_path / "results.md").read_text()
    assert "CRIA's margin over the best non-CRIA pipeline" in table
    assert f"{PUBLISHED['CBraMod'][0]:.4f}" in table and "1-40 Hz" in table
    assert (tmp_path / "results.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "CRIA's margin over the same-recipe floor" in printed
    assert "cria_probe_pretrained - log_variance" in printed or \
        "cria_finetune_scratch - log_variance" in printed


def test_recipe_reaches_every_pipeline(data_path, tmp_path):
    main([
        "benchmark", "--data", str(data_path), "--out", str(tmp_path), *SMALL, "--seeds", "1",
        "--input-alignment", "none", "ra", "--feature-scaling", "subject", "global",
        "--pipelines", "cria_probe_random", "log_variance", "band_power", "tangent_space",
        "mdm", "log_variance_cria_input",
    ])
    results = pd.read_csv(tmp_path / "results.csv")
    scores = results.set_index(["recipe", "pipeline", "fold"]).sort_index().auroc
    for pipeline in ("cria_probe_random", "log_variance", "band_power", "tangent_space", "mdm",
                     "log_variance_cria_input"):
        unaligned = scores.loc["none/subject", pipeline].to_numpy()
        aligned = scores.loc["ra/subject", pipeline].to_numpy()
        assert not np.array_equal(unaligned, aligned), pipeline  # alignment reached it
    for pipeline in ("cria_probe_random", "log_variance", "band_power", "tangent_space"):
        per_subject = scores.loc["ra/subject", pipeline].to_numpy()
        per_training_set = scores.loc["ra/global", pipeline].to_numpy()
        assert not np.array_equal(per_subject, per_training_set), pipeline  # scaling too
    # MDM has no feature step: the scaling leaves it unchanged.
    np.testing.assert_array_equal(scores.loc["ra/subject", "mdm"], scores.loc["ra/global", "mdm"])


def test_train_subjects_fits_on_the_labels_of_that_many_subjects(data_path, tmp_path,
                                                                  monkeypatch):
    fitted_on, classifier_rows = [], []
    evaluate = benchmark._evaluate

    def spy(pipe, X, y, groups, train, test, *args):
        fitted_on.append((np.asarray(train), np.asarray(test)))
        return evaluate(pipe, X, y, groups, train, test, *args)

    fit = LogisticRegression.fit

    def spy_fit(self, X, y, *args, **kwargs):
        classifier_rows.append(len(y))
        return fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(benchmark, "_evaluate", spy)
    monkeypatch.setattr(LogisticRegression, "fit", spy_fit)
    main([
        "benchmark", "--data", str(data_path), "--out", str(tmp_path), "--protocol", "b",
        "--subjects", "0-5", "--folds", "2", "--encoder", "small", "--seeds", "2",
        "--train-subjects", "1", "2", "all", "--pipelines", "cria_probe_random", "log_variance",
    ])
    groups = load_eegmat(range(6), path=data_path, sfreq=200.0, download=False).groups
    results = pd.read_csv(tmp_path / "results.csv")
    # 2 folds x 2 seeds x 3 budgets x 2 pipelines rows; the floor's fits are shared
    # between seeds when the draw is the same (the full training split).
    assert len(results) == 24
    assert sorted(set(results.labelled_subjects)) == [1, 2, 3]
    for train, test in fitted_on:
        subjects = set(groups[train])
        assert len(subjects) in (1, 2, 3)
        assert not subjects & set(groups[test])
        # every window of each drawn subject, and nothing else
        np.testing.assert_array_equal(np.sort(train),
                                      np.flatnonzero(np.isin(groups, list(subjects))))
    assert sorted(classifier_rows) == sorted(len(train) for train, _ in fitted_on)
    for _, row in results.iterrows():
        assert len(row.label_subjects.split()) == row.labelled_subjects
    (tmp_path / "label_efficiency.png").stat()


def test_margin_is_computed_from_paired_rows():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        for fold in range(4):
            split_difficulty = rng.uniform(0.55, 0.95)  # varies a lot between splits
            for pipeline, family, bacc in (("cria_probe_pretrained", "cria",
                                            split_difficulty + 0.01),
                                           ("band_power", "floor", split_difficulty),
                                           ("mdm", "floor", split_difficulty - 0.05)):
                rows.append(dict(protocol="b", recipe="ra/subject", pipeline=pipeline,
                                 family=family, labelled_subjects=30, seed=seed, fold=fold,
                                 bacc=bacc, auroc=bacc, auprc=bacc))
    rows.pop(0)  # seed 0, fold 0 of CRIA missing: that split cannot be paired
    table = margins(rows)
    assert len(table) == 1
    margin = table.iloc[0]
    assert margin.floor == "band_power"  # the best floor of the recipe
    assert margin.pairs == 11
    assert margin.d_bacc == pytest.approx(0.01)
    assert margin.d_bacc_sd == pytest.approx(0.0, abs=1e-12)  # paired, not the spread of means


def test_folds_of_unequal_size_are_one_label_budget():
    # 11 subjects in 6 folds: 9 or 10 training subjects; with all labels that is one budget.
    rows = [dict(protocol="b", recipe="ra/subject", pipeline=pipeline, family=family,
                 budget="all", labelled_subjects=9 if fold < 5 else 10, seed=0, fold=fold,
                 bacc=bacc, auroc=bacc, auprc=bacc)
            for fold in range(6)
            for pipeline, family, bacc in (("cria_probe_pretrained", "cria", 0.55),
                                           ("tangent_space_recentered", "floor", 0.6))]
    table = margins(rows)
    assert len(table) == 1 and table.iloc[0].pairs == 6
    assert table.iloc[0].labelled_subjects == 10
    assert table.iloc[0].d_bacc == pytest.approx(-0.05)


def test_protocol_a_refuses_missing_subjects(data_path, tmp_path):
    with pytest.raises(ValueError, match="subjects 0-27 and 32-35"):
        main(["benchmark", "--data", str(data_path), "--out", str(tmp_path), "--protocol", "a",
              "--subjects", "0-3", "--pipelines", "mdm"])


# ------------------------------------------------------- motor imagery task
MI = ["--task", "eegmmidb-mi", "--subjects", "1-3", "--folds", "3", "--seeds", "1"]


@pytest.fixture(scope="module")
def imagery(data_path):
    """Three eegmmidb subjects as the motor-imagery task loads them."""
    return TASKS["eegmmidb-mi"].load((1, 2, 3), data_path)


def test_motor_imagery_task_loads_real_trials_grouped_by_subject(imagery):
    assert imagery.data.shape[1:] == (64, 320)  # 64 channels, 0.5-2.5 s at 160 Hz
    assert imagery.sfreq == 160.0 and "C3" in imagery.ch_names and "C4" in imagery.ch_names
    assert set(imagery.groups) == {1, 2, 3}
    for subject in (1, 2, 3):  # about 45 trials a subject, left and right alike
        target = imagery.target[imagery.groups == subject]
        assert 40 <= len(target) <= 50 and set(target) == {0, 1}
    config = benchmark.BenchmarkConfig(task="eegmmidb-mi", folds=3)
    assert config.protocols == ("b",)
    folds = list(benchmark.splits(config, imagery.groups))
    assert len(folds) == 3
    for _, _, train, test in folds:
        # one held-out subject per fold, none of its trials in training
        assert len(set(imagery.groups[test])) == 1
        assert not set(imagery.groups[train]) & set(imagery.groups[test])
    np.testing.assert_array_equal(np.sort(np.concatenate([t for *_, t in folds])),
                                  np.arange(len(imagery.groups)))


def test_motor_imagery_floors_run_under_the_recipe(data_path, tmp_path):
    code = main(["benchmark", "--data", str(data_path), "--out", str(tmp_path), *MI,
                 "--pipelines", "csp_lda", "mdm_recentered"])
    assert code == 0
    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 2 * 3 and set(results.task) == {"eegmmidb-mi"}
    assert set(results.recipe) == {"ra/subject"} and set(results.labelled_subjects) == {2}
    assert results[["bacc", "auroc"]].apply(lambda c: c.between(0, 1)).all().all()
    table = (tmp_path / "results.md").read_text()
    assert "# sk_cria benchmark on eegmmidb motor imagery" in table
    assert "floors then 8-30 Hz" in table and "CBraMod" not in table
    assert (tmp_path / "results.png").stat().st_size > 10_000


def test_motor_imagery_floors_filter_to_its_band():
    run = benchmark._Run(benchmark.BenchmarkConfig(task="eegmmidb-mi"),
                         TASKS["eegmmidb-mi"], 0, "subject", 160.0, None)
    csp, _ = benchmark.PIPELINES["csp_lda_recentered"].build(run)
    assert (csp["bandpass"].l_freq, csp["bandpass"].h_freq) == (8.0, 30.0)
    assert "recentering" in csp.named_steps and type(csp["scaler"]).__name__ == \
        "GroupStandardScaler"
    # eegmat's floors read the 1-40 Hz input as it is, as before tasks existed.
    run = benchmark._Run(benchmark.BenchmarkConfig(), TASKS["eegmat"], 0, None, 200.0, None)
    mdm, _ = benchmark.PIPELINES["mdm"].build(run)
    assert (mdm["bandpass"].l_freq, mdm["bandpass"].h_freq) == (None, None)


def test_task_and_protocol_are_checked_before_loading(tmp_path, capsys):
    # The command says so in one line (exit code 2); run_benchmark raises.
    assert main(["benchmark", "--data", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--task", "eegmmidb-mi", "--protocol", "a"]) == 2
    assert ("protocols must be among ['b'] for task 'eegmmidb-mi'"
            in capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=r"protocols must be among \['b'\] for task "
                                         "'eegmmidb-mi'"):
        benchmark.run_benchmark(benchmark.BenchmarkConfig(task="eegmmidb-mi",
                                                          protocols=("a",)))
    with pytest.raises(ValueError, match=r"task must be among \['eegmat', 'eegmmidb-mi'\]"):
        benchmark.run_benchmark(benchmark.BenchmarkConfig(task="bci-iv-2a"))
    with pytest.raises(SystemExit):  # argparse: invalid choice
        main(["benchmark", "--task", "bci-iv-2a"])


def test_shipped_encoder_option_probes_the_encoder_it_names(data_path, tmp_path, eegmat_small):
    """--shipped-encoder FOLDER: the frozen probe reads that saved encoder, as it is."""
    import warnings

    from sk_cria import EEGPreprocessor, ViewMaskPretrainer

    # The random-weight encoder of seed 0, saved: probing it as "shipped" must give
    # exactly the scores of the benchmark's own random-weight probe of seed 0.
    b = eegmat_small
    X = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0).fit_transform(
        b.data[:8])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ViewMaskPretrainer: max_epochs=0")
        encoder = ViewMaskPretrainer(config="small", max_epochs=0, random_state=0).fit(X)
    encoder.save_pretrained(tmp_path / "my-encoder")
    code = main(["benchmark", "--data", str(data_path), "--out", str(tmp_path / "out"),
                 *SMALL, "--seeds", "1", "--shipped-encoder", str(tmp_path / "my-encoder"),
                 "--pipelines", "cria_probe_shipped", "cria_probe_random"])
    assert code == 0
    scores = pd.read_csv(tmp_path / "out" / "results.csv").set_index(["pipeline", "fold"]).auroc
    np.testing.assert_array_equal(scores.loc["cria_probe_shipped"], scores.loc["cria_probe_random"])


def test_an_unknown_shipped_encoder_is_refused_before_loading(tmp_path, capsys):
    code = main(["benchmark", "--shipped-encoder", "cria-huge", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "shipped_encoder: 'cria-huge' is neither an encoder directory" in err
    assert not (tmp_path / "out").exists()
