"""The CRIA encoder: input coding, three views, fusion, purification."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..channels import REGIONS, channel_regions, lookup_channels, warn_unknown_channels
from .attention import key_keep_weights, rotary_tables
from .config import CRIAConfig
from .fusion import FusionLayer, _gather
from .purification import PurifiedPooling, region_mean
from .tangent import tangent_features
from .views import ChannelEmbedding, PatchTokenizer, SpatialView, TemporalView

__all__ = ["CRIA", "CRIAOutput", "EMBEDDINGS"]

#: What :meth:`CRIA.features` reads out of a window: the pooled embedding, each
#: channel's features, each scalp region's, or the tangent vector of the
#: regions' covariance (:mod:`sk_cria.model.tangent`).
EMBEDDINGS = ("pooled", "channels", "regions", "tangent")


@dataclass
class CRIAOutput:
    """What :meth:`CRIA.encode` returns.

    Attributes
    ----------
    embedding : torch.Tensor of shape (batch, embed_dim)
        The pooled embedding of each example.
    temporal, spatial, spectral : torch.Tensor of shape (batch, channels, patches, d_model)
        The fused tokens of each view (before the pooling LayerNorm).
    padding_mask : torch.Tensor of bool, shape (batch, channels, patches)
        True for padded tokens (all False when no mask was given).
    kept : torch.Tensor of bool, shape (batch, channels, patches)
        The tokens purification kept for the embedding.
    """

    embedding: torch.Tensor
    temporal: torch.Tensor
    spatial: torch.Tensor
    spectral: torch.Tensor
    padding_mask: torch.Tensor
    kept: torch.Tensor


class CRIA(nn.Module):
    """The CRIA EEG encoder (Liu et al., arXiv 2506.16056) as read by sk_cria.

    Raw patches become time tokens and spectral (log-magnitude FFT) tokens,
    both tagged with the embedding of their channel's *name*; a temporal
    view (attention along each channel's patches) and a spatial view
    (attention across the channels of each patch) are computed from the time
    tokens; ``n_layers`` fusion layers let the views exchange information;
    top-k purification and LayerNorm pooling give one embedding per example.

    Parameters
    ----------
    config : CRIAConfig, optional
        Sizes and choices; ``CRIAConfig()`` when omitted.

    Attributes
    ----------
    VIEWS : tuple of str
        ``("temporal", "spatial", "spectral")``: the order of the views in
        ``token_mask`` and in :attr:`placeholders`.
    placeholders : torch.nn.Parameter of shape (3, d_model)
        The learned vector that replaces a masked token of each view.

    Examples
    --------
    >>> import torch
    >>> model = CRIA(CRIAConfig.small()).eval()
    >>> x = torch.randn(2, 3, 4 * 200)
    >>> model(x, ["Fp1", "Cz", "O2"]).shape
    torch.Size([2, 64])
    """

    VIEWS = ("temporal", "spatial", "spectral")

    def __init__(self, config=None):
        super().__init__()
        config = CRIAConfig() if config is None else config
        if not isinstance(config, CRIAConfig):
            raise TypeError(f"config must be a CRIAConfig, got {type(config).__name__}.")
        self.config = config
        self.channel_embedding = ChannelEmbedding(config.d_model)
        self.tokenizer = PatchTokenizer(
            config.patch_size,
            config.d_model,
            config.spectral_eps,
            config.spectral_window,
            config.spectral_init,
            config.spectral_floor_db,
        )
        self.temporal_view = TemporalView(config)
        self.spatial_view = SpatialView(config)
        self.placeholders = nn.Parameter(torch.randn(len(self.VIEWS), config.d_model) * 0.02)
        self.layers = nn.ModuleList(FusionLayer(config) for _ in range(config.n_layers))
        self.pooling = PurifiedPooling(
            config, n_views=len(self.VIEWS), primary=self.VIEWS.index("spectral")
        )
        self._channel_cache = {}
        self._warned_unknown = set()
        # Views hidden from every encode() without a token_mask (see masked_views).
        self._masked_views = ()

    def forward(self, x, ch_names, padding_mask=None):
        """Embed a batch of EEG windows.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, channels, n_times)
            Preprocessed EEG at ``config.sfreq``; ``n_times`` a multiple of
            ``config.patch_size``.
        ch_names : sequence of str, or LongTensor of shape (channels, 2) or (batch, channels, 2)
            The channels' names, shared by the whole batch, or their
            vocabulary index pairs (:func:`sk_cria.channels.lookup_channels`),
            for the batch or for each example: the estimators resolve names
            once and send the pairs with every batch. A float tensor of shape
            (channels, d_model) or (batch, channels, d_model) gives the
            channel embeddings themselves (virtual channels,
            :mod:`sk_cria.model.spatial`).
        padding_mask : torch.Tensor of bool, shape (batch, patches) or (batch, channels, patches), optional
            True for padded patches (or channels); they influence nothing.

        Returns
        -------
        torch.Tensor of shape (batch, embed_dim)
        """
        return self.encode(x, ch_names, padding_mask).embedding

    def encode(self, x, ch_names, padding_mask=None, token_mask=None):
        """Encode a batch and return the embedding and the token outputs.

        Parameters
        ----------
        x, ch_names, padding_mask
            As in :meth:`forward`.
        token_mask : torch.Tensor of bool, shape (batch, 3, channels, patches), optional
            ``token_mask[:, v]`` True replaces view ``VIEWS[v]``'s tokens by
            its learned placeholder (plus the channel embedding, so a masked
            token still knows its channel) before fusion: masking a whole view,
            single tokens or spatial blocks all go through this argument.

        Returns
        -------
        CRIAOutput
        """
        views, channel, padding, rope, mask_ratio = self._views(x, ch_names, padding_mask)
        views = self._mask_tokens(views, token_mask, channel)
        return self._fuse_and_pool(views, padding, rope, mask_ratio)

    def encode_masked_pair(self, x, ch_names, token_mask, padding_mask=None,
                           reuse_streams=False):
        """Encode a batch with ``token_mask`` and without it, in one pass.

        Equal to ``encode(x, ch_names, padding_mask, token_mask)`` and
        ``encode(x, ch_names, padding_mask)`` (pre-training's two passes), but
        the input coding and the temporal and spatial views, which masking
        does not change (it replaces their outputs), are computed once, and
        the two batches go through fusion and pooling together: fewer, larger
        matrix products, and a third less of the views' work.

        Parameters
        ----------
        x, ch_names, padding_mask
            As in :meth:`forward`.
        token_mask : torch.Tensor of bool, shape (batch, 3, channels, patches)
            As in :meth:`encode`.
        reuse_streams : bool, default=False
            Also compute once, in fusion, each view's stream of an example
            that its mask cannot reach: with asymmetric fusion a view reads
            only itself and the spectral view, so hiding the temporal view
            leaves the spatial and spectral streams as they are unmasked
            (view masking then fuses 1.56 batches instead of 2). The same
            result in eval mode, or without dropout and attention masking;
            in training, the two passes of such a stream then share their
            dropout noise instead of drawing their own, which changes the
            pretext (``benchmarks/results/pretrain_profile.md`` measures it).

        Returns
        -------
        masked, full : CRIAOutput
            The outputs with and without the mask.
        """
        views, channel, padding, rope, mask_ratio = self._views(x, ch_names, padding_mask)
        masked = self._mask_tokens(views, token_mask, channel)
        batch = x.shape[0]
        if reuse_streams:
            # Which examples' streams the mask changes, before fusion: the masked views.
            differs = {view: token_mask[:, index].reshape(batch, -1).any(1)
                       for index, view in enumerate(self.VIEWS)}
            masked, views = self._fuse_pair(masked, views, differs, padding, rope, mask_ratio)
            both_padding = None if padding is None else torch.cat([padding, padding])
            both = {view: torch.cat([masked[view], views[view]]) for view in self.VIEWS}
            out = self._pool(both, both_padding)
        else:
            both = {view: torch.cat([masked[view], views[view]]) for view in self.VIEWS}
            both_padding = None if padding is None else torch.cat([padding, padding])
            out = self._fuse_and_pool(both, both_padding, rope, mask_ratio)
        halves = [{field: value[part] for field, value in vars(out).items()}
                  for part in (slice(None, batch), slice(batch, None))]
        return CRIAOutput(**halves[0]), CRIAOutput(**halves[1])

    def _fuse_pair(self, masked, full, differs, padding, rope, mask_ratio):
        """Fusion of the masked and the full batch, computing each unchanged stream once.

        ``differs[view]`` (bool, batch): the examples whose masked stream of
        ``view`` differs from the full one. Each block updates the full batch
        and, after it, only the masked examples whose stream it changes; the
        others' masked stream is the full one (FusionLayer's routes, per stream).
        """
        batch, channels, patches, width = full["temporal"].shape
        flat_rope = rope.repeat(channels, 1)
        flat_padding = None if padding is None else padding.reshape(batch, channels * patches)

        def flat(views):
            return {view: tokens.reshape(batch, channels * patches, width)
                    for view, tokens in views.items()}

        full, masked = flat(full), flat(masked)
        for layer in self.layers:
            new_full, new_masked, new_differs = dict(full), dict(masked), dict(differs)
            for view, sources in layer.route:
                # Symmetric fusion reads the previous layer's tokens; the others
                # the tokens already updated in this layer (FusionLayer.forward).
                read = ((full, masked, differs) if layer.parallel
                        else (new_full, new_masked, new_differs))
                changed = differs[view]
                for source in sources or ():
                    changed = changed | read[2][source]
                rows = changed.nonzero().squeeze(1)
                queries = torch.cat([full[view], masked[view][rows]])
                padding_rows = (None if flat_padding is None
                                else torch.cat([flat_padding, flat_padding[rows]]))
                context = None
                if sources is not None:
                    context = {source: torch.cat([read[0][source], read[1][source][rows]])
                               for source in sources}
                context, context_padding, rope_k = _gather(context, sources, padding_rows,
                                                           flat_rope)
                keys = queries if context is None else context
                keep = key_keep_weights(context_padding, keys.shape[0], layer.n_heads,
                                        keys.shape[1], mask_ratio, keys.device, keys.dtype)
                out = layer.blocks[view](queries, context, key_keep=keep, rope_q=flat_rope,
                                         rope_k=rope_k)
                new_full[view] = out[:batch]
                new_masked[view] = out[:batch].index_copy(0, rows, out[batch:])
                new_differs[view] = changed
            full, masked, differs = new_full, new_masked, new_differs

        def unflat(views):
            return {view: tokens.view(batch, channels, patches, width)
                    for view, tokens in views.items()}

        return unflat(masked), unflat(full)

    @contextmanager
    def masked_views(self, views):
        """Mask whole views in every :meth:`encode` call inside a ``with`` block.

        Inside the block, a call that gives no ``token_mask`` (``forward``, the
        estimators' ``transform`` and ``predict``) encodes as if the tokens of
        ``views`` were all masked; the previous setting comes back when the
        block ends, even on an error. :func:`sk_cria.inspection.view_ablation`
        scores a fitted pipeline this way.

        Parameters
        ----------
        views : str or sequence of str
            Names from :attr:`VIEWS`; an empty sequence masks nothing.

        Yields
        ------
        CRIA
            This module.
        """
        views = (views,) if isinstance(views, str) else tuple(views)
        unknown = [view for view in views if view not in self.VIEWS]
        if unknown:
            raise ValueError(f"views must be names from {self.VIEWS}; got {unknown}.")
        previous = getattr(self, "_masked_views", ())
        self._masked_views = views
        try:
            yield self
        finally:
            self._masked_views = previous

    def channel_features(self, output):
        """Per-channel features of an :meth:`encode` output, before any pooling.

        Parameters
        ----------
        output : CRIAOutput

        Returns
        -------
        features : torch.Tensor of shape (batch, channels, 3 * d_model)
            Each channel's LayerNorm'd fused tokens (the three views side by
            side, as pooling reads them) averaged over its real patches.
        real : torch.Tensor of bool, shape (batch, channels)
            False for a channel padded entirely (its features are zero).
        """
        views = [getattr(output, view) for view in self.VIEWS]
        return self.pooling.channel_features(views, output.padding_mask)

    def features(self, x, ch_names, embedding="pooled"):
        """One feature vector per window: the pooled embedding, or spatial features.

        Parameters
        ----------
        x, ch_names
            As in :meth:`forward` (index pairs of shape (channels, 2) for
            ``"regions"`` and ``"tangent"`` with windows of one montage, or
            (batch, channels, 2)).
        embedding : {"pooled", "channels", "regions", "tangent"}, default="pooled"
            "pooled": :meth:`forward`'s embedding; "channels": each channel's
            :meth:`channel_features`, in the order of ``ch_names``;
            "regions": the same averaged over the channels of each scalp
            region of :data:`sk_cria.channels.REGIONS` (any montage gives
            the same features); "tangent": second order, the covariance of
            the regions' feature vectors (regions x regions, over the
            ``3 * d_model`` features, shrunk to be positive definite), mapped
            to the tangent space at the identity
            (:func:`sk_cria.model.tangent.tangent_features`).

        Returns
        -------
        torch.Tensor of shape (batch, n_features)
            ``embed_dim``, ``channels * 3 * d_model``,
            ``len(REGIONS) * 3 * d_model`` or
            ``len(REGIONS) * (len(REGIONS) + 1) / 2`` features.
        """
        if embedding == "pooled":
            return self(x, ch_names)
        if embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}; got {embedding!r}.")
        features, real = self.channel_features(self.encode(x, ch_names))
        if embedding in ("regions", "tangent"):
            if torch.is_tensor(ch_names) and ch_names.is_floating_point():
                raise ValueError(f"embedding={embedding!r} reads the channels' scalp regions "
                                 "from their names; channels given as embedding vectors "
                                 "have none. Use 'pooled' or 'channels'.")
            # The batch's own channels: windows of any montage get the same regions.
            channels = ch_names.cpu().numpy() if torch.is_tensor(ch_names) else ch_names
            regions = torch.as_tensor(channel_regions(channels), device=features.device)
            features = region_mean(features, real, regions, len(REGIONS))
        if embedding == "tangent":
            return tangent_features(features)
        return features.flatten(1)

    def save_pretrained(self, directory, overwrite=False, dtype="float32"):
        """Save ``config.json`` and ``model.safetensors`` into ``directory``.

        Parameters
        ----------
        directory : str or path-like
            Created if missing.
        overwrite : bool, default=False
            Replace an encoder the folder already holds; without it such a
            folder is refused (``FileExistsError``).
        dtype : {"float32", "float16", "bfloat16"}, default="float32"
            Storage precision of the weights (loading casts them back).
        """
        from .io import save_pretrained

        save_pretrained(self, directory, overwrite=overwrite, dtype=dtype)

    @classmethod
    def from_pretrained(cls, directory, **overrides):
        """Load a model saved by :meth:`save_pretrained`; never unpickles.

        Parameters
        ----------
        directory : str or path-like
        **overrides
            Config fields to change, such as ``attn_mask_ratio`` or
            ``dropout`` for fine-tuning.

        Returns
        -------
        CRIA
            In eval mode.

        Raises
        ------
        FileNotFoundError
            If the folder or one of its files is missing, or a local folder
            that holds no encoder hides the shipped encoder of that name.
        ValueError
            If a file is not a CRIA checkpoint (a pickle is never loaded), is
            damaged (weights that changed since saving, NaN or infinite), or
            ``config.json`` does not describe the weights.
        """
        from .io import load_pretrained

        return load_pretrained(cls, directory, overrides)

    def _head_dim(self):
        return self.config.d_model // self.config.n_heads

    def _check_input(self, x, ch_names):
        if not isinstance(x, torch.Tensor) or x.ndim != 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"x must be a tensor (batch, channels, n_times); got {shape}.")
        if isinstance(ch_names, torch.Tensor) and ch_names.is_floating_point():
            # Channel embeddings given as vectors (virtual channels of
            # sk_cria.model.spatial, which have no electrode names).
            width = self.config.d_model
            if ch_names.shape[-2:] != (x.shape[1], width) or ch_names.ndim not in (2, 3) or (
                    ch_names.ndim == 3 and len(ch_names) != len(x)):
                raise ValueError(
                    f"channel embeddings must have shape (channels, {width}) or (batch, "
                    f"channels, {width}) for x of shape {tuple(x.shape)}; got "
                    f"{tuple(ch_names.shape)}."
                )
        elif isinstance(ch_names, torch.Tensor):
            if ch_names.shape[-2:] != (x.shape[1], 2) or ch_names.ndim not in (2, 3) or (
                    ch_names.ndim == 3 and len(ch_names) != len(x)):
                raise ValueError(
                    f"channel index pairs must have shape (channels, 2) or (batch, channels, "
                    f"2) for x of shape {tuple(x.shape)}; got {tuple(ch_names.shape)}."
                )
        elif isinstance(ch_names, str) or len(ch_names) != x.shape[1]:
            raise ValueError(
                f"ch_names must list one name per channel: x has {x.shape[1]} channels, "
                f"got {ch_names!r}."
            )
        size = self.config.patch_size
        if x.shape[2] == 0 or x.shape[2] % size:
            raise ValueError(
                f"n_times={x.shape[2]} must be a positive multiple of patch_size={size}; "
                "EEGPreprocessor pads the last patch (with a padding mask) or drops it."
            )
        return x.to(self.placeholders.dtype).contiguous()

    def _channel_indices(self, ch_names, device):
        if isinstance(ch_names, torch.Tensor):
            return ch_names.to(device=device, dtype=torch.long)
        key = tuple(ch_names)
        if key not in self._channel_cache:
            lookup = lookup_channels(key)
            unknown = frozenset(lookup.unknown)
            if unknown and unknown not in self._warned_unknown:
                self._warned_unknown.add(unknown)
                warn_unknown_channels(lookup.unknown, stacklevel=_outside_caller_level())
            # Cache the numpy indices, not a tensor: a tensor made under
            # inference_mode (transform) cannot enter autograd later (fine-tuning).
            self._channel_cache[key] = lookup.indices
        return torch.as_tensor(self._channel_cache[key], device=device)

    def _views(self, x, ch_names, padding_mask):
        """Input coding and the three views, before any masking and fusion."""
        x = self._check_input(x, ch_names)
        batch, channels, n_times = x.shape
        patches = n_times // self.config.patch_size
        padding = _token_padding(padding_mask, batch, channels, patches, x.device)
        samples = x.view(batch, channels, patches, self.config.patch_size)
        if padding is not None:
            # Zeroed so that padded content (NaN, huge values) cannot leak in.
            samples = samples.masked_fill(padding.unsqueeze(-1), 0.0)
        # (C, D) or (B, C, D), then a patch axis to broadcast over.
        channel = (ch_names.to(x.dtype) if torch.is_tensor(ch_names) and ch_names.is_floating_point()
                   else self.channel_embedding(self._channel_indices(ch_names, x.device)))
        channel = channel.unsqueeze(-2)
        time_tokens, spectral_tokens = self.tokenizer(samples)
        time_tokens = time_tokens + channel
        mask_ratio = self.config.attn_mask_ratio if self.training else 0.0
        rope = rotary_tables(torch.arange(patches, device=x.device), self._head_dim())
        views = {
            "temporal": self.temporal_view(time_tokens, padding, rope, mask_ratio),
            "spatial": self.spatial_view(time_tokens, padding, mask_ratio),
            "spectral": spectral_tokens + channel,
        }
        return views, channel, padding, rope, mask_ratio

    def _fuse_and_pool(self, views, padding, rope, mask_ratio):
        return self._pool(self._fuse(views, padding, rope, mask_ratio), padding)

    def _pool(self, views, padding):
        embedding, kept = self.pooling(
            [views[view] for view in self.VIEWS], padding, self.config.k_c, self.config.k_t
        )
        if padding is None:
            batch, channels, patches, _ = views["spectral"].shape
            padding = torch.zeros(batch, channels, patches, dtype=torch.bool,
                                  device=embedding.device)
        return CRIAOutput(embedding, padding_mask=padding, kept=kept, **views)

    def _mask_tokens(self, views, token_mask, channel):
        reference = views["temporal"]
        if token_mask is None:
            # getattr: a module unpickled from before masked_views existed.
            masked = getattr(self, "_masked_views", ())
            if not masked:
                return views
            token_mask = torch.zeros(
                (reference.shape[0], len(self.VIEWS), *reference.shape[1:3]),
                dtype=torch.bool, device=reference.device,
            )
            token_mask[:, [self.VIEWS.index(view) for view in masked]] = True
        expected = (reference.shape[0], len(self.VIEWS), *reference.shape[1:3])
        if tuple(token_mask.shape) != expected:
            raise ValueError(
                f"token_mask must have shape {expected} (batch, views, channels, patches), "
                f"got {tuple(token_mask.shape)}."
            )
        token_mask = token_mask.to(device=reference.device, dtype=torch.bool)
        masked = {}
        for index, view in enumerate(self.VIEWS):
            placeholder = self.placeholders[index] + channel
            masked[view] = torch.where(token_mask[:, index, ..., None], placeholder, views[view])
        return masked

    def _fuse(self, views, padding, rope, mask_ratio):
        batch, channels, patches, width = views["temporal"].shape
        flat = {view: tokens.reshape(batch, channels * patches, width) for view, tokens in views.items()}
        flat_padding = None if padding is None else padding.reshape(batch, channels * patches)
        # Token (c, p) sits at patch p: the rotary tables repeat per channel.
        flat_rope = rope.repeat(channels, 1)
        for layer in self.layers:
            flat = layer(flat, flat_padding, flat_rope, mask_ratio)
        return {view: tokens.view(batch, channels, patches, width) for view, tokens in flat.items()}


# Frames in these directories are skipped so that the unknown-channel warning
# points at the user's line, whether it called the model, encode() or an
# sk_cria estimator.
_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (torch, sys.modules[__name__.rsplit(".", 2)[0]])
)


def _outside_caller_level():
    """Stack level (1 = this function's caller) of the first frame outside sk_cria and torch."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def _token_padding(padding_mask, batch, channels, patches, device):
    """Expand a (B, P) or (B, C, P) padding mask to (B, C, P); None if no padding."""
    if padding_mask is None:
        return None
    padding_mask = torch.as_tensor(padding_mask, device=device).bool()
    if tuple(padding_mask.shape) == (batch, patches):
        padding_mask = padding_mask.unsqueeze(1).expand(batch, channels, patches)
    if tuple(padding_mask.shape) != (batch, channels, patches):
        raise ValueError(
            f"padding_mask must have shape (batch, patches)={(batch, patches)} or "
            f"(batch, channels, patches)={(batch, channels, patches)}, "
            f"got {tuple(padding_mask.shape)}."
        )
    # An all-False mask takes the faster unmasked path; results are identical.
    return padding_mask if bool(padding_mask.any()) else None
