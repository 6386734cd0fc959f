"""Training speed when the cores are shared with other CPU-bound processes.

Issue 38 item 5: the main job ran 15x slower beside other work on 2 cores, a
slowdown far beyond the share of the cores it lost. torch's CPU threads come
from GNU OpenMP, whose idle threads spin before they sleep; a spinning thread
holds a core that the thread it waits for needs. This script times training
steps (forward, backward, AdamW) of the default encoder on 16 windows of 4 s,
22 channels, in a fresh child process per measurement, beside 0, 1 and 2
CPU-bound processes (``python -c "while True: pass"``), for two arms:

- ``spin``: torch imported before sk_cria, so OpenMP keeps its default wait
  policy (what every sk_cria release before issue 38 did);
- ``passive``: sk_cria imported first, as the CLI and the README do, so that it
  sets ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (the user's own value wins);

each with torch's default threads (one per core) and, as a reference, with 1 thread.
Arms are interleaved round by round, so that changes of the machine's load hit
them alike; the report gives medians and the slowdown of each arm against its
own quiet time.

Run from the repository root with nothing else running (about 6 minutes on 2 cores)::

    python benchmarks/bench_shared_cores.py --out benchmarks/results/shared_cores.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHANNELS = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7",
            "F8", "T7", "T8", "P7", "P8", "Fz", "Cz", "Pz", "Oz", "FC1", "FC2"]
ARMS = (("spin", None), ("passive", None), ("passive", 1))


def child(arm, n_threads, steps):
    """Time ``steps`` training steps in this process; print the seconds per step."""
    if arm == "spin":
        import torch  # noqa: F401  (loaded first: OpenMP keeps its default policy)
    import sk_cria  # noqa: F401  (sets OMP_WAIT_POLICY if torch is not loaded yet)
    import torch

    from sk_cria.model import CRIA, CRIAConfig

    if n_threads:
        torch.set_num_threads(n_threads)
    torch.manual_seed(0)
    model = CRIA(CRIAConfig())
    x = torch.randn(16, len(CHANNELS), 800)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-4)

    def step():
        loss = model(x, CHANNELS).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocations, thread pool start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    print((time.perf_counter() - start) / steps)


def measure(arm, n_threads, steps):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    command = [sys.executable, __file__, "--child", arm, "--threads", str(n_threads or 0),
               "--steps", str(steps)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="markdown report (default: print)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every arm (default 3)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--child", choices=("spin", "passive"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.threads, args.steps)

    times = {}
    for hogs in (0, 1, 2):
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   for _ in range(hogs)]
        try:
            for _ in range(args.rounds):
                for arm, n_threads in ARMS:
                    times.setdefault((arm, n_threads, hogs), []).append(
                        measure(arm, n_threads, args.steps))
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()

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
        "in brackets the slowdown against the same arm with no other process.",
        "",
        "| arm | threads | alone | beside 1 | beside 2 |",
        "|---|---|---|---|---|",
    ]
    for arm, n_threads in ARMS:
        med = [statistics.median(times[arm, n_threads, hogs]) for hogs in (0, 1, 2)]
        cells = [f"{med[0]:.2f}"] + [f"{m:.2f} (x{m / med[0]:.1f})" for m in med[1:]]
        label = {"spin": "OpenMP default wait (torch imported first)",
                 "passive": "`OMP_WAIT_POLICY=PASSIVE` (sk_cria imported first)"}[arm]
        lines.append(f"| {label} | {n_threads or 'default'} | " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
