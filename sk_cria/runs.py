"""A pre-training run in an output folder: what ``sk-cria pretrain`` does.

The folder holds, while the run goes on, ``run.json`` (the settings and
whether the run finished), ``checkpoints/`` (resumable training state) and
``train_log.csv`` (one row per epoch); at the end, the encoder
(``config.json`` + ``model.safetensors``, loadable by
``ViewMaskPretrainer.from_pretrained`` and ``CRIAClassifier(encoder=...)``),
a model card ``README.md`` and ``files.csv`` (each file used or skipped, its
gap-free segments, and the windows and channels left out for a flat or loose
electrode, NaN or infinite samples, or a channel the file marks bad).
Running the same command on a folder with an unfinished run (killed, or
stopped by Ctrl-C: then ``run.json`` says "interrupted") resumes it; a run
that stopped before its first checkpoint is started afresh.

One run at a time: while a run goes on, its process (rank 0 under torchrun)
holds an advisory lock (:func:`fcntl.flock`) on ``.sk-cria.lock`` in the
folder, which names it (pid, host, start time); a second run on the same
folder, by whatever path, is refused at once. The operating system releases
the lock when the process ends, killed or not, so a killed run never blocks
its resume; the file is removed when the run ends.
"""

import contextlib
import csv
from datetime import datetime, timezone
import errno
import json
from numbers import Integral, Real
import os
from pathlib import Path
import platform
import shutil
import socket
import sys
import time
import warnings

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there
    fcntl = None

import mne
import numpy as np
import skorch
from skorch.callbacks import LRScheduler
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from . import __version__, ddp
from ._check import number, one_of
from ._net import PRECISIONS, build_encoder_config, resolve_device
from .callbacks import EpochLog
from .atomic import open_atomic
from .checkpointing import find_checkpoints, settings_differences
from .datasets._quality import FLAT_SD, LOOSE_SD, check_thresholds
from .datasets.recordings import EEGWindowsDataset
from .model.io import CONFIG_NAME, WEIGHTS_NAME, _written_by_sk_cria
from .preprocessing import EEGPreprocessor, check_scaling
from .pretraining import NEGATIVES, ViewMaskPretrainer
from .sampling import MontageBatchSampler

__all__ = ["RunDirError", "RunLock", "pretrain"]

RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints"
LOG_FILE = "train_log.csv"
#: The file a run holds its lock on (removed when the run ends).
LOCK_FILE = ".sk-cria.lock"
# Everything a run writes. --overwrite removes these, and only from a folder
# that holds an sk-cria run.json: the same names in any other folder are
# the user's (a README.md, a config.json) and are never touched.
_OUTPUTS = (RUN_FILE, CHECKPOINTS, LOG_FILE, "config.json", "model.safetensors",
            "README.md", "files.csv")
# Settings that may differ when a run is resumed: they change where and how
# fast it runs, not what it computes.
_FREE = ("device", "num_workers", "checkpoint_every")


class RunDirError(RuntimeError):
    """The output folder cannot take this run (finished, foreign or not writable)."""


def pretrain(paths, out, *, window=10, stride=None, config="default", max_epochs=10,
             batch_size=64, lr=1e-3, lr_schedule="cosine", line_freq=60.0, seed=0,
             device="auto", num_workers=0, checkpoint_every=200, resume=False,
             overwrite=False, negatives="batch", scaling="window", flat_sd=FLAT_SD,
             loose_sd=LOOSE_SD, keep_windows="auto", precision="auto", verbose=1):
    """Pre-train a CRIA encoder on recordings on disk; resumable; returns the pretrainer.

    Parameters
    ----------
    paths : list of str or path-like
        Recording files, folders or BIDS roots.
    out : str or path-like
        Output folder (see the module docstring for what it holds).
    window, stride, flat_sd, loose_sd : see :class:`~sk_cria.datasets.EEGWindowsDataset`.
    config, max_epochs, batch_size, lr, device : see :class:`~sk_cria.ViewMaskPretrainer`.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay of the learning rate over all steps of the run, stepped
        every batch; or a constant rate.
    line_freq : float or None, default=60.0
        Mains frequency notched out by the preprocessing (50 in Europe).
    seed : int, default=0
    num_workers : int, default=0
        DataLoader processes reading and preprocessing windows.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        See :class:`~sk_cria.ViewMaskPretrainer`: "bfloat16" autocasts on
        the CPU too (faster steps at the same loss per step).
    keep_windows : bool or "auto", default="auto"
        Keep the preprocessed windows in memory after the first epoch
        (:class:`~sk_cria.datasets.EEGWindowsDataset`'s ``keep_windows``), so
        that later epochs skip reading and preprocessing. "auto" keeps them
        in the main process (so not with ``num_workers`` > 0) up to
        ``KEEP_WINDOWS_BYTES`` (4 GiB), as the dataset's "auto" does. It
        changes no result, only the speed.
    checkpoint_every : int, default=200
        Batches between checkpoints (also written at each epoch end).
    resume : bool, default=False
        Require an unfinished run in ``out`` to continue (without it, one is
        continued when found, and a new run is started otherwise).
    overwrite : bool, default=False
        Remove the outputs of a finished or different run in ``out`` first
        (only the files sk-cria writes, and only from a folder holding an
        sk-cria ``run.json``; other files are kept).
    negatives : {"batch", "group"}, default="batch"
        See :class:`~sk_cria.ViewMaskPretrainer`; "group" draws each batch
        from the windows of one recording.
    scaling : "window" or float, default="window"
        :class:`~sk_cria.EEGPreprocessor`'s ``scaling`` of every window, recorded
        in the saved encoder's ``config.json``: per window, or a fixed unit in
        microvolts (e.g. 100.0). "group" is refused: windows are read from
        disk one at a time, so there is no group to scale them by.
    verbose : int, default=1

    Returns
    -------
    pretrainer : ViewMaskPretrainer
        Its ``interrupted_`` is True when a Ctrl-C stopped training (with a
        warning): the run is then left resumable (its checkpoints kept,
        ``run.json`` marked "interrupted", no encoder written), and calling
        ``pretrain`` again with the same arguments resumes it.

    Raises
    ------
    ValueError
        A bad number or option (checked before anything is written), or data
        that give no training batch.
    RunDirError
        ``out`` holds a finished run, a run of other settings, or files that
        are not sk-cria's under the names it writes; or cannot be written.
    FileNotFoundError, sk_cria.datasets.recordings.NoUsableDataError
        Missing paths, or paths that hold no usable recording.
    """
    _check_numbers(window=window, stride=stride, max_epochs=max_epochs,
                   batch_size=batch_size, lr=lr, line_freq=line_freq, seed=seed,
                   num_workers=num_workers, checkpoint_every=checkpoint_every,
                   scaling=scaling, flat_sd=flat_sd, loose_sd=loose_sd,
                   keep_windows=keep_windows, precision=precision)
    check_thresholds(flat_sd, loose_sd)
    if lr_schedule not in ("cosine", "constant"):
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {lr_schedule!r}.")
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}.")
    build_encoder_config(config)  # a config that names nothing is refused here too
    out = Path(out)
    settings = {
        "paths": [str(Path(p).resolve()) for p in paths], "window": window,
        "stride": stride, "config": config, "max_epochs": max_epochs,
        "batch_size": batch_size, "lr": lr, "lr_schedule": lr_schedule,
        "line_freq": line_freq, "seed": seed, "device": device,
        "num_workers": num_workers, "checkpoint_every": checkpoint_every,
    }
    # Only when not the default, so that runs from before the options still resume.
    if negatives != "batch":
        settings["negatives"] = negatives
    if precision != "auto":
        settings["precision"] = precision
    for name, value, default in (("flat_sd", flat_sd, FLAT_SD), ("loose_sd", loose_sd, LOOSE_SD)):
        if value != default:  # the same: runs from before the rule still resume
            settings[name] = value
    if scaling != "window":
        settings["scaling"] = scaling
    for path in paths:  # before anything is written
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist; give recordings, folders of "
                                    "recordings or a BIDS root.")
    # Under torchrun only rank 0 prepares and writes the folder (and holds its
    # lock, for the whole run); all read the data.
    writer = ddp.is_main_process()
    verbose = verbose if writer else 0
    with RunLock(out) if writer else contextlib.nullcontext():
        resuming, clear = (_prepare(out, settings, resume=resume, overwrite=overwrite,
                                    verbose=verbose) if writer else (True, False))
        dataset = EEGWindowsDataset(
            paths, window=window, stride=stride,
            preprocessor=EEGPreprocessor(line_freq=line_freq, scaling=scaling),
            verbose=bool(verbose), flat_sd=flat_sd, loose_sd=loose_sd, keep_windows=keep_windows,
        )
        steps = _steps_per_epoch(dataset, batch_size, negatives)
        if steps == 0:  # before run.json: a run that would train nothing is refused
            raise ValueError(
                f"No batch of batch_size={batch_size} (or at least 2) windows of one montage"
                f"{' and one recording' if negatives == 'group' else ''} can be formed from "
                f"the {len(dataset)} window(s) of the data, so nothing would be trained; give "
                "more or longer recordings, or a shorter window or stride."
            )
        net = ViewMaskPretrainer(
            config=config, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
            random_state=seed, device=device, verbose=verbose, negatives=negatives,
            precision=precision, checkpoint_dir=out / CHECKPOINTS,
            checkpoint_every=checkpoint_every,
            callbacks=_callbacks(out, dataset, batch_size, max_epochs, lr_schedule),
            iterator_train__num_workers=num_workers, iterator_valid__num_workers=num_workers,
        )
        # The estimator's own checks (an lr above 10, a device that is not
        # there) before run.json, as the checks above: a refused run writes nothing.
        net._check_params()
        if writer:
            if clear:  # only now that the data are known to train: nothing lost on an error
                _remove_outputs(out)
            if resuming:
                run = json.loads((out / RUN_FILE).read_text())
                run.update(status="running", resumed=_now())
            else:
                run = {"status": "running", "settings": settings, "started": _now(),
                       "sk_cria": __version__}
            _write_json(out / RUN_FILE, run)
        start = time.perf_counter()
        net.fit(dataset)  # a Ctrl-C stops it with a warning and sets interrupted_
        if net.interrupted_:
            if writer:
                # Resumable: the checkpoints stay, and nothing is published as finished.
                run.update(status="interrupted", interrupted=_now())
                _write_json(out / RUN_FILE, run)
            return net
        if writer:
            _publish(net, out, run, dataset, settings, time.perf_counter() - start, verbose)
        # Every process waits for rank 0's files, then all leave the group together.
        ddp.finish()
        return net


class RunLock:
    """The lock of a run on its output folder: one run writes a folder at a time.

    An advisory :func:`fcntl.flock` on ``<out>/.sk-cria.lock``, taken without
    waiting and held until :meth:`release` (or the process's end: the
    operating system releases it when the process dies, however it dies, so
    a killed run leaves no lock that blocks its resume). The file names the
    holder, for the refusal of a second run. The lock is on the file, not
    on a path: the same folder reached by another (relative, linked) path
    is the same lock.

    Parameters
    ----------
    out : pathlib.Path
        The output folder; created if missing (and removed again at
        :meth:`release` if it was made here and is still empty).
    """

    def __init__(self, out):
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self._fd = None
        self._created = False

    def acquire(self):
        """Take the lock, or raise :class:`RunDirError` naming the run that holds it."""
        if self.out.exists() and not self.out.is_dir():
            raise RunDirError(f"--out {self.out} is a file; the run writes a folder there "
                              "(run.json, checkpoints, the encoder): give a folder path.")
        try:
            self._created = not self.out.exists()
            self.out.mkdir(parents=True, exist_ok=True)
            if fcntl is None:
                return self
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 1000).decode("utf-8", "replace").strip()
                    os.close(fd)
                    raise RunDirError(
                        f"{self.out} is in use by another sk-cria pretrain run "
                        f"({holder or 'starting'}); wait for it to end or stop it, or "
                        "choose another --out.") from None
                except OSError as error:  # a file system without locks
                    os.close(fd)
                    if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                        raise
                    warnings.warn(f"{self.out}'s file system cannot lock files ({error}); "
                                  "make sure no other run writes this folder.", UserWarning)
                    return self
                # The file a run removed while this one opened it is no lock: take
                # the one now at the path.
                if _same_file(fd, self.path):
                    break
                os.close(fd)
            self._fd = fd
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}, started "
                         f"{_now()}\n".encode())
        except OSError as error:
            self.release()
            raise RunDirError(f"Cannot write to {self.out} ({error}); choose a writable "
                              "--out.") from error
        return self

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    def release(self):
        """Remove the lock file, then let the lock go; remove a folder made only for it."""
        if self._fd is not None:
            # Removed while still held: a run that opened it meanwhile takes
            # the lock of a file no longer at the path, and tries again.
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
        if self._created:
            try:
                self.out.rmdir()  # only if empty: nothing was written
            except OSError:
                pass
            self._created = False


def _same_file(fd, path):
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _publish(net, out, run, dataset, settings, seconds, verbose):
    """Write the finished run's encoder, files list, run.json and model card."""
    # Files of an earlier publish of this run (killed before run.json said
    # "finished") are replaced; anyone else's were refused before training.
    net.save_pretrained(out, overwrite=True)
    _write_files_csv(out / "files.csv", dataset)
    run.update(status="finished", finished=_now())
    _write_json(out / RUN_FILE, run)
    with open_atomic(out / "README.md") as file:
        file.write(model_card(net, dataset, settings, seconds))
    if verbose:
        print(f"Pre-trained encoder written to {out}; load it with "
              f"ViewMaskPretrainer.from_pretrained({str(out)!r}).")


def _callbacks(out, dataset, batch_size, max_epochs, lr_schedule):
    callbacks = [("epoch_log", EpochLog(out / LOG_FILE))]
    if lr_schedule == "cosine":
        # Steps of one epoch, counted as the processes of a torchrun launch see them.
        steps = len(MontageBatchSampler(dataset.montage_ids, batch_size, min_batch_size=2,
                                        num_replicas=ddp.world_size()))
        callbacks.append(("lr_scheduler", LRScheduler(
            CosineAnnealingLR, T_max=max(1, steps * max_epochs), step_every="batch")))
    return callbacks


def _check_scaling(name, value):
    check_scaling(name, value)
    if value == "group":
        raise ValueError(
            f"{name}='group' cannot apply to pre-training on recordings on disk: their "
            "windows are read and preprocessed one at a time, so each would be scaled by "
            "itself (as 'window'). Give 'window' or a fixed unit in microvolts, e.g. 100."
        )


def _check_numbers(**values):
    """Refuse bad numbers before anything is written (the CLI refuses them at parsing)."""
    for name, value in values.items():
        _NUMBER_CHECKS[name](name, value)


_NUMBER_CHECKS = {
    "window": number(Integral, 1), "stride": number(Real, 0, None, "neither", none=True),
    "max_epochs": number(Integral, 1, hint="A run of no epoch would train nothing."),
    "batch_size": number(Integral, 2, hint="A batch of one window has no negatives."),
    "lr": number(Real, 0, None, "neither"),
    "line_freq": number(Real, 0, None, "neither", none=True),
    "seed": number(Integral, 0), "num_workers": number(Integral, 0),
    "checkpoint_every": number(Integral, 1),
    "flat_sd": number(Real, 0, none=True), "loose_sd": number(Real, 0, None, "neither", none=True),
    "scaling": _check_scaling,
    "keep_windows": one_of(("auto",), types=(bool,)),
    "precision": one_of(PRECISIONS),
}


def _steps_per_epoch(dataset, batch_size, negatives):
    """Training batches of one epoch of one process (0: the run would train nothing)."""
    ids = dataset.montage_ids
    if negatives == "group":  # batches of one montage and one recording
        ids = np.unique(np.stack([ids, dataset.recording_ids]), axis=1,
                        return_inverse=True)[1].reshape(-1)
    return len(MontageBatchSampler(ids, batch_size, min_batch_size=2,
                                   num_replicas=ddp.world_size()))


def _read_run(run_file):
    """The run.json of an sk-cria run, None when absent; refuse anyone else's."""
    if not run_file.is_file():
        return None
    try:
        run = json.loads(run_file.read_text())
    except (OSError, ValueError) as error:
        raise RunDirError(f"{run_file} cannot be read ({error}); it is not an sk-cria run "
                          "file: choose another --out.") from error
    if not (isinstance(run, dict) and isinstance(run.get("settings"), dict)
            and "status" in run):
        raise RunDirError(f"{run_file} is not an sk-cria run file; choose another --out "
                          "(--overwrite never removes files sk-cria did not write).")
    return run


def _remove_outputs(out, names=_OUTPUTS):
    """Remove the files and folders ``names`` of ``out`` (a run's: sk-cria wrote them)."""
    for name in names:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _prepare(out, settings, *, resume, overwrite, verbose=1):
    """Check that ``out`` can take this run.

    Returns whether it resumes one, and whether the outputs of a previous
    run are to be removed first (left to the caller, once the data are read).
    """
    clear = False
    previous = _read_run(out / RUN_FILE)
    # An sk-cria run folder, but an encoder file in it that sk-cria did not write
    # (it would be removed by --overwrite, or refused at the very end).
    foreign = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if previous is not None
               and os.path.lexists(out / name) and not _written_by_sk_cria(out / name)]
    if foreign:
        raise RunDirError(
            f"{out} holds an sk-cria run but {', '.join(foreign)} there is not sk-cria's "
            "(no sk_cria.CRIA/1 format mark); it is never removed or replaced, even with "
            "--overwrite: move it away or choose another --out.")
    if previous is None:
        # Files named as sk-cria's outputs, in a folder without an sk-cria run,
        # are the user's: never removed, and never written over at the end.
        theirs = [name for name in _OUTPUTS if (out / name).exists()]
        if theirs:
            raise RunDirError(
                f"{out} holds no sk-cria run ({RUN_FILE} is missing) but holds "
                f"{', '.join(theirs)}, which sk-cria would write; these are not sk-cria's "
                "and are never removed, even with --overwrite: move them away or choose "
                "another --out."
            )
        if out.is_dir() and any(p.name != LOCK_FILE for p in out.iterdir()) \
                and not overwrite:
            raise RunDirError(
                f"{out} is not empty and holds no sk-cria run ({RUN_FILE} is missing); "
                "choose an empty or new folder, or pass --overwrite to write the run next "
                "to the files there (which are kept)."
            )
    elif overwrite:
        previous, clear = None, True
    elif previous["status"] == "finished":
        raise RunDirError(
            f"{out} holds a finished run (finished {previous.get('finished')}); "
            "choose another --out, or pass --overwrite to replace it."
        )
    elif not find_checkpoints(out / CHECKPOINTS):
        # Stopped before its first checkpoint (bad settings, an error, a Ctrl-C):
        # nothing was trained that a new start would lose.
        if verbose:
            print(f"{out} holds a run that stopped before its first checkpoint; "
                  "starting afresh.", file=sys.stderr)
        previous, clear = None, True
    else:
        details = settings_differences(previous["settings"], settings, ignore=_FREE)
        if details:
            raise RunDirError(
                f"{out} holds an unfinished run with other settings ({details}); "
                "rerun with the same settings to resume it, choose another --out, or "
                "pass --overwrite to replace it."
            )
    if resume and previous is None:
        raise RunDirError(f"--resume: {out} holds no unfinished run with a checkpoint to "
                          "resume; rerun without --resume to start one.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise RunDirError(f"Cannot write to {out} ({error}); choose a writable --out.") \
            from error
    return previous is not None, clear


def model_card(net, dataset, settings, seconds):
    """A short Markdown description of the pre-trained encoder and how it was made."""
    history = net.history
    channels = sorted({name for montage in dataset.montages for name in montage})
    n_params = sum(p.numel() for p in net.encoder_.parameters())
    config = net.encoder_.config
    lines = [
        "# CRIA encoder pre-trained with `sk-cria pretrain`",
        "",
        "Load it with `ViewMaskPretrainer.from_pretrained(<this folder>)` (embeddings) "
        "or `CRIAClassifier(encoder=<this folder>)` (fine-tuning).",
        "",
        "## Data",
        f"- {len(dataset.recordings)} recording(s) used, {len(dataset.skipped)} skipped "
        "(see `files.csv`)",
        f"- {dataset.hours:.2f} hours, {len(dataset)} windows of {dataset.window} s "
        f"(stride {dataset.stride:g} s), preprocessed to 200 Hz "
        f"(line frequency {settings['line_freq']}, scaling "
        f"{settings.get('scaling', 'window')!r})",
        f"- {len(dataset.montages)} montage(s); {len(channels)} channels seen: "
        f"{', '.join(channels)}",
        f"- left out for a flat (SD < {dataset.flat_sd} uV) or loose (SD > "
        f"{dataset.loose_sd} uV) electrode, NaN or infinite samples, or a channel marked "
        "bad in the file: "
        f"{sum(entry['windows'] for entry in dataset.left_out.values())} window(s), "
        f"{sum(len(entry['channels']) for entry in dataset.left_out.values())} channel(s) "
        f"of {len(dataset.left_out)} file(s)",
        "",
        "## Model",
        f"- {n_params:,} encoder parameters; embedding width {config.embed_dim}; "
        f"preset `{settings['config']}`",
        "",
        "## Training",
        f"- {len(history)} epoch(s) of view masking with InfoNCE (negatives: "
        f"{settings.get('negatives', 'batch')}), batch size "
        f"{settings['batch_size']}, lr {settings['lr']} ({settings['lr_schedule']}), "
        f"seed {settings['seed']}",
        f"- final loss {history[-1, 'train_loss']:.4f} (first epoch "
        f"{history[0, 'train_loss']:.4f})",
        f"- training time {sum(history[:, 'dur']):.0f} s over all sessions "
        f"({seconds:.0f} s in the last), device {resolve_device(net.device)}",
        "",
        "## Versions",
        f"- sk_cria {__version__}, torch {torch.__version__}, skorch {skorch.__version__}, "
        f"mne {mne.__version__}, Python {platform.python_version()}",
        "",
    ]
    return "\n".join(lines)


def _write_files_csv(path, dataset):
    """One row per file: used or skipped (why), and what the loose-electrode rule left out."""
    def left_out(file):
        entry = dataset.left_out.get(file, {"windows": 0, "channels": (), "bad": {}})
        return [entry["windows"], " ".join(entry["channels"]),
                "; ".join(f"{name} {kind} {count}"
                          for (name, kind), count in sorted(entry["bad"].items()))]

    with open_atomic(path) as file:
        writer = csv.writer(file)
        # New columns go after the old ones: readers of older files.csv still work.
        writer.writerow(["path", "used", "hours", "windows", "channels", "reason", "segments",
                         "windows_left_out", "channels_left_out", "bad_windows"])
        for rec in dataset.recordings:
            writer.writerow([rec.path, True, f"{rec.hours:.4f}", rec.n_windows,
                             len(rec.ch_names), "", len(rec.segments), *left_out(rec.path)])
        for skipped, reason in dataset.skipped:
            writer.writerow([skipped, False, "", 0, 0, reason, "", *left_out(skipped)])


def _write_json(path, obj):
    with open_atomic(path) as file:
        json.dump(obj, file, indent=2)


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
