"""The pre-training task of CRIA: masks, the contrastive loss, the pre-training module.

Design section 6: for each example one of the three views (temporal, spatial,
spectral) is replaced by a learned placeholder; the masked and the unmasked
example are encoded, projected, and pulled together by an InfoNCE loss that
pushes the other examples of the batch apart.
:class:`~sk_cria.ViewMaskPretrainer` trains :class:`ViewMaskModule` with
skorch.
"""

import torch
from torch import nn
from torch.nn import functional as F

from .. import ddp
from ..channels import channel_neighbour_order

__all__ = ["MASKINGS", "InfoNCELoss", "ViewMaskModule", "make_token_mask"]

MASKINGS = ("view", "token", "spatial_block")
N_VIEWS = 3


def make_token_mask(masking, batch_size, n_channels, n_patches, ratio, generator=None,
                    channel_order=None, device=None):
    """Build the boolean token mask ``(batch, 3, n_channels, n_patches)`` of a strategy.

    Parameters
    ----------
    masking : {"view", "token", "spatial_block"}
        ``"view"``: one whole view per example, chosen uniformly (CRIA).
        ``"token"``: each token of each view independently with probability
        ``ratio``. ``"spatial_block"``: S-JEPA's contiguous block of about
        ``ratio * n_channels`` neighbouring channels, in every view and patch.
    batch_size, n_channels, n_patches : int
    ratio : float
        Fraction masked by ``"token"`` and ``"spatial_block"``.
    generator : torch.Generator or None
    channel_order : array-like of shape (n_channels, n_channels) or None
        For ``"spatial_block"``: row ``c`` lists the channels by distance from
        channel ``c`` (nearest first). None uses index order as the neighbourhood.
    device : torch.device or None

    Returns
    -------
    mask : BoolTensor of shape (batch, 3, n_channels, n_patches)
    """
    shape = (batch_size, N_VIEWS, n_channels, n_patches)
    if masking == "view":
        view = torch.randint(N_VIEWS, (batch_size,), generator=generator)
        mask = F.one_hot(view, N_VIEWS).bool()[:, :, None, None]
        return mask.expand(shape).to(device).contiguous()
    if masking == "token":
        return (torch.rand(shape, generator=generator) < ratio).to(device)
    if masking == "spatial_block":
        n_block = max(1, int(round(ratio * n_channels)))
        if channel_order is None:
            channel_order = _index_order(n_channels)
        centre = torch.randint(n_channels, (batch_size,), generator=generator)
        blocks = torch.as_tensor(channel_order)[centre, :n_block]  # (batch, n_block)
        channels = torch.zeros(batch_size, n_channels, dtype=torch.bool)
        channels.scatter_(1, blocks, True)
        return channels[:, None, :, None].expand(shape).to(device).contiguous()
    raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}.")


def _index_order(n_channels):
    idx = torch.arange(n_channels)
    return (idx[None, :] - idx[:, None]).abs().argsort(dim=1, stable=True)


class InfoNCELoss(nn.Module):
    """Symmetric InfoNCE between two batches of projections.

    Row ``i`` of ``z_a`` and row ``i`` of ``z_b`` are the positive pair; every
    other row of the batch is a negative (of the global batch, gathered from
    every process, in a distributed run).

    Parameters
    ----------
    temperature : float, default=0.1
    """

    def __init__(self, temperature=0.1):
        super().__init__()
        self.temperature = temperature

    def forward(self, z_a, z_b):
        z_a = F.normalize(z_a.float(), dim=-1)
        z_b = F.normalize(z_b.float(), dim=-1)
        # In a distributed run the negatives are the whole global batch: the
        # other processes' projections, gathered with their gradients.
        all_a = ddp.all_gather_with_grad(z_a)
        all_b = ddp.all_gather_with_grad(z_b)
        offset = ddp.rank() * len(z_a)
        target = torch.arange(offset, offset + len(z_a), device=z_a.device)
        return 0.5 * (F.cross_entropy(z_a @ all_b.T / self.temperature, target)
                      + F.cross_entropy(z_b @ all_a.T / self.temperature, target))


class ViewMaskModule(nn.Module):
    """CRIA encoder + projection head; forward returns the two projections.

    Parameters
    ----------
    encoder : CRIA
    projection_dim : int, default=128
    masking : {"view", "token", "spatial_block"}, default="view"
    mask_ratio : float, default=0.5
    reuse_streams : bool or "auto", default="auto"
        Compute the fusion streams that the mask leaves unchanged once for
        both passes (:meth:`CRIA.encode_masked_pair <sk_cria.model.CRIA.encode_masked_pair>`):
        with view masking a step fuses 1.56 batches instead of 2. With
        dropout the two passes of such a stream then share its noise, which
        changes the pretext. "auto" reuses them when the pass runs under
        bfloat16 autocast (``ViewMaskPretrainer``'s ``precision="auto"`` on
        CUDA and on CPUs with native bfloat16 products): of float32,
        bfloat16, reuse and both, only both matched float32's loss and probe
        curves in two seed runs as long as ``cria-small``'s
        (``benchmarks/results/precision.md``, ``precision_seed1.md``).

    Notes
    -----
    Every batch brings its channels, as the vocabulary index pairs of
    :func:`sk_cria.channels.lookup_channels` (``channels``, shape
    ``(batch, n_channels, 2)``), for arrays and for recordings on disk alike:
    the module keeps no channel names of its own.
    """

    def __init__(self, encoder, projection_dim=128, masking="view", mask_ratio=0.5,
                 reuse_streams="auto"):
        super().__init__()
        self.encoder = encoder
        width = encoder.config.embed_dim
        self.projector = nn.Sequential(
            nn.Linear(width, width), nn.GELU(), nn.Linear(width, projection_dim)
        )
        self.masking = masking
        self.mask_ratio = mask_ratio
        if reuse_streams not in (True, False, "auto"):
            raise ValueError(f"reuse_streams must be True, False or 'auto', got {reuse_streams!r}.")
        self.reuse_streams = reuse_streams
        self._channel_orders = {}  # a cache: montage -> neighbour order

    def _channel_order(self, channels):
        if self.masking != "spatial_block":
            return None
        montage = channels[0]
        if bool((channels != montage).any()):
            raise ValueError(
                "A batch mixes montages; batch windows of one montage together "
                "(sk_cria.sampling.MontageBatchSampler does)."
            )
        key = tuple(montage.reshape(-1).tolist())
        if key not in self._channel_orders:
            self._channel_orders[key] = torch.as_tensor(channel_neighbour_order(montage.cpu()))
        return self._channel_orders[key]

    def forward(self, x, channels):
        batch, n_channels, n_times = x.shape
        n_patches = n_times // self.encoder.config.patch_size
        # Each process of a distributed run draws the masks of the whole global
        # batch (their generators are in step) and keeps its slice: a step
        # masks what one process with the global batch would mask.
        world, rank = ddp.world_size(), ddp.rank()
        mask = make_token_mask(
            self.masking, batch * world, n_channels, n_patches, self.mask_ratio,
            channel_order=self._channel_order(channels), device=x.device,
        )[rank * batch:(rank + 1) * batch]
        reuse = getattr(self, "reuse_streams", False)
        if reuse == "auto":
            reuse = (torch.is_autocast_enabled(x.device.type)
                     and torch.get_autocast_dtype(x.device.type) == torch.bfloat16)
        masked, full = self.encoder.encode_masked_pair(x, channels, mask, reuse_streams=reuse)
        return self.projector(masked.embedding), self.projector(full.embedding)
