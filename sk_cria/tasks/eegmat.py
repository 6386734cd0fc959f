"""eegmat: rest vs mental arithmetic (PhysioNet), the field's protocol and grouped folds."""

from ..datasets import load_eegmat
from ._task import Task
from .floors import FLOORS

#: The field's split of the 36 subjects (CBraMod and others); the validation
#: subjects are not used (CRIAClassifier early-stops on its own training windows).
PROTOCOL_A = {"train": range(0, 28), "valid": range(28, 32), "test": range(32, 36)}
#: Protocol (c): the subjects that the shipped encoders never saw (they were pre-trained
#: on 0-27, sk_cria/pretrained/*/README.md), two a fold, each fold trained on every
#: other subject. Protocol (a) is saturated once every subject is aligned (every floor
#: 1.000 on 32-35); (b) tests on subjects the shipped encoders saw.
PROTOCOL_C = [{"test": (first, first + 1)} for first in range(28, 36, 2)]

#: Protocol (a) as reported by the papers (BAcc, AUC-PR, AUROC), not measured here:
#: fine-tuned foundation models (and EEGNet), each with its own preprocessing and no
#: per-subject alignment.
PUBLISHED = {
    "CBraMod": (0.7256, 0.6267, 0.7905),
    "REVE-Base": (0.7660, 0.7470, 0.8450),
    "LaBraM-Base": (0.6909, 0.5999, 0.7721),
    "BIOT": (0.6875, 0.6004, 0.7536),
    "EEGNet": (0.6770, 0.5763, 0.7321),
    "NeurIPT (own preprocessing)": (0.8646, 0.7827, 0.9111),
}


def _load(subjects, path):
    return load_eegmat(subjects, path=path, sfreq=200.0, download=False)


EEGMAT = Task(
    name="eegmat",
    title="eegmat",
    about="PhysioNet eegmat: 5-s windows at 200 Hz, 20 channels, rest (0) vs mental "
    "arithmetic (1), about 3:1. Protocol (a): train on subjects 0-27, test on 32-35 (the "
    "field's split); (b): grouped K-fold over the loaded subjects; (c): 4 folds, each "
    "testing two of subjects 28-35 (never seen by the shipped encoders, which were "
    "pre-trained on 0-27) and training on the other 34.",
    load=_load,
    line_freq=50.0,
    data_folder="eegmat",
    subjects=range(36),
    floors={name: FLOORS[name] for name in (
        "log_variance", "band_power", "tangent_space", "mdm",
        "log_variance_cria_input", "band_power_cria_input")},
    # The floors read the baselines' 1-40 Hz input as it is.
    floor_band=None,
    fixed_splits={"a": {"train": PROTOCOL_A["train"], "test": PROTOCOL_A["test"]},
                  "c": PROTOCOL_C},
    protocols=("a", "b"),
    # The shipped encoder, frozen, on the subjects it never saw, against every floor
    # (fine-tuning it, about 100 s a fold on 2 cores, is in --full).
    quick=dict(protocols=("c",), pipelines=(
        "cria_probe_shipped", "cria_probe_random",
        "log_variance", "band_power", "tangent_space", "mdm",
        "log_variance_cria_input", "band_power_cria_input")),
    published=PUBLISHED,
)
