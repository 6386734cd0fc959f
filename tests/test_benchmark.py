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

SMALL = ["--task", "eegmat", "--protocol", "b", "--subjects", "0-3", "--folds", "2", "--encoder", "small"]


@pytest.mark.slow  # a benchmark run
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
    printed = capsys.readouterr().out.splitlines()
    # One table: per task, CRIA's best pipeline against the best floor of the same recipe.
    assert printed[0].split()[:2] == ["task", "protocol"] and "margin ± sd" in printed[0]
    best = results[results.family == "cria"].groupby("pipeline").bacc.mean().idxmax()
    assert printed[1].startswith("eegmat  (b) ra/subject") and best in printed[1]
    assert "log_variance" in printed[1] and "4 tested" in printed[1] and "2 x 1" in printed[1]
    # Each pipeline's name is printed once at most, and no raw settings.
    assert all(sum(name in line for line in printed) <= 1 for name in results.pipeline)
    assert not any("{" in line for line in printed)


@pytest.mark.slow  # every pipeline of the recipe, end to end
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


@pytest.mark.slow  # a benchmark run
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
        "benchmark", "--data", str(data_path), "--out", str(tmp_path), "--task", "eegmat",
        "--protocol", "b", "--subjects", "0-5", "--folds", "2", "--encoder", "small", "--seeds", "2",
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


def test_protocol_a_refuses_missing_subjects(data_path, tmp_path, capsys):
    assert main(["benchmark", "--data", str(data_path), "--out", str(tmp_path), "--task",
                 "eegmat", "--protocol", "a", "--subjects", "0-3", "--pipelines", "mdm"]) == 2
    err = capsys.readouterr().err
    assert "Protocol (a) needs subjects 0-27 and 32-35; load all subjects." in err
    assert "Traceback" not in err


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


@pytest.mark.slow  # a benchmark run
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


@pytest.mark.slow  # a benchmark run
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


# ------------------------------------------- the default run, resumption, --out
def test_the_default_command_runs_every_task_in_its_quick_configuration(monkeypatch, tmp_path,
                                                                        capsys):
    ran = []

    def fake_run(config, done=None, on_row=None):  # what the command asks for, nothing run
        ran.append(config)
        return []

    monkeypatch.setattr("sk_cria.cli.run_benchmark", fake_run)
    monkeypatch.setattr("sk_cria.cli.plot_results", lambda rows, path: None)
    assert main(["benchmark", "--out", str(tmp_path / "out")]) == 0
    assert [config.task for config in ran] == list(TASKS)
    eegmat, imagery = ran
    assert eegmat.protocols == ("c",) and imagery.protocols == ("b",)
    for config in ran:
        assert config.seeds == 1 and config.encoder == "small"
        assert any(name.startswith("cria_") for name in config.pipelines)
        assert set(config.pipelines) - set(benchmark.CRIA_PIPELINES) - set(benchmark.PROBES) \
            <= set(TASKS[config.task].floors)
    plan = capsys.readouterr().err.splitlines()[0]
    assert plan.startswith("sk-cria benchmark: quick configuration (--full for the full one)")
    ran.clear()
    assert main(["benchmark", "--full", "--task", "eegmat", "--out", str(tmp_path / "f")]) == 0
    assert ran[0].protocols == ("a", "b") and ran[0].seeds == 5
    assert ran[0].pipelines == (*benchmark.CRIA_PIPELINES, *TASKS["eegmat"].floors)


def test_protocol_c_tests_only_subjects_the_shipped_encoders_never_saw():
    import re
    from pathlib import Path

    import sk_cria

    groups = np.repeat(np.arange(36), 2)
    folds = list(benchmark.splits(benchmark.BenchmarkConfig.quick(), groups))
    assert len(folds) == 4 and {protocol for protocol, *_ in folds} == {"c"}
    for card in Path(sk_cria.__file__).parent.glob("pretrained/*/README.md"):
        seen = re.search(r"subjects (\d+)-(\d+)", card.read_text())  # the first: eegmat
        first, last = map(int, seen.groups())
        for _, _, train, test in folds:
            assert not set(groups[test]) & set(range(first, last + 1)), card
            assert len(set(groups[test])) == 2 and len(set(groups[train])) == 34
            assert not set(groups[train]) & set(groups[test])
    tested = np.concatenate([groups[test] for *_, test in folds])
    assert sorted(set(tested)) == list(range(28, 36))


RESUMABLE = ["benchmark", "--task", "eegmat", "--protocol", "b", "--subjects", "0-3",
             "--folds", "2", "--pipelines", "log_variance", "band_power", "mdm"]


@pytest.mark.slow  # kill and resume
def test_every_fit_is_kept_at_once_and_a_rerun_resumes(data_path, tmp_path, monkeypatch,
                                                       capsys):
    argv = [*RESUMABLE, "--data", str(data_path), "--out", str(tmp_path / "out")]
    evaluate, calls = benchmark._evaluate, []

    def killed_at_the_fourth_fit(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the run
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(benchmark, "_evaluate", killed_at_the_fourth_fit)
    assert main(argv) == 130
    assert "3 finished fit(s) are in" in capsys.readouterr().err
    kept = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(kept) == 3  # each finished fit was written when it finished
    calls.clear()
    assert main(argv) == 0
    assert len(calls) == 3  # the three fits that were missing, and only them
    assert "resuming: 3 fit(s) already in" in capsys.readouterr().err
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(results) == 6
    pd.testing.assert_frame_equal(results.iloc[:3], kept)  # the first rows kept as they were
    calls.clear()
    assert main(argv) == 0 and calls == []  # finished: re-reported, nothing run again
    assert len(pd.read_csv(tmp_path / "out" / "results.csv")) == 6


@pytest.mark.slow  # two benchmark runs
def test_out_refuses_another_runs_results_unless_overwrite(data_path, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*RESUMABLE, "--data", str(data_path), "--out", str(out)]
    assert main(argv) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    # Other settings: refused in one line, naming what differs; nothing touched.
    before = (out / "results.csv").read_bytes()
    assert main([*argv, "--folds", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "eegmat.folds=2 there, 3 now" in err and "--overwrite" in err
    assert (out / "results.csv").read_bytes() == before
    # --overwrite replaces sk-cria's files only.
    assert main([*argv, "--folds", "3", "--overwrite"]) == 0
    assert set(pd.read_csv(out / "results.csv").fold) == {0, 1, 2}
    assert (out / "notes.txt").read_text() == "mine"

@pytest.mark.slow  # two benchmark runs
def test_overwrite_with_the_same_settings_runs_every_fit_again(data_path, tmp_path,
                                                               monkeypatch):
    # As sk-cria pretrain --overwrite: a fresh start, not a re-report of the rows it
    # holds (which an older version of the code computed).
    argv = [*RESUMABLE, "--data", str(data_path), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    evaluate, calls = benchmark._evaluate, []

    def counted(*args, **kwargs):
        calls.append(args[0])
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(benchmark, "_evaluate", counted)
    assert main(argv) == 0 and calls == []  # the same command re-reports
    assert main([*argv, "--overwrite"]) == 0
    assert len(calls) == len(pd.read_csv(tmp_path / "out" / "results.csv")) == 6


def test_out_never_replaces_files_sk_cria_did_not_write(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.md").write_text("my notes")
    for extra in ([], ["--overwrite"]):
        assert main([*RESUMABLE, "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "holds results.md but no benchmark.json" in err and "Traceback" not in err
    assert (out / "results.md").read_text() == "my notes"
    # --out naming a file: one line, exit code 2.
    assert main([*RESUMABLE, "--out", str(out / "results.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err


def test_figure_sorts_pipelines_with_readable_names_and_the_margin(monkeypatch, tmp_path):
    rows = [dict(task=task, protocol="b", recipe="ra/subject", pipeline=name,
                 family=benchmark.PIPELINES[name].family, budget="all", labelled_subjects=9,
                 seed=0, fold=fold, bacc=bacc + 0.01 * fold, auroc=bacc, auprc=bacc,
                 fit_seconds=1.0, predict_per_second=1.0, label_subjects="",
                 test_subjects=str(fold))
            for task in TASKS for fold in range(3)
            for name, bacc in (("cria_probe_shipped", 0.6), ("mdm", 0.7),
                               ("tangent_space_recentered", 0.5))]
    drawn = []
    import matplotlib.axes

    barh = matplotlib.axes.Axes.barh

    def spy(self, y, width, *args, **kwargs):
        if len(y):
            drawn.append((self, list(width), kwargs.get("color")))
        return barh(self, y, width, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "barh", spy)
    benchmark.plot_results(rows, tmp_path / "results.png")
    assert (tmp_path / "results.png").stat().st_size > 10_000
    assert len(drawn) == len(TASKS)  # one panel per task and protocol
    for ax, widths, colours in drawn:
        assert widths == sorted(widths)  # sorted by score
        labels = [tick.get_text() for tick in ax.get_yticklabels()]
        assert labels == ["tangent space + LR, re-centred", "CRIA probe, shipped encoder",
                          "MDM"]
        assert colours[1] != colours[0] == colours[2]  # CRIA in its own colour
        assert "CRIA's margin over the best floor: -0.100 ± 0.000 BAcc" in ax.get_title()
