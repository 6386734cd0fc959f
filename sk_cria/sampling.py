"""Batches of windows that share a montage, in an order that a resumed run can replay.

The CRIA model takes one list of channel names per batch, so a batch may not
mix montages. :class:`MontageBatchSampler` groups the windows by montage,
shuffles within and across the groups with a generator seeded by
``(seed, epoch)`` (the order of an epoch is a pure function of the two: a
resumed run replays it exactly and skips the batches already trained), and
hands each process of a distributed run its own share of the batches.
"""

import numpy as np
from torch.utils.data import Sampler

__all__ = ["MontageBatchSampler"]


class MontageBatchSampler(Sampler):
    """Yield lists of window indices, each list from a single montage.

    Parameters
    ----------
    montage_ids : array-like of int, shape (n_windows,)
        The montage of each window.
    batch_size : int
    shuffle : bool, default=True
        Shuffle windows and batches anew each epoch. Without shuffling,
        batches follow the windows in order and break where the montage
        changes (for embedding a dataset in its own order).
    seed : int, default=0
        With the epoch number, fixes the order of every epoch.
    min_batch_size : int, default=1
        Batches smaller than this (a montage's last, partial batch) are left
        out; contrastive pre-training uses 2, since a single window has no
        negatives.
    num_replicas : int, default=1
        Processes of a distributed run. The windows are cut into global
        batches of ``batch_size * num_replicas`` and each process takes its
        slice of every global batch, so a step of N processes sees the same
        windows as one process with N times the batch size (and the same
        montage on every process). A partial global batch is shared equally;
        what cannot be shared is left out.
    rank : int, default=0
        This process's index in ``range(num_replicas)``.

    Attributes
    ----------
    epoch : int
        The epoch whose order the next iteration yields; it advances by one
        at the end of each iteration.
    skip : int
        Batches of the next iteration to leave out (already trained before a
        resume); reset to 0 after it.
    """

    def __init__(self, montage_ids, batch_size, *, shuffle=True, seed=0, min_batch_size=1,
                 num_replicas=1, rank=0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in range({num_replicas}), got {rank}.")
        self.montage_ids = np.asarray(montage_ids, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.min_batch_size = int(min_batch_size)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch, skip=0):
        """Yield the order of ``epoch`` next, without its first ``skip`` batches."""
        self.epoch, self.skip = int(epoch), int(skip)

    def batches(self, epoch):
        """All batches of ``epoch`` for this rank, in order (a list of index arrays)."""
        rng = np.random.default_rng([self.seed, epoch]) if self.shuffle else None
        batches = []
        for montage in np.unique(self.montage_ids):
            members = np.flatnonzero(self.montage_ids == montage)
            if rng is not None:
                members = rng.permutation(members)
                batches.extend(self._chunks(members))
            else:  # runs of consecutive windows, so the dataset order is kept
                breaks = np.flatnonzero(np.diff(members) != 1) + 1
                for run in np.split(members, breaks):
                    batches.extend(self._chunks(run))
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        else:
            batches.sort(key=lambda batch: batch[0])
        return [self._share(batch) for batch in batches]

    def _chunks(self, indices):
        size = self.batch_size * self.num_replicas
        chunks = [indices[i:i + size] for i in range(0, len(indices), size)]
        return [c for c in chunks if len(c) >= self.min_batch_size * self.num_replicas]

    def _share(self, batch):
        """This rank's slice of a global batch (equal slices for every rank)."""
        size = len(batch) // self.num_replicas
        return batch[self.rank * size:(self.rank + 1) * size]

    def __iter__(self):
        batches = self.batches(self.epoch)[self.skip:]
        self.epoch, self.skip = self.epoch + 1, 0
        for batch in batches:
            yield batch.tolist()

    def __len__(self):
        return len(self.batches(self.epoch)) - self.skip

    def n_windows(self, epoch=None):
        """Windows this rank sees in ``epoch`` (default: the next one), skipped ones excluded."""
        epoch = self.epoch if epoch is None else epoch
        skip = self.skip if epoch == self.epoch else 0
        return int(sum(len(batch) for batch in self.batches(epoch)[skip:]))
