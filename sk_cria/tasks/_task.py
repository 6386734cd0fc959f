"""What a benchmark task is: a loader, its protocols and its floors."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    """One pipeline of the benchmark's registry.

    Attributes
    ----------
    family : {"cria", "floor"}
        CRIA pipelines are the ones whose margin is reported; floors are
        what they are compared with.
    input : {"cria", "baseline"}
        Which windows it reads (EEGPreprocessor's or band-passed microvolts).
    scaled : bool
        Whether the recipe's feature scaling applies (False: fine-tuning, MDM).
    build : callable
        ``build(run)`` -> (unfitted or frozen estimator, seconds already
        spent fitting it); ``run`` has the attributes ``task``, ``sfreq`` (of
        the input read), ``scaling`` (None where it does not apply), ``seed``,
        ``config`` and ``encoder(kind)``.
    """

    family: str
    input: str
    scaled: bool
    build: object


@dataclass(frozen=True)
class Task:
    """A cross-subject classification task of ``sk-cria benchmark``.

    Adding a task is one module of :mod:`sk_cria.tasks` that builds one of
    these and lists it in :data:`sk_cria.tasks.TASKS`.

    Attributes
    ----------
    name : str
        What ``--task`` calls it.
    title : str
        Its name in reports and figures.
    about : str
        One Markdown paragraph for the report: the data, the labels, the
        protocols.
    load : callable
        ``load(subjects, path)`` -> :class:`~sklearn.utils.Bunch` with
        ``data`` (n_windows, n_channels, n_times) microvolts, ``target``
        (binary), ``groups`` (the subject of each window), ``sfreq`` and
        ``ch_names``; ``subjects`` None loads the task's default subjects,
        ``path`` None the default data folder; a missing file that cannot be
        fetched raises an error naming it.
    line_freq : float
        Mains frequency of the recordings (EEGPreprocessor's notch).
    data_folder : str
        The folder of the data folder (``--data``, ``SK_CRIA_DATA``) that holds
        the task's files, in the layout of its public server.
    subjects : range
        The subject numbers the task knows (``--subjects`` is checked against it).
    floors : dict of str to Entry
        Its non-CRIA pipelines, run by default beside CRIA's.
    floor_band : tuple of (float, float) or None, default=None
        Band (Hz) every floor filters its input to (inside the pipeline, after
        the recipe's alignment); None: the floors read the baselines' input
        band as it is.
    fixed_splits : dict, default={}
        Protocol name -> ``{"train": subjects, "test": subjects}`` (one split),
        or a list of them (its folds); without ``"train"`` a split trains on
        every other loaded subject. Protocol "b", grouped K-fold over the
        loaded subjects, always exists.
    protocols : tuple of str, default=("b",)
        The protocols a full run (``--full``) measures.
    quick : dict, default={}
        What the quick run (``sk-cria benchmark`` without ``--full``) sets for
        this task beyond :meth:`BenchmarkConfig.quick`'s own settings:
        ``protocols``, ``pipelines``, ``input_scaling``... (the keys of
        :class:`~sk_cria.benchmark.BenchmarkConfig`).
    published : dict, default={}
        Model -> (BAcc, AUC-PR, AUROC) reported by papers on the first fixed
        protocol, shown beside the measured rows (not measured here).
    """

    name: str
    title: str
    about: str
    load: object
    line_freq: float
    data_folder: str
    subjects: range
    floors: dict
    floor_band: tuple = None
    fixed_splits: dict = field(default_factory=dict)
    protocols: tuple = ("b",)
    quick: dict = field(default_factory=dict)
    published: dict = field(default_factory=dict)

    @property
    def all_protocols(self):
        """Every protocol the task knows: its fixed splits, then grouped K-fold "b"."""
        return (*self.fixed_splits, "b")
