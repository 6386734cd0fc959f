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

Cores taken by other programs are a second kind of oversubscription: beside
two CPU-bound processes on 2 cores, a training step with torch's 2 threads ran
2.6 times slower than alone, with 1 thread 2.2 times (even with OpenMP's idle
threads sleeping, ``benchmarks/results/shared_cores.md``): the threads of a
parallel region wait at its end for the slowest, which has lost its core.
With ``n_threads=None`` the count is therefore also lowered to the cores the
other processes leave free, read from ``/proc/stat`` (Linux) when a call
starts and again every few seconds between batches (:func:`rebalance`), and
raised back, never above the budget above, when they finish. An explicit
``n_threads`` is kept whatever the load: results depend on the thread count at
float round-off (about 1e-6), so a fixed count is what makes reruns identical
to the bit.
"""

import numbers
import os
import sys
import threading
import time
from contextlib import contextmanager

import joblib
import torch
from threadpoolctl import threadpool_limits

__all__ = ["effective_n_threads", "machine_threads", "rebalance", "torch_threads"]


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
        :func:`torch_threads` lowers it further to the cores that other
        processes leave free (see the module's notes).

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
    # The budgets of the enclosing calls that follow the load (None: a fixed count).
    stack = _calls.__dict__.setdefault("ceilings", [])
    if n_threads is None and stack and stack[-1] is not None:
        ceiling = stack[-1]  # nested (a classifier's encoder): the outer call's budget
    else:
        ceiling = effective_n_threads(n_threads)
    wanted = ceiling if n_threads is not None else _load_aware(ceiling)
    previous = torch.get_num_threads()
    stack.append(ceiling if n_threads is None else None)
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        stack.pop()
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextmanager
def machine_threads(n_threads=None):
    """:func:`torch_threads`, and the BLAS pools of numpy and scipy at the same count.

    For work that is not only torch: pyRiemann's means and eigen
    decompositions and scikit-learn's solvers run on numpy's and scipy's
    OpenBLAS, whose threads busy-wait too. Beside two CPU-bound processes on
    2 cores, covariances and an MDM fit took 3.4 times their idle time with 2
    BLAS threads and 1.6 times with 1; on an idle machine both counts took
    the same (``benchmarks/results/shared_cores_floors.md``). ``sk-cria
    benchmark`` runs every fit and prediction inside it.

    Parameters
    ----------
    n_threads : int or None, default=None
        See :func:`torch_threads`; the BLAS pools keep the count chosen on
        entry (:func:`rebalance` changes torch's only).

    Yields
    ------
    n_threads : int
        The thread count in force on entry.
    """
    with torch_threads(n_threads) as n, threadpool_limits(limits=n, user_api="blas"):
        yield n


def rebalance():
    """Follow the other processes' load inside a :func:`torch_threads` block.

    Called between batches by the estimators' loops; at most every
    ``REBALANCE_SECONDS`` it sets torch's thread count to the cores the other
    processes left free over the last interval, within the block's budget.
    Outside a block, or in one given an explicit ``n_threads``, it does
    nothing.

    Returns
    -------
    n_threads : int
        torch's thread count after the call.
    """
    stack = getattr(_calls, "ceilings", None)
    if stack and stack[-1] is not None and _OTHERS.due():
        wanted = _load_aware(stack[-1])
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


#: Seconds between two readings of the load by :func:`rebalance`.
REBALANCE_SECONDS = 2.0
_calls = threading.local()


def _load_aware(ceiling):
    """``ceiling`` lowered to the cores the other processes left free (at least 1)."""
    busy = _OTHERS.busy_cores()
    if busy is None:  # no /proc/stat: not Linux
        return ceiling
    free = len(_OTHERS.cpus) - busy
    # Rounded half up: beside one CPU-bound process on 2 cores (free about 1.3
    # while this process runs 2 threads) 1 thread is the faster
    # (benchmarks/results/shared_cores.md).
    return max(1, min(ceiling, int(free + 0.5)))


class _OtherProcesses:
    """The CPU time other processes used on this process's CPUs, lately.

    Linux's ``/proc/stat`` counts the busy time of each CPU (all processes);
    this process's own CPU time (:func:`time.process_time`, every thread) is
    taken away, so what is left is the others'. Niced processes (the
    ``nice`` column) are left out unless this process is niced itself: the
    kernel gives them what a process of normal priority leaves: beside two
    ``nice -n 19`` CPU-bound processes a training step took 0.62 s with 2
    threads and 0.61 s with 1, beside two of normal priority 1.30 and 1.09 s
    (``benchmarks/results/shared_cores.md``).
    """

    def __init__(self):
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = None  # (wall, busy seconds of self.cpus, own CPU seconds)
        self._busy = 0.0  # the cores the others kept busy, at the last reading

    def _read(self):
        try:
            with open("/proc/stat") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        wanted = {f"cpu{i}" for i in self.cpus}
        # A niced process's own time is in the nice column: count it then.
        count_niced = os.getpriority(os.PRIO_PROCESS, 0) > 0
        busy = 0
        for line in lines:
            name, *fields = line.split()
            if name in wanted:
                # user nice system idle iowait irq softirq steal (guest is in user)
                user, nice, system, _, _, irq, softirq, steal = map(int, fields[:8])
                busy += user + system + irq + softirq + steal + (nice if count_niced else 0)
        return time.monotonic(), busy / self._tick, time.process_time()

    def due(self):
        """Whether ``REBALANCE_SECONDS`` passed since the last reading."""
        return self._last is None or time.monotonic() - self._last[0] >= REBALANCE_SECONDS

    def busy_cores(self, sample=0.1):
        """Cores the others kept busy since the last reading, or over ``sample`` seconds.

        A fresh sample is taken when there is no reading from the last 5 s;
        a reading less than ``sample`` seconds old is given again. None where
        ``/proc/stat`` cannot be read.
        """
        if not self.cpus:
            return None
        now, last = self._read(), self._last
        if now is None:
            return None
        if last is not None and now[0] - last[0] < sample:
            # Calls in quick succession (a search's small fits, scikit-learn's
            # checks) keep the last reading instead of sleeping for a new one.
            return self._busy
        if last is None or now[0] - last[0] > 5.0:
            time.sleep(sample)
            last, now = now, self._read()
        self._last = now
        wall = now[0] - last[0]
        others = (now[1] - last[1]) - (now[2] - last[2])
        self._busy = min(len(self.cpus), max(0.0, others / wall))
        return self._busy


_OTHERS = _OtherProcesses()
