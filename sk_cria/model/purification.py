"""Instance-adapted purification and pooling (design section 5).

Each example keeps its own most active channels and, within them, its most
active patches, scored by the L2 norm of the fused tokens; the kept tokens
are normalised and averaged into one embedding.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PurifiedPooling", "purification_mask", "resolve_top_k"]


def resolve_top_k(k, available):
    """Turn a ``k_c``/``k_t`` setting into a count per example.

    Parameters
    ----------
    k : float, int or None
        A fraction in (0, 1] (rounded up), a count, or None (keep all).
    available : torch.Tensor of int
        Number of real (unpadded) items of each example.

    Returns
    -------
    torch.Tensor of int, same shape as ``available``
        Counts between 1 and ``available`` (0 only where nothing is
        available).
    """
    if k is None:
        return available
    if isinstance(k, float):
        wanted = torch.ceil(available.double() * k).long()
    else:
        wanted = torch.full_like(available, k)
    return wanted.clamp(min=1).minimum(available)


def _top_k_mask(scores, counts):
    """True for the ``counts`` best ``scores`` along the last dimension.

    A stable sort breaks ties by position, so equal scores (a flat input)
    still give a deterministic selection.
    """
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)
    ranks = torch.argsort(order, dim=-1, stable=True)
    return ranks < counts.unsqueeze(-1)


def purification_mask(token_norms, padding, k_c, k_t):
    """Select the top channels, then the top patches within each of them.

    Parameters
    ----------
    token_norms : torch.Tensor of shape (batch, channels, patches)
        L2 norm of each fused token.
    padding : torch.Tensor of bool, same shape, or None
        True for padded tokens, which are never selected or counted.
    k_c, k_t : float, int or None
        Channels and patches to keep (see :class:`CRIAConfig`).

    Returns
    -------
    torch.Tensor of bool, shape (batch, channels, patches)
        True for the kept tokens.
    """
    real = torch.ones_like(token_norms, dtype=torch.bool) if padding is None else ~padding
    real_patches = real.sum(dim=-1)
    channel_scores = (token_norms * real).sum(dim=-1) / real_patches.clamp(min=1)
    channel_scores = channel_scores.masked_fill(real_patches == 0, -torch.inf)
    keep_channel = _top_k_mask(channel_scores, resolve_top_k(k_c, (real_patches > 0).sum(-1)))
    patch_scores = token_norms.masked_fill(~real, -torch.inf)
    keep_patch = _top_k_mask(patch_scores, resolve_top_k(k_t, real_patches))
    return keep_patch & keep_channel.unsqueeze(-1) & real


class PurifiedPooling(nn.Module):
    """Purify the fused tokens, LayerNorm them and average into one embedding.

    The three views' tokens of a position are concatenated, so a position's
    score is the norm of all its fused features.

    Parameters
    ----------
    config : CRIAConfig
        Uses ``d_model`` and ``embed_dim``.
    n_views : int, default=3
    """

    def __init__(self, config, n_views=3):
        super().__init__()
        self.norm = nn.LayerNorm(n_views * config.d_model)
        self.projection = nn.Linear(n_views * config.d_model, config.embed_dim)

    def forward(self, views, padding, k_c, k_t):
        """Pool ``(B, C, P, D)`` view tokens into ``(B, embed_dim)``.

        Parameters
        ----------
        views : sequence of torch.Tensor
        padding : torch.Tensor of bool, shape (B, C, P), or None
        k_c, k_t : float, int or None
            Channels and patches to keep (see :class:`CRIAConfig`).

        Returns
        -------
        embedding : torch.Tensor of shape (B, embed_dim)
        kept : torch.Tensor of bool, shape (B, C, P)
            The tokens purification kept.
        """
        tokens = torch.cat(tuple(views), dim=-1)
        with torch.no_grad():
            kept = purification_mask(tokens.norm(dim=-1), padding, k_c, k_t)
        weights = kept.to(tokens.dtype).unsqueeze(-1)
        pooled = (self.norm(tokens) * weights).sum(dim=(1, 2)) / weights.sum(dim=(1, 2)).clamp(min=1)
        return self.projection(pooled), kept
