"""Data-parallel pre-training with PyTorch's own engine, under ``torchrun``.

Nothing here launches processes: ``torchrun`` (or Slurm's ``srun`` running
``torchrun``) starts one process per GPU or CPU slot and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; this module is the
only reader of those three variables in sk_cria.
:class:`~sk_cria.ViewMaskPretrainer` then joins the process group (NCCL on
CUDA, gloo on the CPU), wraps its module in
:class:`~torch.nn.parallel.DistributedDataParallel` for the training steps,
and each process reads only its slice of every global batch
(:class:`~sk_cria.sampling.MontageBatchSampler`). The contrastive loss
gathers the projections of every process, with their gradients, so that each
window has the negatives of the whole global batch, as in one process.
"""

import atexit
import os
import warnings

import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = ["all_gather_with_grad", "finish", "init_from_env", "is_main_process",
           "local_rank", "rank", "world_size"]


def _launch_variable(name):
    """``name`` as torchrun sets it, or None outside a launch."""
    value = os.environ.get(name)
    return None if value is None else int(value)


def is_distributed():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size():
    """Processes in the run: the process group's, else torchrun's (1 outside a launch)."""
    if is_distributed():
        return dist.get_world_size()
    # Before the group is joined (a command preparing its run), the launcher's.
    launched = _launch_variable("WORLD_SIZE")
    return 1 if launched is None else launched


def rank():
    """This process's rank: in the process group, else torchrun's (0 outside a launch)."""
    if is_distributed():
        return dist.get_rank()
    launched = _launch_variable("RANK")
    return 0 if launched is None else launched


def local_rank():
    """This process's rank on its machine (torchrun's ``LOCAL_RANK``); None outside a launch."""
    return _launch_variable("LOCAL_RANK")


def is_main_process():
    """Whether this process writes the run's files, logs and progress bar (rank 0)."""
    return rank() == 0


#: Whether init_from_env created the process group (not the caller), so owns its end.
_owns_group = False


def init_from_env(device):
    """Join the process group that ``torchrun`` describes in the environment, once.

    Does nothing outside a launch of more than one process, or when the
    caller has already initialised the group.
    """
    if world_size() <= 1 or not dist.is_available():
        return
    if dist.is_initialized():
        return
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank() or 0)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    global _owns_group
    _owns_group = True
    # The group is ours: destroy it before the interpreter exits, as PyTorch asks.
    # Left to teardown, gloo's threads can abort a finished process ("terminate
    # called without an active exception"), failing a run that had completed.
    atexit.register(_destroy_process_group)


def _destroy_process_group():
    global _owns_group
    if _owns_group and dist.is_initialized():
        dist.destroy_process_group()
    _owns_group = False


def finish():
    """End a run of several processes together; every process calls it last.

    A barrier first, so that no process tears down its connections while
    another still works or talks to it (rank 0 writing the run's files):
    then the group init_from_env created is destroyed, in the program's
    flow rather than at exit. A group the caller created is left alone.
    """
    if not (_owns_group and is_distributed()):
        return
    dist.barrier()
    _destroy_process_group()


def all_gather_with_grad(tensor):
    """Concatenate ``tensor`` from every process, keeping the gradient path.

    Every process must pass the same shape (the sampler gives each process
    an equal slice of the global batch). Returns the tensor itself outside a
    distributed run.
    """
    if not is_distributed():
        return tensor
    # Deferred: importable only on a torch built with torch.distributed.
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()), dim=0)


def mean_over_processes(value):
    """The mean of a scalar tensor over all processes (no gradient)."""
    if not is_distributed():
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world_size()


def gather_objects(obj):
    """A list with ``obj`` of every process, in rank order (collective)."""
    if not is_distributed():
        return [obj]
    objects = [None] * world_size()
    dist.all_gather_object(objects, obj)
    return objects


def data_parallel(module, device):
    """``module`` wrapped in DistributedDataParallel (it shares the parameters)."""
    device = torch.device(device)
    # Some parameters (placeholders of views no window of a batch masks) get
    # no gradient in a step; DDP must be told to expect that.
    return DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=True,
    )


def warn_world_size_change(saved, now):
    warnings.warn(
        f"Resuming a run of {saved} process(es) with {now}: the global batch changes, so "
        "the rest of the interrupted epoch follows a new order and the result differs "
        "from an uninterrupted run (a resume with the same number of processes is exact).",
        UserWarning,
    )
