"""The configuration of a CRIA encoder: every size and every design choice."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

__all__ = ["CRIAConfig", "LEGACY_DEFAULTS"]

FUSIONS = ("asymmetric", "symmetric", "serial")
ATTENTIONS = ("linear", "softmax")
SPECTRAL_WINDOWS = ("hann", "boxcar")
SPECTRAL_INITS = ("filterbank", "random")
POOLINGS = ("mean_top", "mean")
POOL_NORMS = ("view", "joint")
READOUT_INITS = ("primary", "random")

#: Values of the fields added after the first release (issue 21) that give
#: the encoder as it was before them. A saved ``config.json`` that lacks one
#: of these fields was written before it existed, so
#: :meth:`CRIAConfig.from_dict` fills it from here, not from the new default:
#: old checkpoints keep embedding exactly as they did.
LEGACY_DEFAULTS = {
    "spectral_window": "boxcar",
    "spectral_init": "random",
    "pooling": "mean",
    "pool_norm": "joint",
    "readout_init": "random",
}

#: The most parameters a configuration may give (an estimate, see
#: :func:`estimated_parameters`): 4 GB of float32 weights, 16 GB with their
#: gradients and AdamW's two moments, about 270 times the default preset and
#: far above the EEG foundation models (LaBraM-Huge: 369 M). A size typed with
#: a few zeros too many (``d_model=10**9`` asked torch for 1.4 TB) is refused
#: before anything is allocated.
MAX_PARAMETERS = 10**9
#: Rows of the channel-embedding table (the 10-05 vocabulary and 'unknown').
_N_CHANNEL_EMBEDDINGS = 345


@dataclass(frozen=True)
class CRIAConfig:
    """Sizes and choices of a :class:`~sk_cria.model.CRIA` encoder.

    The defaults give about 3.6 M parameters, the size of the EEG foundation
    models CRIA is compared with (BIOT 3.2 M, CBraMod 4.9 M, LaBraM-Base
    5.8 M); :meth:`small` gives a preset for quick CPU runs and tests. The
    object is frozen and JSON round-trippable through
    :func:`dataclasses.asdict`.

    Parameters
    ----------
    patch_size : int, default=200
        Samples per token: one second at 200 Hz, the paper's patch.
    sfreq : float, default=200.0
        Sampling rate the model expects, recorded so that a checkpoint says
        what its inputs were.
    embed_dim : int, default=256
        Size of the pooled embedding returned by the model.
    d_model : int, default=128
        Width of every token. The per-token linear layers dominate the cost
        (three views of C x P tokens each), so the width stays modest.
    n_heads : int, default=4
        Attention heads; must divide ``d_model`` into an even head size
        (rotary embeddings rotate pairs of features).
    n_layers : int, default=5
        Fusion layers (5 in the paper).
    mlp_ratio : float, default=4.0
        Hidden width of the feed-forward blocks, as a multiple of ``d_model``.
    fusion : {"asymmetric", "symmetric", "serial"}, default="asymmetric"
        How the views exchange information. ``"asymmetric"`` (the paper):
        spectral tokens self-attend, temporal and spatial tokens
        cross-attend to the updated spectral tokens. ``"symmetric"``: every
        view cross-attends to the other two, no view is primary.
        ``"serial"``: spectral self-attends, temporal cross-attends to
        spectral, spatial cross-attends to the updated temporal tokens.
    attention : {"linear", "softmax"}, default="linear"
        ``"linear"``: elu+1 kernel attention, cost linear in the number of
        tokens (what lets long recordings fit). ``"softmax"``: exact
        attention, quadratic, kept to measure the scaling claim against.
    k_c : float, int or None, default=None
        Channels kept by purification, per example: a fraction in (0, 1] of
        the example's real channels, a count (int >= 1), or None for all
        (0.5 before issue 21; see Notes).
    k_t : float, int or None, default=None
        Patches kept within each kept channel, same conventions as ``k_c``.
    attn_mask_ratio : float, default=0.0
        Fraction of attention keys each head ignores at random, in training
        mode only (the fine-tuning regulariser of the paper); 0 turns it
        off. Off by default because pre-training does not use it.
    dropout : float, default=0.1
        Dropout in the feed-forward blocks and on residual branches.
    spectral_eps : float, default=1e-6
        Added to FFT magnitudes before the log so a flat patch is finite.
    spectral_window : {"hann", "boxcar"}, default="hann"
        Taper of each patch before its FFT. ``"boxcar"`` (none) leaks the
        strong low-frequency power of EEG over the whole spectrum of a
        one-second patch and buries narrow-band oscillations; a Hann taper
        confines it to neighbouring bins.
    spectral_init : {"filterbank", "random"}, default="filterbank"
        Initial spectral projection. ``"filterbank"``: feature ``j`` of a
        spectral token starts as the mean log magnitude of the ``j``-th of
        ``d_model`` overlapping triangular frequency bands tiling 0 Hz to
        Nyquist (learned from there), so each feature reads one band;
        ``"random"``: the usual dense random init, under which every
        feature mixes all frequencies and a narrow peak is lost among the
        broadband variations of EEG. Only the initialisation: loaded
        weights replace it.
    pooling : {"mean_top", "mean"}, default="mean_top"
        ``"mean"``: the kept tokens are averaged. ``"mean_top"``: that
        average, concatenated with the feature-wise mean over the
        ``pool_top_channels`` kept channels where the feature is largest
        (each channel's kept tokens averaged first), so that what a few
        channels carry (an occipital rhythm) is not diluted by the others.
    pool_top_channels : int, default=3
        Channels of the second half of ``"mean_top"`` pooling (1 gives the
        maximum, which is noisier).
    pool_norm : {"view", "joint"}, default="view"
        The LayerNorm before pooling: ``"view"`` normalises each view's
        tokens on their own; ``"joint"`` normalises the three concatenated,
        so the scale of one view's features depends on the others' tokens.
    readout_init : {"primary", "random"}, default="primary"
        Initial projection from the pooled features to the embedding.
        ``"primary"``: embedding unit ``i`` reads the spectral (primary)
        view's ``i``-th pooled feature with weight 1 (cycling if the
        embedding is wider), the temporal and spatial views' columns start
        at zero and are learned; ``"random"``: a dense random projection,
        which mixes every feature of every view into every unit and buries
        narrow-band information. Only the initialisation.
    spectral_floor_db : float or None, default=30.0
        Floor of the FFT magnitudes the spectral log reads, this many dB
        below the patch's RMS magnitude: a bin far below the rest of its
        patch (the stop band of filtered EEG) reads as the floor, so noise
        far below the signal cannot move it by orders of magnitude in log.
        None reads ``log(|X| + spectral_eps)``, as before issue 37. Unlike
        the fields of :data:`LEGACY_DEFAULTS`, a checkpoint saved before the
        field existed gets the floor too (the shipped encoders' probe scores
        rise with it: ``benchmarks/results/noise_robustness/stability.md``);
        ``CRIA.from_pretrained(..., spectral_floor_db=None)`` computes as
        before.

    Notes
    -----
    The fields from ``spectral_window`` on came with issue 21 (spectral
    fidelity: ``benchmarks/results/spectral_fidelity.md``), as did the
    defaults ``k_c=None`` and ``k_t=None``: with untrained or weakly
    trained weights, the token norms that purification ranks by carry no
    information about where an oscillation is, so a top-k selection drops
    the channels that carry it at random; set ``k_c``/``k_t`` to purify.
    :data:`LEGACY_DEFAULTS` holds the values that rebuild the encoder of
    earlier checkpoints (whose ``config.json`` gives ``k_c`` and ``k_t``).

    Sizes whose encoder would hold more than :data:`MAX_PARAMETERS` (1e9,
    estimated from the layers' shapes by :func:`estimated_parameters`) are
    refused, naming the size furthest above its default.
    """

    patch_size: int = 200
    sfreq: float = 200.0
    embed_dim: int = 256
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 5
    mlp_ratio: float = 4.0
    fusion: str = "asymmetric"
    attention: str = "linear"
    k_c: float | int | None = None
    k_t: float | int | None = None
    attn_mask_ratio: float = 0.0
    dropout: float = 0.1
    spectral_eps: float = 1e-6
    spectral_window: str = "hann"
    spectral_init: str = "filterbank"
    pooling: str = "mean_top"
    pool_top_channels: int = 3
    pool_norm: str = "view"
    readout_init: str = "primary"
    spectral_floor_db: float | None = 30.0

    def __post_init__(self):
        _check_int(self, "patch_size", minimum=2)
        _check_int(self, "embed_dim")
        _check_int(self, "d_model")
        _check_int(self, "n_heads")
        _check_int(self, "n_layers")
        _check_positive(self, "sfreq")
        _check_positive(self, "mlp_ratio")
        _check_positive(self, "spectral_eps")
        if self.spectral_floor_db is not None:
            _check_positive(self, "spectral_floor_db")
        _check_choice(self, "fusion", FUSIONS)
        _check_choice(self, "attention", ATTENTIONS)
        _check_choice(self, "spectral_window", SPECTRAL_WINDOWS)
        _check_choice(self, "spectral_init", SPECTRAL_INITS)
        _check_choice(self, "pooling", POOLINGS)
        _check_int(self, "pool_top_channels")
        _check_choice(self, "pool_norm", POOL_NORMS)
        _check_choice(self, "readout_init", READOUT_INITS)
        _check_fraction(self, "attn_mask_ratio", upper_open=True)
        _check_fraction(self, "dropout", upper_open=True)
        _check_top_k(self, "k_c")
        _check_top_k(self, "k_t")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"d_model={self.d_model} must split into n_heads={self.n_heads} heads "
                "of an even size (rotary embeddings rotate feature pairs)."
            )
        _check_size(self)

    @classmethod
    def small(cls, **overrides):
        """Return a small preset (about 0.3 M parameters) for quick CPU runs.

        The embedding is ``2 * d_model`` wide, as in the default preset, so
        that the ``"primary"`` readout starts as the spectral view's pooled
        features, all of them (64 before issue 21).

        Parameters
        ----------
        **overrides
            Fields to change from the preset.

        Returns
        -------
        CRIAConfig
        """
        preset = dict(embed_dim=128, d_model=64, n_heads=2, n_layers=2, mlp_ratio=2.0)
        return cls(**{**preset, **overrides})

    def to_dict(self):
        """Return the fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields):
        """Build a config from :meth:`to_dict` output, refusing unknown keys.

        A field of :data:`LEGACY_DEFAULTS` that ``fields`` lacks takes its
        legacy value (the dict was saved before the field existed), not the
        default.

        Parameters
        ----------
        fields : dict
            Field names and values.

        Returns
        -------
        CRIAConfig
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"Unknown CRIAConfig field(s) {unknown}; known: {sorted(known)}.")
        return cls(**{**LEGACY_DEFAULTS, **fields})


def estimated_parameters(config):
    """Estimate the parameter count of a :class:`~sk_cria.model.CRIA` encoder of ``config``.

    From the shapes of its layers, without building it (within 2 % of the
    count for the presets): each fusion layer and the temporal and spatial
    views hold, per view, attention (4 d^2) and a feed-forward block
    (2 mlp_ratio d^2); the tokenizer projects a patch and its spectrum
    (1.5 patch_size d); the readout maps three views' pooled features, twice
    for "mean_top" pooling, to the embedding.
    """
    d = config.d_model
    block = (4 + 2 * config.mlp_ratio) * d * d
    fusion = 3 * config.n_layers * block
    views = 2 * block
    tokens = (1.5 * config.patch_size + _N_CHANNEL_EMBEDDINGS) * d
    readout = 3 * (2 if config.pooling == "mean_top" else 1) * d * config.embed_dim
    return int(fusion + views + tokens + readout)


def _check_size(config):
    """Refuse a configuration whose encoder would exceed :data:`MAX_PARAMETERS`."""
    n = estimated_parameters(config)
    if n <= MAX_PARAMETERS:
        return
    default = CRIAConfig()
    sizes = ("d_model", "n_layers", "mlp_ratio", "embed_dim", "patch_size")
    # The size furthest above its default is the likely typo.
    culprit = max(sizes, key=lambda name: getattr(config, name) / getattr(default, name))
    given = ", ".join(f"{name}={getattr(config, name)!r}" for name in sizes)
    raise ValueError(
        f"CRIAConfig.{culprit}={getattr(config, culprit)!r} is too large: {given} give "
        f"about {n:.2g} parameters ({4 * n / 1e9:.3g} GB of float32 weights, four times "
        f"that to train), above the {MAX_PARAMETERS:.0e} accepted (the default preset has "
        f"{estimated_parameters(default) / 1e6:.1f} M). Lower {culprit}."
    )


def _check_int(config, name, minimum=1):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"CRIAConfig.{name} must be an int >= {minimum}, got {value!r}.")


def _check_positive(config, name):
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"CRIAConfig.{name} must be a positive number, got {value!r}.")


def _check_choice(config, name, choices):
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"CRIAConfig.{name} must be one of {choices}, got {value!r}.")


def _check_fraction(config, name, upper_open):
    value = getattr(config, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and 0 <= value and (value < 1 if upper_open else value <= 1)
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"CRIAConfig.{name} must be a number in {bound}, got {value!r}.")


def _check_top_k(config, name):
    value = getattr(config, name)
    if value is None:
        return
    if isinstance(value, bool):
        pass
    elif isinstance(value, numbers.Integral) and value >= 1:
        return
    elif isinstance(value, float) and 0 < value <= 1:
        return
    raise ValueError(
        f"CRIAConfig.{name} must be a fraction in (0, 1], an int count >= 1 or None, "
        f"got {value!r}."
    )
