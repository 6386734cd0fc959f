"""Cross-view fusion layers (design section 4).

A fusion layer updates the tokens of the three views, each flattened to
``(batch, channels * patches, d_model)``. Which view attends to which is a
*route*: a view with no source self-attends, a view with sources
cross-attends to their tokens (concatenated). Every attention here is global
over the example's tokens, so with linear attention its cost is linear in
channels x patches.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import AttentionBlock, key_keep_weights

__all__ = ["FUSION_ROUTES", "FusionLayer"]

#: For each fusion kind, the views in update order and the views each one
#: attends to (None: self-attention).
FUSION_ROUTES = {
    # The paper: spectral is the primary modality, never queried against the
    # others' keys, and the other two read from its updated tokens.
    "asymmetric": (
        ("spectral", None),
        ("temporal", ("spectral",)),
        ("spatial", ("spectral",)),
    ),
    # No primary view: each view reads the other two, all from the previous
    # layer's tokens (updated in parallel).
    "symmetric": (
        ("temporal", ("spatial", "spectral")),
        ("spatial", ("temporal", "spectral")),
        ("spectral", ("temporal", "spatial")),
    ),
    # A chain: spectral -> temporal -> spatial, each reading the one before
    # it, already updated.
    "serial": (
        ("spectral", None),
        ("temporal", ("spectral",)),
        ("spatial", ("temporal",)),
    ),
}


class FusionLayer(nn.Module):
    """One layer of cross-view fusion.

    Parameters
    ----------
    config : CRIAConfig
        Uses ``fusion``, ``attention``, ``d_model``, ``n_heads``,
        ``mlp_ratio`` and ``dropout``.
    """

    def __init__(self, config):
        super().__init__()
        self.route = FUSION_ROUTES[config.fusion]
        self.parallel = config.fusion == "symmetric"
        self.n_heads = config.n_heads
        self.blocks = nn.ModuleDict(
            {
                view: AttentionBlock(
                    config.d_model,
                    config.n_heads,
                    config.attention,
                    config.mlp_ratio,
                    config.dropout,
                    cross=sources is not None,
                )
                for view, sources in self.route
            }
        )

    def forward(self, views, padding, rope, mask_ratio):
        """Update the views.

        Parameters
        ----------
        views : dict of str to torch.Tensor
            ``(batch, n_tokens, d_model)`` tokens of each view, same layout.
        padding : torch.Tensor of bool, shape (batch, n_tokens), or None
            True for padded tokens; they are never used as keys.
        rope : torch.Tensor
            Rotary table of the ``n_tokens`` positions.
        mask_ratio : float
            Random attention masking ratio (0 outside training).

        Returns
        -------
        dict of str to torch.Tensor
            The updated tokens.
        """
        updated = dict(views)
        sources_of = views if self.parallel else updated
        for view, sources in self.route:
            context, context_padding, rope_k = _gather(sources_of, sources, padding, rope)
            keys = updated[view] if context is None else context
            keep = key_keep_weights(
                context_padding,
                keys.shape[0],
                self.n_heads,
                keys.shape[1],
                mask_ratio,
                keys.device,
                keys.dtype,
            )
            updated[view] = self.blocks[view](
                updated[view], context, key_keep=keep, rope_q=rope, rope_k=rope_k
            )
        return updated


def _gather(views, sources, padding, rope):
    """Concatenate the source views' tokens, padding and rotary tables."""
    if sources is None:
        return None, padding, rope
    if len(sources) == 1:
        return views[sources[0]], padding, rope
    n = len(sources)
    context = torch.cat([views[source] for source in sources], dim=1)
    context_padding = None if padding is None else padding.repeat(1, n)
    return context, context_padding, rope.repeat(n, 1)
