"""The floors of the benchmark: baseline pipelines under the recipe's rules.

Every floor reads the recipe's aligned input and gets the recipe's feature
scaling where it has a feature step (``align=True`` for per-subject
z-scoring); the task sets the band it filters to (:attr:`Task.floor_band`).
A task picks its floors from :data:`FLOORS`, or builds new ones with
:func:`floor`.
"""

from ..baselines import (
    make_band_power_pipeline,
    make_csp_pipeline,
    make_filter_bank_tangent_space_pipeline,
    make_log_variance_pipeline,
    make_mdm_pipeline,
    make_tangent_space_pipeline,
)
from ._task import Entry


def floor(make, *, input="baseline", scaled=True, banded=True, **options):
    """A floor entry from a pipeline factory of :mod:`sk_cria.baselines`.

    Parameters
    ----------
    make : callable
        ``make(sfreq, **options)`` -> unfitted pipeline.
    input : {"baseline", "cria"}, default="baseline"
        The windows it reads: band-passed microvolts, or CRIA's own input.
    scaled : bool, default=True
        Whether it has a feature step that the recipe's scaling applies to
        (passed as ``align``).
    banded : bool, default=True
        Whether ``make`` takes ``l_freq``/``h_freq``: the task's floor band
        (None, None: the input is already band-passed).
    **options
        Fixed options of ``make`` (``recenter=True``...).

    Returns
    -------
    entry : Entry
        Family "floor".
    """

    def build(run):
        kwargs = dict(options)
        if banded:
            kwargs["l_freq"], kwargs["h_freq"] = run.task.floor_band or (None, None)
        if scaled:
            kwargs["align"] = run.scaling == "subject"
        return make(run.sfreq, **kwargs), 0.0

    return Entry("floor", input, scaled, build)


#: Name -> floor :class:`Entry`, shared by the tasks.
FLOORS = {
    "log_variance": floor(make_log_variance_pipeline),
    "band_power": floor(make_band_power_pipeline),
    "tangent_space": floor(make_tangent_space_pipeline),
    "tangent_space_recentered": floor(make_tangent_space_pipeline, recenter=True),
    "mdm": floor(make_mdm_pipeline, scaled=False),
    "mdm_recentered": floor(make_mdm_pipeline, scaled=False, recenter=True),
    "csp_lda": floor(make_csp_pipeline),
    "csp_lda_recentered": floor(make_csp_pipeline, recenter=True),
    # Its sub-bands (8-30 Hz in four) replace the task's band.
    "filter_bank_tangent_space_recentered": floor(
        make_filter_bank_tangent_space_pipeline, banded=False, recenter=True
    ),
    # The same features computed on CRIA's own input (EEGPreprocessor scales each channel
    # of each window by its 95th percentile, which removes absolute power): what the
    # features give with exactly CRIA's information.
    "log_variance_cria_input": floor(make_log_variance_pipeline, input="cria"),
    "band_power_cria_input": floor(make_band_power_pipeline, input="cria"),
    # The re-centred tangent space of CRIA's input as it is (band-passed already): the
    # floor that the hybrid probes (cria_probe_*_hybrid) add CRIA's features to.
    "tangent_space_recentered_cria_input": floor(
        make_tangent_space_pipeline, input="cria", banded=False, recenter=True,
        l_freq=None, h_freq=None),
}
