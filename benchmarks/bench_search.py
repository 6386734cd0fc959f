"""A grid search of 8 CRIAClassifier fits with n_jobs=1 against n_jobs=2.

The search: ``GridSearchCV`` over 4 learning rates x 2 group folds of a
``Pipeline(EEGPreprocessor, CRIAClassifier)`` (small config, 2 epochs) on four
eegmat subjects (192 windows, 20 channels), scored by log-loss,
``refit=False``, so the 8 fits are the whole search. The windows are cut to
their first ``--seconds`` (2 by default: 4 minutes for the whole benchmark on 2
idle cores).

Configurations, timed in turns (each round times every configuration once, so
that a burst of load from other processes does not hit one alone):

* ``n_jobs=1``: the fits one after the other in this process, torch on all cores;
* ``n_jobs=2``, joblib's default (loky) backend, ``n_threads=None``: what a
  user gets;
* the same with ``n_threads`` = all cores in each worker: the oversubscription
  that the thread budget prevents (2 workers x all cores);
* ``n_jobs=2`` on a Dask ``LocalCluster`` of 2 single-threaded worker processes
  on 127.0.0.1 (``joblib.parallel_config(backend="dask")``), with the nanny's
  ``MALLOC_TRIM_THRESHOLD_`` unset as docs/scaling.md recommends.

Then, after the rounds, the same Dask search with Dask's default worker
environment, to measure what ``MALLOC_TRIM_THRESHOLD_`` costs.

Each configuration's first search is timed apart (``cold``: the first loky
and each Dask configuration's first search start their worker processes and
import torch there); the table's median is over the ``--repeats`` searches
after it. Every fit reports, through a scorer, the largest torch thread count
it ran with and its process id.

Writes ``benchmarks/results/search_scaling.md``. Run from the repository root:
``python benchmarks/bench_search.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import torch
from bench_model import machine_description
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from skorch.callbacks import Callback

from sk_cria import CRIAClassifier, EEGPreprocessor
from sk_cria.datasets import load_eegmat

SUBJECTS = [0, 1, 32, 33]
GRID = {"clf__lr": [3e-3, 1e-3, 3e-4, 1e-4]}
CV = GroupKFold(2)
N_JOBS = 2
RESULTS = Path(__file__).resolve().parent / "results" / "search_scaling.md"
DASK_NO_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class ThreadProbe(Callback):
    """Keep the largest torch thread count seen during training, and the process id."""

    def on_train_begin(self, net, **kwargs):
        net.probe_ = {"pid": os.getpid(), "threads": 0}

    def on_batch_end(self, net, **kwargs):
        net.probe_["threads"] = max(net.probe_["threads"], torch.get_num_threads())


def _probe(key):
    return lambda estimator, X, y: estimator["clf"].probe_[key]


SCORING = {"log_loss": "neg_log_loss", "threads": _probe("threads"), "pid": _probe("pid")}


def make_search(data, n_jobs, n_threads, max_epochs):
    pipe = Pipeline([
        ("pre", EEGPreprocessor(sfreq=data.sfreq, ch_names=data.ch_names, line_freq=50.0)),
        ("clf", CRIAClassifier(config="small", max_epochs=max_epochs, batch_size=16,
                               early_stopping=False, random_state=0, device="cpu",
                               n_threads=n_threads, callbacks=[ThreadProbe()])),
    ])
    return GridSearchCV(pipe, GRID, cv=CV, scoring=SCORING, refit=False, n_jobs=n_jobs)


def timed_search(data, config, max_epochs):
    search = make_search(data, config["n_jobs"], config["n_threads"], max_epochs)
    with joblib.parallel_config(backend=config["backend"]):
        start = time.perf_counter()
        search.fit(data.windows, data.target, groups=data.groups)
        seconds = time.perf_counter() - start
    results = search.cv_results_
    splits = [f"split{i}_test_" for i in range(CV.n_splits)]
    threads = max(int(max(results[s + "threads"])) for s in splits)
    pids = {int(p) for s in splits for p in results[s + "pid"]}
    return seconds, threads, len(pids), results["mean_test_log_loss"]


def configurations():
    cores = joblib.cpu_count()
    return {
        "n_jobs=1": {"n_jobs": 1, "backend": "loky", "n_threads": None},
        "n_jobs=2, loky": {"n_jobs": N_JOBS, "backend": "loky", "n_threads": None},
        f"n_jobs=2, loky, n_threads={cores} (oversubscribed)":
            {"n_jobs": N_JOBS, "backend": "loky", "n_threads": cores},
        "n_jobs=2, Dask LocalCluster 2 x 1":
            {"n_jobs": N_JOBS, "backend": "dask", "n_threads": None},
    }


class DaskCluster:
    """A LocalCluster of 2 single-threaded worker processes on loopback, closed on exit."""

    def __init__(self, config):
        self.config = config

    def __enter__(self):
        import dask
        from dask.distributed import Client, LocalCluster

        # The nannies write their workers' variables into this process's
        # environment too; put it back on exit so that loky workers are unaffected.
        self.saved = dict(os.environ)
        self.settings = dask.config.set(self.config)
        self.cluster = LocalCluster(n_workers=N_JOBS, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address=None)
        self.client = Client(self.cluster)
        self._restore_environment()
        return self

    def _restore_environment(self):
        os.environ.clear()
        os.environ.update(self.saved)

    def __exit__(self, *exc):
        self.client.close()
        self.cluster.close()
        self.settings.__exit__(*exc)
        self._restore_environment()


def run(data, repeats, max_epochs):
    configs = configurations()
    rows = {name: {"cold": None, "times": [], "threads": 0, "processes": 0, "scores": None}
            for name in configs}
    default_dask = "n_jobs=2, Dask LocalCluster 2 x 1, Dask's default worker environment"

    def record(name, config, cold):
        seconds, threads, processes, scores = timed_search(data, config, max_epochs)
        row = rows[name]
        if cold:
            row["cold"] = seconds
        else:
            row["times"].append(seconds)
        row["threads"] = max(row["threads"], threads)
        row["processes"] = max(row["processes"], processes)
        row["scores"] = scores
        print(f"{name:<58} {'cold' if cold else 'warm'} {seconds:6.1f} s, "
              f"{threads} thread(s) per fit, {processes} process(es)", flush=True)

    with DaskCluster(DASK_NO_TRIM):
        for round_ in range(repeats + 1):
            for name, config in configs.items():
                record(name, config, cold=round_ == 0)
    rows[default_dask] = {"cold": None, "times": [], "threads": 0, "processes": 0,
                          "scores": None}
    with DaskCluster({}):
        for round_ in range(repeats + 1):
            record(default_dask, configs["n_jobs=2, Dask LocalCluster 2 x 1"], round_ == 0)
    return rows


def render(rows, machine, repeats, max_epochs, seconds):
    base = statistics.median(rows["n_jobs=1"]["times"])
    reference = rows["n_jobs=1"]["scores"]
    lines = [
        "# Grid search of 8 CRIAClassifier fits: n_jobs=1 against n_jobs=2",
        "",
        (f"Machine: {machine['cpu']}, {machine['cores']} cores (torch uses "
        f"{machine['threads']} threads in this process), torch {machine['torch']}, "
        f"Python {machine['python']}, {machine['date']}. 1-min load average at start "
        f"{machine['load']:.2f}, at end {machine['load_end']:.2f}: above 1 means other "
        "processes shared the CPU during the run, so compare the ratios, measured in "
        "turns within this run, rather than the seconds."),
        "",
        (f"Search: `GridSearchCV` of `Pipeline(EEGPreprocessor, CRIAClassifier(config=\"small\", "
        f"max_epochs={max_epochs}))`, 4 learning rates x 2 group folds = 8 fits, "
        f"`refit=False`, on eegmat subjects {SUBJECTS} (192 windows of {seconds:g} s, "
        "20 channels). "
        f"Median over {repeats} searches after a first (cold) one that also starts the "
        "workers. Threads: the largest `torch.get_num_threads()` seen during any fit's "
        "training batches, in the process that ran it. Command: "
        "`python benchmarks/bench_search.py`."),
        "",
        ("| configuration | median search (s) | speed-up vs n_jobs=1 | cold search (s) | "
        "torch threads per fit | processes | cores busy (fits x threads) | "
        "max abs. log-loss difference vs n_jobs=1 |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        median = statistics.median(row["times"])
        concurrent = 1 if name == "n_jobs=1" else N_JOBS
        diff = float(np.max(np.abs(row["scores"] - reference)))
        lines.append(
            f"| {name} | {median:.1f} | {base / median:.2f}x | {row['cold']:.1f} | "
            f"{row['threads']} | {row['processes']} | {concurrent * row['threads']} | "
            f"{diff:.1e} |"
        )
    loky = statistics.median(rows["n_jobs=2, loky"]["times"])
    met = loky <= base
    lines += [
        "",
        f"Target (issue): the search with n_jobs=2 is never slower than with n_jobs=1: "
        f"{base:.1f} s / {loky:.1f} s = {base / loky:.2f}x, "
        + ("met." if met else "**not met**."),
        "",
        ("The last row was measured after the others (not in turns with them): Dask's "
        "default nanny sets `MALLOC_TRIM_THRESHOLD_=65536` in its workers, which makes "
        "glibc return freed memory to the system at once, so torch's per-batch tensors "
        "are mapped and unmapped again at every step. docs/scaling.md gives the "
        "one-line setting that the other Dask row uses."),
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "SK_CRIA_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="window length used")
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown file to write")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    os.environ["PYTHONWARNINGS"] = "ignore::UserWarning"  # the workers' too
    machine = machine_description()
    data = load_eegmat(subjects=SUBJECTS, path=args.data, download=False)
    data.windows = data.data[..., : int(args.seconds * data.sfreq)]
    rows = run(data, args.repeats, args.max_epochs)
    machine["load_end"] = os.getloadavg()[0]
    text = render(rows, machine, args.repeats, args.max_epochs, args.seconds)
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    main()
