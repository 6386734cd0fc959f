"""skorch callbacks for long pre-training runs: a progress bar in windows and an epoch log."""

import csv
import io
import os
from pathlib import Path
import tempfile

from skorch.callbacks import Callback
from skorch.dataset import get_len

__all__ = ["EpochLog", "WindowProgressBar"]


class WindowProgressBar(Callback):
    """One tqdm bar over the windows of the whole run, with rate, loss and ETA.

    The rate is in windows per second (not batches), so runs with different
    batch sizes compare; a resumed run starts the bar where the checkpoint
    left off. Shown by the net's writing process only (rank 0 of a
    distributed run).
    """

    def on_train_begin(self, net, **kwargs):
        self.bar_ = None

    def on_epoch_begin(self, net, **kwargs):
        if self.bar_ is not None or not net.is_checkpoint_writer_():
            return
        from tqdm.auto import tqdm

        sampler, world = net.train_sampler_, net.world_size_()
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
        self.bar_.update(get_len(batch[0]) * net.world_size_())
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
        if not net.is_checkpoint_writer_():
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in net.history:
            windows = sum(batch.get("train_batch_size", 0) for batch in row["batches"])
            windows *= net.world_size_()
            writer.writerow({
                "epoch": row["epoch"], "train_loss": f"{row.get('train_loss', float('nan')):.6f}",
                "train_windows": windows, "dur": f"{row.get('dur', float('nan')):.3f}",
                "windows_per_s": f"{windows / row['dur']:.2f}" if row.get("dur") else "",
            })
        path = Path(self.path)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w") as file:
            file.write(buffer.getvalue())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a log is for everyone
        os.replace(tmp, path)
