"""Contrastive negatives drawn within a group (ViewMaskPretrainer(negatives="group"))."""

import numpy as np
import pytest
import sklearn
from sklearn.pipeline import make_pipeline

from sk_cria import EEGPreprocessor, ViewMaskPretrainer
from sk_cria.alignment import RiemannianAlignment
from sk_cria.datasets import EEGWindowsDataset

QUICK = dict(config="small", max_epochs=1, random_state=0, batch_size=16)


@pytest.fixture(scope="module")
def windows(eegmat_small):
    b = eegmat_small
    X = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names, line_freq=50.0).fit_transform(b.data)
    return X, b.groups


def _batch_groups(net, groups):
    return [np.unique(groups[batch]) for batch in net.train_sampler_.batches(0)]


@pytest.mark.slow  # a pre-training fit per negative
def test_group_negatives_draw_every_batch_from_one_subject(windows):
    X, groups = windows
    net = ViewMaskPretrainer(negatives="group", **QUICK).fit(X, groups=groups)
    batches = _batch_groups(net, groups)
    assert all(len(subjects) == 1 for subjects in batches)
    assert net.n_groups_ == len(np.unique(groups))
    # Every subject is trained on, and the default mixes subjects in a batch.
    assert {int(s[0]) for s in batches} == set(np.unique(groups).tolist())
    mixed = ViewMaskPretrainer(**QUICK).fit(X, groups=groups)
    assert any(len(subjects) > 1 for subjects in _batch_groups(mixed, groups))
    net.set_params(negatives="batch").fit(X, groups=groups)
    assert not hasattr(net, "n_groups_")


@pytest.mark.slow  # pre-training fits
def test_groups_reach_the_pretrainer_through_a_routed_pipeline(windows):
    X, groups = windows
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(RiemannianAlignment(),
                             ViewMaskPretrainer(negatives="group", **QUICK))
        pipe.fit(X, groups=groups)
    net = pipe[-1]
    assert all(len(subjects) == 1 for subjects in _batch_groups(net, groups))


def test_group_negatives_without_groups_is_explained(windows):
    X, _ = windows
    with pytest.raises(ValueError, match=r"groups=\.\.\..*negatives=\"batch\""):
        ViewMaskPretrainer(negatives="group", **QUICK).fit(X)
    with pytest.raises(ValueError, match="negatives must be one of"):
        ViewMaskPretrainer(negatives="subject", **QUICK).fit(X)


def test_a_lone_window_of_its_group_is_warned_about(windows):
    X, groups = windows
    groups = groups.copy()
    groups[0] = 99
    with pytest.warns(UserWarning, match="1 group\\(s\\) hold a single window"):
        ViewMaskPretrainer(negatives="group", **QUICK).fit(X, groups=groups)


def test_recordings_are_the_groups_of_a_windows_dataset(data_path):
    folder = data_path / "eegmat" / "files" / "eegmat" / "1.0.0"
    files = [folder / f"Subject00_{run}.edf" for run in (1, 2)]
    dataset = EEGWindowsDataset(files, window=5, preprocessor=EEGPreprocessor(line_freq=50.0))
    net = ViewMaskPretrainer(negatives="group", **QUICK).fit(dataset)
    assert net.n_groups_ == 2
    batches = _batch_groups(net, dataset.recording_ids)
    assert all(len(recordings) == 1 for recordings in batches)


def test_default_negatives_keep_the_checkpoint_fingerprint(windows):
    # Runs checkpointed before negatives existed must still resume.
    X, groups = windows
    net = ViewMaskPretrainer(**QUICK).fit(X, groups=groups)
    assert "negatives" not in net.training_fingerprint(X)
