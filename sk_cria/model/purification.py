"""Instance-adapted purification and pooling (design section 5).

Each example keeps its own most active channels and, within them, its most
active patches, scored by the L2 norm of the fused tokens; the kept tokens
are normalised (each view on its own, or the three views together in
checkpoints from before issue 21) and pooled: averaged, and, with
``pooling="mean_top"``, also averaged over the few channels where each
feature is largest, so that a rhythm over a few channels survives; a linear
readout gives the embedding.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PurifiedPooling", "purification_mask", "region_mean", "resolve_top_k"]


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
    """Purify the fused tokens, LayerNorm them and pool them into one embedding.

    The three views' tokens of a position are concatenated, so a position's
    score is the norm of all its fused features.

    Parameters
    ----------
    config : CRIAConfig
        Uses ``d_model``, ``embed_dim``, ``pooling``, ``pool_top_channels``,
        ``pool_norm`` and ``readout_init``.
    n_views : int, default=3
    primary : int or None, default=None
        Index of the primary view in the ``views`` given to :meth:`forward`;
        with ``config.readout_init="primary"`` the projection starts by
        reading that view only (see :class:`CRIAConfig`).
    """

    def __init__(self, config, n_views=3, primary=None):
        super().__init__()
        width = n_views * config.d_model
        self.top_channels = config.pool_top_channels if config.pooling == "mean_top" else None
        # Legacy ("joint"): one LayerNorm over the concatenated views, so the
        # untrained temporal and spatial tokens rescale the spectral ones.
        if config.pool_norm == "view":
            self.norms = nn.ModuleList(nn.LayerNorm(config.d_model) for _ in range(n_views))
        else:
            self.norm = nn.LayerNorm(width)
        n_pooled = 2 * width if self.top_channels else width
        self.projection = nn.Linear(n_pooled, config.embed_dim)
        if config.readout_init == "primary" and primary is not None:
            self._init_primary_readout(config.d_model, n_views, primary)

    def _init_primary_readout(self, d_model, n_views, primary):
        """Start the embedding as the pooled features of the primary view.

        Unit ``i`` of the embedding reads the primary view's ``i``-th pooled
        feature (cycling when the embedding is wider) with weight 1. A random
        dense projection would mix the features of every view: the
        untrained temporal and spatial tokens, and the high-variance
        broadband features of the spectrum, then swamp a narrow-band
        feature in every unit. The other views' columns start at zero but
        get gradients (their inputs are not zero), so training brings them
        in.
        """
        view_of_column = torch.arange(self.projection.in_features) // d_model % n_views
        primary_columns = torch.nonzero(view_of_column == primary).flatten()
        units = torch.arange(self.projection.out_features)
        with torch.no_grad():
            self.projection.weight.zero_()
            self.projection.bias.zero_()
            self.projection.weight[units, primary_columns[units % len(primary_columns)]] = 1.0

    def normalise(self, views):
        """The LayerNorm'd tokens, views concatenated: ``(B, C, P, n_views * d_model)``."""
        if hasattr(self, "norms"):
            return torch.cat([norm(view) for norm, view in zip(self.norms, views)], dim=-1)
        return self.norm(torch.cat(tuple(views), dim=-1))

    def channel_features(self, views, padding):
        """Each channel's normalised tokens averaged over its real patches.

        The features the pooled embedding is read from, before they are mixed
        across channels: each channel keeps its own. Purification is not
        applied (every real patch counts): it keeps different channels in
        different windows, which would zero a channel's features in some
        windows and not in others.

        Parameters
        ----------
        views : sequence of torch.Tensor of shape (B, C, P, d_model)
        padding : torch.Tensor of bool, shape (B, C, P), or None

        Returns
        -------
        features : torch.Tensor of shape (B, C, n_views * d_model)
            Zero for a channel with no real patch.
        real : torch.Tensor of bool, shape (B, C)
            False for a channel with no real patch (padded entirely).
        """
        tokens = self.normalise(views)
        if padding is None:
            return tokens.mean(dim=2), tokens.new_ones(tokens.shape[:2], dtype=torch.bool)
        weights = (~padding).to(tokens.dtype).unsqueeze(-1)
        counts = weights.sum(dim=2)
        # Padded tokens are multiplied by 0, never summed: nothing of them leaks.
        features = (tokens * weights).sum(dim=2) / counts.clamp(min=1)
        return features, counts.squeeze(-1) > 0

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
        tokens = self.normalise(views) * weights
        pooled = tokens.sum(dim=(1, 2)) / weights.sum(dim=(1, 2)).clamp(min=1)
        if self.top_channels:
            pooled = torch.cat([pooled, _top_channel_mean(tokens, weights, self.top_channels)], -1)
        return self.projection(pooled), kept


def _top_channel_mean(tokens, weights, k):
    """Feature-wise mean over the ``k`` kept channels where the feature is largest.

    Each channel's kept tokens are first averaged over patches. A mean over
    all channels dilutes what only a few channels carry (an oscillation over
    one region) by the number of channels; the mean of the top ``k`` keeps it
    at full strength, and is less noisy than the maximum (``k=1``).

    Parameters
    ----------
    tokens : torch.Tensor of shape (B, C, P, D)
        Normalised tokens, zero where not kept.
    weights : torch.Tensor of shape (B, C, P, 1)
        1 for kept tokens, 0 elsewhere.
    k : int
        Channels averaged; fewer where fewer are kept.

    Returns
    -------
    torch.Tensor of shape (B, D)
        Zero for an example with no kept token.
    """
    counts = weights.sum(dim=2)
    per_channel = tokens.sum(dim=2) / counts.clamp(min=1)
    per_channel = per_channel.masked_fill(counts == 0, -torch.inf)
    top = per_channel.topk(min(k, per_channel.shape[1]), dim=1).values
    valid = torch.isfinite(top)
    total = top.masked_fill(~valid, 0.0).sum(dim=1)
    return total / valid.sum(dim=1).clamp(min=1)


def region_mean(features, real, regions, n_regions):
    """Average per-channel features over the channels of each region.

    Parameters
    ----------
    features : torch.Tensor of shape (B, C, D)
        Per-channel features (:meth:`PurifiedPooling.channel_features`).
    real : torch.Tensor of bool, shape (B, C)
        False for channels to leave out (padded entirely).
    regions : torch.Tensor of int, shape (C,) or (B, C)
        Region of each channel, in ``[0, n_regions)``; -1 for none.
    n_regions : int

    Returns
    -------
    torch.Tensor of shape (B, n_regions, D)
        The mean over each region's real channels, each channel weighted
        equally; zero for a region without any.
    """
    members = regions.unsqueeze(-1) == torch.arange(n_regions, device=features.device)
    members = (members & real.unsqueeze(-1)).to(features.dtype)  # (B, C, R)
    sums = torch.einsum("bcr,bcd->brd", members, features)
    return sums / members.sum(dim=1).clamp(min=1).unsqueeze(-1)
