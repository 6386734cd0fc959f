"""The hybrid probe (issue 35): the re-centred tangent space of CRIA's input and CRIA's
frozen per-region features, one logistic regression, as ``sk-cria benchmark`` builds it."""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sk_cria import benchmark
from sk_cria.channels import REGIONS
from sk_cria.tasks import TASKS

# The shipped encoder learnt on per-window scaling; the benchmark's motor-imagery runs feed
# it 100 uV units on purpose (the floors' signal), and it says so.
pytestmark = pytest.mark.filterwarnings(
    "ignore:ViewMaskPretrainer. the encoder was trained on input:UserWarning")


@pytest.fixture(scope="module")
def subject_one(data_path):
    """Subject 1's imagery trials as the benchmark feeds CRIA (ra, 8-30 Hz at 100 uV)."""
    config = benchmark.BenchmarkConfig(task="eegmmidb-mi", input_scaling=100.0,
                                       subjects=(1,), data=str(data_path))
    task = TASKS["eegmmidb-mi"]
    with sklearn.config_context(enable_metadata_routing=True):
        data = task.load((1,), data_path)
        X = benchmark._aligned_inputs(config, task, data, kinds=("cria",))["ra"]["cria"]
    return config, task, X, data.target, data.groups


def _build(name, subject_one):
    config, task, X, _, groups = subject_one
    encoders = benchmark._Encoders(config, X, groups, seed=0)
    run = benchmark._Run(config, task, 0, "subject", benchmark.TARGET_SFREQ, encoders)
    return benchmark.PIPELINES[name].build(run)[0]


def test_hybrid_features_are_the_floors_tangent_vectors_then_crias_regions(subject_one):
    _, _, X, y, groups = subject_one
    hybrid = _build("cria_probe_random_hybrid", subject_one)
    floor = _build("tangent_space_recentered_cria_input", subject_one)
    train, test = np.arange(len(y)) < 30, np.arange(len(y)) >= 30
    with sklearn.config_context(enable_metadata_routing=True):
        hybrid.fit(X[train], y[train], groups=groups[train])
        proba = hybrid.predict_proba(X[test], groups=groups[test])
        features = hybrid["features"].transform(X[test], groups=groups[test])
        tangent = floor[:-2].fit(X[train], groups=groups[train]).transform(
            X[test], groups=groups[test])
    encoder = hybrid["features"].transformer_list[1][1]
    regions = encoder.transform(X[test])
    n_channels = X.shape[1]
    assert tangent.shape[1] == n_channels * (n_channels + 1) // 2  # 2080 for 64 channels
    assert regions.shape[1] % len(REGIONS) == 0 and regions.shape[1] >= len(REGIONS)
    assert features.shape == (test.sum(), tangent.shape[1] + regions.shape[1])
    # The concatenation, block by block: the floor's own vectors, then the encoder's.
    np.testing.assert_allclose(features[:, :tangent.shape[1]], tangent, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(features[:, tangent.shape[1]:], regions, rtol=1e-6, atol=1e-6)
    assert proba.shape == (test.sum(), 2) and np.allclose(proba.sum(axis=1), 1)
    # The floor's scaling and classifier, with the floor's settings.
    assert hybrid["classifier"].get_params() == floor["classifier"].get_params()
    assert type(hybrid["scaler"]) is type(floor["scaler"])


def test_hybrid_clones_unfitted_with_the_encoder_still_frozen(subject_one):
    _, _, X, y, groups = subject_one
    hybrid = _build("cria_probe_shipped_hybrid", subject_one)
    twin = clone(hybrid)
    with pytest.raises(NotFittedError):
        check_is_fitted(twin["classifier"])
    # FrozenEstimator clones to itself: the fitted encoder is shared, never refitted.
    assert twin["features"].transformer_list[1][1] is hybrid["features"].transformer_list[1][1]
    with sklearn.config_context(enable_metadata_routing=True):
        first = hybrid.fit(X, y, groups=groups).predict(X, groups=groups)
        second = twin.fit(X, y, groups=groups).predict(X, groups=groups)
    np.testing.assert_array_equal(first, second)
    assert set(first) <= set(y)
