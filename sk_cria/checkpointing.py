"""Training checkpoints that survive a kill at any instant, and resuming from them.

:class:`TrainingCheckpoint` writes them and :class:`ResumeTraining` resumes a
fit from them, as skorch's ``Checkpoint`` and ``LoadInitState`` pair.

A checkpoint is one file written by :func:`torch.save` (loaded back with
``weights_only=True``, so loading never runs code from the file). It holds the
module and optimizer states, the state of every learning-rate scheduler
callback, the skorch history, the position in the data order (epoch, step and
the seed of the order) and every random number generator state, so that the
resumed run continues bit for bit where the checkpoint was taken.

Files (these and every other file sk_cria writes, through :func:`sk_cria.atomic.open_atomic`)
are written to a temporary name in the same folder, flushed to disk, then
renamed over the final name (``os.replace`` is atomic on POSIX and Windows): a
kill leaves either the previous file or the new one, never half a file. The
last ``keep`` checkpoints are kept, and a resume takes the newest one that
loads, so even a file damaged behind our back (a disk error, a copy cut short)
is passed over for the one before it.
"""

import json
from pathlib import Path
import random
import sys
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from . import ddp
from .atomic import open_atomic

__all__ = ["ResumeTraining", "TrainingCheckpoint", "find_checkpoints", "load_latest",
           "save_atomic", "settings_differences"]

#: Version of the checkpoint layout; a resume refuses other versions.
FORMAT = 1
_PATTERN = "step-*.pt"


def save_atomic(obj, path):
    """``torch.save(obj, path)`` through :func:`open_atomic`."""
    with open_atomic(path, "wb") as file:
        torch.save(obj, file)


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


def settings_differences(then, now, ignore=()):
    """The settings of a run that differ from those it was started with, in words.

    The one comparison behind every refusal to resume with other settings
    (a checkpoint's data and parameters, an ``sk-cria pretrain`` folder's
    command line).

    Parameters
    ----------
    then, now : dict
        Settings when the run started, and now.
    ignore : iterable of str, default=()
        Settings that may change between the two (where and how fast the run
        goes, not what it computes).

    Returns
    -------
    details : str
        ``"lr=0.01 there, 0.1 now; ..."`` (sorted by key), empty when they agree.
    """
    ignore = set(ignore)
    differ = sorted(key for key in set(then) | set(now)
                    if key not in ignore and then.get(key) != now.get(key))
    return "; ".join(f"{key}={then.get(key)!r} there, {now.get(key)!r} now" for key in differ)


def _scheduler_states(net):
    """States of the net's learning-rate scheduler callbacks (skorch's LRScheduler)."""
    return {name: callback.lr_scheduler_.state_dict() for name, callback in net.callbacks_
            if hasattr(getattr(callback, "lr_scheduler_", None), "state_dict")}


class TrainingCheckpoint(Callback):
    """Write a resumable checkpoint every ``every_n_steps`` batches and at each epoch end.

    Used by :class:`~sk_cria.ViewMaskPretrainer` when ``checkpoint_dir`` is
    set; :class:`ResumeTraining` resumes from its folder. Besides skorch's
    public attributes (``module_``, ``optimizer_``, ``history``,
    ``callbacks_``), the net provides ``data_seed_`` (the seed of its batch
    order) and ``training_fingerprint(X)`` (a JSON-able dict of the data and
    settings that a resumed run must share with this one).

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

    See Also
    --------
    ResumeTraining : resumes a fit from the newest of these checkpoints.
    """

    def __init__(self, dirname, every_n_steps=None, keep=2):
        self.dirname = dirname
        self.every_n_steps = every_n_steps
        self.keep = keep

    def on_train_begin(self, net, X=None, **kwargs):
        Path(self.dirname).mkdir(parents=True, exist_ok=True)
        self.fingerprint_ = json.dumps(net.training_fingerprint(X))

    def on_batch_end(self, net, training=False, **kwargs):
        if not training or not self.every_n_steps:
            return
        if _global_step(net.history) % self.every_n_steps == 0:
            self.save(net, in_epoch=True)

    def on_epoch_end(self, net, **kwargs):
        self.save(net, in_epoch=False)

    # Deliberately no on_train_end: skorch ends a fit stopped by Ctrl-C through
    # on_train_end, possibly in the middle of a batch; a checkpoint taken there
    # would not be a state the uninterrupted run passes through, and resuming
    # from it would not give its weights.

    def save(self, net, in_epoch):
        """Checkpoint the net; ``in_epoch``: the last history row is an epoch in progress.

        Called on every process of a distributed run; rank 0 writes.
        """
        # Collective: every process hands over its generators' states.
        rngs = ddp.gather_objects(rng_state())
        if not ddp.is_main_process():
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
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "schedulers": _scheduler_states(net),
            "data_seed": net.data_seed_,
            "fingerprint": self.fingerprint_,
        }
        step = _global_step(net.history)
        save_atomic(state, Path(self.dirname) / f"step-{step:010d}.pt")
        for old in find_checkpoints(self.dirname)[self.keep:]:
            old.unlink(missing_ok=True)


class ResumeTraining(Callback):
    """Resume a fit from the newest whole checkpoint of a :class:`TrainingCheckpoint`.

    The pair works as skorch's ``Checkpoint`` and ``LoadInitState``: at the
    first ``on_train_begin`` after the net is initialised, if the folder of
    ``checkpoint`` holds a checkpoint, this callback checks that it is of the
    same run (``net.training_fingerprint(X)``, refused otherwise) and
    restores the module, the optimizer, the history, ``data_seed_`` and
    every random number generator; at the next ``on_epoch_begin``, the
    batches already trained of the interrupted epoch (in the history, and
    skipped by ``net.train_sampler_``) and the learning-rate schedulers. The
    net then trains the epochs the checkpoint lacks (``epochs_done_`` of its
    ``max_epochs``), and ends with the weights an uninterrupted run would
    have.

    It must come before the learning-rate schedulers among the net's
    callbacks: skorch's ``LRScheduler`` builds its scheduler at
    ``on_train_begin`` from the optimizer and history that this one restores.

    Parameters
    ----------
    checkpoint : TrainingCheckpoint
        The callback whose folder to resume from.

    Attributes
    ----------
    resumed_from_ : pathlib.Path or None
        The checkpoint that the current fit resumed from; None when it
        started afresh.
    epochs_done_ : int
        Epochs that checkpoint had completed (0 without one).
    """

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def initialize(self):
        self.did_load_ = False
        self.resumed_from_ = None
        self.epochs_done_ = 0
        self._in_epoch = None
        return self

    def on_train_begin(self, net, X=None, **kwargs):
        if self.did_load_:  # a partial_fit continues from where the net is
            self.epochs_done_ = 0
            return
        self.did_load_ = True
        state, path = load_latest(self.checkpoint.dirname)
        if state is None:
            return
        details = settings_differences(json.loads(state["fingerprint"]),
                                       json.loads(json.dumps(net.training_fingerprint(X))))
        if details:
            raise ValueError(
                f"checkpoint_dir={str(self.checkpoint.dirname)!r} holds a run with other "
                f"data or settings ({details}). Resume it with the same ones, or give "
                "another (or an empty) checkpoint_dir."
            )
        if net.verbose:
            print(f"Resuming from {path} (epoch {state['epoch'] + 1}, after batch "
                  f"{state['step']} of it).", file=sys.stderr)
        net.module_.load_state_dict(state["module"])
        net.optimizer_.load_state_dict(state["optimizer"])
        net.history_ = History(json.loads(state["history"]))
        net.data_seed_ = int(state["data_seed"])
        step = int(state["step"])
        saved_world, world = len(state["rng"]), ddp.world_size()
        if saved_world != world:
            ddp.warn_world_size_change(saved_world, world)
            # Keep the number of windows done: same window count, new batches.
            step = step * saved_world // world
        # The processes' generators are in step (same seed, same draws), so
        # rank 0's state serves any number of processes.
        rank = ddp.rank()
        set_rng_state(state["rng"][rank if rank < saved_world else 0])
        self.resumed_from_, self.epochs_done_ = path, int(state["epoch"])
        self._in_epoch = step, json.loads(state["batches"]), state["schedulers"]

    def on_epoch_begin(self, net, **kwargs):
        if self._in_epoch is None:
            return
        step, batches, schedulers = self._in_epoch
        self._in_epoch = None
        # The epoch goes on after the batches the checkpoint had trained, and
        # its loss is over all of them.
        sampler = net.train_sampler_
        sampler.set_epoch(sampler.epoch, step)
        net.history[-1]["batches"].extend(batches)
        # After on_train_begin, where skorch's LRScheduler builds its scheduler.
        for name, callback in net.callbacks_:
            if name in schedulers:
                callback.lr_scheduler_.load_state_dict(schedulers[name])

    def on_train_end(self, net, **kwargs):
        self._in_epoch = None  # a resumed run that had no epoch left to train


def _global_step(history):
    return sum(len(epoch["batches"]) for epoch in history)
