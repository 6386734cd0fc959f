"""Training checkpoints that survive a kill at any instant, and resuming from them.

A checkpoint is one file written by :func:`torch.save` (loaded back with
``weights_only=True``, so loading never runs code from the file). It holds the
module and optimizer states, the state of every learning-rate scheduler
callback, the skorch history, the position in the data order (epoch, step and
the seed of the order) and every random number generator state, so that the
resumed run continues bit for bit where the checkpoint was taken.

Files are written to a temporary name in the same folder, flushed to disk,
then renamed over the final name (``os.replace`` is atomic on POSIX and
Windows): a kill leaves either the previous file or the new one, never half a
file. The last ``keep`` checkpoints are kept, and a resume takes the newest
one that loads, so even a file damaged behind our back (a disk error, a copy
cut short) is passed over for the one before it.
"""

import json
import os
from pathlib import Path
import random
import tempfile
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["TrainingCheckpoint", "find_checkpoints", "load_latest", "save_atomic"]

#: Version of the checkpoint layout; a resume refuses other versions.
FORMAT = 1
_PATTERN = "step-*.pt"


def save_atomic(obj, path):
    """``torch.save(obj, path)`` such that ``path`` is never a partial file."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def find_checkpoints(directory):
    """Checkpoint files of ``directory``, newest first."""
    directory = Path(directory)
    return sorted(directory.glob(_PATTERN), reverse=True) if directory.is_dir() else []


def load_latest(directory):
    """Load the newest checkpoint of ``directory`` that is whole.

    Returns
    -------
    state : dict or None
        None when the folder holds no checkpoint.
    path : pathlib.Path or None
    """
    for path in find_checkpoints(directory):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated, corrupted or not ours
            warnings.warn(
                f"Checkpoint {path} cannot be read ({type(error).__name__}: {error}); "
                "resuming from the one before it.",
                UserWarning,
            )
            continue
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            warnings.warn(f"{path} is not a checkpoint of this sk_cria version; skipped.",
                          UserWarning)
            continue
        return state, path
    return None, None


def rng_state():
    """Every random number generator a training step may draw from."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": _python_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state():
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    # A tensor, not an ndarray: weights_only loading accepts tensors only.
    return kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)


def _python_state():
    version, internal, gauss_next = random.getstate()
    return version, list(internal), gauss_next


class TrainingCheckpoint(Callback):
    """Write a resumable checkpoint every ``every_n_steps`` batches and at each epoch end.

    Used by :class:`~sk_cria.ViewMaskPretrainer` when ``checkpoint_dir`` is
    set; the net supplies what is specific to it through
    ``net.checkpoint_state_()``.

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoint files (``step-<global step>.pt``).
    every_n_steps : int or None, default=None
        Also write one every this many training batches; None writes at
        epoch ends only.
    keep : int, default=2
        Newest checkpoints to keep; older ones are deleted once a newer one
        is safely on disk.
    """

    def __init__(self, dirname, every_n_steps=None, keep=2):
        self.dirname = dirname
        self.every_n_steps = every_n_steps
        self.keep = keep

    def on_train_begin(self, net, **kwargs):
        Path(self.dirname).mkdir(parents=True, exist_ok=True)

    def on_batch_end(self, net, training=False, **kwargs):
        if not training or not self.every_n_steps:
            return
        if _global_step(net.history) % self.every_n_steps == 0:
            self.save(net, in_epoch=True)

    def on_epoch_end(self, net, **kwargs):
        self.save(net, in_epoch=False)

    def save(self, net, in_epoch):
        """Checkpoint the net; ``in_epoch``: the last history row is an epoch in progress.

        Called on every process of a distributed run; rank 0 writes.
        """
        # Collective: every process hands over its generators' states.
        from .distributed import gather_objects

        rngs = gather_objects(rng_state())
        if not net.is_checkpoint_writer_():
            return
        history = net.history.to_list()
        batches = history.pop()["batches"] if in_epoch else []
        state = {
            "format": FORMAT,
            "epoch": len(history),  # completed epochs
            "step": len(batches),  # batches done of the epoch in progress
            "history": json.dumps(history),
            "batches": json.dumps(batches),
            "rng": rngs,  # one entry per process
            **net.checkpoint_state_(),
        }
        step = _global_step(net.history)
        save_atomic(state, Path(self.dirname) / f"step-{step:010d}.pt")
        for old in find_checkpoints(self.dirname)[self.keep:]:
            old.unlink(missing_ok=True)


def _global_step(history):
    return sum(len(epoch["batches"]) for epoch in history)
