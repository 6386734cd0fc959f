"""Executed left/right fist runs of eegmmidb (issue 35 item 4): asked for explicitly,
never mixed into imagery unasked."""

import numpy as np
import pytest

from sk_cria.datasets import load_eegbci_imagery


def test_executed_runs_load_when_asked(data_path):
    b = load_eegbci_imagery(subject=1, path=data_path, movement="executed")
    assert sorted(set(b.groups)) == [3, 7, 11]
    assert b.data.shape[1:] == (64, 640) and len(b.data) == len(b.target) > 40
    assert set(b.target) == {0, 1} and "executed" in b.DESCR
    imagined = load_eegbci_imagery(subject=1, path=data_path)
    assert sorted(set(imagined.groups)) == [4, 8, 12] and "imagined" in imagined.DESCR
    assert not np.array_equal(b.data[:5], imagined.data[:5])


@pytest.mark.parametrize("kwargs, match", [
    (dict(runs=(3,)), r"Runs \[3\] are not left/right fist imagery; .* give "
                      r"movement='executed'"),
    (dict(runs=(4, 7), movement="executed"),
     r"Runs \[4\] are not left/right fist execution; .* give movement='imagined'"),
    (dict(runs=(5,), movement="executed"), r"Runs \[5\] are not left/right fist execution; "
                                           r"use runs from \(3, 7, 11\)\.$"),
    (dict(movement="executed "), r"movement must be one of \('imagined', 'executed'\)"),
])
def test_runs_of_the_other_movement_are_refused(data_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_eegbci_imagery(subject=1, path=data_path, **kwargs)
