"""Where a pre-training step's time goes, and the step's speed against the old code path.

Issue 26 item 3 asks to profile before fixing. On real eegmat windows of 10 s
(20 channels, batch 32, the small and the default encoder, one process), this
script measures:

1. the loader: the time ``EEGWindowsDataset`` takes to read and preprocess one
   window, split into reading, filtering, resampling and the rest;
2. the step: forward time of each part of the model (input coding, temporal
   and spatial views, fusion layers, pooling, projection head), the loss,
   backward and the optimizer, from forward hooks;
3. the step time of the arms from the old path to today's default, interleaved
   step by step in the same process so that the machine's load hits them alike
   (medians; ratios to ``old``): ``old``, the two ``CRIA.encode`` calls of
   pre-training before issue 26; ``pair``, ``CRIA.encode_masked_pair`` (the
   views once, both passes fused as one batch) as before issue 38; then issue
   38's kernels (this project's ``Dropout`` and the feature map's backward),
   today's default, and on top of them the opt-ins ``reuse_streams=True`` and
   CPU bfloat16 autocast;
4. training throughput with the loader: the old path (each window read and
   preprocessed, filters designed anew, two encoder passes, float32, the old
   kernels) against today's defaults in their first epoch (windows read) and
   after it (windows kept in memory by ``keep_windows="auto"``), those of this
   CPU and the float32 ones of a CPU without native bfloat16, interleaved as
   in 3; then the defaults' speed over a run of ``--epochs`` epochs. Wall-clock and CPU time are both reported, as
   the machine may be shared.

Run from the repository root (3.4 min on an idle 2-core machine)::

    OMP_NUM_THREADS=2 python benchmarks/bench_pretrain_step.py --data ../shared/data \
        --out benchmarks/results/pretrain_profile.md
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sk_cria import EEGPreprocessor
from sk_cria._net import native_cpu_bfloat16
from sk_cria.datasets import EEGWindowsDataset
from sk_cria.model import CRIA, CRIAConfig, attention
from sk_cria.model.pretext import InfoNCELoss, ViewMaskModule, make_token_mask

PARTS = ("channel_embedding", "tokenizer", "temporal_view", "spatial_view", "layers", "pooling")


def two_pass_forward(module, x, channels):
    """Pre-training's forward before issue 26: two full encoder passes."""
    batch, n_channels, n_times = x.shape
    n_patches = n_times // module.encoder.config.patch_size
    mask = make_token_mask(module.masking, batch, n_channels, n_patches, module.mask_ratio,
                           device=x.device)
    masked = module.encoder.encode(x, channels, token_mask=mask).embedding
    full = module.encoder.encode(x, channels).embedding
    return module.projector(masked), module.projector(full)


def load_batch(data, n_windows, window):
    files = sorted(Path(data, "eegmat/files/eegmat/1.0.0").glob("Subject*.edf"))[:8]
    dataset = EEGWindowsDataset(files, window=window, verbose=False,
                                preprocessor=EEGPreprocessor(line_freq=50))
    order = np.random.default_rng(0).permutation(len(dataset))[:n_windows]
    dataset[int(order[0])]  # opens the file and fits the preprocessor once
    profiler = cProfile.Profile()
    times = []
    items = []
    for index in order:
        start = time.perf_counter()
        profiler.enable()
        items.append(dataset[int(index)][0])
        profiler.disable()
        times.append(time.perf_counter() - start)
    stats = pstats.Stats(profiler)
    total = sum(times)

    def share(name):
        found = [v[3] for k, v in stats.stats.items() if k[2] == name]
        return max(found) / total if found else 0.0

    # Before issue 26 the filters were designed anew for every window: that cost, timed
    # with the uncached design functions, against today's window time.
    from sk_cria import preprocessing

    prep = dataset._preprocessor(dataset.recordings[0])
    l_freq, h_freq = prep._band_edges(prep.sfreq_in_)
    start = time.perf_counter()
    for _ in range(20):
        preprocessing._band_pass_sos.__wrapped__(prep.filter_order, l_freq, h_freq,
                                                 prep.sfreq_in_)
        preprocessing._notch_sos.__wrapped__(prep.line_freq, prep.notch_quality,
                                             prep.sfreq_in_)
    design = (time.perf_counter() - start) / 20
    loader = {
        "per window (ms)": 1000 * statistics.median(times),
        "designing the filters anew, as before issue 26 (ms per window)": 1000 * design,
        "reading (get_data)": share("get_data"),
        "filtering (sosfiltfilt)": share("sosfiltfilt"),
        "resampling (resample_poly)": share("resample_poly"),
    }
    x = torch.stack([item["x"] for item in items])
    channels = torch.stack([item["channels"] for item in items])
    return x, channels, loader


def profile_parts(module, x, channels, steps):
    """Median seconds of each part of a step, from forward hooks."""
    encoder = module.encoder
    spent = defaultdict(float)

    def timed(name, part):
        part.register_forward_pre_hook(lambda m, a: setattr(m, "_t0", time.perf_counter()))
        part.register_forward_hook(
            lambda m, a, o: spent.__setitem__(name, spent[name] + time.perf_counter() - m._t0))

    handles_before = {name: getattr(encoder, name) for name in PARTS}
    for name, part in handles_before.items():
        for sub in (part if name == "layers" else [part]):
            timed(name, sub)
    timed("projector", module.projector)
    loss_fn, optimizer = InfoNCELoss(0.1), torch.optim.AdamW(module.parameters(), 1e-4)
    rows = defaultdict(list)
    for step in range(steps + 1):
        spent.clear()
        t0 = time.perf_counter()
        optimizer.zero_grad()
        z_a, z_b = module(x, channels)
        t1 = time.perf_counter()
        loss = loss_fn(z_a, z_b)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if step == 0:
            continue  # warm-up
        for name in (*PARTS, "projector"):
            rows[f"forward: {name}"].append(spent[name])
        rows["loss"].append(t2 - t1)
        rows["backward"].append(t3 - t2)
        rows["optimizer"].append(t4 - t3)
        rows["step"].append(t4 - t0)
    return {name: statistics.median(values) for name, values in rows.items()}


class Arm(NamedTuple):
    """One way of running a training step.

    ``fetch(indices)`` gives the batch's ``(x, channels)``; ``forward(module, x,
    channels)`` its two projections; ``params`` the ``ViewMaskModule``'s; ``bf16``:
    under CPU bfloat16 autocast; ``before_38``: with the kernels before issue 38
    (:func:`kernels_before_issue_38`).
    """

    fetch: object
    forward: object = ViewMaskModule.forward
    params: tuple = ()
    bf16: bool = False
    before_38: bool = False


#: ViewMaskModule parameters: the streams masking leaves unchanged fused once, or apart.
REUSE, SEPARATE = (("reuse_streams", True),), (("reuse_streams", False),)


@contextmanager
def kernels_before_issue_38(module):
    """Run ``module`` with the code before issue 38: torch's ``nn.Dropout``
    (one random draw per element) and autograd through the four operators of
    the linear-attention feature map. The attention blocks' chunks stay cut
    with ``split`` (issue 38 too), so the old arms are faster than the old code
    was and the ratios to them understate the gain."""
    dropouts = [m for m in module.modules() if isinstance(m, attention.Dropout)]
    saved = attention._feature_map
    for m in dropouts:
        m.__class__ = nn.Dropout
    attention._feature_map = lambda x: torch.exp(x.clamp(max=0.0)) + F.relu(x)
    try:
        yield
    finally:
        attention._feature_map = saved
        for m in dropouts:
            m.__class__ = attention.Dropout


def time_arms(config, arms, batches):
    """Median seconds of a training step per arm, the arms interleaved step by step.

    ``arms``: name -> :class:`Arm`; arms with the same module parameters share the
    same initial weights (the same seed). The first of ``batches`` warms up.
    Returns name -> (wall, cpu): medians of the wall-clock and of this process's
    CPU seconds (on a shared machine the CPU time is the steadier of the two).
    """
    loss_fn = InfoNCELoss(0.1)
    built = {}

    def module_for(params):
        if params not in built:
            torch.manual_seed(0)
            module = ViewMaskModule(CRIA(config), **dict(params))
            built[params] = module, torch.optim.AdamW(module.parameters(), 1e-4)
        return built[params]

    def step(indices, arm):
        module, optimizer = module_for(arm.params)
        x, channels = arm.fetch(indices)
        with kernels_before_issue_38(module) if arm.before_38 else nullcontext():
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=arm.bf16):
                z_a, z_b = arm.forward(module, x, channels)
            loss_fn(z_a, z_b).backward()
            optimizer.step()

    times = {name: [] for name in arms}
    cpu = {name: [] for name in arms}
    for arm in arms.values():
        step(batches[0], arm)
    for indices in batches[1:]:
        for name, arm in arms.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            step(indices, arm)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(times[name]), statistics.median(cpu[name]))
            for name in arms}


def compare_arms(config, x, channels, steps):
    """The model's step alone (one batch in memory), from the old path to today's default."""
    def batch(_):
        return x, channels

    arms = {
        "old": Arm(batch, two_pass_forward, before_38=True),
        "pair": Arm(batch, params=SEPARATE, before_38=True),
        "pair+kernels": Arm(batch, params=SEPARATE),
        "pair+kernels+reuse": Arm(batch, params=REUSE),
        "pair+kernels+bf16": Arm(batch, params=SEPARATE, bf16=True),
        "pair+kernels+reuse+bf16": Arm(batch, params=REUSE, bf16=True),
    }
    return time_arms(config, arms, [None] * (steps + 1))


def read_batch(dataset, indices, design_anew=False):
    """A training batch read from ``dataset``; ``design_anew``: the filters designed per window."""
    from sk_cria import preprocessing

    items = []
    for index in indices:
        if design_anew:  # before issue 26, every window designed its filters again
            preprocessing._band_pass_sos.cache_clear()
            preprocessing._notch_sos.cache_clear()
        items.append(dataset[int(index)][0])
    return (torch.stack([item["x"] for item in items]),
            torch.stack([item["channels"] for item in items]))


def compare_end_to_end(config, data, window, batch_size, steps):
    """Seconds per training step, loader included, old path against today's defaults, interleaved.

    ``old``: each window read from its file and preprocessed with filters designed
    anew, then the two encoder passes in float32, with the kernels before issue
    38; ``defaults, first epoch``: each window read and preprocessed (filters
    cached), ``encode_masked_pair`` with today's kernels, in bfloat16 with
    reused streams where this CPU has native bfloat16 products
    (``precision="auto"``, ``reuse_streams="auto"``), else in float32 with
    separate passes; ``defaults, later epochs``: the same on the windows kept in
    memory (``keep_windows="auto"``); ``float32 defaults``: those of a CPU
    without native bfloat16; ``later epochs, before issue 38``: kept windows,
    separate passes, float32, the old kernels.
    """
    files = sorted(Path(data, "eegmat/files/eegmat/1.0.0").glob("Subject*.edf"))[:8]
    prep = EEGPreprocessor(line_freq=50)
    read = EEGWindowsDataset(files, window=window, verbose=False, preprocessor=prep,
                             keep_windows=False)
    kept = EEGWindowsDataset(files, window=window, verbose=False, preprocessor=prep)
    for index in range(len(kept)):  # the first epoch reads them all
        kept[index]
    rng = np.random.default_rng(1)
    batches = [rng.choice(len(read), batch_size, replace=False) for _ in range(steps + 1)]

    def reading(i):
        return read_batch(read, i)

    def keeping(i):
        return read_batch(kept, i)

    native = native_cpu_bfloat16()
    arms = {
        "old": Arm(lambda i: read_batch(read, i, design_anew=True), two_pass_forward,
                   before_38=True),
        "defaults, first epoch": Arm(reading, bf16=native),
        "defaults, later epochs": Arm(keeping, bf16=native),
        "float32 defaults, first epoch": Arm(reading),
        "float32 defaults, later epochs": Arm(keeping),
        "later epochs, before issue 38": Arm(keeping, params=SEPARATE, before_38=True),
    }
    return time_arms(config, arms, batches)


def arm_table(arms, batch_size):
    """Markdown rows of ``time_arms``' result, ratios to ``old`` by wall and by CPU time."""
    wall_old, cpu_old = arms["old"]
    rows = ["| arm | median wall s | windows/s (wall) | speed vs old (wall) | "
            "median CPU s | speed vs old (CPU) |", "|---|---|---|---|---|---|"]
    rows += [f"| {name} | {wall:.3f} | {batch_size / wall:.1f} | {wall_old / wall:.2f}x | "
             f"{cpu_s:.3f} | {cpu_old / cpu_s:.2f}x |" for name, (wall, cpu_s) in arms.items()]
    return rows


def run_average(arms, epochs, prefix="defaults"):
    """Speed vs old of a run of ``epochs`` epochs with the defaults: the first reads."""
    out = {}
    for column, which in (("wall", 0), ("CPU", 1)):
        first, later = arms[f"{prefix}, first epoch"][which], arms[f"{prefix}, later epochs"][which]
        out[column] = arms["old"][which] / ((first + (epochs - 1) * later) / epochs)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results/pretrain_profile.md")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=7, help="timed steps per arm (median)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--presets", nargs="+", default=["small", "default"],
                        choices=["small", "default"])
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs of the run whose average speed is reported (the "
                             "estimators' max_epochs default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.time()
    x, channels, loader = load_batch(args.data, args.batch_size, args.window)
    lines = [
        "# Where a pre-training step's time goes (issue 26 item 3, issue 38 item 2)",
        "",
        f"Command: `python benchmarks/bench_pretrain_step.py --data {args.data} --out {args.out}"
        f" --steps {args.steps} --threads {args.threads} --presets {' '.join(args.presets)}`"
        f" on {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}; "
        f"batch {args.batch_size} real eegmat windows of {args.window:g} s (20 channels at 200 Hz).",
        "",
        "## The loader (EEGWindowsDataset, one window read and preprocessed)",
        "",
        "| part | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {loader.pop(name):.1f} |" for name in list(loader)[:2]]
    lines += [f"| {name} | {100 * value:.0f} % of the window's time |"
              for name, value in loader.items()]
    load = os.getloadavg()[0]
    lines[2] = lines[2].replace("`python benchmarks",
                                f"`OMP_NUM_THREADS={args.threads} python benchmarks")
    lines.insert(3, "")
    lines.insert(4, f"Load average at the start: {load:.1f} on {os.cpu_count()} cores "
                 "(the machine may be shared: compare arms within one table, interleaved).")
    for preset in args.presets:
        config = CRIAConfig.small() if preset == "small" else CRIAConfig()
        torch.manual_seed(0)
        parts = profile_parts(ViewMaskModule(CRIA(config)), x, channels, args.steps)
        step = parts.pop("step")
        lines += [
            "",
            f"## The `{preset}` encoder: one training step (today's code in float32), {step:.3f} s "
            f"({args.batch_size / step:.1f} windows/s without the loader)",
            "",
            "| part | median s | share of the step |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {value:.3f} | {100 * value / step:.1f} % |"
                  for name, value in parts.items()]
        arms = compare_arms(config, x, channels, args.steps)
        lines += [
            "",
            f"Step time of the arms, interleaved ({args.steps} steps each, medians): `old`, "
            "the two encoder passes of the code before issue 26; `pair`, "
            "`encode_masked_pair` with separate masked and unmasked fusion, torch's dropout "
            "and autograd through the feature map (the default before issue 38); "
            "`+kernels`, this project's `Dropout` and feature-map backward (issue 38); "
            "`+reuse`, `reuse_streams=True`; `+bf16`, CPU bfloat16 autocast:",
            "",
            *arm_table(arms, args.batch_size),
        ]
        arms = compare_end_to_end(config, args.data, args.window, args.batch_size, args.steps)
        lines += [
            "",
            f"Training throughput with the loader, interleaved ({args.steps} steps each, "
            "medians): `old` reads each window from its file and designs its filters "
            "anew, then runs the two encoder passes with torch's dropout and autograd "
            "through the feature map: the pre-corpus float32 path. `defaults` are "
            "`ViewMaskPretrainer`'s since issue 38 on this CPU (native bfloat16 products: "
            f"{'yes' if native_cpu_bfloat16() else 'no'}): `encode_masked_pair` with this "
            "project's dropout and feature-map backward, in bfloat16 with the streams view "
            "masking leaves unchanged fused once where the CPU has native bfloat16 products "
            "(`precision=\"auto\"`, `reuse_streams=\"auto\"`), else in float32 with "
            "separate passes (`float32 defaults`); their first epoch reads and preprocesses "
            "each window (filters cached), later ones take the windows the dataset keeps "
            "(`keep_windows=\"auto\"`). `later epochs, before issue 38`: kept windows, "
            "float32, separate passes, the old kernels:",
            "",
            *arm_table(arms, args.batch_size),
        ]
        for prefix, label in (("defaults", "the defaults of this CPU"),
                              ("float32 defaults", "the float32 defaults")):
            average = run_average(arms, args.epochs, prefix)
            lines += [
                "",
                f"A run of {args.epochs} epochs with {label} (`{prefix}, first epoch` then "
                f"`{prefix}, later epochs`): **{average['wall']:.2f}x** the old path by "
                f"wall-clock, **{average['CPU']:.2f}x** by CPU time.",
            ]
    lines += ["", f"Took {(time.time() - began) / 60:.1f} min.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
