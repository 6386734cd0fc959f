"""Inspect what a CRIA encoder sees: the paper's inspection experiments as tools.

Four questions to ask of a pre-trained encoder before trusting it, each
answered by a function that returns a :class:`pandas.DataFrame` or plain
arrays, with a plot helper:

- :func:`view_ablation`: how much a fitted pipeline's score relies on each view
  (temporal, spatial, spectral), measured by masking the view at inference
  (the paper's Figure 5);
- :func:`attention_maps`: the cross-attention weights of the temporal and
  spatial queries over the spectral tokens in chosen windows and fusion layers
  (the paper's "feature emergence", Figure 2);
- :func:`purification_counts`: which channels and patches the top-k
  purification keeps over a data set;
- :func:`channel_coverage`: which channels of a data set the vocabulary knows
  and how each name is normalised (the report behind the unknown-channel
  warning).

They take a fitted :class:`~sk_cria.ViewMaskPretrainer` or
:class:`~sk_cria.CRIAClassifier`, a fitted :class:`~sklearn.pipeline.Pipeline`
holding one (the data then go through the steps before it), or the folder or
shipped name of a saved encoder (``"cria-small"``, loaded with
:meth:`ViewMaskPretrainer.from_pretrained <sk_cria.ViewMaskPretrainer.from_pretrained>`),
and arrays (named by :class:`~sk_cria.EEGPreprocessor`'s
:class:`~sk_cria.EEGArray`) or an :class:`~sk_cria.datasets.EEGWindowsDataset`.
Nothing here changes the encoder: masking and the attention hooks last for
the call only.
"""

from __future__ import annotations

import numbers
import os
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from . import _net
from .channels import lookup_channels, normalize_channel_name
from .classification import CRIAClassifier
from .model.fusion import FUSION_ROUTES
from .pretraining import ViewMaskPretrainer

__all__ = [
    "attention_maps",
    "channel_coverage",
    "masked_views",
    "plot_attention",
    "plot_channel_coverage",
    "plot_channel_topomap",
    "plot_view_ablation",
    "purification_counts",
    "view_ablation",
]

_ESTIMATORS = (
    "a fitted ViewMaskPretrainer or CRIAClassifier, a fitted Pipeline holding one, "
    "or the folder or shipped name of a saved encoder (such as 'cria-small')"
)


# ------------------------------------------------------------------ resolving
def _resolve(estimator):
    """The steps before the CRIA net (a Pipeline, or None) and the fitted net."""
    if isinstance(estimator, (str, os.PathLike)):
        return None, ViewMaskPretrainer.from_pretrained(estimator)
    if isinstance(estimator, (ViewMaskPretrainer, CRIAClassifier)):
        check_is_fitted(estimator, "montages_")
        return None, estimator
    if isinstance(estimator, Pipeline):
        for index, (_, step) in enumerate(estimator.steps):
            if isinstance(step, (ViewMaskPretrainer, CRIAClassifier)):
                check_is_fitted(step, "montages_")
                return (estimator[:index] if index else None), step
        raise TypeError(
            f"The Pipeline holds no ViewMaskPretrainer or CRIAClassifier (its steps: "
            f"{[name for name, _ in estimator.steps]}); give {_ESTIMATORS}."
        )
    raise TypeError(f"estimator must be {_ESTIMATORS}; got {type(estimator).__name__}.")


def _encoder(net):
    return net.module_.encoder


def _check_views(views, encoder):
    """A tuple of view names from one name or a sequence of them."""
    views = (views,) if isinstance(views, str) else tuple(views)
    unknown = [view for view in views if view not in encoder.VIEWS]
    if unknown:
        raise ValueError(f"views must be names from {encoder.VIEWS}; got {unknown}.")
    return views


def masked_views(estimator, views):
    """Mask whole views of the encoder of ``estimator`` inside a ``with`` block.

    Every ``transform``, ``predict`` or score of the estimator inside the
    block encodes its windows with the tokens of ``views`` replaced by the
    encoder's learned placeholders, as in pre-training with
    ``masking="view"``; the encoder is as before when the block ends, even
    on an error.

    Parameters
    ----------
    estimator : ViewMaskPretrainer, CRIAClassifier or Pipeline
        Fitted; a Pipeline's first CRIA step is masked.
    views : str or sequence of str
        Among ``"temporal"``, ``"spatial"`` and ``"spectral"``.

    Returns
    -------
    context manager
        :meth:`sk_cria.model.CRIA.masked_views` of the estimator's encoder.

    Examples
    --------
    >>> embed = ViewMaskPretrainer.from_pretrained("cria-small")  # doctest: +SKIP
    >>> with masked_views(embed, "spectral"):  # doctest: +SKIP
    ...     embeddings = embed.transform(X)  # X: EEGPreprocessor's output
    """
    if isinstance(estimator, (str, os.PathLike)):
        raise TypeError(
            "masked_views masks the encoder of an estimator you then use; give the "
            "fitted estimator (ViewMaskPretrainer.from_pretrained(name), a "
            "CRIAClassifier or a Pipeline), not the name of a saved encoder."
        )
    _, net = _resolve(estimator)
    encoder = _encoder(net)
    return encoder.masked_views(_check_views(views, encoder))


def _net_input(prefix, net, X, params):
    """X as the net's module takes it (after the steps before the net), and its montages."""
    if prefix is not None:
        X = prefix.transform(X, **params)
    return _net.model_input(net, X, reset=False)


def _montage_of(montages):
    """Channel names of a batch, from the index pairs it carries."""
    by_pairs = {lookup_channels(names).indices.tobytes(): list(names) for names in montages}

    def names(pairs):
        return by_pairs[np.asarray(pairs.cpu(), dtype=np.int64).tobytes()]

    return names


@contextmanager
def _inference(net):
    """The net's module in eval mode, on its device, without gradients; restored after."""
    # Each submodule's own mode comes back (a frozen encoder may be in eval mode
    # inside a module in training mode).
    modes = [(module, module.training) for module in net.module_.modules()]
    net.module_.eval()
    try:
        with _net.concrete_device(net), torch.inference_mode():
            yield
    finally:
        for module, training in modes:
            module.training = training


# -------------------------------------------------------------- view ablation
def view_ablation(estimator, X, y, *, scoring=None, views=None, params=None):
    """Score a fitted estimator with each view of its encoder masked in turn.

    The paper's view ablation at inference (its Figure 5): the windows are
    scored once as they are, then once with each view's tokens replaced by the
    encoder's learned placeholder (what pre-training with ``masking="view"``
    taught the encoder to make up for). Nothing is refitted: a large drop says
    that the fitted decision relies on that view.

    Parameters
    ----------
    estimator : CRIAClassifier or Pipeline
        Fitted, and able to predict: a :class:`~sk_cria.CRIAClassifier`, or a
        Pipeline with a CRIA step and a final estimator (e.g.
        ``[EEGPreprocessor, ViewMaskPretrainer, LogisticRegression]``).
    X : array-like or Dataset
        The data as ``estimator`` takes them (raw windows for a Pipeline that
        starts with an EEGPreprocessor).
    y : array-like of shape (n_windows,)
        True labels.
    scoring : str, callable or None, default=None
        Any scikit-learn scorer (:func:`sklearn.metrics.check_scoring`); None
        uses the estimator's ``score`` (accuracy for classifiers).
    views : sequence of str or of tuples of str, or None, default=None
        What to mask, one entry per row: a view name, or a tuple of names
        masked together (``("temporal", "spatial")`` keeps only the spectral
        view). None masks ``"temporal"``, ``"spatial"`` and ``"spectral"``
        in turn.
    params : dict or None, default=None
        Passed to the scorer, e.g. ``{"groups": groups}`` for
        :class:`~sk_cria.GroupScorer` (needs scikit-learn's metadata routing).

    Returns
    -------
    table : pandas.DataFrame
        Indexed by what was masked (``"none"`` first, tuples joined with
        ``"+"``), with columns ``score`` and ``drop`` (the score with nothing
        masked minus the row's score).

    See Also
    --------
    masked_views : the context manager behind it, to get masked embeddings.
    plot_view_ablation : draw the table.
    """
    if isinstance(estimator, (str, os.PathLike)) or isinstance(estimator, ViewMaskPretrainer):
        raise TypeError(
            "view_ablation scores predictions, and a ViewMaskPretrainer only embeds: "
            "give a fitted CRIAClassifier or a fitted Pipeline that ends in a "
            "classifier, e.g. Pipeline([EEGPreprocessor(...), ViewMaskPretrainer."
            "from_pretrained('cria-small'), LogisticRegression()]) fitted on labelled "
            "windows."
        )
    _, net = _resolve(estimator)
    encoder = _encoder(net)
    views = encoder.VIEWS if views is None else views
    if isinstance(views, str):
        views = (views,)
    masks = [_check_views(entry, encoder) for entry in views]
    scorer = check_scoring(estimator, scoring=scoring)
    params = {} if params is None else dict(params)
    rows = {"none": scorer(estimator, X, y, **params)}
    for mask in masks:
        with encoder.masked_views(mask):
            rows["+".join(mask)] = scorer(estimator, X, y, **params)
    table = pd.DataFrame({"score": pd.Series(rows, dtype=float)})
    table.index.name = "masked"
    table["drop"] = table.score["none"] - table.score
    return table


def plot_view_ablation(table, ax=None):
    """Bar chart of :func:`view_ablation`'s scores, the unmasked score as a line.

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`view_ablation` returns.
    ax : matplotlib.axes.Axes or None, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    if not (isinstance(table, pd.DataFrame) and "score" in table.columns
            and "none" in table.index):
        raise ValueError(
            "plot_view_ablation draws what view_ablation returns (a DataFrame with a "
            f"'score' column and a 'none' row, the unmasked score); got {_described(table)}.")
    ax = _axes(ax, figsize=(5, 3.5))
    masked = table.drop(index="none")
    positions = np.arange(len(masked))
    ax.bar(positions, masked.score, color="tab:blue")
    ax.axhline(table.score["none"], color="k", ls="--", lw=1,
               label=f"nothing masked ({table.score['none']:.3f})")
    ax.set_xticks(positions, [f"{name}\nmasked" for name in masked.index])
    ax.set_ylabel("score")
    ax.legend(loc="lower right", fontsize=8)
    return ax


# ------------------------------------------------------------ attention maps
def attention_maps(estimator, X, windows=(0,), *, layers=None, queries=("temporal", "spatial"),
                   average_heads=True, params=None):
    """The attention weights of the fusion layers for a few windows.

    In each fusion layer the temporal and the spatial tokens attend to the
    (updated) spectral tokens (``fusion="asymmetric"``, the paper's). These
    weights are computed explicitly for the requested windows: with
    ``attention="softmax"`` they are the softmax of the scores, each row
    summing to 1; with the default linear attention (elu+1 kernel) the
    layer never forms them, and what is returned is the matrix it applies
    implicitly, ``w[i, j] = <R_i phi(q_i), R_j phi(k_j)> / <phi(q_i),
    sum_j phi(k_j)>`` (``R`` the rotary positions, which act on the
    numerator only): the layer's output is exactly ``w @ values``, but since
    the rotations change the numerator and not the normaliser, a row need
    not sum to 1 and a weight can be negative. Padded keys get weight 0.

    Parameters
    ----------
    estimator : ViewMaskPretrainer, CRIAClassifier, Pipeline, str or path-like
        A fitted estimator or the name of a saved encoder (see the module).
    X : array-like or Dataset
        The data as ``estimator`` takes them.
    windows : int or sequence of int, default=(0,)
        Indices of the windows into X (after the Pipeline's steps before the
        encoder), all of one montage.
    layers : int, sequence of int or None, default=None
        Fusion layers (0 is the first; negative indices count from the
        last); None takes every layer.
    queries : sequence of str, default=("temporal", "spatial")
        The views whose attention to return; ``"spectral"`` gives its
        self-attention.
    average_heads : bool, default=True
        Average the heads' weights; False keeps a head axis.
    params : dict or None, default=None
        Passed to the ``transform`` of a Pipeline's steps before the encoder.

    Returns
    -------
    maps : sklearn.utils.Bunch
        ``weights``: a dict, for each query view, of an ndarray of shape
        ``(n_windows, n_layers, [n_heads,] channels, patches, key_channels,
        patches)``: the weight of token (query channel, query patch) on
        token (key channel, key patch). The keys are the tokens of the views
        in ``sources[query]`` (spectral for the temporal and spatial queries
        of asymmetric fusion); with several sources the key channel axis
        runs over them in turn (``len(sources) x channels`` entries).
        Also ``sources``, ``ch_names``, ``windows``, ``layers`` and
        ``attention`` (``"linear"`` or ``"softmax"``).

    See Also
    --------
    plot_attention : draw one map as a heat map.
    """
    prefix, net = _resolve(estimator)
    encoder = _encoder(net)
    windows = _check_indices(windows, "windows")
    layers = _check_layers(layers, len(encoder.layers))
    queries = _check_views(queries, encoder)
    data, montages = _net_input(prefix, net, X, {} if params is None else dict(params))
    x, channels, names = _select_windows(data, windows, _montage_of(montages))
    route = dict(FUSION_ROUTES[encoder.config.fusion])
    captured, handles = {}, []
    for layer in layers:
        for query in queries:
            block = encoder.layers[layer].blocks[query]
            handles.append(block.register_forward_pre_hook(
                _capturer(captured, (layer, query)), with_kwargs=True))
    try:
        with _inference(net):
            encoder.encode(x.to(net.device), channels.to(net.device))
            weights = {
                query: np.stack([
                    encoder.layers[layer].blocks[query]
                    .attention_weights(*captured[layer, query]).float().cpu().numpy()
                    for layer in layers], axis=1)
                for query in queries
            }
    finally:
        for handle in handles:
            handle.remove()
    channel_count, patches = x.shape[1], x.shape[2] // encoder.config.patch_size
    for query, value in weights.items():
        if average_heads:
            value = value.mean(axis=2)
        # Flat tokens are channel-major: token c * patches + p.
        weights[query] = value.reshape(*value.shape[:-2], channel_count, patches, -1, patches)
    return Bunch(
        weights=weights,
        sources={query: route[query] or (query,) for query in queries},
        ch_names=names, windows=list(windows), layers=list(layers),
        attention=encoder.config.attention,
    )


def _position(value, held, name, plural):
    """``value`` as a position in ``held`` (maps.windows or maps.layers), checked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, a position in maps.{plural}; got {value!r}.")
    if not -len(held) <= value < len(held):
        # The likely slip: the window's index in X (or the layer's number) given.
        hint = (f"; {name} {value} of the encoder is at position {held.index(value)}"
                if value in held else "")
        raise IndexError(
            f"{name}={value} is not a position in maps.{plural}={list(held)} (0 to "
            f"{len(held) - 1}, or negative from the last){hint}: {name} counts the "
            f"{plural} the maps hold, not those of X or of the encoder.")
    return int(value)


def _described(value):
    """A short description of an unexpected argument for an error message."""
    if isinstance(value, pd.DataFrame):
        return f"a DataFrame with columns {list(value.columns)} and rows {list(value.index)[:6]}"
    if isinstance(value, dict):
        return f"a {type(value).__name__} with keys {list(value)[:8]}"
    return f"a {type(value).__name__}"


def _capturer(store, key):
    def hook(module, args, kwargs):
        x, context = args[0], (args[1] if len(args) > 1 else kwargs.get("context"))
        store[key] = (x, context, kwargs.get("key_keep"), kwargs.get("rope_q"),
                      kwargs.get("rope_k"))

    return hook


def _check_indices(values, name):
    values = [values] if isinstance(values, numbers.Integral) else list(values)
    if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                             for v in values):
        raise TypeError(f"{name} must be an int or a non-empty sequence of ints; got {values!r}.")
    return [int(v) for v in values]


def _check_layers(layers, n_layers):
    layers = list(range(n_layers)) if layers is None else _check_indices(layers, "layers")
    bad = [layer for layer in layers if not -n_layers <= layer < n_layers]
    if bad:
        raise ValueError(f"layers {bad} do not exist: the encoder has {n_layers} fusion "
                         f"layers (0 to {n_layers - 1}, or negative from the last).")
    return [layer % n_layers for layer in layers]


def _select_windows(data, windows, names_of):
    """Windows ``(n, channels, n_times)``, their index pairs ``(n, channels, 2)`` and names."""
    n = _net.n_windows(data)
    bad = [w for w in windows if not -n <= w < n]
    if bad:
        raise IndexError(f"windows {bad} are out of range for X of {n} windows.")
    if isinstance(data, torch.utils.data.Dataset):
        items = [data[w][0] for w in windows]
        x = [torch.as_tensor(item["x"]) for item in items]
        channels = [torch.as_tensor(item["channels"]) for item in items]
    else:
        x = torch.as_tensor(np.asarray(data["x"][windows], dtype=np.float32))
        channels = torch.as_tensor(data["channels"][windows])
    names = {tuple(names_of(pairs)) for pairs in channels}
    if len(names) > 1:
        raise ValueError(
            f"windows {list(windows)} hold {len(names)} montages; attention maps are "
            "stacked per channel, so choose windows of one montage (the dataset's "
            "montage_ids say which)."
        )
    return torch.stack(list(x)), torch.stack(list(channels)), list(names.pop())


def plot_attention(maps, query="temporal", *, window=0, layer=-1, by="channel", ax=None,
                   **kwargs):
    """Heat map of one attention map from :func:`attention_maps`.

    Parameters
    ----------
    maps : sklearn.utils.Bunch
        What :func:`attention_maps` returns (with ``average_heads=True``).
    query : str, default="temporal"
        The query view.
    window, layer : int, default=0 and -1
        Positions in ``maps.windows`` and ``maps.layers``.
    by : {"channel", "patch", "token"}, default="channel"
        ``"channel"``: one cell per (query channel, key channel), the weight
        that a query channel's tokens put on all patches of a key channel,
        averaged over the query patches. ``"patch"``: the same per (query
        patch, key patch), summed over key channels and averaged over query
        channels. ``"token"``: one cell per pair of tokens, grouped by
        channel.
    ax : matplotlib.axes.Axes or None, default=None
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow` (``cmap``, ``vmin``...).

    Returns
    -------
    image : matplotlib.image.AxesImage
    """
    if not (isinstance(maps, Bunch) and {"weights", "sources", "windows", "layers",
                                         "ch_names"} <= set(maps)):
        raise TypeError(f"maps must be what attention_maps returns; got {_described(maps)}.")
    if not isinstance(query, str) or query not in maps.weights:
        raise ValueError(f"query {query!r} is not in these maps, which hold the queries "
                         f"{list(maps.weights)}: give one of them, or call attention_maps(..., "
                         f"queries=[{query!r}]).")
    window = _position(window, maps.windows, "window", "windows")
    layer = _position(layer, maps.layers, "layer", "layers")
    weights = maps.weights[query][window, layer]
    if weights.ndim != 4:
        raise ValueError("plot_attention draws maps averaged over heads: call "
                         "attention_maps(..., average_heads=True).")
    channels, patches, key_channels, _ = weights.shape
    sources = maps.sources[query]
    key_names = [name if len(sources) == 1 else f"{view[:4]}:{name}"
                 for view in sources for name in maps.ch_names]
    if by == "channel":
        matrix, step = weights.sum(axis=3).mean(axis=1), 1
    elif by == "patch":
        matrix = weights.sum(axis=2).mean(axis=0)
    elif by == "token":
        matrix, step = weights.reshape(channels * patches, key_channels * patches), patches
    else:
        raise ValueError(f"by must be 'channel', 'patch' or 'token'; got {by!r}.")
    ax = _axes(ax, figsize=(6, 5))
    kwargs.setdefault("cmap", "viridis")
    image = ax.imshow(matrix, aspect="auto", interpolation="nearest", **kwargs)
    if by == "patch":
        ax.set_yticks(np.arange(patches), [f"{p} s" for p in range(patches)])
        ax.set_xticks(np.arange(patches), [f"{p} s" for p in range(patches)])
        ax.set_ylabel(f"{query} query patch")
        ax.set_xlabel(f"{'+'.join(sources)} key patch")
    else:
        ax.set_yticks(np.arange(channels) * step + (step - 1) / 2, maps.ch_names, fontsize=6)
        ax.set_xticks(np.arange(key_channels) * step + (step - 1) / 2, key_names, fontsize=6,
                      rotation=90)
        ax.set_ylabel(f"{query} query channel")
        ax.set_xlabel(f"{'+'.join(sources)} key channel")
    ax.set_title(f"window {maps.windows[window]}, layer {maps.layers[layer]}", fontsize=9)
    return image


# -------------------------------------------------------------- purification
def purification_counts(estimator, X, *, by="channel", params=None):
    """Count which channels (or patches) the top-k purification keeps over X.

    With purification on (``k_c`` or ``k_t`` of the encoder's config set),
    each window keeps its ``k_c`` channels of largest fused-token norm and,
    in each, its ``k_t`` largest patches (:class:`~sk_cria.model.CRIAOutput`
    ``kept``). When it is off (both None, the default of the presets and of
    ``cria-small``) every real token is kept: a warning says so and every
    share is 1.

    Parameters
    ----------
    estimator : ViewMaskPretrainer, CRIAClassifier, Pipeline, str or path-like
        A fitted estimator or the name of a saved encoder (see the module).
    X : array-like or Dataset
        The data as ``estimator`` takes them.
    by : {"channel", "patch"}, default="channel"
        Count per channel name (in the order first seen), or per patch
        position (second of the window, from 0).
    params : dict or None, default=None
        Passed to the ``transform`` of a Pipeline's steps before the encoder.

    Returns
    -------
    counts : pandas.DataFrame
        One row per channel (or patch), with ``n_windows`` (windows holding
        it), ``kept_windows`` (windows where at least one of its tokens is
        kept), ``n_tokens``, ``kept_tokens`` (real tokens, and those kept),
        ``window_share`` and ``token_share``. ``counts.attrs`` holds
        ``purification`` (bool), ``k_c`` and ``k_t``.

    See Also
    --------
    plot_channel_topomap : draw a share per channel on the scalp.
    """
    if by not in ("channel", "patch"):
        raise ValueError(f"by must be 'channel' or 'patch'; got {by!r}.")
    prefix, net = _resolve(estimator)
    encoder = _encoder(net)
    config = encoder.config
    purifying = config.k_c is not None or config.k_t is not None
    if not purifying:
        warnings.warn(
            "purification_counts: purification is off in this encoder (k_c=None and "
            "k_t=None), so every token is kept and every share is 1. Turn it on with "
            "CRIAConfig(k_c=..., k_t=...) (e.g. sk-cria benchmark --purification).",
            UserWarning, stacklevel=2,
        )
    data, montages = _net_input(prefix, net, X, {} if params is None else dict(params))
    names_of = _montage_of(montages)
    totals = {}
    with _inference(net):
        dataset = net.get_dataset(data)
        for batch, _ in _net.device_batches(net, dataset):
            out = encoder.encode(batch["x"], batch["channels"])
            kept, real = out.kept.cpu().numpy(), ~out.padding_mask.cpu().numpy()
            if by == "channel":
                labels, axis = names_of(batch["channels"][0]), 1
            else:
                labels, axis = range(kept.shape[2]), 2
            for index, label in enumerate(labels):
                k, r = np.take(kept, index, axis=axis), np.take(real, index, axis=axis)
                row = totals.setdefault(label, np.zeros(4, dtype=np.int64))
                row += [r.any(axis=1).sum(), k.any(axis=1).sum(), r.sum(), k.sum()]
    counts = pd.DataFrame.from_dict(
        totals, orient="index",
        columns=["n_windows", "kept_windows", "n_tokens", "kept_tokens"])
    counts.index.name = by
    counts["window_share"] = counts.kept_windows / counts.n_windows.clip(lower=1)
    counts["token_share"] = counts.kept_tokens / counts.n_tokens.clip(lower=1)
    counts.attrs.update(purification=purifying, k_c=config.k_c, k_t=config.k_t)
    return counts


# ----------------------------------------------------------- channel coverage
def channel_coverage(data):
    """Which channels the electrode vocabulary knows, and how each name is normalised.

    The report behind the unknown-channel warning: a channel outside the
    vocabulary shares one "unknown" embedding with every other such channel,
    so the encoder cannot tell where it is.

    Parameters
    ----------
    data : sequence of str, EEGArray, EEGWindowsDataset, mne object, Bunch or estimator
        Channel names, or anything that carries them: ``ch_names`` (an
        :class:`~sk_cria.EEGArray`, a loader's Bunch, :class:`mne.io.Raw`,
        :class:`mne.Epochs`, :class:`mne.Info`), ``montages`` (an
        :class:`~sk_cria.datasets.EEGWindowsDataset`) or ``montages_`` (a
        fitted CRIA estimator: the channels it saw).

    Returns
    -------
    coverage : pandas.DataFrame
        One row per distinct channel name, in the order first seen, indexed
        by the name as given, with ``normalized`` (the vocabulary spelling,
        ``"A-B"`` for a bipolar derivation, None when unknown), ``kind``
        (``"electrode"``, ``"bipolar"`` or ``"unknown"``), ``known`` and
        ``n_montages`` (montages that hold it).

    See Also
    --------
    sk_cria.channels.normalize_channel_name : the normalisation.
    plot_channel_coverage : draw the known electrodes on the scalp.
    """
    montages = _montages_of(data)
    seen = {}
    for names in montages:
        for name in dict.fromkeys(names):
            seen[name] = seen.get(name, 0) + 1
    rows = []
    for name, n_montages in seen.items():
        normalized = normalize_channel_name(name)
        kind = ("unknown" if normalized is None
                else "bipolar" if "-" in normalized else "electrode")
        rows.append((name, normalized, kind, normalized is not None, n_montages))
    coverage = pd.DataFrame(rows, columns=["channel", "normalized", "kind", "known",
                                           "n_montages"], dtype=object).set_index("channel")
    return coverage.astype({"known": bool, "n_montages": np.int64})


def _montages_of(data):
    """The lists of channel names that ``data`` holds or carries."""
    if isinstance(data, str):
        raise TypeError(f"data must be a list of channel names, not the string {data!r}; "
                        f"write [{data!r}].")
    for attribute in ("montages", "montages_"):
        montages = getattr(data, attribute, None)
        if montages is not None:
            return [list(names) for names in montages]
    if isinstance(data, dict) and "ch_names" in data:  # mne.Info, a Bunch
        names = data["ch_names"]
    else:
        names = getattr(data, "ch_names", data)
    if names is None or isinstance(names, np.ndarray) and names.dtype.kind not in "UO":
        raise ValueError(
            "channel_coverage needs channel names: give a list of names, an EEGArray "
            "from EEGPreprocessor(ch_names=...), an mne object or an EEGWindowsDataset; "
            f"got {type(data).__name__} without names."
        )
    names = list(names)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"channel names must be strings; got {names[:5]!r}.")
    return [names]


# ------------------------------------------------------------------ plotting
def _axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1]


def _scalp_info(names):
    """MNE Info of the electrodes among ``names`` with a template position, and their indices."""
    import mne

    # MNE 1.13 renamed "standard_1005" (the same template head) to "colin27_1005".
    template = ("colin27_1005" if "colin27_1005" in mne.channels.get_builtin_montages()
                else "standard_1005")
    montage = mne.channels.make_standard_montage(template)
    positions = {name.lower(): name for name in montage.ch_names}
    picks, electrodes = [], []
    for index, name in enumerate(names):
        canonical = normalize_channel_name(name)
        # A bipolar derivation has no single position on the scalp.
        if canonical is not None and canonical.lower() in positions and canonical not in electrodes:
            picks.append(index)
            electrodes.append(canonical)
    info = mne.create_info(electrodes, 200.0, ch_types="eeg")
    info.set_montage(montage, match_case=False)
    return info, picks


def plot_channel_topomap(values, ax=None, **kwargs):
    """Draw one value per channel on the scalp with :func:`mne.viz.plot_topomap`.

    Channels are placed by their normalised names on MNE's template 10-05
    head; bipolar derivations and unknown names, which have no single
    position, are left out (the axes' title lists them).

    Parameters
    ----------
    values : pandas.Series or dict
        Value per channel name, e.g. ``purification_counts(...).window_share``.
    ax : matplotlib.axes.Axes or None, default=None
    **kwargs
        Passed to :func:`mne.viz.plot_topomap` (``cmap``, ``vlim``, ...).

    Returns
    -------
    image : matplotlib.image.AxesImage
    """
    import mne

    if not isinstance(values, (pd.Series, dict)) or not all(
            isinstance(name, str) for name in (values.index if isinstance(values, pd.Series)
                                               else values)):
        raise TypeError("values must be a pandas Series or a dict of one value per channel "
                        f"name, e.g. purification_counts(...).window_share; got "
                        f"{_described(values)}.")
    try:
        values = pd.Series(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"values must be numbers, one per channel name ({error}).") from None
    info, picks = _scalp_info(list(values.index))
    if len(picks) < 3:
        raise ValueError(f"plot_channel_topomap needs at least 3 channels with a scalp "
                         f"position; got {list(values.index)}.")
    ax = _axes(ax, figsize=(4, 4))
    kwargs.setdefault("show", False)
    image, _ = mne.viz.plot_topomap(values.to_numpy()[picks], info, axes=ax, **kwargs)
    left_out = [name for i, name in enumerate(values.index) if i not in set(picks)]
    if left_out:
        ax.set_title(f"not drawn: {', '.join(map(str, left_out))}", fontsize=7)
    return image


def plot_channel_coverage(coverage, ax=None):
    """Draw the known electrodes of :func:`channel_coverage` on the scalp.

    Parameters
    ----------
    coverage : pandas.DataFrame
        What :func:`channel_coverage` returns.
    ax : matplotlib.axes.Axes or None, default=None

    Returns
    -------
    ax : matplotlib.axes.Axes
        Its title counts the known channels and names the unknown ones.
    """
    if not (isinstance(coverage, pd.DataFrame) and "known" in coverage.columns):
        raise ValueError("plot_channel_coverage draws what channel_coverage returns (a "
                         f"DataFrame with a 'known' column); got {_described(coverage)}.")
    info, _ = _scalp_info(list(coverage.index))
    ax = _axes(ax, figsize=(4, 4))
    if len(info.ch_names):
        info.plot_sensors(axes=ax, show_names=True, show=False)
    unknown = coverage.index[~coverage.known.astype(bool)].tolist()
    ax.set_title(f"{int(coverage.known.sum())} of {len(coverage)} channels known"
                 + (f"; unknown: {', '.join(unknown)}" if unknown else ""), fontsize=8)
    return ax
