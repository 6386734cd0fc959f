"""Pre-training throughput and memory over lazily read recordings (issue: sk-cria pretrain).

For 4, 12 and 36 eegmat recordings and 0 or 2 DataLoader workers, each in a
fresh process: windows per second of ViewMaskPretrainer's training steps
(forward + backward + optimizer, skorch's loop), the fraction of the step
time spent waiting for the next batch, and the peak resident memory of the
process (and of its loader workers). Throughput and memory should be flat in
the number of recordings: the data stay on disk.

    python benchmarks/bench_pretrain.py --data ../shared/data \
        --out benchmarks/results/pretrain_throughput.md

With ``--scaling``, instead: data-parallel efficiency on this machine, the same
global batch trained by 1 process x N threads and by ``torchrun`` with N
processes x 1 thread (gloo), on 12 recordings:

    python benchmarks/bench_pretrain.py --data ../shared/data --scaling \
        --out benchmarks/results/pretrain_scaling.md
"""

import argparse
import json
import os
from pathlib import Path
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch


def measure(data, n_files, workers, steps, batch_size, window, config):
    """One configuration, in this process; prints a JSON line."""
    from skorch.callbacks import Callback

    from sk_cria import EEGPreprocessor, ViewMaskPretrainer, ddp
    from sk_cria.datasets import EEGWindowsDataset

    files = sorted(Path(data, "eegmat/files/eegmat/1.0.0").glob("Subject*.edf"))[:n_files]
    dataset = EEGWindowsDataset(files, window=window, verbose=False,
                                preprocessor=EEGPreprocessor(line_freq=50))

    class Done(Exception):
        pass

    class Timer(Callback):
        """Compute time (batch begin to end) and wait time (end to next begin)."""

        def initialize(self):
            self.compute, self.wait, self.windows, self.last = [], [], [], None
            return self

        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            self.begin = time.perf_counter()
            if self.last is not None:
                self.wait.append(self.begin - self.last)

        def on_batch_end(self, net, batch=None, training=False, **kwargs):
            self.last = time.perf_counter()
            self.compute.append(self.last - self.begin)
            self.windows.append(len(batch[0]["x"]))
            if len(self.compute) == steps + 2:
                raise Done

    timer = Timer()
    # Epochs enough for the timed steps; Done ends the run.
    net = ViewMaskPretrainer(config=config, max_epochs=10**6, batch_size=batch_size,
                             random_state=0, callbacks=[("timer", timer)],
                             iterator_train__num_workers=workers)
    try:
        net.fit(dataset)
    except Done:
        pass
    if not ddp.is_main_process():
        return
    # The first two steps warm up (allocations, worker start-up) and are left out.
    compute, wait, windows = timer.compute[2:], timer.wait[1:], timer.windows[2:]
    windows = [n * ddp.world_size() for n in windows]  # the global batch
    total = sum(compute) + sum(wait)
    print(json.dumps({
        "files": n_files, "hours": round(dataset.hours, 2), "windows_total": len(dataset),
        "processes": ddp.world_size(), "threads": torch.get_num_threads(),
        "workers": workers, "windows_per_s": sum(windows) / total,
        "wait_fraction": sum(wait) / total,
        "median_step_s": statistics.median(c + w for c, w in zip(compute, wait)),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=None, help="Markdown table to write")
    parser.add_argument("--files", type=int, nargs="+", default=[4, 12, 36])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--config", default="small")
    parser.add_argument("--scaling", action="store_true",
                        help="1 process x N threads vs torchrun N processes x 1 thread")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        return measure(args.data, *args.one, args.steps, args.batch_size, args.window,
                       args.config)
    if args.scaling:
        return scaling(args)
    rows = []
    for workers in args.workers:
        for n_files in args.files:
            command = [sys.executable, __file__, "--data", args.data, "--one", str(n_files),
                       str(workers), "--steps", str(args.steps), "--batch-size",
                       str(args.batch_size), "--window", str(args.window),
                       "--config", args.config]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    table = [
        "# Pre-training throughput over lazily read recordings\n",
        f"`python benchmarks/bench_pretrain.py --data {args.data}` on {platform.node() or '?'}: "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"threads, torch {torch.__version__}. Encoder `{args.config}`, batch "
        f"{args.batch_size} windows of {args.window} s, {args.steps} timed steps per row "
        "(after 2 warm-up steps), each row in a fresh process.\n",
        "| recordings | hours | windows | loader workers | windows/s | waiting for data "
        "| median step (s) | peak RSS main (MB) | peak RSS per worker (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_worker = f"{r['workers_rss_mb']:.0f}" if r["workers"] else "-"
        table.append(
            f"| {r['files']} | {r['hours']} | {r['windows_total']} | {r['workers']} | "
            f"{r['windows_per_s']:.1f} | {100 * r['wait_fraction']:.1f} % | "
            f"{r['median_step_s']:.3f} | {r['rss_mb']:.0f} | {per_worker} |")
    text = "\n".join(table) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def scaling(args):
    """Windows/s of one process with all threads vs N single-thread processes."""
    n = args.processes

    def child(launcher, batch_size, threads):
        command = [*launcher, __file__, "--data", args.data, "--one", "12", "0",
                   "--steps", str(args.steps), "--batch-size", str(batch_size),
                   "--window", str(args.window), "--config", args.config]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        return json.loads(out.stdout.strip().splitlines()[-1])

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
                f"--nproc_per_node={n}", "--master_addr=127.0.0.1", "--master_port=29581"]
    rows = []
    for repeat in range(args.repeats):
        one = child([sys.executable], args.batch_size, n)
        many = child(torchrun, args.batch_size // n, 1)
        rows.append((one, many))
        print(one, many, file=sys.stderr)
    ratios = [many["windows_per_s"] / one["windows_per_s"] for one, many in rows]
    lines = [
        "# Data-parallel pre-training on the CPU: 1 process x N threads vs N processes\n",
        f"`python benchmarks/bench_pretrain.py --scaling --data {args.data}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}: encoder "
        f"`{args.config}`, global batch {args.batch_size} windows of {args.window} s, 12 "
        f"eegmat recordings, {args.steps} timed steps per run, {args.repeats} alternating "
        "repeats in one run (medians below).\n",
        "| repeat | 1 process x %d threads (win/s) | torchrun %d x 1 thread (win/s) | ratio |"
        % (n, n),
        "|---|---|---|---|",
    ]
    for i, ((one, many), ratio) in enumerate(zip(rows, ratios)):
        lines.append(f"| {i + 1} | {one['windows_per_s']:.1f} | {many['windows_per_s']:.1f} "
                     f"| {ratio:.2f} |")
    lines.append(f"| median | {statistics.median(r[0]['windows_per_s'] for r in rows):.1f} | "
                 f"{statistics.median(r[1]['windows_per_s'] for r in rows):.1f} | "
                 f"{statistics.median(ratios):.2f} |")
    lines.append(f"\nTarget: ratio >= 0.80 (the engine's own cost is small): "
                 f"{'met' if statistics.median(ratios) >= 0.8 else 'not met'}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
