"""Tests of the electrode vocabulary and channel-name normalisation."""

import warnings

import numpy as np
import pytest

from sk_cria.channels import (
    CHANNEL_VOCABULARY,
    UNKNOWN_INDEX,
    electrode_duplicates,
    lookup_channels,
    normalize_channel_name,
    warn_unknown_channels,
)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("EEG Fp1", "Fp1"),
        ("Fp1.", "Fp1"),
        ("Fc5.", "FC5"),
        ("C3..", "C3"),
        ("FP1", "Fp1"),
        ("fpz", "Fpz"),
        ("EEG T3-REF", "T7"),
        ("EEG FP1-LE", "Fp1"),
        ("T3", "T7"),
        ("T4", "T8"),
        ("T5", "P7"),
        ("T6", "P8"),
        ("ffc3H", "FFC3h"),
        ("FP1-F7", "Fp1-F7"),
        ("EEG A2-A1", "A2-A1"),
        ("T3-C3", "T7-C3"),
        ("EKG", None),
        ("EEG 001", None),
        ("Fp1-Foo", None),
        ("", None),
    ],
)
def test_normalize_channel_name(name, expected):
    assert normalize_channel_name(name) == expected


def test_vocabulary_is_the_10_05_system_plus_clinical_extras():
    mne = pytest.importorskip("mne")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        standard = set(mne.channels.make_standard_montage("standard_1005").ch_names)
    old_names = {"T3", "T4", "T5", "T6"}
    assert standard - old_names <= set(CHANNEL_VOCABULARY)
    assert set(CHANNEL_VOCABULARY) - standard == {"Nz", "O9", "O10", "T1", "T2"}
    assert len(set(CHANNEL_VOCABULARY)) == len(CHANNEL_VOCABULARY) == 344


def test_vocabulary_order_is_stable():
    # Saved models index their channel embeddings by these positions.
    assert CHANNEL_VOCABULARY[:3] == ("AFp9", "AFp7", "AFp5")
    assert CHANNEL_VOCABULARY.index("Fp1") == 165
    assert CHANNEL_VOCABULARY[-9:] == ("Nz", "O9", "O10", "T1", "T2", "A1", "A2", "M1", "M2")


def test_every_vocabulary_name_normalises_to_itself():
    for name in CHANNEL_VOCABULARY:
        assert normalize_channel_name(name) == name
        assert normalize_channel_name(f"EEG {name.upper()}-REF") == name


def test_lookup_channels_gives_index_pairs_and_unknown_names():
    lookup = lookup_channels(["EEG Fp1-REF", "FP1-F7", "T3", "Photic", "EKG"])
    fp1, f7, t7 = (CHANNEL_VOCABULARY.index(name) for name in ("Fp1", "F7", "T7"))
    expected = [[fp1, fp1], [fp1, f7], [t7, t7], [UNKNOWN_INDEX] * 2, [UNKNOWN_INDEX] * 2]
    np.testing.assert_array_equal(lookup.indices, expected)
    assert lookup.indices.dtype == np.int64
    assert lookup.unknown == ["Photic", "EKG"]


def test_warn_unknown_channels_lists_names_once():
    with pytest.warns(UserWarning, match=r"\['Photic', 'EKG'\]") as record:
        warn_unknown_channels(["Photic", "EKG"])
    assert len(record) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unknown_channels([])


def test_electrode_duplicates_groups_the_spellings_of_one_channel():
    names = ["Fp1", "FP1", "EEG Fp1-REF", "Cz", "T3", "EKG", "T7", "ekg", "FP1-F7", "Fp1-F7"]
    assert electrode_duplicates(names) == [["Fp1", "FP1", "EEG Fp1-REF"], ["T3", "T7"],
                                           ["FP1-F7", "Fp1-F7"]]
    # Unknown names are compared as given; a derivation is not its first electrode.
    assert electrode_duplicates(["EKG", "ekg", "Fp1", "Fp1-F7", "F7-Fp1"]) == []
    assert electrode_duplicates(["Fz", "Fz"]) == [["Fz", "Fz"]]
