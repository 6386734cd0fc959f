"""The electrode vocabulary of CRIA and the normalisation of channel names.

A pre-trained encoder transfers to a new montage only if each channel is
looked up by *name*: the model keeps one learned embedding per entry of
:data:`CHANNEL_VOCABULARY`, and recordings spell the same electrode in many
ways (``EEG Fp1-REF`` in the Temple University corpus, ``Fp1.`` in PhysioNet
files, ``FP1`` in EDF headers, the old ``T3`` for ``T7``). This module turns
those spellings into one canonical name and the names into vocabulary
indices.

Bipolar derivations (``FP1-F7``, ``EEG A2-A1``) are not vocabulary entries of
their own: a derivation is looked up as the *pair* of its two electrodes, and
the model gives it the mean of their two embeddings. That covers every
derivation of known electrodes (longitudinal, transverse, ear-referenced)
without a table of pairs, and keeps the derivation near both electrodes in
embedding space.

Pure Python and NumPy: nothing here imports torch.
"""

from __future__ import annotations

import re
import warnings
from typing import NamedTuple

import numpy as np

__all__ = [
    "CHANNEL_VOCABULARY",
    "REGIONS",
    "UNKNOWN_INDEX",
    "ChannelLookup",
    "channel_neighbour_order",
    "channel_regions",
    "electrode_duplicates",
    "lookup_channels",
    "normalize_channel_name",
    "warn_unknown_channels",
]

# Rows of the 10-05 system from front to back (Oostenveld & Praamstra 2001).
# Each tuple is (medial prefix, lateral prefix used for columns 7 to 10): the
# central rows bend into temporal names at their ends (FC7 is spelt FT7).
_FULL_ROWS = (
    ("AFp", "AFp"),
    ("AF", "AF"),
    ("AFF", "AFF"),
    ("F", "F"),
    ("FFC", "FFT"),
    ("FC", "FT"),
    ("FCC", "FTT"),
    ("C", "T"),
    ("CCP", "TTP"),
    ("CP", "TP"),
    ("CPP", "TPP"),
    ("P", "P"),
    ("PPO", "PPO"),
    ("PO", "PO"),
    ("POO", "POO"),
)
# Rows that only hold the midline and the two positions beside it.
_SHORT_ROWS = ("Fp", "O", "OI", "I")
# Positions used in practice but outside the generated grid: nasion, the
# inferior occipital O9/O10 of the 10-20 extension, the anterior temporal
# T1/T2 of clinical montages (Temple University corpus), ear lobes, mastoids.
_EXTRA_NAMES = ("Nz", "O9", "O10", "T1", "T2", "A1", "A2", "M1", "M2")
# The old 10-20 names of the temporal and parietal chain.
_ALIASES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
# Second halves of a name that mean "referential", not a bipolar partner.
_REFERENCE_SUFFIXES = frozenset({"REF", "LE", "AR", "AV", "AVG", "CAR", "RE"})
_COLUMNS = (9, 7, 5, 3, 1, 2, 4, 6, 8, 10)


def _grid_names():
    """Yield the 10-05 names, row by row, left to right."""
    for medial, lateral in _FULL_ROWS:
        for column in _COLUMNS[:5]:
            yield f"{lateral if column >= 7 else medial}{column}"
        yield f"{medial}z"
        for column in _COLUMNS[5:]:
            yield f"{lateral if column >= 7 else medial}{column}"
    for row in _SHORT_ROWS:
        yield from (f"{row}1", f"{row}z", f"{row}2")
    # Half positions ("h") sit between two columns of the same row.
    for medial, lateral in _FULL_ROWS:
        for column in _COLUMNS:
            yield f"{lateral if column >= 7 else medial}{column}h"
    for row in _SHORT_ROWS:
        yield from (f"{row}1h", f"{row}2h")


#: Canonical electrode names, in embedding order. Append only: the position of
#: a name is its row in every saved model's channel-embedding table.
CHANNEL_VOCABULARY: tuple[str, ...] = tuple(_grid_names()) + _EXTRA_NAMES

#: Index of the embedding shared by every name outside the vocabulary.
UNKNOWN_INDEX: int = len(CHANNEL_VOCABULARY)

_INDEX = {name: i for i, name in enumerate(CHANNEL_VOCABULARY)}

#: Scalp regions, in the order of ``ViewMaskPretrainer(embedding="regions")``'s
#: features: each lobe's left, midline and right part (no temporal midline).
REGIONS: tuple[str, ...] = (
    "frontal_left", "frontal_mid", "frontal_right",
    "central_left", "central_mid", "central_right",
    "temporal_left", "temporal_right",
    "parietal_left", "parietal_mid", "parietal_right",
    "occipital_left", "occipital_mid", "occipital_right",
)
# The lobe of each 10-05 row prefix (the letters of a name). The lateral ends of
# the fronto-central to centro-parietal rows (FT7, T7, TP7, ...), the ear lobes
# and mastoids are temporal; F7 and P7 keep their row's lobe.
_LOBES = {
    "frontal": ("N", "Fp", "AFp", "AF", "AFF", "F", "FFC"),
    "central": ("FC", "FCC", "C", "CCP", "CP"),
    "temporal": ("FFT", "FT", "FTT", "T", "TTP", "TP", "TPP", "A", "M"),
    "parietal": ("CPP", "P", "PPO"),
    "occipital": ("PO", "POO", "O", "OI", "I"),
}
_LOBE_OF_PREFIX = {prefix: lobe for lobe, prefixes in _LOBES.items() for prefix in prefixes}
_NAME_PARTS = re.compile(r"^([A-Za-z]+?)(z|\d+)h?$")


def _region_of(name):
    """Index in :data:`REGIONS` of a vocabulary name, from its row and column.

    The letters name the row (its lobe); ``z`` is the midline, odd numbers
    are left, even numbers right (half positions ``h`` lie on their
    number's side).
    """
    prefix, column = _NAME_PARTS.match(name).groups()
    side = "mid" if column == "z" else ("left" if int(column) % 2 else "right")
    return REGIONS.index(f"{_LOBE_OF_PREFIX[prefix]}_{side}")


# Region of each vocabulary index; -1 (no region) for the unknown index.
_REGION_OF_INDEX = np.array([_region_of(name) for name in CHANNEL_VOCABULARY] + [-1],
                            dtype=np.int64)
_BY_UPPER = {name.upper(): name for name in CHANNEL_VOCABULARY}
_BY_UPPER.update({old.upper(): new for old, new in _ALIASES.items()})
_EEG_PREFIX = re.compile(r"^EEG(?:[\s_:\-]+|(?=[A-Z]))", re.IGNORECASE)


def _canonical_electrode(token):
    """Return the vocabulary spelling of one electrode token, or None."""
    return _BY_UPPER.get(token.strip().strip(".").strip().upper())


def normalize_channel_name(name):
    """Return the canonical spelling of a channel name, or None if unknown.

    Parameters
    ----------
    name : str
        A channel name as found in a recording: ``"EEG Fp1"``, ``"Fp1."``,
        ``"FP1"``, ``"EEG T3-REF"``, ``"FP1-F7"``, ...

    Returns
    -------
    str or None
        The vocabulary name (``"Fp1"``; old names map to new ones, so
        ``"T3"`` gives ``"T7"``), ``"A-B"`` for a bipolar derivation of two
        known electrodes (``"FP1-F7"`` gives ``"Fp1-F7"``), or None when the
        name is not an electrode of the vocabulary.

    Examples
    --------
    >>> normalize_channel_name("EEG T3-REF")
    'T7'
    >>> normalize_channel_name("FP1-F7")
    'Fp1-F7'
    >>> normalize_channel_name("EKG") is None
    True
    """
    stripped = _EEG_PREFIX.sub("", str(name).strip()).strip().strip(".")
    parts = stripped.split("-")
    if len(parts) == 2 and parts[1].strip().strip(".").upper() in _REFERENCE_SUFFIXES:
        parts = parts[:1]
    if len(parts) == 1:
        return _canonical_electrode(parts[0])
    if len(parts) == 2:
        first, second = (_canonical_electrode(part) for part in parts)
        if first is not None and second is not None:
            return f"{first}-{second}"
    return None


def electrode_duplicates(names):
    """Groups of names that spell one channel, by :func:`normalize_channel_name`.

    ``"Fp1"``, ``"FP1"`` and ``"EEG Fp1-REF"`` are one electrode and would
    share one channel embedding; the file readers keep the first of them, and
    every entry point that takes names refuses them. Names outside the
    vocabulary are compared as given (they share the "unknown" embedding
    anyway, but two different unknown names may be two channels).

    Parameters
    ----------
    names : sequence of str
        Channel names.

    Returns
    -------
    list of list of str
        One list per channel spelt more than once, its spellings in input
        order; empty when every name is a channel of its own.

    Examples
    --------
    >>> electrode_duplicates(["Fp1", "FP1", "EEG Fp1-REF", "Cz", "T3", "T7"])
    [['Fp1', 'FP1', 'EEG Fp1-REF'], ['T3', 'T7']]
    """
    spellings = {}
    for name in names:
        canonical = normalize_channel_name(name)
        spellings.setdefault(name if canonical is None else canonical, []).append(name)
    return [group for group in spellings.values() if len(group) > 1]


class ChannelLookup(NamedTuple):
    """Vocabulary indices of a list of channel names.

    Attributes
    ----------
    indices : ndarray of shape (n_channels, 2), dtype int64
        For each channel the indices of its two electrodes; a referential
        channel repeats its electrode, a bipolar one names both, and an
        unknown one holds :data:`UNKNOWN_INDEX` twice. The channel's embedding
        is the mean of the two rows.
    unknown : list of str
        The names (as given) that are not in the vocabulary, in input order.
    """

    indices: np.ndarray
    unknown: list


def lookup_channels(names):
    """Map channel names to vocabulary index pairs.

    Parameters
    ----------
    names : sequence of str
        Channel names in any of the spellings :func:`normalize_channel_name`
        understands.

    Returns
    -------
    ChannelLookup
        ``indices`` of shape ``(len(names), 2)`` and the ``unknown`` names.
    """
    indices = np.full((len(names), 2), UNKNOWN_INDEX, dtype=np.int64)
    unknown = []
    for row, name in enumerate(names):
        canonical = normalize_channel_name(name)
        if canonical is None:
            unknown.append(name)
            continue
        electrodes = canonical.split("-")
        indices[row] = [_INDEX[electrodes[0]], _INDEX[electrodes[-1]]]
    return ChannelLookup(indices, unknown)


def warn_unknown_channels(unknown, stacklevel=1):
    """Warn once, with a single message, about channels outside the vocabulary.

    Parameters
    ----------
    unknown : sequence of str
        The unknown names; nothing happens when it is empty.
    stacklevel : int, default=1
        Frame the warning is attributed to: 1 is the caller of this
        function, 2 its caller, and so on.
    """
    if unknown:
        warnings.warn(
            f"{len(unknown)} channel name(s) are not standard 10-20/10-10/10-05 "
            f"electrodes and share one 'unknown' embedding: {list(unknown)}. "
            "Rename them (e.g. 'EEG Fp1-REF' -> 'Fp1') if they are electrodes.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def channel_regions(channels):
    """The scalp region of each channel, as an index into :data:`REGIONS`.

    Read from the channel's 10-05 name (row and column), so that it does not
    depend on a montage file: the same electrode is in the same region in
    every recording. A bipolar derivation is in the region of its first
    electrode (as in :func:`channel_neighbour_order`); a channel outside the
    vocabulary is in none (-1).

    Parameters
    ----------
    channels : sequence of str, or array-like of int of shape (..., 2)
        Channel names, or their index pairs from :func:`lookup_channels`
        (for one montage or per window).

    Returns
    -------
    regions : ndarray of int64, shape ``channels.shape[:-1]`` (or ``(n_channels,)``)
        Indices into :data:`REGIONS`, -1 for unknown channels.

    Examples
    --------
    >>> [REGIONS[i] for i in channel_regions(["C3", "Cz", "C4", "T7"])]
    ['central_left', 'central_mid', 'central_right', 'temporal_left']
    """
    if len(channels) and isinstance(channels[0], str):
        channels = lookup_channels(channels).indices
    pairs = np.asarray(channels, dtype=np.int64)
    return _REGION_OF_INDEX[pairs[..., 0]]


def channel_neighbour_order(channels):
    """Channels sorted by scalp distance from each channel.

    Distances between the template 10-05 positions of MNE (``colin27_1005``);
    a bipolar derivation sits at its first electrode. Used by S-JEPA-style
    ``"spatial_block"`` masking to hide neighbouring channels together.

    Parameters
    ----------
    channels : sequence of str, or array-like of shape (n_channels, 2)
        Channel names, or their index pairs from :func:`lookup_channels`.

    Returns
    -------
    order : ndarray of shape (n_channels, n_channels), int64
        Row ``c`` lists the channels from the nearest to ``c`` (itself first)
        to the farthest. If a channel has no known position, index order
        (``|i - j|``) stands in for the distance of every channel.
    """
    # Deferred: MNE is imported only by the one masking strategy that needs it.
    import mne

    if len(channels) and isinstance(channels[0], str):
        channels = lookup_channels(channels).indices
    first = np.asarray(channels, dtype=np.int64).reshape(-1, 2)[:, 0]
    # MNE 1.13 renamed "standard_1005" (the same template head) to "colin27_1005".
    builtin = mne.channels.get_builtin_montages()
    template = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    positions = {name.lower(): pos for name, pos in
                 mne.channels.make_standard_montage(template).get_positions()["ch_pos"].items()}
    coords = [positions.get(CHANNEL_VOCABULARY[i].lower()) if i < UNKNOWN_INDEX else None
              for i in first]
    if any(pos is None for pos in coords):
        index = np.arange(len(first))
        distance = np.abs(index[None, :] - index[:, None])
    else:
        coords = np.asarray(coords)
        distance = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    return np.argsort(distance, axis=1, kind="stable")
