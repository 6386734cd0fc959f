"""Training speed when the cores are shared with other CPU-bound processes.

Issue 38 item 5: the main job ran 15x slower beside other work on 2 cores, a
slowdown far beyond the share of the cores it lost. torch's CPU threads come
from GNU OpenMP, whose idle threads spin before they sleep; a spinning thread
holds a core that the thread it waits for needs. This script times training
steps (forward, backward, AdamW) of the default encoder on 16 windows of 4 s,
22 channels, in a fresh child process per measurement, beside 0, 1 and 2
CPU-bound processes (``python -c "while True: pass"``), and beside 2 of them
niced to 19, for these arms:

- ``spin``: torch imported before sk_cria, so OpenMP keeps its default wait
  policy (what every sk_cria release before issue 38 did);
- ``passive``: sk_cria imported first, as the CLI and the README do, so that it
  sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (the user's own value wins);

each with torch's default threads (one per core) and, as a reference, with 1 thread;
and ``passive`` with the estimators' default since issue 38 (``auto``): the steps
run inside ``sk_cria.threads.torch_threads()`` and call ``rebalance()`` before
each, as the estimators' batch loops do, so the thread count follows the cores
the other processes leave free.
Arms are interleaved round by round, so that changes of the machine's load hit
them alike; the report gives medians and the slowdown of each against the quiet
time of torch's default (2 threads, passive wait): how much longer a user waits
than on an idle machine.

Run from the repository root with nothing else running (about 8 minutes on 2 cores)::

    python benchmarks/bench_shared_cores.py --out benchmarks/results/shared_cores.md

``--floors`` times the floors' numpy work instead: OAS covariances of 400
windows (64 channels, 320 samples) and an MDM fit and prediction (pyRiemann), with
numpy's and scipy's BLAS pools at 2 threads and at 1 (threadpoolctl), alone and
beside two CPU-bound processes (about 1 minute)::

    python benchmarks/bench_shared_cores.py --floors --out benchmarks/results/shared_cores_floors.md

``--main-job DATA`` times the README's main job instead (``sk-cria benchmark
--data DATA``, every task's quick configuration, into a temporary folder) alone
and beside two CPU-bound processes, wall and CPU time; ``--before CHECKOUT``
adds the same job beside two processes from another checkout of sk_cria (a
``git worktree`` of an earlier commit), run with ``PYTHONPATH`` set to it::

    git worktree add /tmp/before 6c14dfa
    python benchmarks/bench_shared_cores.py --main-job ../shared/data --before /tmp/before \
        --out benchmarks/results/shared_cores_main.md

``--beside N [N ...]`` sets the numbers of CPU-bound processes of the timed runs
(default 0 2; the first is the reference of the ratios, ``--before`` runs beside
the last). ``--pretrain DATA`` times a pre-training run instead of the main job:
``sk-cria pretrain`` of the small encoder on eegmat subjects 0-27 (10 s windows,
``--pretrain-epochs`` epochs, into a temporary folder), alone and beside 1 and 2
processes by default::

    python benchmarks/bench_shared_cores.py --pretrain ../shared/data --before /tmp/before \
        --out benchmarks/results/shared_cores_pretrain.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHANNELS = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7",
            "F8", "T7", "T8", "P7", "P8", "Fz", "Cz", "Pz", "Oz", "FC1", "FC2"]
ARMS = (("spin", "default"), ("passive", "default"), ("passive", "1"), ("passive", "auto"))
#: (CPU-bound processes beside the measurement, their niceness)
LOADS = ((0, 0), (1, 0), (2, 0), (2, 19))


def child(arm, n_threads, steps):
    """Time ``steps`` training steps in this process; print the seconds per step."""
    if arm == "spin":
        import torch  # noqa: F401  (loaded first: OpenMP keeps its default policy)
    import sk_cria  # noqa: F401  (sets OMP_WAIT_POLICY if torch is not loaded yet)
    import torch

    from sk_cria.model import CRIA, CRIAConfig
    from sk_cria.threads import rebalance, torch_threads

    if n_threads == "1":
        torch.set_num_threads(1)
    torch.manual_seed(0)
    model = CRIA(CRIAConfig())
    x = torch.randn(16, len(CHANNELS), 800)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-4)

    def step():
        loss = model(x, CHANNELS).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with torch_threads(None if n_threads == "auto" else torch.get_num_threads()):
        step()  # warm-up: allocations, thread pool start
        start = time.perf_counter()
        for _ in range(steps):
            rebalance()  # a no-op unless n_threads is "auto"
            step()
    print((time.perf_counter() - start) / steps)


def measure(arm, n_threads, steps):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    command = [sys.executable, __file__, "--child", arm, "--threads", n_threads,
               "--steps", str(steps)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def cpu_bound_processes(n, niceness=0):
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             preexec_fn=(lambda: os.nice(niceness)) if niceness else None)
            for _ in range(n)]


def stop(processes):
    for process in processes:
        process.kill()
        process.wait()


def time_job(arguments, checkout, hogs):
    """Wall and CPU seconds of ``python -m sk_cria ARGUMENTS`` run from ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    burners = cpu_bound_processes(hogs)
    try:
        with tempfile.TemporaryDirectory() as out:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sk_cria", *arguments, "--out", out],
                           env=env, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        stop(burners)  # not waited for before the rusage above: theirs is not counted
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main_job(data):
    """``sk-cria benchmark --data DATA``: every task's quick configuration."""
    return ["benchmark", "--data", str(data.resolve())]


def pretrain_job(data, epochs):
    """``sk-cria pretrain`` of the small encoder on eegmat subjects 0-27 (never on the
    evaluation subjects, even for a timing)."""
    folder = data.resolve() / "eegmat" / "files" / "eegmat" / "1.0.0"
    files = sorted(str(f) for f in folder.glob("Subject*_[12].edf") if int(f.name[7:9]) <= 27)
    if not files:
        raise SystemExit(f"no eegmat recordings of subjects 0-27 under {folder}")
    return ["pretrain", *files, "--config", "small", "--window", "10",
            "--max-epochs", str(epochs), "--line-freq", "50", "--seed", "0"]


def floors_report(rounds):
    import numpy as np
    from pyriemann.classification import MDM
    from pyriemann.estimation import Covariances
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 64, 320))
    y = np.arange(len(X)) % 2

    def seconds():
        start = time.perf_counter()
        covariances = Covariances("oas").fit_transform(X)
        MDM().fit(covariances, y).predict(covariances)
        return time.perf_counter() - start

    times = {}
    for hogs in (0, 2):
        burners = cpu_bound_processes(hogs)
        try:
            for _ in range(rounds):
                for n in (2, 1):
                    with threadpool_limits(limits=n, user_api="blas"):
                        times.setdefault((n, hogs), []).append(seconds())
        finally:
            stop(burners)
    quiet = statistics.median(times[2, 0])
    lines = [
        "# The floors' numpy work on shared cores",
        "",
        f"`python benchmarks/bench_shared_cores.py --floors --rounds {rounds}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}: seconds for OAS covariances of 400 windows "
        "(64 channels x 320 samples) and an MDM fit and prediction (pyRiemann), median of "
        f"{rounds} interleaved rounds; in brackets against 2 BLAS threads alone.",
        "",
        "| BLAS threads | alone | beside 2 |",
        "|---|---|---|",
    ]
    for n in (2, 1):
        cells = [f"{statistics.median(times[n, h]):.2f} "
                 f"(x{statistics.median(times[n, h]) / quiet:.1f})" for h in (0, 2)]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def job_report(args):
    here = Path(__file__).resolve().parents[1]
    if args.pretrain:
        arguments, data, flag = (pretrain_job(args.pretrain, args.pretrain_epochs),
                                 args.pretrain, "--pretrain")
        beside = args.beside or [0, 1, 2]
        what = (f"`sk-cria pretrain` of the small encoder on the eegmat recordings of "
                f"subjects 0-27 (10 s windows, {args.pretrain_epochs} epochs, the defaults "
                "otherwise)")
        title = "# A pre-training run on shared cores"
    else:
        arguments, data, flag = main_job(args.main_job), args.main_job, "--main-job"
        beside = args.beside or [0, 2]
        what = (f"`sk-cria benchmark --data {data}` (every task's quick configuration)")
        title = "# The main job on shared cores"
    arms = [("this checkout", here, hogs) for hogs in beside]
    if args.before:
        arms.append((f"before ({args.before})", args.before.resolve(), beside[-1]))
    rows = []
    for label, checkout, hogs in arms:
        wall, cpu = time_job(arguments, checkout, hogs)
        rows.append((label, hogs, wall, cpu))
        print(f"{label}, beside {hogs}: {wall / 60:.1f} min wall, {cpu:.0f} s CPU", flush=True)
    quiet = rows[0][2]
    commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    command = (f"python benchmarks/bench_shared_cores.py {flag} {data}"
               + (f" --pretrain-epochs {args.pretrain_epochs}" if args.pretrain else "")
               + (f" --beside {' '.join(map(str, args.beside))}" if args.beside else "")
               + (f" --before {args.before}" if args.before else ""))
    lines = [
        title,
        "",
        f"`{command}` at {commit} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}: {what}, alone and beside N "
        "CPU-bound processes (`python -c \"while True: pass\"`); in brackets the wall "
        f"time against the run beside {beside[0]} with this checkout.",
        "",
        "| sk_cria | beside | wall (min) | CPU of the job (s) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {label} | {hogs} | {wall / 60:.1f} (x{wall / quiet:.2f}) | {cpu:.0f} |"
              for label, hogs, wall, cpu in rows]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="markdown report (default: print)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every arm (default 3)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--child", choices=("spin", "passive"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--main-job", type=Path, metavar="DATA", default=None,
                        help="time sk-cria benchmark --data DATA alone and beside 2 processes")
    parser.add_argument("--pretrain", type=Path, metavar="DATA", default=None,
                        help="time sk-cria pretrain (small encoder, eegmat subjects 0-27) "
                             "alone and beside 1 and 2 processes")
    parser.add_argument("--pretrain-epochs", type=int, default=2,
                        help="with --pretrain: epochs of the run (default 2)")
    parser.add_argument("--beside", type=int, nargs="+", metavar="N", default=None,
                        help="with --main-job or --pretrain: CPU-bound processes beside "
                             "each timed run (default 0 2, with --pretrain 0 1 2)")
    parser.add_argument("--before", type=Path, metavar="CHECKOUT", default=None,
                        help="with --main-job or --pretrain: also time another checkout "
                             "beside the last --beside count")
    parser.add_argument("--floors", action="store_true",
                        help="time covariances and MDM with 2 and 1 BLAS threads instead")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.threads, args.steps)
    if args.main_job or args.pretrain or args.floors:
        report = floors_report(args.rounds) if args.floors else job_report(args)
        if args.out:
            args.out.write_text(report)
        return print(report)

    times = {}
    for hogs, niceness in LOADS:
        burners = cpu_bound_processes(hogs, niceness)
        try:
            for _ in range(args.rounds):
                for arm, n_threads in ARMS:
                    times.setdefault((arm, n_threads, hogs, niceness), []).append(
                        measure(arm, n_threads, args.steps))
        finally:
            stop(burners)

    import torch

    lines = [
        "# Training speed on shared cores",
        "",
        f"`python benchmarks/bench_shared_cores.py --rounds {args.rounds} --steps {args.steps}`"
        f" on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads by default), "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "Seconds per training step of the default encoder (16 windows of 4 s, 22 channels), "
        f"median of {args.rounds} child processes, beside N CPU-bound processes; "
        "in brackets the slowdown against torch's default threads with the passive wait "
        "and no other process (what an idle machine gives). `auto` is the estimators' "
        "default (`n_threads=None`): the count follows the cores the others leave free.",
        "",
        "| arm | threads | alone | beside 1 | beside 2 | beside 2 at `nice -n 19` |",
        "|---|---|---|---|---|---|",
    ]
    quiet = statistics.median(times["passive", "default", 0, 0])
    for arm, n_threads in ARMS:
        med = [statistics.median(times[(arm, n_threads) + load]) for load in LOADS]
        cells = [f"{m:.2f} (x{m / quiet:.1f})" for m in med]
        label = {"spin": "OpenMP default wait (torch imported first)",
                 "passive": "`OMP_WAIT_POLICY=PASSIVE` (sk_cria imported first)"}[arm]
        lines.append(f"| {label} | {n_threads} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
