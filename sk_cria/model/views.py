"""Unified input coding and the three views of CRIA (design sections 2 and 3).

Every module here works on tokens laid out as ``(batch, channels, patches,
d_model)``: one token per channel and per one-second patch, whatever the
montage and the length.
"""

from __future__ import annotations

import torch
from torch import nn

from ..channels import CHANNEL_VOCABULARY, UNKNOWN_INDEX
from .attention import AttentionBlock, key_keep_weights

__all__ = [
    "ChannelEmbedding",
    "PatchTokenizer",
    "SpatialView",
    "TemporalView",
    "triangular_filterbank",
]

# Preprocessed EEG is scaled to O(1) (95th percentile of |x| = 1); clipping far
# beyond that only guards the float32 arithmetic (squares in LayerNorm) from
# overflowing on raw or broken input, it never touches sane data.
_INPUT_CLIP = 1e4


class ChannelEmbedding(nn.Module):
    """One learned vector per vocabulary electrode, plus one for unknown names.

    A channel is given as the index pair of its electrodes (see
    :func:`sk_cria.channels.lookup_channels`): its vector is the mean of the
    two rows, so a referential channel gets its electrode's vector and a
    bipolar derivation the midpoint of its two electrodes.

    Parameters
    ----------
    d_model : int
        Embedding width.
    """

    def __init__(self, d_model):
        super().__init__()
        self.table = nn.Embedding(UNKNOWN_INDEX + 1, d_model)
        nn.init.normal_(self.table.weight, std=0.02)

    @property
    def vocabulary(self):
        """The electrode names of the rows, the unknown row excluded."""
        return CHANNEL_VOCABULARY

    def forward(self, index_pairs):
        """Return ``(..., n_channels, d_model)`` vectors for ``(..., n_channels, 2)`` indices."""
        return self.table(index_pairs).mean(dim=-2)


class PatchTokenizer(nn.Module):
    """Turn raw patches into time-domain tokens and spectral tokens.

    Parameters
    ----------
    patch_size : int
        Samples per patch.
    d_model : int
        Token width.
    spectral_eps : float
        Added to the FFT magnitude before the log, so a flat patch is finite.
    spectral_window : {"hann", "boxcar"}, default="boxcar"
        Taper applied to each patch before its FFT.
    spectral_init : {"filterbank", "random"}, default="random"
        Initial weights of the spectral projection (see
        :class:`~sk_cria.model.CRIAConfig`).
    spectral_floor_db : float or None, default=None
        Floor of the magnitudes the log reads, this many dB below the
        patch's RMS magnitude (see :class:`~sk_cria.model.CRIAConfig`);
        None reads ``log(|X| + spectral_eps)`` with no floor.
    """

    def __init__(
        self, patch_size, d_model, spectral_eps, spectral_window="boxcar", spectral_init="random",
        spectral_floor_db=None,
    ):
        super().__init__()
        self.spectral_eps = spectral_eps
        self.spectral_floor_db = spectral_floor_db
        # Not saved with the weights (persistent=False): it is a function of
        # the config, and checkpoints saved before it existed must still load.
        window = torch.hann_window(patch_size, periodic=True)
        if spectral_window == "boxcar":
            window = torch.ones(patch_size)
        self.register_buffer("window", window, persistent=False)
        self.time_projection = nn.Linear(patch_size, d_model)
        self.time_norm = nn.LayerNorm(d_model)
        self.spectral_projection = nn.Linear(patch_size // 2 + 1, d_model)
        if spectral_init == "filterbank":
            with torch.no_grad():
                self.spectral_projection.weight.copy_(
                    triangular_filterbank(patch_size // 2 + 1, d_model)
                )
                self.spectral_projection.bias.zero_()
        self.spectral_norm = nn.LayerNorm(d_model)

    def forward(self, patches):
        """Tokenise ``(batch, channels, patches, patch_size)`` samples.

        Returns
        -------
        time_tokens, spectral_tokens : torch.Tensor
            Each of shape ``(batch, channels, patches, d_model)``.
        """
        patches = torch.nan_to_num(patches).clamp(-_INPUT_CLIP, _INPUT_CLIP)
        magnitude = torch.fft.rfft(patches * self.window, dim=-1).abs()
        log_magnitude = torch.log(magnitude + self.magnitude_floor(magnitude))
        time_tokens = self.time_norm(self.time_projection(patches))
        spectral_tokens = self.spectral_norm(self.spectral_projection(log_magnitude))
        return time_tokens, spectral_tokens

    def magnitude_floor(self, magnitude):
        """What the log adds to each FFT magnitude: ``spectral_eps``, plus the floor.

        The stop band of filtered EEG (above the recording's or the
        preprocessor's low-pass, the notch) holds magnitudes 60 to 80 dB
        below the rest of the patch; their log is then the log of rounding
        and filter leakage, and noise 40 dB below the signal lifts it by
        several nats: the spectral tokens, and through fusion the whole
        embedding, moved by a quarter under noise that changes the input by
        under 1% (issue 37). A floor relative to the patch's own RMS
        magnitude reads every bin far below the patch as "nothing here",
        whatever the unit or gain of the input; a flat (or padded) patch
        keeps ``spectral_eps`` alone.

        Parameters
        ----------
        magnitude : torch.Tensor of shape (..., n_bins)
            FFT magnitudes of patches.

        Returns
        -------
        float or torch.Tensor of shape (..., 1)
        """
        if self.spectral_floor_db is None:
            return self.spectral_eps
        # vector_norm, not sqrt(mean(square)): its gradient at a zero patch is 0, not NaN.
        n_bins = magnitude.shape[-1]
        rms = torch.linalg.vector_norm(magnitude, dim=-1, keepdim=True) / n_bins**0.5
        return rms * 10.0 ** (-self.spectral_floor_db / 20.0) + self.spectral_eps


def triangular_filterbank(n_bins, n_bands):
    """Overlapping triangular bands that tile ``n_bins`` frequency bins evenly.

    Row ``j`` averages the bins around the ``j``-th of ``n_bands`` centres
    spaced evenly from the first to the last bin (half-overlapping
    triangles, like a mel filter bank on a linear scale); each row sums to
    one, so a band's value is the mean log magnitude of its bins.

    Parameters
    ----------
    n_bins : int
        Frequency bins (``patch_size // 2 + 1``).
    n_bands : int
        Bands (the token width).

    Returns
    -------
    torch.Tensor of shape (n_bands, n_bins)
    """
    centres = torch.linspace(0, n_bins - 1, n_bands, dtype=torch.float64)
    # Neighbouring triangles cross at half height; at least one bin wide so
    # that every band sees a bin when there are more bands than bins.
    half_width = max((n_bins - 1) / max(n_bands - 1, 1), 1.0)
    bins = torch.arange(n_bins, dtype=torch.float64)
    weights = (1 - (bins - centres[:, None]).abs() / half_width).clamp(min=0)
    return (weights / weights.sum(dim=1, keepdim=True)).float()


class TemporalView(nn.Module):
    """Temporal view: each channel's sequence of patches attends to itself.

    Rotary embeddings on the patch index give the relative time of patches.

    Parameters
    ----------
    config : CRIAConfig
    """

    def __init__(self, config):
        super().__init__()
        self.block = _view_block(config)
        self.n_heads = config.n_heads

    def forward(self, tokens, padding, rope, mask_ratio):
        """Update ``(B, C, P, D)`` tokens along P; ``padding`` is ``(B, C, P)`` or None."""
        batch, channels, patches, width = tokens.shape
        rows = tokens.reshape(batch * channels, patches, width)
        row_padding = None if padding is None else padding.reshape(batch * channels, patches)
        keep = key_keep_weights(
            row_padding, rows.shape[0], self.n_heads, patches, mask_ratio, rows.device, rows.dtype
        )
        return self.block(rows, key_keep=keep, rope_q=rope, rope_k=rope).view_as(tokens)


class SpatialView(nn.Module):
    """Spatial view: the channels of each patch attend to each other.

    Channel identity comes from the channel embedding added to every token.
    All tokens of one attention set share their patch index, so rotary
    embeddings would rotate queries and keys alike and change nothing here;
    the time position enters in the fusion layers.

    Parameters
    ----------
    config : CRIAConfig
    """

    def __init__(self, config):
        super().__init__()
        self.block = _view_block(config)
        self.n_heads = config.n_heads

    def forward(self, tokens, padding, mask_ratio):
        """Update ``(B, C, P, D)`` tokens along C; ``padding`` is ``(B, C, P)`` or None."""
        batch, channels, patches, width = tokens.shape
        sets = tokens.transpose(1, 2).reshape(batch * patches, channels, width)
        set_padding = None
        if padding is not None:
            set_padding = padding.transpose(1, 2).reshape(batch * patches, channels)
        keep = key_keep_weights(
            set_padding, sets.shape[0], self.n_heads, channels, mask_ratio, sets.device, sets.dtype
        )
        updated = self.block(sets, key_keep=keep)
        return updated.view(batch, patches, channels, width).transpose(1, 2)


def _view_block(config):
    return AttentionBlock(
        config.d_model, config.n_heads, config.attention, config.mlp_ratio, config.dropout
    )
