"""skorch callbacks for long pre-training runs: a progress bar in windows and an epoch log.

Both work on a skorch ``NeuralNet`` through its public attributes (``history``,
``max_epochs``); in a run under ``torchrun`` they count the windows of every
process and only rank 0 shows or writes anything (:mod:`sk_cria.ddp`).
"""

import csv

from skorch.callbacks import Callback
from skorch.dataset import get_len
from tqdm.auto import tqdm

from . import ddp
from .atomic import open_atomic

__all__ = ["EpochLog", "WindowProgressBar"]


class WindowProgressBar(Callback):
    """One tqdm bar over the windows of the whole run, with rate, loss and ETA.

    The rate is in windows per second (not batches), so runs with different
    batch sizes compare; a resumed run starts the bar where the checkpoint
    left off. Shown by rank 0 only in a distributed run. The net reads its
    training batches through ``train_sampler_``, a
    :class:`~sk_cria.sampling.MontageBatchSampler` (as
    :class:`~sk_cria.ViewMaskPretrainer` does).
    """

    def on_train_begin(self, net, **kwargs):
        self.bar_ = None

    def on_epoch_begin(self, net, **kwargs):
        if self.bar_ is not None or not ddp.is_main_process():
            return
        sampler, world = net.train_sampler_, ddp.world_size()
        full = sampler.n_windows(sampler.epoch + 1)  # one rank's full epoch
        completed = len(net.history) - 1
        done = completed * full + full - sampler.n_windows()  # the latter: resumed mid-epoch
        self.bar_ = tqdm(
            total=full * world * net.max_epochs, initial=done * world, unit="win",
            desc=type(net).__name__, dynamic_ncols=True, smoothing=0.1,
        )

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training or self.bar_ is None:
            return
        self.bar_.update(get_len(batch[0]) * ddp.world_size())
        self.bar_.set_postfix(epoch=len(net.history),
                              loss=f"{net.history[-1, 'batches', -1, 'train_loss']:.4f}",
                              refresh=False)

    def on_train_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None


class EpochLog(Callback):
    """Rewrite a CSV file of the epochs (loss, duration, windows/s) at each epoch end.

    The file is rebuilt from the history, which a resumed run restores from
    its checkpoint, so a kill never leaves duplicated or missing rows; it is
    replaced atomically.

    Parameters
    ----------
    path : str or path-like
    """

    COLUMNS = ("epoch", "train_loss", "train_windows", "dur", "windows_per_s")

    def __init__(self, path):
        self.path = path

    def on_epoch_end(self, net, **kwargs):
        if not ddp.is_main_process():
            return
        with open_atomic(self.path, "w") as file:
            writer = csv.DictWriter(file, fieldnames=self.COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in net.history:
                windows = sum(batch.get("train_batch_size", 0) for batch in row["batches"])
                windows *= ddp.world_size()
                writer.writerow({
                    "epoch": row["epoch"],
                    "train_loss": f"{row.get('train_loss', float('nan')):.6f}",
                    "train_windows": windows, "dur": f"{row.get('dur', float('nan')):.3f}",
                    "windows_per_s": f"{windows / row['dur']:.2f}" if row.get("dur") else "",
                })
