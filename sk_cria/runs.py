"""A pre-training run in an output folder: what ``sk-cria pretrain`` does.

The folder holds, while the run goes on, ``run.json`` (the settings and
whether the run finished), ``checkpoints/`` (resumable training state) and
``train_log.csv`` (one row per epoch); at the end, the encoder
(``config.json`` + ``model.safetensors``, loadable by
``ViewMaskPretrainer.from_pretrained`` and ``CRIAClassifier(encoder=...)``),
a model card ``README.md`` and ``files.csv`` (each file used or skipped).
Running the same command on a folder with an unfinished run resumes it.
"""

import csv
from datetime import datetime, timezone
import json
from pathlib import Path
import platform
import shutil
import time

import mne
import skorch
from skorch.callbacks import LRScheduler
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from . import __version__, ddp
from ._net import resolve_device
from .callbacks import EpochLog
from .atomic import open_atomic
from .checkpointing import settings_differences
from .datasets.recordings import EEGWindowsDataset
from .preprocessing import EEGPreprocessor
from .pretraining import ViewMaskPretrainer
from .sampling import MontageBatchSampler

__all__ = ["RunDirError", "pretrain"]

RUN_FILE = "run.json"
CHECKPOINTS = "checkpoints"
LOG_FILE = "train_log.csv"
# Everything a run writes; --overwrite removes these and nothing else.
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
             overwrite=False, negatives="batch", verbose=1):
    """Pre-train a CRIA encoder on recordings on disk; resumable; returns the pretrainer.

    Parameters
    ----------
    paths : list of str or path-like
        Recording files, folders or BIDS roots.
    out : str or path-like
        Output folder (see the module docstring for what it holds).
    window, stride : see :class:`~sk_cria.datasets.EEGWindowsDataset`.
    config, max_epochs, batch_size, lr, device : see :class:`~sk_cria.ViewMaskPretrainer`.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay of the learning rate over all steps of the run, stepped
        every batch; or a constant rate.
    line_freq : float or None, default=60.0
        Mains frequency notched out by the preprocessing (50 in Europe).
    seed : int, default=0
    num_workers : int, default=0
        DataLoader processes reading and preprocessing windows.
    checkpoint_every : int, default=200
        Batches between checkpoints (also written at each epoch end).
    resume : bool, default=False
        Require an unfinished run in ``out`` to continue (without it, one is
        continued when found, and a new run is started otherwise).
    overwrite : bool, default=False
        Remove the outputs of a finished or different run in ``out`` first.
    negatives : {"batch", "group"}, default="batch"
        See :class:`~sk_cria.ViewMaskPretrainer`; "group" draws each batch
        from the windows of one recording.
    verbose : int, default=1

    Returns
    -------
    pretrainer : ViewMaskPretrainer
    """
    out = Path(out)
    settings = {
        "paths": [str(Path(p).resolve()) for p in paths], "window": window,
        "stride": stride, "config": config, "max_epochs": max_epochs,
        "batch_size": batch_size, "lr": lr, "lr_schedule": lr_schedule,
        "line_freq": line_freq, "seed": seed, "device": device,
        "num_workers": num_workers, "checkpoint_every": checkpoint_every,
    }
    if negatives != "batch":  # only then, so that runs from before the option still resume
        settings["negatives"] = negatives
    for path in paths:  # before anything is written
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist; give recordings, folders of "
                                    "recordings or a BIDS root.")
    # Under torchrun only rank 0 prepares and writes the folder; all read the data.
    writer = ddp.is_main_process()
    verbose = verbose if writer else 0
    resuming = _prepare(out, settings, resume=resume, overwrite=overwrite) if writer else True
    dataset = EEGWindowsDataset(
        paths, window=window, stride=stride,
        preprocessor=EEGPreprocessor(line_freq=line_freq), verbose=bool(verbose),
    )
    if not resuming:
        _write_json(out / RUN_FILE, {"status": "running", "settings": settings,
                                     "started": _now(), "sk_cria": __version__})
    net = ViewMaskPretrainer(
        config=config, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
        random_state=seed, device=device, verbose=verbose, negatives=negatives,
        checkpoint_dir=out / CHECKPOINTS, checkpoint_every=checkpoint_every,
        callbacks=_callbacks(out, dataset, batch_size, max_epochs, lr_schedule),
        iterator_train__num_workers=num_workers, iterator_valid__num_workers=num_workers,
    )
    start = time.perf_counter()
    net.fit(dataset)
    if not writer:
        return net
    net.save_pretrained(out)
    _write_files_csv(out / "files.csv", dataset)
    run = json.loads((out / RUN_FILE).read_text())
    run.update(status="finished", finished=_now())
    _write_json(out / RUN_FILE, run)
    with open_atomic(out / "README.md") as file:
        file.write(model_card(net, dataset, settings, time.perf_counter() - start))
    if verbose:
        print(f"Pre-trained encoder written to {out}; load it with "
              f"ViewMaskPretrainer.from_pretrained({str(out)!r}).")
    return net


def _callbacks(out, dataset, batch_size, max_epochs, lr_schedule):
    callbacks = [("epoch_log", EpochLog(out / LOG_FILE))]
    if lr_schedule == "cosine":
        # Steps of one epoch, counted as the processes of a torchrun launch see them.
        steps = len(MontageBatchSampler(dataset.montage_ids, batch_size, min_batch_size=2,
                                        num_replicas=ddp.world_size()))
        callbacks.append(("lr_scheduler", LRScheduler(
            CosineAnnealingLR, T_max=max(1, steps * max_epochs), step_every="batch")))
    elif lr_schedule != "constant":
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {lr_schedule!r}.")
    return callbacks


def _prepare(out, settings, *, resume, overwrite):
    """Check that ``out`` can take this run; return whether it resumes one."""
    run_file = out / RUN_FILE
    previous = json.loads(run_file.read_text()) if run_file.is_file() else None
    if overwrite:
        for name in _OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        previous = None
    elif previous is not None:
        details = settings_differences(previous["settings"], settings, ignore=_FREE)
        if previous["status"] == "finished":
            raise RunDirError(
                f"{out} holds a finished run (finished {previous.get('finished')}); "
                "choose another --out, or pass --overwrite to replace it."
            )
        if details:
            raise RunDirError(
                f"{out} holds an unfinished run with other settings ({details}); "
                "rerun with the same settings to resume it, choose another --out, or "
                "pass --overwrite to replace it."
            )
    elif out.is_dir() and any(out.iterdir()):
        raise RunDirError(
            f"{out} is not empty and holds no sk-cria run ({RUN_FILE} is missing); "
            "choose an empty or new folder, or pass --overwrite (which removes only "
            "the files sk-cria writes)."
        )
    if resume and previous is None:
        raise RunDirError(f"--resume: {out} holds no unfinished run to resume.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise RunDirError(f"Cannot write to {out} ({error}); choose a writable --out.") \
            from error
    return previous is not None


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
        f"(line frequency {settings['line_freq']})",
        f"- {len(dataset.montages)} montage(s); {len(channels)} channels seen: "
        f"{', '.join(channels)}",
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
    with open_atomic(path) as file:
        writer = csv.writer(file)
        writer.writerow(["path", "used", "hours", "windows", "channels", "reason"])
        for rec in dataset.recordings:
            writer.writerow([rec.path, True, f"{rec.hours:.4f}", rec.n_windows,
                             len(rec.ch_names), ""])
        for skipped, reason in dataset.skipped:
            writer.writerow([skipped, False, "", 0, 0, reason])


def _write_json(path, obj):
    with open_atomic(path) as file:
        json.dump(obj, file, indent=2)


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
