"""The ``sk-cria`` command line (also ``python -m sk_cria``)."""

import argparse
import json
import math
from pathlib import Path
import shlex
import sys
import time


from .benchmark import (
    ALIGNMENTS,
    PIPELINES,
    RUN_FILE,
    SCALINGS,
    BenchmarkConfig,
    format_overview,
    markdown_overview,
    markdown_report,
    overview,
    plot_label_efficiency,
    plot_results,
    prepare_out,
    row_key,
    run_benchmark,
    write_results,
    write_run_file,
)
from ._check import check_device
from .atomic import open_atomic
from .checkpointing import find_checkpoints
from .preprocessing import SCALINGS as SCALING_SCOPES
from .pretraining import EMBEDDINGS
from .tasks import TASKS
from .datasets._quality import FLAT_SD, LOOSE_SD
from .datasets.recordings import NoUsableDataError
from .runs import CHECKPOINTS, RunDirError, pretrain

#: Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sk-cria", description="sk_cria command line")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_benchmark(commands)
    _add_pretrain(commands)
    args = parser.parse_args(argv)
    return args.run(args)


def _add_pretrain(commands):
    cmd = commands.add_parser(
        "pretrain",
        help="pre-train a CRIA encoder on your recordings (resumable)",
        description="Pre-train a CRIA encoder by view masking on EEG recordings "
        "(EDF/BDF/GDF/BrainVision/EEGLAB/FIF files, folders searched recursively, BIDS "
        "roots), read lazily from disk. Writes checkpoints while training: running the "
        "same command again on the same --out resumes a run stopped by a kill or Ctrl-C (which "
        "exits with code 130). At the end --out "
        "holds the encoder (config.json + model.safetensors) for "
        "ViewMaskPretrainer.from_pretrained and CRIAClassifier(encoder=...), a model "
        "card (README.md), train_log.csv and files.csv.",
    )
    cmd.add_argument("paths", nargs="+", type=path, metavar="PATH",
                     help="recording, folder or BIDS root")
    cmd.add_argument("--out", required=True, type=path, help="output folder")
    cmd.add_argument("--window", type=positive_int, default=10,
                     help="window length in seconds")
    cmd.add_argument("--stride", type=positive_float, default=None,
                     help="seconds between window starts (default: the window length)")
    cmd.add_argument("--config", choices=["default", "small"], default="default",
                     help="encoder preset")
    cmd.add_argument("--max-epochs", type=positive_int, default=10)
    cmd.add_argument("--batch-size", type=batch_size, default=64,
                     help="windows per batch, at least 2 (the others of a batch are each "
                     "window's negatives)")
    cmd.add_argument("--lr", type=positive_float, default=1e-3)
    cmd.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine")
    cmd.add_argument("--line-freq", type=_line_freq, default=60.0,
                     help="mains frequency to notch: 60, 50 or none")
    cmd.add_argument("--device", type=device, default="auto", help="auto, cpu, cuda or cuda:N")
    cmd.add_argument("--seed", type=non_negative_int, default=0)
    cmd.add_argument("--num-workers", type=non_negative_int, default=0,
                     help="DataLoader processes reading windows")
    cmd.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                     help="arithmetic of training: auto (bfloat16 autocast on CUDA and on "
                     "CPUs with native bfloat16 products, AVX512-BF16 or AMX; float32 on "
                     "other CPUs), float32, or bfloat16 on any CPU (curves: "
                     "benchmarks/results/precision.md)")
    cmd.add_argument("--keep-windows", choices=["auto", "yes", "no"], default="auto",
                     help="keep the preprocessed windows in memory after the first epoch, "
                     "so that later epochs skip reading them (auto: in one process, when "
                     "they take at most 4 GiB)")
    cmd.add_argument("--checkpoint-every", type=positive_int, default=200,
                     help="batches between checkpoints (also at every epoch end)")
    cmd.add_argument("--flat-sd", type=_sd, default=FLAT_SD, metavar="UV",
                     help="a channel whose SD in a window (uV, after a 0.5 Hz high-pass) is "
                     "below this is flat there; none disables (default %(default)s)")
    cmd.add_argument("--loose-sd", type=_sd, default=LOOSE_SD, metavar="UV",
                     help="... above this, loose; windows with a flat or loose channel are "
                     "left out, and channels so in most windows of a file (default "
                     "%(default)s; none disables)")
    cmd.add_argument("--negatives", choices=["batch", "group"], default="batch",
                     help="contrastive negatives: any window of the batch, or batches drawn "
                     "from one recording each")
    cmd.add_argument("--scaling", type=_pretrain_scaling, default="window",
                     help="EEGPreprocessor scaling of every window: window (each channel by "
                     "its own 95th percentile, the default) or a fixed unit in microvolts, "
                     "e.g. 100 (as cria-base); recorded in the encoder's config.json")
    cmd.add_argument("--resume", action="store_true",
                     help="require an unfinished run in --out and continue it")
    cmd.add_argument("--overwrite", action="store_true",
                     help="replace a finished or different run in --out (removes only "
                     "the files sk-cria wrote there)")
    cmd.set_defaults(run=_run_pretrain)


def _line_freq(text):
    if text.lower() == "none":
        return None
    return _number(text, float, 0, "a frequency in Hz above 0 (60, 50) or none",
                   exclusive=True)


def _sd(text):
    if text.lower() == "none":
        return None
    return _number(text, float, 0, "a standard deviation in uV (e.g. 200) or none")


def _run_pretrain(args):
    try:
        net = pretrain(
            args.paths, args.out, window=args.window, stride=args.stride,
            config=args.config, max_epochs=args.max_epochs, batch_size=args.batch_size,
            lr=args.lr, lr_schedule=args.lr_schedule, line_freq=args.line_freq,
            seed=args.seed, device=args.device, num_workers=args.num_workers,
            keep_windows={"yes": True, "no": False}.get(args.keep_windows, "auto"),
            precision=args.precision,
            checkpoint_every=args.checkpoint_every, resume=args.resume,
            overwrite=args.overwrite, negatives=args.negatives, scaling=args.scaling,
            flat_sd=args.flat_sd, loose_sd=args.loose_sd,
        )
    except KeyboardInterrupt:  # before training (reading the data, resuming)
        _interrupted(args.out)
        return INTERRUPTED
    except (RunDirError, FileNotFoundError, NoUsableDataError, ValueError) as error:
        print(f"sk-cria pretrain: error: {error}", file=sys.stderr)
        return 2
    if getattr(net, "interrupted_", False):
        steps = sum("train_loss" in batch for row in net.history for batch in row["batches"])
        _interrupted(args.out, f" in epoch {len(net.history)} after {steps} batch(es)")
        return INTERRUPTED
    return 0


def _interrupted(out, where=""):
    checkpoints = find_checkpoints(Path(out) / CHECKPOINTS)
    then = (f"the last checkpoint ({checkpoints[0].name}) is kept: rerun the same command "
            "to resume the run" if checkpoints else
            "no checkpoint had been written yet: rerun the same command to start it again")
    print(f"sk-cria pretrain: interrupted{where}; {then}.", file=sys.stderr)


def _add_benchmark(commands):
    full, quick = BenchmarkConfig(), BenchmarkConfig.quick()

    def default(what, value_full, value_quick=None):
        value_quick = value_full if value_quick is None else value_quick
        if value_quick == value_full:
            return f"{what}default {value_full}"
        return f"{what}default {value_quick} (with --full: {value_full})"

    cmd = commands.add_parser(
        "benchmark",
        help="CRIA against the floors (feature and Riemannian baselines) on every task, "
        "one recipe for all",
        description="Run CRIA's pipelines (linear probes and fine-tuning of the shipped, a "
        "pre-trained or a random-weight encoder) and each task's floors (log-variance, log "
        "band power, tangent space, MDM, CSP) under the same cross-subject splits and the "
        "same recipe (input alignment and feature scaling), and print one table: per task, "
        "CRIA's best pipeline, the best floor of the same recipe and the paired margin. "
        "By default every task runs in its quick configuration (minutes on 2 CPU cores: "
        "eegmat protocol (c) and motor imagery grouped 6-fold, the shipped encoder "
        "cria-small frozen, against every floor); --full runs the full configurations. "
        "Every finished fit is written to OUT/results.csv at once; running the same command "
        "again resumes, skipping the fits it holds. At the end OUT also holds results.md, "
        "results.png (and label_efficiency.png with --train-subjects) and benchmark.json "
        "(the run's settings).",
    )
    cmd.add_argument("--task", nargs="+", choices=list(TASKS), default=None,
                     help="tasks to run (default: all): eegmat, rest vs mental arithmetic; "
                     "eegmmidb-mi, imagined left vs right fist, subjects 1-11, grouped folds, "
                     "motor-imagery floors (CSP + LDA, tangent space, MDM, filter bank on "
                     "8-30 Hz)")
    cmd.add_argument("--full", action="store_true",
                     help="each task's full configuration: its protocols (eegmat: a and b), "
                     "all its pipelines, 5 seeds, the default-size encoder, 10 pre-training "
                     "and 30 fine-tuning epochs (hours on a CPU)")
    cmd.add_argument("--quick", action="store_true",
                     help="the quick configuration, which is the default (kept for older "
                     "commands)")
    cmd.add_argument("--out", type=path, default="benchmark-results",
                     help="output folder (default %(default)s); a folder holding this run's "
                     "results is resumed, one holding another run's is refused")
    cmd.add_argument("--overwrite", action="store_true",
                     help="start afresh, replacing the run in --out instead of resuming or "
                     "refusing it (removes only the files sk-cria wrote there)")
    cmd.add_argument("--data", type=folder, default=None,
                     help="folder holding the tasks' data, eegmat/ and MNE-eegbci-data/ "
                     "(default: SK_CRIA_DATA, then MNE's data folder)")
    cmd.add_argument("--protocol", nargs="+", choices=["a", "b", "c", "both"], default=None,
                     help="eegmat: a (train 0-27, test 32-35, the field's; saturated once "
                     "subjects are aligned), b (grouped K-fold over the loaded subjects), c "
                     "(4 folds testing subjects 28-35, which the shipped encoders never saw); "
                     "both: a and b; eegmmidb-mi: b. Default: eegmat c (with --full: a b), "
                     "eegmmidb-mi b")
    cmd.add_argument("--seeds", type=positive_int, default=None,
                     help=default("seeds per split; ", full.seeds, quick.seeds))
    cmd.add_argument("--folds", type=folds, default=None,
                     help=default("folds of protocol (b); ", full.folds))
    cmd.add_argument("--encoder", choices=["small", "default"], default=None,
                     help=default("CRIA size preset of the encoders trained in the run; ",
                                  full.encoder, quick.encoder))
    cmd.add_argument("--pretrain-epochs", type=non_negative_int, default=None,
                     help=default("pre-training epochs of the cria_*_pretrained pipelines "
                                  "(inside each fold); ", full.pretrain_epochs,
                                  quick.pretrain_epochs))
    cmd.add_argument("--finetune-epochs", type=non_negative_int, default=None,
                     help=default("most fine-tuning epochs (early stopping on held-out "
                                  "subjects); ", full.finetune_epochs, quick.finetune_epochs))
    cmd.add_argument("--fusion", choices=["asymmetric", "symmetric", "serial"], default=None,
                     help=f"ablation of the cross-view fusion; default {full.fusion}")
    cmd.add_argument("--masking", choices=["view", "token", "spatial_block"], default=None,
                     help=f"ablation of the pre-training masks; default {full.masking}")
    cmd.add_argument("--negatives", choices=["batch", "group"], default=None,
                     help="contrastive negatives of pre-training: any window of the batch "
                     "(batch, the default) or batches of one training subject each (group)")
    cmd.add_argument("--purification", action="store_true",
                     help="ablation: keep the top half of the channels and patches before "
                     "pooling (k_c=k_t=0.5; the encoder keeps everything by default)")
    cmd.add_argument("--input-alignment", nargs="+", choices=list(ALIGNMENTS), default=None,
                     help="recipe, for every pipeline: each subject's windows as they are "
                     "(none), whitened on its own windows by the arithmetic mean of their "
                     "covariances (ea, Euclidean alignment) or by their Riemannian mean (ra); "
                     f"several values run each; default: {' '.join(full.alignments)}")
    cmd.add_argument("--feature-scaling", nargs="+", choices=list(SCALINGS), default=None,
                     help="recipe, for every pipeline with a feature step: z-score the features "
                     "per subject on its own windows (subject) or over the training set "
                     f"(global); default: {' '.join(full.scalings)}")
    cmd.add_argument("--train-subjects", nargs="+", type=_count, default=None,
                     metavar="N",
                     help="label efficiency: fit each pipeline with the labels of only N "
                     "training subjects (a seeded random draw per seed), e.g. 1 2 4 8 all; "
                     "pre-training and alignment still see every unlabelled window; default all")
    cmd.add_argument("--input-band", nargs=2, type=positive_float, default=None,
                     metavar=("L_FREQ", "H_FREQ"),
                     help="band-pass of the CRIA input in Hz, e.g. 1 40 as the baselines "
                     "(default: the band of the task's floors, 8-30 Hz for eegmmidb-mi; "
                     "EEGPreprocessor's 0.5 Hz to 0.9 x Nyquist for eegmat)")
    cmd.add_argument("--input-scaling", type=_input_scaling, default=None,
                     metavar="{window,group,UV}",
                     help="EEGPreprocessor's scaling of the CRIA input: each channel of each "
                     "window by its own 95th percentile (window, the default, what cria-small "
                     "was trained on), of each subject's windows (group), or a fixed unit in "
                     "microvolts, e.g. 100 (what cria-base was trained on)")
    cmd.add_argument("--subjects", type=subjects, default=None,
                     help="subjects to load, e.g. 0-11 (eegmat: default all 36, numbered 0-35; "
                     "protocol (a) needs 0-27 and 32-35, (c) 28-35; eegmmidb-mi: default "
                     "1-11); give it with one --task")
    cmd.add_argument("--pipelines", nargs="+", default=None, choices=list(PIPELINES),
                     metavar="PIPELINE",
                     help="pipelines to run (default: the task's quick set, with --full all "
                     "of CRIA's and the task's floors); any of: " + ", ".join(PIPELINES))
    cmd.add_argument("--embedding", nargs="+", default=None, choices=list(EMBEDDINGS),
                     help="outputs of the encoder that each probe (cria_probe_<encoder>) is "
                     "run with: the pooled embedding, per-channel or per-region features "
                     "(ViewMaskPretrainer's embedding; default pooled); each fine-tuning "
                     "(cria_finetune_<encoder>) is run with pooled and regions among them "
                     "(CRIAClassifier's embedding)")
    cmd.add_argument("--shipped-encoder", default=None, metavar="NAME_OR_FOLDER",
                     help="encoder of the cria_probe_shipped pipelines, used as it is, and "
                     "the start of cria_finetune_shipped: a shipped name (default "
                     f"{full.shipped_encoder}; cria-base) or the folder of an encoder saved "
                     "by sk-cria pretrain or save_pretrained")
    cmd.set_defaults(run=_run_benchmark)


def _pretrain_scaling(text):
    """'window' or a unit in microvolts (pretrain --scaling; its windows have no groups)."""
    if text == "window":
        return text
    return _number(text, float, 0, "window or a unit in microvolts > 0, e.g. 100 (windows "
                   "read from disk one at a time have no group to scale by)", exclusive=True)


def _input_scaling(text):
    """'window', 'group' or a unit in microvolts (--input-scaling)."""
    if text in SCALING_SCOPES:
        return text
    return _number(text, float, 0, '"window", "group" or a unit in microvolts > 0, e.g. 100',
                   exclusive=True)


def _count(text):
    """'all' -> None, '4' -> 4 (--train-subjects)."""
    return None if text == "all" else _number(text, int, 1, "a whole number of 1 or more, "
                                               "or all")


def _run_benchmark(args):
    protocols = args.protocol and tuple(dict.fromkeys(
        p for given in args.protocol for p in (("a", "b") if given == "both" else (given,))))
    overrides = {
        "protocols": protocols,
        "seeds": args.seeds, "folds": args.folds, "encoder": args.encoder,
        "pretrain_epochs": args.pretrain_epochs, "finetune_epochs": args.finetune_epochs,
        "fusion": args.fusion, "masking": args.masking, "negatives": args.negatives,
        "purification": True if args.purification else None,
        "alignments": _unique(args.input_alignment),
        "scalings": _unique(args.feature_scaling),
        "train_subjects": _unique(args.train_subjects),
        "input_band": None if args.input_band is None else tuple(args.input_band),
        "input_scaling": args.input_scaling,
        "pipelines": _unique(args.pipelines),
        "embeddings": _unique(args.embedding),
        "shipped_encoder": args.shipped_encoder,
        "data": args.data,
        "subjects": args.subjects,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.full and args.quick:
        return _error("benchmark", "--full and --quick exclude each other; give one.")
    tasks = _unique(args.task) or tuple(TASKS)
    make = BenchmarkConfig if args.full else BenchmarkConfig.quick
    configs = [make(task=task, **overrides) for task in tasks]
    if args.input_band is not None and args.input_band[0] >= args.input_band[1]:
        return _error("benchmark", f"--input-band: the low edge ({args.input_band[0]:g} Hz) "
                      f"must be below the high one ({args.input_band[1]:g} Hz).")
    try:
        for config in configs:
            config.check()
    except ValueError as error:
        return _error("benchmark", error)
    for task in map(TASKS.get, tasks):
        if args.data is not None and not (Path(args.data) / task.data_folder).is_dir():
            return _error("benchmark", f"--data {args.data!r} holds no {task.data_folder}/ "
                          f"folder, which task {task.name!r} reads; give the folder that "
                          "holds it (SK_CRIA_DATA's layout).")
    out = Path(args.out)
    settings = {config.task: config.settings() for config in configs}
    try:
        done = prepare_out(out, settings, overwrite=args.overwrite)
        out.mkdir(parents=True, exist_ok=True)
    except (RunDirError, OSError) as error:
        return _error("benchmark", error)
    previous = _read_run_seconds(out)
    write_run_file(out, settings, "running", command=_command_line(), seconds=previous)
    print(_plan(configs, args.full, len(done), out), file=sys.stderr)
    rows = list(done)
    by_key = {row_key(row): row for row in done}

    def keep(row):  # every finished fit reaches results.csv at once
        rows.append(row)
        write_results(out, rows)

    start = time.perf_counter()
    results = []
    try:
        for config in configs:
            results += run_benchmark(config, done=by_key, on_row=keep)
    except KeyboardInterrupt:
        print(f"sk-cria benchmark: interrupted; {len(rows)} finished fit(s) are in "
              f"{out / 'results.csv'}: rerun the same command to resume.", file=sys.stderr)
        write_run_file(out, settings, "interrupted", command=_command_line(),
                       seconds=previous + time.perf_counter() - start)
        return INTERRUPTED
    except (FileNotFoundError, ValueError) as error:  # a file missing from --data
        return _error("benchmark", error)
    seconds = previous + time.perf_counter() - start
    report = [f"# sk_cria benchmark\n\nCommand: `{_command_line()}`; "
              f"{'full' if args.full else 'quick'} configuration; {seconds / 60:.1f} min of "
              "running in all.\n\n"
              "Per task, CRIA's best pipeline against the best floor of the same recipe; the "
              "margin is paired over the same folds and seeds (mean ± sd of the "
              "differences).\n", markdown_overview(overview(results)), ""]
    report += [markdown_report(results, config, seconds) for config in configs]
    with open_atomic(out / "results.md") as file:
        file.write("\n".join(report))
    plot_results(results, out / "results.png")
    written = [out / "results.csv", out / "results.md", out / "results.png"]
    if any(len(config.train_subjects) > 1 for config in configs):
        plot_label_efficiency(results, out / "label_efficiency.png")
        written.append(out / "label_efficiency.png")
    write_run_file(out, settings, "finished", command=_command_line(), seconds=seconds)
    print(format_overview(overview(results)))
    print(f"\n{seconds / 60:.1f} min. Wrote {', '.join(str(path) for path in written)}.")
    return 0


def _plan(configs, full, done, out):
    """The run in one line: configuration, tasks, protocols, folds, seeds, pipelines."""
    parts = []
    for config in configs:
        protocols = ", ".join(f"({p})" for p in config.protocols)
        parts.append(f"{config.task} protocol {protocols}, {config.seeds} seed(s), "
                     f"{len(config.selected_pipelines())} pipelines")
    kind = "full configuration" if full else "quick configuration (--full for the full one)"
    resumed = f"; resuming: {done} fit(s) already in {out / 'results.csv'}" if done else ""
    return f"sk-cria benchmark: {kind}: {'; '.join(parts)}; results in {out}{resumed}."


def _read_run_seconds(out):
    """Seconds spent by earlier invocations of a resumed run (0 for a new one)."""
    try:
        return float(json.loads((out / RUN_FILE).read_text()).get("seconds", 0.0))
    except (OSError, ValueError, AttributeError):
        return 0.0


def _command_line():
    return "sk-cria " + " ".join(shlex.quote(arg) for arg in sys.argv[1:]) \
        if Path(sys.argv[0]).name in ("sk-cria", "__main__.py") else " ".join(sys.argv)


def _unique(values):
    """CLI list -> tuple in order without repeats (None stays None)."""
    return None if values is None else tuple(dict.fromkeys(values))


def _error(command, message):
    print(f"sk-cria {command}: error: {message}", file=sys.stderr)
    return 2


# ----------------------------------------------- argument types (argparse type=)
# Each refuses a bad value at parsing: argparse then prints one line naming the
# option and exits with code 2, before anything is read, trained or written.
def _number(text, kind, minimum, what, exclusive=False):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum or (
            exclusive and value == minimum):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text):
    """A whole number of 1 or more."""
    return _number(text, int, 1, "a whole number of 1 or more")


def non_negative_int(text):
    """A whole number of 0 or more."""
    return _number(text, int, 0, "a whole number of 0 or more")


def positive_float(text):
    """A finite number above 0."""
    return _number(text, float, 0, "a finite number above 0", exclusive=True)


def batch_size(text):
    """At least 2 windows: a batch of one has no negatives."""
    return _number(text, int, 2, "a whole number of 2 or more (a batch of one window "
                   "has no contrastive negatives)")


def folds(text):
    """Grouped K-fold needs 2 folds or more."""
    return _number(text, int, 2, "a whole number of 2 or more")


def device(text):
    """auto, cpu, cuda or cuda:N, where the device exists (the estimators' own check)."""
    try:
        check_device("--device", text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def subjects(text):
    """'0-11' -> (0, ..., 11); '3' -> (3,); '0-3,8' -> (0, 1, 2, 3, 8)."""
    chosen = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            first, last = int(first), int(last or first)
        except ValueError:
            first = last = None
        if first is None or not 0 <= first <= last:
            raise argparse.ArgumentTypeError(
                "must be subject numbers as N, N-M (N <= M) or a comma-separated list of "
                f"them, e.g. 0-11,32; got {text!r}")
        chosen.extend(range(first, last + 1))
    return tuple(chosen)


def path(text):
    """A path given on the command line: not empty ('' is Path('.'), the current folder)."""
    if not text:
        raise argparse.ArgumentTypeError("got an empty path, which would mean the current "
                                         "folder; give a path ('.' for the current folder)")
    return text


def folder(text):
    """An existing folder."""
    path(text)
    if not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder")
    return text


if __name__ == "__main__":
    sys.exit(main())
