"""Motor imagery: imagined left vs right fist of PhysioNet eegmmidb, grouped folds.

:data:`EEGMMIDB_ME` is the same task on the executed movements (runs 3, 7, 11), a
second, related check; it is not in :data:`sk_cria.tasks.TASKS` (the default
``sk-cria benchmark`` runs every task there, and these runs are not in the
repository's test data): ``benchmarks/bench_geometry.py benchmark`` adds it.
"""

from functools import partial

from dataclasses import replace

import numpy as np
from sklearn.utils import Bunch

from ..datasets import load_eegbci_imagery
from ._task import Task
from .floors import FLOORS

#: Subjects 1-11 are for development; 12-109 are kept for evaluation (never pre-trained on).
SUBJECTS = tuple(range(1, 12))
#: Trial window (s after the cue): the first half second is the visual response
#: to the cue, and imagery fades after about 2.5 s.
TRIAL = (0.5, 2.5)


def _load(subjects, path, movement="imagined"):
    """Trials of each subject (runs 4, 8, 12, or 3, 7, 11 executed; 160 Hz), the subject
    as group."""
    subjects = SUBJECTS if subjects is None else tuple(subjects)
    parts = [load_eegbci_imagery(subject, path=path, movement=movement, tmin=TRIAL[0],
                                 tmax=TRIAL[1])
             for subject in subjects]
    return Bunch(
        data=np.concatenate([part.data for part in parts]),
        target=np.concatenate([part.target for part in parts]),
        groups=np.concatenate([np.full(len(part.target), subject)
                               for subject, part in zip(subjects, parts)]),
        sfreq=parts[0].sfreq,
        ch_names=parts[0].ch_names,
    )


EEGMMIDB_MI = Task(
    name="eegmmidb-mi",
    title="eegmmidb motor imagery",
    about="PhysioNet eegmmidb, imagined left (0) vs right (1) fist, runs 4, 8 and 12, "
    f"trials {TRIAL[0]:g}-{TRIAL[1]:g} s after the cue at 160 Hz, 64 channels, about 45 "
    "trials a subject, subjects 1-11 by default (12-109 are kept for evaluation). "
    "Protocol (b): grouped K-fold over the loaded subjects. The floors band-pass their "
    "(aligned) input to 8-30 Hz, the filter bank to four sub-bands of it.",
    load=_load,
    line_freq=60.0,
    data_folder="MNE-eegbci-data",
    subjects=range(1, 110),
    floors={name: FLOORS[name] for name in (
        "csp_lda", "csp_lda_recentered", "tangent_space", "tangent_space_recentered",
        "mdm", "mdm_recentered", "filter_bank_tangent_space_recentered",
        "log_variance_cria_input", "tangent_space_recentered_cria_input")},
    floor_band=(8.0, 30.0),
    # The shipped encoder (it never saw eegmmidb), frozen, pooled and per region, against
    # the field's re-centred floors (the filter bank and the floors without re-centring:
    # --full).
    quick=dict(pipelines=(
        "cria_probe_shipped", "cria_probe_shipped_regions", "cria_probe_random_regions",
        "tangent_space_recentered", "csp_lda_recentered", "mdm_recentered",
        "log_variance_cria_input")),
)


#: Executed left vs right fist (runs 3, 7, 11), with motor imagery's floors and protocol.
EEGMMIDB_ME = replace(
    EEGMMIDB_MI, name="eegmmidb-me", title="eegmmidb executed movement",
    about=EEGMMIDB_MI.about.replace("imagined left", "executed left").replace(
        "runs 4, 8 and 12", "runs 3, 7 and 11"),
    load=partial(_load, movement="executed"))
