"""Attention for CRIA: linear (elu+1 kernel) and softmax, with rotary positions.

Both kinds share one interface so that every attention of the model switches
with :attr:`CRIAConfig.attention`. The public kernels take heads laid out
``(batch, tokens, heads, head_dim)``; inside the blocks tokens stay flat,
``(batch, tokens, heads * head_dim)``, and a head is a slice of features;
padding and random attention masking arrive as a
multiplicative *key keep* weight of shape ``(batch, 1 or heads, n_keys)``
(1: the key takes part, 0: it is ignored); positions arrive as rotary tables.

:class:`AttentionBlock` processes its tokens in chunks of about
:data:`CHUNK_ROWS` rows. The per-token work (LayerNorm, projections,
feed-forward) is memory-bound at this width, and on a CPU it runs several
times faster on tensors that stay in cache than on tensors of a whole batch
of long windows, which are also large enough for the allocator to map fresh
pages for each of them. Linear attention needs only a ``head_dim x head_dim``
summary of all keys, so chunking changes nothing in the result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CHUNK_ROWS",
    "Attention",
    "AttentionBlock",
    "Dropout",
    "FeedForward",
    "apply_rotary",
    "key_keep_weights",
    "linear_attention",
    "rotary_tables",
    "softmax_attention",
]

#: Rows (batch x tokens) processed at once by an :class:`AttentionBlock`:
#: 4096 tokens of width 128 with a 4x feed-forward keep every intermediate
#: tensor within a few MiB.
CHUNK_ROWS = 4096

# Added to the scores of ignored keys in softmax attention. Finite on purpose:
# a row whose keys are all ignored (a fully padded channel) then averages
# instead of producing NaN, and exp(score - 1e9) is exactly 0 in float32 for
# every row that has a real key, so ignored keys have no influence at all.
_IGNORED_KEY_SCORE = -1e9
_LINEAR_EPS = 1e-6
_INT16_MIN = -(2**15)


def rotary_tables(positions, head_dim, base=10000.0):
    """Rotary position embedding (RoPE) table for the given positions.

    Parameters
    ----------
    positions : torch.Tensor of shape (n_tokens,)
        Position of each token (here: its patch index). Any length works, so
        no table of positions ever limits the number of patches.
    head_dim : int
        Even size of each attention head.
    base : float, default=10000.0
        Wavelength base of the rotation frequencies (RoFormer's value).

    Returns
    -------
    torch.Tensor of complex64, shape (n_tokens, head_dim // 2)
        Unit complex numbers ``exp(i * position * frequency)``.
    """
    exponents = torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float64)
    inv_freq = base ** (-exponents / head_dim)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    return torch.polar(torch.ones_like(angles), angles).to(torch.complex64)


def apply_rotary(x, table):
    """Rotate the feature pairs ``(2i, 2i + 1)`` of each head by the table.

    Parameters
    ----------
    x : torch.Tensor of float32, shape (batch, n_tokens, heads, head_dim)
    table : torch.Tensor of shape (n_tokens, head_dim // 2)
        From :func:`rotary_tables`.

    Returns
    -------
    torch.Tensor of the same shape as ``x``
    """
    # A complex product rotates all pairs in one pass over the data.
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * table[:, None, :]).flatten(-2)


class _FeatureMap(torch.autograd.Function):
    """elu(x) + 1 with a backward pass of its own.

    The forward is written as exp(min(x, 0)) + max(x, 0), cheaper on CPU
    than ``F.elu(x) + 1``. Autograd through those four operators saves and
    revisits each of them; the derivative is ``min(y, 1)`` of the output
    ``y`` itself (``exp(x) = y`` below 0, 1 above), so one saved tensor and
    two operators give the same gradient.
    """

    @staticmethod
    def forward(ctx, x):
        y = torch.exp(x.clamp(max=0.0)).add_(F.relu(x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y.clamp(max=1.0).mul_(grad)


def _feature_map(x):
    """elu(x) + 1, the linear-attention kernel's feature map."""
    return _FeatureMap.apply(x)


def _split_heads(x, heads):
    """(batch, n, heads * head_dim) -> a (batch, n, heads, head_dim) view."""
    return x.unflatten(-1, (heads, -1))


def _heads(x, heads):
    """The per-head feature slices of flat tokens (strided views, no copies)."""
    return x.chunk(heads, dim=-1)


def _rotate(x, heads, table):
    """Rotary positions on flat ``(batch, n, heads * head_dim)`` tokens."""
    return x if table is None else apply_rotary(_split_heads(x, heads), table).flatten(-2)


def _per_key_weights(key_keep, heads, head_dim):
    """(batch, 1 or heads, n_keys) keep weights -> (batch, n_keys, features) multipliers."""
    weights = key_keep.transpose(1, 2)
    return weights.repeat_interleave(head_dim, dim=-1) if weights.shape[-1] > 1 else weights


class LinearKernel:
    """elu+1 kernel attention: cost linear in the number of tokens.

    ``out_i = phi(q_i)^T sum_j phi(k_j) v_j^T / phi(q_i)^T sum_j phi(k_j)``,
    evaluated through per-head ``head_dim x head_dim`` summaries of the keys,
    which add up over key chunks. Rotary positions act on the numerator
    only (RoFormer, section 3.3), which keeps the normaliser positive.

    Tokens stay flat, ``(batch, n, heads * head_dim)``, and each head is a
    strided slice of them: batched matrix products read such slices in
    place, where einsum over a ``(batch, n, heads, head_dim)`` layout would
    copy every operand into a head-major layout first.
    """

    @staticmethod
    def key_state(k, v, heads, key_keep, rope):
        """Summarise a chunk of keys/values ``(batch, n, features)``."""
        k = _feature_map(k)
        if key_keep is not None:
            k = k * _per_key_weights(key_keep, heads, k.shape[-1] // heads)
        key_sum = k.sum(dim=1)
        k = _rotate(k, heads, rope)
        pairs = zip(_heads(k, heads), _heads(v, heads))
        summaries = [torch.bmm(k_h.transpose(1, 2), v_h) for k_h, v_h in pairs]
        return torch.stack(summaries, dim=1), key_sum

    @staticmethod
    def merge(states):
        """Add the summaries of several key chunks."""
        if len(states) == 1:
            return states[0]
        return tuple(sum(parts) for parts in zip(*states))

    @staticmethod
    def attend(q, state, heads, rope):
        """Attend from queries ``(batch, n, features)`` to a key state."""
        summaries, key_sum = state
        q = _feature_map(q)
        normaliser = (_split_heads(q, heads) * _split_heads(key_sum, heads).unsqueeze(1)).sum(-1)
        q = _rotate(q, heads, rope)
        numerator = torch.cat(
            [torch.bmm(q_h, summaries[:, h]) for h, q_h in enumerate(_heads(q, heads))], dim=-1
        )
        out = _split_heads(numerator, heads) / normaliser.clamp_min(_LINEAR_EPS).unsqueeze(-1)
        return out.flatten(-2)


    @staticmethod
    def weights(q, k, key_keep, rope_q, rope_k):
        """The attention matrix that :meth:`attend` applies without forming it.

        ``w[i, j] = <R_i phi(q_i), R_j phi(k_j)> / <phi(q_i), sum_j phi(k_j)>``
        per head, so that ``attend`` outputs ``w @ v``; the rotations act on
        the numerator only, so a row need not sum to 1. Quadratic in the
        tokens: for inspecting a few examples, never in the forward pass.

        Parameters
        ----------
        q : torch.Tensor of shape (batch, n_queries, heads, head_dim)
        k : torch.Tensor of shape (batch, n_keys, heads, head_dim)
        key_keep : torch.Tensor of shape (batch, 1 or heads, n_keys), or None
        rope_q, rope_k : torch.Tensor or None

        Returns
        -------
        torch.Tensor of shape (batch, heads, n_queries, n_keys)
        """
        q, k = _feature_map(q), _feature_map(k)
        if key_keep is not None:
            k = k * key_keep.transpose(1, 2).unsqueeze(-1)
        normaliser = torch.einsum("bqhd,bhd->bhq", q, k.sum(dim=1))
        q, k = _rotated(q, rope_q), _rotated(k, rope_k)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k)
        return scores / normaliser.clamp_min(_LINEAR_EPS).unsqueeze(-1)


class SoftmaxKernel:
    """Exact softmax attention through ``scaled_dot_product_attention``.

    Quadratic in the number of tokens; the key state is simply all keys.
    """

    @staticmethod
    def key_state(k, v, heads, key_keep, rope):
        """Keep a chunk of (rotated) keys, values and their keep weights."""
        return _rotate(k, heads, rope), v, key_keep

    @staticmethod
    def merge(states):
        """Concatenate key chunks."""
        if len(states) == 1:
            return states[0]
        keys, values, keeps = zip(*states)
        keep = None if keeps[0] is None else torch.cat(keeps, dim=-1)
        return torch.cat(keys, dim=1), torch.cat(values, dim=1), keep

    @staticmethod
    def attend(q, state, heads, rope):
        """Attend from queries ``(batch, n, features)`` to all keys."""
        k, v, key_keep = state
        q = _rotate(q, heads, rope)
        mask = None
        if key_keep is not None:
            mask = ((1.0 - key_keep) * _IGNORED_KEY_SCORE).unsqueeze(-2).to(q.dtype)
        q, k, v = (_split_heads(t, heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out.transpose(1, 2).flatten(-2)


    @staticmethod
    def weights(q, k, key_keep, rope_q, rope_k):
        """The softmax attention matrix; same interface as :meth:`LinearKernel.weights`."""
        q, k = _rotated(q, rope_q), _rotated(k, rope_k)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / q.shape[-1] ** 0.5
        if key_keep is not None:
            scores = scores + ((1.0 - key_keep) * _IGNORED_KEY_SCORE).unsqueeze(-2)
        return scores.softmax(dim=-1)


def _rotated(x, table):
    """Rotary positions on ``(batch, n, heads, head_dim)`` tokens (none without a table)."""
    return x if table is None else apply_rotary(x, table)


KERNELS = {"linear": LinearKernel, "softmax": SoftmaxKernel}


def _attention(kind, q, k, v, key_keep=None, rope_q=None, rope_k=None):
    kernel, heads = KERNELS[kind], q.shape[-2]
    q, k, v = (t.flatten(-2) for t in (q, k, v))
    out = kernel.attend(q, kernel.key_state(k, v, heads, key_keep, rope_k), heads, rope_q)
    return _split_heads(out, heads)


def linear_attention(q, k, v, key_keep=None, rope_q=None, rope_k=None):
    """Linear (elu+1 kernel) attention on whole tensors.

    Parameters
    ----------
    q : torch.Tensor of shape (batch, n_queries, heads, head_dim)
    k, v : torch.Tensor of shape (batch, n_keys, heads, head_dim)
    key_keep : torch.Tensor of shape (batch, 1 or heads, n_keys), optional
        1 for keys that take part, 0 for ignored ones (padding, masking).
    rope_q, rope_k : torch.Tensor, optional
        Rotary tables (:func:`rotary_tables`) of the queries and keys.

    Returns
    -------
    torch.Tensor of shape (batch, n_queries, heads, head_dim)
        A query without any key outputs 0.
    """
    return _attention("linear", q, k, v, key_keep, rope_q, rope_k)


def softmax_attention(q, k, v, key_keep=None, rope_q=None, rope_k=None):
    """Softmax attention on whole tensors; same interface as :func:`linear_attention`.

    A query whose keys are all ignored averages all values instead of
    producing NaN.
    """
    return _attention("softmax", q, k, v, key_keep, rope_q, rope_k)


def key_keep_weights(key_padding, batch, n_heads, n_keys, mask_ratio, device, dtype):
    """Combine the padding of the keys with random attention masking.

    Parameters
    ----------
    key_padding : torch.Tensor of bool, shape (batch, n_keys), or None
        True where a key is padding.
    batch, n_heads, n_keys : int
    mask_ratio : float
        Fraction of keys each head of each example ignores at random; the
        caller passes 0 outside training mode.
    device : torch.device
    dtype : torch.dtype

    Returns
    -------
    torch.Tensor of shape (batch, 1 or n_heads, n_keys), or None
        Multiplicative keep weights, or None when every key takes part.
    """
    keep = None
    if key_padding is not None:
        keep = (~key_padding).to(dtype).unsqueeze(1)
    if mask_ratio > 0:
        # Masking drops *attention values*; dropping whole keys per head is
        # the form that linear attention (which never forms the attention
        # matrix) can apply too, so both kinds get the same regulariser.
        random_keep = torch.rand(batch, n_heads, n_keys, device=device) >= mask_ratio
        keep = random_keep.to(dtype) if keep is None else keep * random_keep
    return keep


class Attention(nn.Module):
    """Multi-head attention projections around a linear or softmax kernel.

    Parameters
    ----------
    d_model : int
        Token width.
    n_heads : int
        Number of heads.
    kind : {"linear", "softmax"}
        Attention kernel.
    """

    def __init__(self, d_model, n_heads, kind):
        super().__init__()
        self.n_heads = n_heads
        self.kernel = KERNELS[kind]
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def key_state(self, context, key_keep=None, rope=None):
        """Project a chunk of (normalised) context tokens ``(batch, n, d_model)``."""
        k, v = self.key_value(context).chunk(2, dim=-1)
        return self.kernel.key_state(k, v, self.n_heads, key_keep, rope)

    def self_state(self, x, key_keep=None, rope=None):
        """Queries and key state of (normalised) tokens that attend to themselves.

        One matrix product projects queries, keys and values together.
        """
        weight = torch.cat([self.query.weight, self.key_value.weight])
        bias = torch.cat([self.query.bias, self.key_value.bias])
        q, k, v = F.linear(x, weight, bias).chunk(3, dim=-1)
        return q, self.kernel.key_state(k, v, self.n_heads, key_keep, rope)

    def merge(self, states):
        """Combine the key states of consecutive context chunks."""
        return self.kernel.merge(states)

    def attend(self, q, state, rope=None):
        """Attend from projected queries ``(batch, n, d_model)`` to a key state."""
        return self.out(self.kernel.attend(q, state, self.n_heads, rope))


def _keep_mask(shape, p, device):
    """Bernoulli(1 - p) keep mask from 16 random bits per element.

    Three 16-bit fields of each 64-bit draw serve three elements; the drop
    probability is ``p`` rounded to a multiple of 2**-16.
    """
    n = math.prod(shape)
    # random_() on int64 draws 63 uniform bits: the low three 16-bit fields
    # of each draw are uniform and independent, the top one is not.
    draws = torch.empty(-(-n // 3), dtype=torch.int64, device=device).random_()
    fields = draws.view(torch.int16).view(-1, 4)[:, :3].reshape(-1)[:n]
    return (fields >= _INT16_MIN + round(p * 2**16)).view(shape)


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with cheaper masks on the CPU.

    torch draws a dropout mask with one call of its random generator per
    element, a large part of a CPU pre-training step. Here each 64-bit draw
    masks three elements (:func:`_keep_mask`); with the feature map's
    backward it is the ``+kernels`` arm of
    ``benchmarks/results/pretrain_profile.md``.
    Same distribution (the drop probability rounded to a multiple of
    2**-16: 0.1 becomes 0.100006), same scaling of the kept values;
    elsewhere than the CPU, and in place, it is torch's own.
    """

    def forward(self, x):
        if not (self.training and 0 < self.p < 1) or self.inplace or x.device.type != "cpu":
            return super().forward(x)
        keep = _keep_mask(x.shape, self.p, x.device)
        # The scale goes into the mask (one pass), in x's dtype as torch's own
        # dropout scales its mask.
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


class FeedForward(nn.Sequential):
    """Two linear layers with GELU between them and dropout after."""

    def __init__(self, d_model, hidden, dropout):
        super().__init__(
            nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model), Dropout(dropout)
        )


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: attention then feed-forward, with residuals.

    Parameters
    ----------
    d_model, n_heads : int
    kind : {"linear", "softmax"}
    mlp_ratio : float
        Feed-forward hidden width as a multiple of ``d_model``.
    dropout : float
    cross : bool, default=False
        True for a block whose keys/values come from another token set; it
        then normalises that context with its own LayerNorm.

    Attributes
    ----------
    chunk_rows : int
        Rows processed at once (see :data:`CHUNK_ROWS`).
    """

    def __init__(self, d_model, n_heads, kind, mlp_ratio, dropout, cross=False):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.context_norm = nn.LayerNorm(d_model) if cross else None
        self.attention = Attention(d_model, n_heads, kind)
        self.attention_dropout = Dropout(dropout)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, round(mlp_ratio * d_model), dropout)
        self.chunk_rows = CHUNK_ROWS

    def forward(self, x, context=None, key_keep=None, rope_q=None, rope_k=None):
        """Update ``x`` by attending to ``context`` (to itself when None).

        Parameters
        ----------
        x : torch.Tensor of shape (batch, n_queries, d_model)
        context : torch.Tensor of shape (batch, n_keys, d_model), optional
        key_keep : torch.Tensor of shape (batch, 1 or heads, n_keys), optional
        rope_q, rope_k : torch.Tensor, optional
            Rotary tables of the queries and of the keys.

        Returns
        -------
        torch.Tensor of shape (batch, n_queries, d_model)
        """
        longest = x.shape[1] if context is None else max(x.shape[1], context.shape[1])
        # Whole sequences per chunk while they fit; else one sequence at a
        # time, itself cut into token chunks by _update_sequences.
        per_chunk = max(1, self.chunk_rows // longest)
        xs = _pieces(x, per_chunk, dim=0)
        contexts = [None] * len(xs) if context is None else _pieces(context, per_chunk, dim=0)
        keeps = [None] * len(xs) if key_keep is None else _pieces(key_keep, per_chunk, dim=0)
        outputs = [
            self._update_sequences(x_part, context_part, keep_part, rope_q, rope_k)
            for x_part, context_part, keep_part in zip(xs, contexts, keeps)
        ]
        return _cat(outputs, dim=0)

    def attention_weights(self, x, context=None, key_keep=None, rope_q=None, rope_k=None):
        """The attention weights of :meth:`forward`'s attention, formed explicitly.

        Same arguments as :meth:`forward`; the attention's output (before
        its output projection) is ``weights @ values`` per head. Quadratic in
        the tokens: meant for inspecting a few examples
        (:func:`sk_cria.inspection.attention_maps`), never used by ``forward``.

        Returns
        -------
        torch.Tensor of shape (batch, heads, n_queries, n_keys)
        """
        attention = self.attention
        keys = self.norm(x) if context is None else self.context_norm(context)
        q = _split_heads(attention.query(self.norm(x)), attention.n_heads)
        k = _split_heads(attention.key_value(keys).chunk(2, dim=-1)[0], attention.n_heads)
        return attention.kernel.weights(q, k, key_keep, rope_q, rope_k)

    def _update_sequences(self, x, context, key_keep, rope_q, rope_k):
        step = max(1, self.chunk_rows // x.shape[0])
        starts = range(0, x.shape[1], step)
        xs = _pieces(x, step, dim=1)
        if context is None:
            # Each chunk is normalised once and projected to queries, keys and
            # values in one product; the queries wait for the key state.
            queries, states = zip(
                *(
                    self.attention.self_state(
                        self.norm(x_part),
                        _keys(key_keep, start, step),
                        _rows(rope_k, start, step),
                    )
                    for start, x_part in zip(starts, xs)
                )
            )
        else:
            states = [
                self.attention.key_state(
                    self.context_norm(context_part),
                    _keys(key_keep, start, step),
                    _rows(rope_k, start, step),
                )
                for start, context_part in zip(range(0, context.shape[1], step),
                                               _pieces(context, step, dim=1))
            ]
            queries = (self.attention.query(self.norm(x_part)) for x_part in xs)
        state = self.attention.merge(list(states))
        outputs = [
            self._update_tokens(x_part, q, state, _rows(rope_q, start, step))
            for start, x_part, q in zip(starts, xs, queries)
        ]
        return _cat(outputs, dim=1)

    def _update_tokens(self, x, q, state, rope):
        x = x + self.attention_dropout(self.attention.attend(q, state, rope))
        return x + self.ff(self.ff_norm(x))


def _cat(parts, dim):
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _pieces(tensor, size, dim):
    """``tensor`` cut into pieces of ``size`` along ``dim``: itself when it fits.

    Not slices: the backward of each slice fills a zero tensor as large as the
    whole ``tensor`` and adds it up, where :meth:`torch.Tensor.split`'s joins
    the pieces' gradients once.
    """
    return (tensor,) if tensor.shape[dim] <= size else tensor.split(size, dim)


def _rows(table, start, step):
    return None if table is None else table[start : start + step]


def _keys(key_keep, start, step):
    return None if key_keep is None else key_keep[..., start : start + step]
