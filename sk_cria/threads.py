"""Thread budgets for torch when several fits share a machine.

``GridSearchCV(n_jobs=k)`` and ``cross_val_score(n_jobs=k)`` run ``k`` fits at
once, each in a process (joblib's loky backend, a Dask worker) or a thread
(joblib's threading backend, an in-process Dask cluster) that has its own torch
intra-op thread pool. When ``k`` times the pool size exceeds the cores, the
fits oversubscribe the machine: they run slower together than one after the
other. Every fit and predict of the sk_cria estimators therefore runs inside
:func:`torch_threads`, which sets torch's thread count for the call and gives
the caller's back afterwards.

What the workers get from their launchers (measured on 2 cores with
``GridSearchCV(..., n_jobs=2)``, see docs/scaling.rst): loky starts its
workers with ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to
``cpu_count() // n_jobs`` unless the parent already sets them, and a Dask
nanny starts its worker processes with both set to 1; torch reads them at
import (``MKL_NUM_THREADS`` first), so each worker uses 1 thread. Those
variables miss thread-based backends (joblib's ``"threading"``,
``LocalCluster(processes=False)``), workers started without them (a Dask
worker without a nanny, other joblib backends), a parent shell that sets
``MKL_NUM_THREADS`` to all cores (loky passes it on unchanged), and
containers whose CPU quota is below the cores torch counts.
``n_threads=None`` covers the in-process Dask cluster and the CPU quota; the
others take an explicit ``n_threads``.
"""

import numbers
import os
import sys
from contextlib import contextmanager

import joblib
import torch

__all__ = ["effective_n_threads", "torch_threads"]


def effective_n_threads(n_threads=None):
    """The number of torch intra-op threads a call of an sk_cria estimator uses.

    Parameters
    ----------
    n_threads : int or None, default=None
        An int from 1 to ``os.cpu_count()`` is used as it is. None gives
        torch's current setting (which follows the ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` that
        joblib's loky backend and Dask's nanny give their workers), lowered,
        never raised, to the CPUs this process may use (affinity and cgroup
        quota, as :func:`joblib.cpu_count` reads them) divided by the tasks
        this process runs at once (the threads of the Dask workers living in
        it; 1 elsewhere).

    Returns
    -------
    n_threads : int
        At least 1.
    """
    if n_threads is not None:
        # More threads than the machine's CPUs only make them compete; a huge count
        # (10**6) crashes OpenMP's thread creation, killing the process.
        cpus = os.cpu_count() or 1
        if (isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral)
                or not 1 <= n_threads <= cpus):
            raise ValueError(
                f"n_threads must be None or an int from 1 to this machine's {cpus} CPUs, "
                f"got {n_threads!r}; under GridSearchCV(n_jobs=k) on a machine of c "
                "cores, c // k threads per fit keep the fits from competing for cores."
            )
        return int(n_threads)
    budget = joblib.cpu_count() // _tasks_sharing_this_process()
    return max(1, min(torch.get_num_threads(), budget))


def _tasks_sharing_this_process():
    """Tasks that may run torch at once in this process: Dask worker threads, or 1."""
    if "distributed" not in sys.modules:  # a Dask worker has imported it
        return 1
    # Deferred: Dask is optional, and already loaded here (checked above).
    from distributed import Worker, get_worker
    from distributed.worker import WORKER_ANY_RUNNING

    try:
        current = get_worker()
    except ValueError:  # not inside a Dask task
        return 1
    # An in-process cluster (processes=False) runs several workers in this
    # process; a worker started by a nanny is alone in its process. Dask
    # itself lists a process's workers this way (Worker._instances).
    workers = [w for w in Worker._instances if w.status in WORKER_ANY_RUNNING]
    return max(1, sum(w.state.nthreads for w in workers or [current]))


@contextmanager
def torch_threads(n_threads=None):
    """Run the block with torch's intra-op threads set by :func:`effective_n_threads`.

    The caller's setting is restored on exit, also after an exception.

    Parameters
    ----------
    n_threads : int or None, default=None
        See :func:`effective_n_threads`.

    Yields
    ------
    n_threads : int
        The thread count in force inside the block.

    Examples
    --------
    >>> import torch
    >>> from sk_cria.threads import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1) as n:
    ...     n, torch.get_num_threads()
    (1, 1)
    >>> torch.get_num_threads() == before
    True
    """
    wanted = effective_n_threads(n_threads)
    previous = torch.get_num_threads()
    if wanted == previous:
        yield wanted
        return
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(previous)
