"""The ``sk-cria`` command line (also ``python -m sk_cria``)."""

import argparse
import dataclasses
from pathlib import Path
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sk-cria", description="sk_cria command line")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_benchmark(commands)
    args = parser.parse_args(argv)
    return args.run(args)


def _add_benchmark(commands):
    from .benchmark import CRIA_PIPELINES, BenchmarkConfig
    from .baselines import get_baselines

    default = BenchmarkConfig()
    cmd = commands.add_parser(
        "benchmark",
        help="CRIA vs Riemannian baselines on eegmat, protocols (a) and (b)",
        description="Run CRIA pipelines (linear probe and fine-tuning, with and without "
        "pre-training) and the baselines under the same cross-subject splits of "
        "PhysioNet eegmat; write results.csv, results.md and results.png.",
    )
    cmd.add_argument("--out", default="benchmark-results", help="output folder")
    cmd.add_argument("--data", default=None,
                     help="folder holding eegmat/ (default: SK_CRIA_DATA, then MNE's data folder)")
    cmd.add_argument("--quick", action="store_true",
                     help="protocol (a), one seed, small encoder, few epochs: minutes on 2 cores")
    cmd.add_argument("--protocol", choices=["a", "b", "both"], default=None)
    cmd.add_argument("--seeds", type=int, default=None, help=f"default {default.seeds}")
    cmd.add_argument("--folds", type=int, default=None, help=f"default {default.folds}")
    cmd.add_argument("--encoder", choices=["small", "default"], default=None)
    cmd.add_argument("--pretrain-epochs", type=int, default=None)
    cmd.add_argument("--finetune-epochs", type=int, default=None)
    cmd.add_argument("--fusion", choices=["asymmetric", "symmetric", "serial"], default=None,
                     help="ablation of the cross-view fusion")
    cmd.add_argument("--masking", choices=["view", "token", "spatial_block"], default=None,
                     help="ablation of the pre-training masks")
    cmd.add_argument("--no-purification", action="store_true",
                     help="ablation: keep every channel and patch before pooling")
    cmd.add_argument("--input-alignment", choices=["none", "ea", "both"], default=None,
                     help="CRIA input: as preprocessed (none), whitened per subject on its "
                     "own windows by Euclidean alignment (ea, names get '+ea'), or both "
                     "(default)")
    cmd.add_argument("--subjects", default=None,
                     help="subjects to load, e.g. 0-11 (default all 36; protocol (a) needs 0-27 "
                     "and 32-35)")
    cmd.add_argument("--pipelines", nargs="+", default=None,
                     choices=list(CRIA_PIPELINES) + list(get_baselines()),
                     help="subset of pipelines (default: all)")
    cmd.set_defaults(run=_run_benchmark)


def _run_benchmark(args):
    from .benchmark import BenchmarkConfig, markdown_report, plot_results, run_benchmark

    overrides = {
        "protocols": None if args.protocol is None else
        (("a", "b") if args.protocol == "both" else (args.protocol,)),
        "seeds": args.seeds, "folds": args.folds, "encoder": args.encoder,
        "pretrain_epochs": args.pretrain_epochs, "finetune_epochs": args.finetune_epochs,
        "fusion": args.fusion, "masking": args.masking,
        "purification": False if args.no_purification else None,
        "inputs": {None: None, "none": ("raw",), "ea": ("ea",),
                   "both": ("raw", "ea")}[args.input_alignment],
        "pipelines": None if args.pipelines is None else tuple(args.pipelines),
        "data": args.data,
        "subjects": None if args.subjects is None else _span(args.subjects),
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    config = BenchmarkConfig.quick(**overrides) if args.quick else BenchmarkConfig(**overrides)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"sk-cria benchmark: {dataclasses.asdict(config)}", file=sys.stderr)
    start = time.perf_counter()
    rows = run_benchmark(config)
    seconds = time.perf_counter() - start
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    report = markdown_report(rows, config, seconds)
    (out / "results.md").write_text(report)
    plot_results(rows, out / "results.png")
    print(report)
    print(f"Wrote {out / 'results.csv'}, {out / 'results.md'} and {out / 'results.png'}.")
    return 0


def _span(text):
    """'0-11' -> (0, ..., 11); '3' -> (3,); '0-3,8' -> (0, 1, 2, 3, 8)."""
    subjects = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        subjects.extend(range(int(first), int(last or first) + 1))
    return tuple(subjects)


if __name__ == "__main__":
    sys.exit(main())
