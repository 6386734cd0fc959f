"""Searches and cross-validation with n_jobs: loky and Dask workers, torch threads, pickles.

On real eegmat recordings (four subjects, 2 s windows, the small config, two
epochs), preprocessed inside each fit by the pipeline. Each fit records, batch
by batch, the torch thread count and the process it ran in (``ThreadProbe``);
the record travels back with the pickled estimator.
"""

import os
import subprocess
import sys
import time

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_validate
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cria import CRIAClassifier, EEGPreprocessor
from sk_cria.threads import (_OTHERS, effective_n_threads, machine_threads, rebalance,
                             torch_threads)

N_JOBS = 2
CV = GroupKFold(2)
GRID = {"clf__lr": [1e-3, 1e-4]}
# The parent fits with all cores' threads, a worker with cores // n_jobs: float32
# sums in another order. Measured after two epochs: 1.2e-7 on predicted
# probabilities, and up to 3.2e-6 relative (2.1e-5 absolute) on a log-loss of 6.8,
# where confident wrong predictions magnify it; a fit with another seed or other
# weights moves the log-loss by >1e-3.
SCORE_ATOL = 1e-5
SCORE_RTOL = 1e-5


class ThreadProbe(Callback):
    """Record the largest torch thread count seen during training, and the process."""

    def on_train_begin(self, net, **kwargs):
        net.probe_ = {"pid": os.getpid(), "threads": 0}

    def on_batch_end(self, net, **kwargs):
        net.probe_["threads"] = max(net.probe_["threads"], torch.get_num_threads())


def make_classifier(**params):
    return CRIAClassifier(
        config="small", max_epochs=2, batch_size=16, early_stopping=False,
        random_state=0, callbacks=[ThreadProbe()], **params,
    )


@pytest.fixture(scope="module")
def eegmat(eegmat_small):
    """Raw 2 s windows (the first 2 s of each 5 s window), labels and subjects."""
    b = eegmat_small
    return b.data[..., : int(2 * b.sfreq)], b.target, b.groups


@pytest.fixture(scope="module")
def pipeline(eegmat_small):
    # The pipeline sends raw arrays to the workers: Dask's array serialiser
    # would drop the channel names an EEGArray carries (docs/scaling.md).
    b = eegmat_small
    return Pipeline([
        ("pre", EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0)),
        ("clf", make_classifier()),
    ])


@pytest.fixture(scope="module")
def dask_client():
    """Two single-threaded worker processes on loopback, as docs/scaling.md sets them up."""
    import dask
    from dask.distributed import Client, LocalCluster

    saved = dict(os.environ)
    try:
        # The nanny's MALLOC_TRIM_THRESHOLD_ makes CRIA fits 2-3 times slower.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                              None}), \
                LocalCluster(n_workers=N_JOBS, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
    finally:
        # The nannies also export their workers' variables (OMP_NUM_THREADS=1,
        # MKL_NUM_THREADS=1) into this process; later loky workers would
        # inherit them.
        os.environ.clear()
        os.environ.update(saved)


def search(pipeline, X, y, groups, n_jobs):
    grid = GridSearchCV(pipeline, GRID, cv=CV, scoring="neg_log_loss", n_jobs=n_jobs)
    return grid.fit(X, y, groups=groups)


def split_scores(grid):
    return np.array([grid.cv_results_[f"split{i}_test_score"] for i in range(CV.n_splits)])


@pytest.fixture(scope="module")
def sequential_search(pipeline, eegmat):
    return search(pipeline, *eegmat, n_jobs=1)


def check_same_search(grid, reference):
    assert grid.best_params_ == reference.best_params_
    np.testing.assert_allclose(split_scores(grid), split_scores(reference),
                               rtol=SCORE_RTOL, atol=SCORE_ATOL)
    # The candidates are far apart, so matching scores are not a coincidence.
    assert np.ptp(reference.cv_results_["mean_test_score"]) > 100 * SCORE_ATOL


@pytest.mark.slow
def test_loky_search_matches_sequential_search(pipeline, eegmat, sequential_search):
    check_same_search(search(pipeline, *eegmat, n_jobs=N_JOBS), sequential_search)


@pytest.mark.slow
def test_dask_search_matches_sequential_search(pipeline, eegmat, sequential_search,
                                               dask_client):
    with joblib.parallel_config(backend="dask"):
        grid = search(pipeline, *eegmat, n_jobs=N_JOBS)
    check_same_search(grid, sequential_search)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_workers_fit_within_the_cores_and_return_intact_estimators(pipeline, eegmat, backend,
                                                                   request):
    X, y, groups = eegmat
    if backend == "dask":
        request.getfixturevalue("dask_client")
    parent_threads = torch.get_num_threads()
    with joblib.parallel_config(backend=backend):
        result = cross_validate(pipeline, X, y, groups=groups, cv=CV, n_jobs=N_JOBS,
                                return_estimator=True, return_indices=True)
    cores = joblib.cpu_count()
    folds = zip(result["estimator"], result["indices"]["train"], result["indices"]["test"])
    for fitted, train, test in folds:
        probe = fitted["clf"].probe_
        assert probe["pid"] != os.getpid(), "the fit did not run in a worker"
        assert 1 <= probe["threads"] <= max(1, cores // N_JOBS), (
            f"{N_JOBS} workers x {probe['threads']} torch threads on {cores} cores")
        # The pipeline came back pickled; it predicts exactly as the same fit
        # here, with the thread count the worker had.
        here = clone(fitted).set_params(clf__n_threads=probe["threads"]).fit(X[train], y[train])
        np.testing.assert_array_equal(fitted.predict_proba(X[test]),
                                      here.predict_proba(X[test]))
    assert torch.get_num_threads() == parent_threads


def test_n_threads_holds_during_fit_and_the_callers_setting_returns(pipeline, eegmat):
    X, y, _ = eegmat
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fitted = clone(pipeline).set_params(clf__n_threads=1).fit(X[::4], y[::4])
        assert fitted["clf"].probe_["threads"] == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_thread_budget_rules():
    before = torch.get_num_threads()
    try:
        # Never more threads than the CPUs this process may use...
        torch.set_num_threads(joblib.cpu_count() + 3)
        assert effective_n_threads() == joblib.cpu_count()
        # ...never more than the caller allows, and an explicit count as given.
        torch.set_num_threads(1)
        assert effective_n_threads() == 1
        assert effective_n_threads(os.cpu_count()) == os.cpu_count()
        # The caller's setting comes back, also after an exception.
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="inside"), torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    # 10**6 once crashed the process inside OpenMP instead of being refused.
    for wrong in (0, -1, 1.5, True, "2", os.cpu_count() + 1, 10**6):
        with pytest.raises(ValueError, match="n_threads must be None or an int"):
            effective_n_threads(wrong)
    with pytest.raises(ValueError, match="n_threads"):
        make_classifier(n_threads=0).fit(np.zeros((8, 2, 200), np.float32), [0, 1] * 4)


def cpu_bound_processes(n):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(processes):
    for process in processes:
        process.kill()
        process.wait()


def threads_after_work(seconds):
    """Run matrix products for ``seconds``, rebalancing as the estimators' loops do."""
    x = torch.randn(256, 256)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(10):
            x @ x
        n = rebalance()
    return n


needs_two_cpus = pytest.mark.skipif(
    not os.path.exists("/proc/stat") or len(os.sched_getaffinity(0)) < 2
    or joblib.cpu_count() < 2,
    reason="the load is read from Linux's /proc/stat, and 1 CPU leaves nothing to lower")


@needs_two_cpus
def test_threads_follow_the_cores_other_processes_leave(pipeline, eegmat):
    X, y, _ = eegmat
    cpus = len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    torch.set_num_threads(min(cpus, joblib.cpu_count()))
    try:
        if _OTHERS.busy_cores() > 0.5:
            pytest.skip("other processes keep this machine's CPUs busy already")
        with torch_threads() as alone:
            assert alone == torch.get_num_threads() >= 2
            # As many CPU-bound processes as CPUs: one thread, found within a
            # few seconds of their start...
            hogs = cpu_bound_processes(cpus)
            try:
                assert threads_after_work(3 * 2.0) == 1
            finally:
                stop(hogs)
            # ...and the budget comes back once they are gone.
            assert threads_after_work(3 * 2.0) == alone
        # A fit that starts beside them runs on one thread throughout; an explicit
        # n_threads is kept whatever the load (bit-identical reruns).
        hogs = cpu_bound_processes(cpus)
        try:
            time.sleep(3.0)  # most of the interval the fit's first reading covers
            fitted = clone(pipeline).fit(X[::4], y[::4])
            assert fitted["clf"].probe_["threads"] == 1
            fitted = clone(pipeline).set_params(clf__n_threads=alone).fit(X[::4], y[::4])
            assert fitted["clf"].probe_["threads"] == alone
        finally:
            stop(hogs)
        assert torch.get_num_threads() == alone
    finally:
        torch.set_num_threads(before)


def test_machine_threads_hold_numpys_blas_to_torchs_count():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    np.linalg.eigh(np.eye(3))  # numpy's BLAS is loaded
    before_blas, before = blas_threads(), torch.get_num_threads()
    assert before_blas
    with machine_threads(1) as n:
        assert n == torch.get_num_threads() == 1
        assert blas_threads() == {1}
    assert blas_threads() == before_blas and torch.get_num_threads() == before


@pytest.mark.slow
def test_in_process_dask_workers_share_the_cores():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=N_JOBS, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        budgets = client.gather([client.submit(effective_n_threads, pure=False)
                                 for _ in range(N_JOBS)])
    # Both workers' threads run torch in this one process.
    expected = max(1, min(torch.get_num_threads(), joblib.cpu_count() // N_JOBS))
    assert budgets == [expected] * N_JOBS


@pytest.mark.parametrize(
    "code, env, expected",
    [
        # sk_cria loaded before torch: OpenMP's idle threads sleep instead of spinning.
        ("import sk_cria, torch", {}, "PASSIVE"),
        # The user's own value is kept. (Each case starts a Python that imports
        # sk_cria, 5 s: the fast lane keeps the first.)
        pytest.param("import sk_cria, torch", {"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE",
                     marks=pytest.mark.slow),
        # torch loaded first: OpenMP has read its settings already; nothing to pretend.
        pytest.param("import torch, sk_cria", {}, None, marks=pytest.mark.slow),
    ],
)
def test_openmp_wait_policy_is_passive_unless_torch_or_the_user_chose(code, env, expected):
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", code + "; import os; print(os.environ.get('OMP_WAIT_POLICY'))"],
        env={**base, **env}, capture_output=True, text=True, check=True,
    )
    assert out.stdout.split()[-1] == str(expected)
