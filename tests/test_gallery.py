"""The gallery's comparisons, run on a small budget: their text cannot drift from the numbers.

Each example states its claims in ``check_claims``, which raises when the numbers it
measured contradict a sentence of its text. Here each example runs as a script on
fewer subjects (``SK_CRIA_GALLERY_SUBJECTS``), so a change in the library that breaks
one of its claims fails this file; and each ``check_claims`` is shown numbers that
contradict the text, to prove that it can fail.
"""

import runpy
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from sklearn.utils import Bunch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def run_example(monkeypatch, data_path):
    """Run ``examples/<name>`` on ``subjects`` subjects; return its globals."""
    matplotlib.use("Agg")  # plt.show() draws nothing
    monkeypatch.setenv("SK_CRIA_DATA", str(data_path))

    def run(name, subjects):
        import matplotlib.pyplot as plt

        monkeypatch.setenv("SK_CRIA_GALLERY_SUBJECTS", str(subjects))
        try:
            with warnings.catch_warnings():
                # pyRiemann's "Convergence not reached" while averaging a subject's
                # covariances, and Agg's "cannot show": not what these tests are about.
                warnings.simplefilter("ignore", UserWarning)
                return runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        finally:
            plt.close("all")

    return run


@pytest.mark.slow  # runs a gallery example
def test_linear_probing_claims_hold_and_can_fail(run_example):
    # Four training subjects: pre-training and probing in seconds, the same recipe.
    page = run_example("plot_linear_probing.py", subjects=4)  # raises if a claim breaks
    scores, floor = page["scores"], page["floor"]
    assert set(scores.index) == {*page["PROBES"], *page["FLOORS"]}
    assert floor in page["FLOORS"]

    ahead = scores.copy()
    ahead.loc["cria_probe_pretrained", "bacc"] = ahead.bacc[floor] + 0.01
    ahead.loc[floor, "bacc"] = 0.99
    with pytest.raises(RuntimeError, match="not ahead of the floor"):
        page["check_claims"](ahead, floor)
    no_gain = scores.copy()
    no_gain.loc["cria_probe_random", "bacc"] = no_gain.bacc["cria_probe_pretrained"]
    with pytest.raises(RuntimeError, match="lifts the probe above random weights"):
        page["check_claims"](no_gain, floor)
    with pytest.raises(RuntimeError, match="log band power or log-variance"):
        page["check_claims"](scores, "mdm")


def test_purification_claims_hold_and_a_constant_map_fails(run_example):
    page = run_example("plot_purification_topomap.py", subjects=2)
    kept, share = page["kept"], page["share"]
    assert kept.shape[1] == 20

    # Purification off keeps every channel in every window: a map with nothing on it.
    everything = np.ones_like(kept)
    with pytest.raises(RuntimeError, match="varies from channel to channel"):
        page["check_claims"](everything, {0: everything.mean(axis=0),
                                          1: everything.mean(axis=0)})


@pytest.mark.slow  # runs a gallery example
def test_moabb_style_claims_hold_and_can_fail(run_example):
    page = run_example("plot_moabb_style_pipelines.py", subjects=3)  # 3 folds
    scores = page["scores"]
    assert all(len(values) == 3 for values in scores.values())

    cria_wins = dict(scores, **{"CRIA+LR": scores["LogVar+LR"] + 0.01})
    with pytest.raises(RuntimeError, match="highest AUROC in every held-out subject"):
        page["check_claims"](cria_wins)


@pytest.mark.slow  # runs a gallery example
def test_inspection_claims_hold_and_can_fail(run_example):
    page = run_example("plot_inspection.py", subjects=2)
    ablation, maps, coverage = page["ablation"], page["maps"], page["coverage"]
    assert list(ablation.index) == ["none", "temporal", "spatial", "spectral"]

    temporal = ablation.copy()
    temporal.loc["temporal", "drop"] = 0.9
    with pytest.raises(RuntimeError, match="masking the spectral view costs the most"):
        page["check_claims"](temporal, maps, coverage)
    # Attention on one key channel three times the others': not "almost evenly".
    focused = {query: weights.copy() for query, weights in maps.weights.items()}
    focused["temporal"][:, :, :, :, 0] *= 3
    with pytest.raises(RuntimeError, match="within 10 % of the channels' mean weight"):
        page["check_claims"](ablation, Bunch(**{**maps, "weights": focused}), coverage)
    with pytest.raises(RuntimeError, match="all 20 names are in the vocabulary"):
        page["check_claims"](ablation, maps, coverage.assign(known=False))
