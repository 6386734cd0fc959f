"""What the two skorch estimators of sk_cria share.

Both wrap a CRIA encoder in a skorch :class:`~skorch.NeuralNet`; this module
holds the pieces they have in common: resolving ``device="auto"``, reading
channel names from the :class:`~sk_cria.EEGArray` before them in a pipeline,
checking and patching input arrays, building the encoder from a config or a
pre-trained source, and seeding.
"""

from contextlib import contextmanager
import copy
import functools
import dataclasses
import numbers
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from skorch.callbacks import EarlyStopping, ProgressBar

from . import _check, ddp
from ._check import check_eeg_array, resolve_ch_names
from .channels import lookup_channels, warn_unknown_channels
from .model import CRIA, CRIAConfig
# The unknown-channel warning points at the user's line, as the model's does.
from .model.cria import _outside_caller_level
from .model.io import pretrained_scaling
from .preprocessing import PATCH_SIZE, same_scaling
from .threads import rebalance, torch_threads

__all__ = ["resolve_device", "build_encoder_config"]


def resolve_device(device):
    """Map ``"auto"`` to ``"cuda"`` (``"cuda:<LOCAL_RANK>"`` under torchrun) when a
    GPU is present, else ``"cpu"``."""
    if device == "auto" or device is None:
        if not torch.cuda.is_available():
            return "cpu"
        # Under torchrun, each process takes the GPU of its local rank.
        local_rank = ddp.local_rank()
        return f"cuda:{local_rank}" if local_rank is not None else "cuda"
    return device


def build_encoder_config(config, **overrides):
    """A :class:`~sk_cria.model.CRIAConfig` from a preset name, a dict or a config.

    Parameters
    ----------
    config : None, "default", "small", dict or CRIAConfig
        None and "default" give the default preset; "small" the quick one;
        a dict gives the fields that differ from the default preset.
    **overrides
        Fields to set on top (None values are ignored).
    """
    valid = "None, 'default', 'small', a dict of CRIAConfig fields or a CRIAConfig"
    if config is None or config == "default":
        cfg = CRIAConfig()
    elif config == "small":
        cfg = CRIAConfig.small()
    elif isinstance(config, dict):
        known = {field.name for field in dataclasses.fields(CRIAConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"config has unknown CRIAConfig field(s) {unknown}; "
                             f"known: {sorted(known)}.")
        cfg = CRIAConfig(**config)
    elif isinstance(config, CRIAConfig):
        cfg = config
    elif isinstance(config, str):
        raise ValueError(f"config must be {valid}; got {config!r}.")
    else:
        raise TypeError(f"config must be {valid}; got {config!r} ({type(config).__name__}).")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def check_config(name, value):
    """Check of the ``config`` parameter (:func:`sk_cria._check.check_params`)."""
    try:
        build_encoder_config(value)
    except TypeError as error:
        raise TypeError(f"{name}={value!r}: {error}") from None
    except ValueError as error:
        raise ValueError(f"{name}={value!r}: {error}") from None


def check_encoder(name, value):
    """Check of the ``encoder`` parameter's kind (its weights are read at initialisation)."""
    if value is None or isinstance(value, (str, os.PathLike, CRIA)) or hasattr(value, "encoder_"):
        return
    if hasattr(type(value), "encoder_"):  # a ViewMaskPretrainer, not fitted
        raise ValueError(
            f"{name} is an unfitted {type(value).__name__}; fit it first, or give "
            "the folder of an encoder (written by save_pretrained or sk-cria "
            "pretrain, or a shipped name such as 'cria-small')."
        )
    raise TypeError(
        f"{name} must be None, an encoder folder (str or path-like, such as "
        "'cria-small'), a fitted ViewMaskPretrainer or a CRIA module; got "
        f"{value!r} ({type(value).__name__})."
    )


Integral, Real = numbers.Integral, numbers.Real

#: The estimators' ``precision`` values.
PRECISIONS = ("auto", "float32", "bfloat16")


#: The largest learning rate taken. AdamW moves every weight by about lr per
#: step whatever its gradient, so a rate far above 1 throws the weights off
#: their scale at the first step (1e300 overflowed inside torch's optimizer
#: after training had started); plain SGD rarely goes above 1.
MAX_LR = 10.0


def lr_check(also=()):
    """The check of ``lr``: a number in (0, :data:`MAX_LR`] (or one of ``also``)."""
    return _check.number(Real, 0, MAX_LR, "right", also=also,
                         hint="AdamW's learning rates are about 1e-5 to 1e-2 (the "
                              "default 1e-3).")


#: The parameters both estimators share and how fit checks them
#: (:func:`sk_cria._check.check_params`); each estimator adds its own.
PARAM_CHECKS = {
    "config": check_config,
    "encoder": check_encoder,
    "ch_names": _check.check_ch_names,
    "random_state": _check.random_state,
    "optimizer": _check.check_optimizer,
    "lr": lr_check(),
    "max_epochs": _check.number(Integral, 0),
    "batch_size": _check.number(Integral, 1, also=(-1,),
                                hint="(-1 puts all windows in one batch)"),
    "device": _check.check_device,
    "precision": _check.one_of(PRECISIONS),
    "verbose": _check.verbosity,
}


def load_encoder(source, **overrides):
    """A fresh CRIA encoder with the weights of ``source``, never ``source`` itself.

    ``source`` is an encoder directory (``save_pretrained`` layout), a fitted
    :class:`~sk_cria.ViewMaskPretrainer` or a :class:`~sk_cria.model.CRIA`.
    Each call returns a new module, so clones and cross-validation folds
    never share (or train) each other's weights.
    """
    if isinstance(source, (str, os.PathLike)):
        encoder = CRIA.from_pretrained(source)
    elif isinstance(source, CRIA):
        encoder = copy.deepcopy(source)
    elif hasattr(source, "encoder_"):
        encoder = copy.deepcopy(source.encoder_)
    else:
        check_encoder("encoder", source)  # says what is wrong with it
        raise TypeError(
            "encoder must be None, an encoder directory written by save_pretrained, "
            f"a fitted ViewMaskPretrainer or a CRIA module; got {type(source).__name__}. "
            "If it is a ViewMaskPretrainer, fit it first."
        )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        # Only regularisation settings may change; the weights' shapes may not.
        encoder = _with_config(encoder, **overrides)
    return encoder.cpu()


def _with_config(encoder, **overrides):
    config = dataclasses.replace(encoder.config, **overrides)
    fresh = CRIA(config)
    fresh.load_state_dict(encoder.state_dict())
    fresh.input_scaling = getattr(encoder, "input_scaling", None)  # not in the state dict
    return fresh


def model_input(estimator, X, reset):
    """X as the module takes it, and the montages (lists of channel names) it holds.

    The one place where the estimators resolve channels. An
    :class:`~sk_cria.datasets.EEGWindowsDataset` (any Dataset that lists its
    ``montages`` and whose items carry their ``channels``) goes as it is; at
    fit (``reset=True``) it sets ``ch_names_`` (None for several montages)
    and drops ``n_features_in_``, which only arrays have. An array is
    validated (:func:`sk_cria._check.check_eeg_array`) and named by its
    :class:`~sk_cria.EEGArray`, else by the ``ch_names`` parameter: an
    estimator fitted on arrays then takes only their channels
    (:func:`sk_cria._check.resolve_ch_names`), while one fitted on a dataset, or loaded by
    ``from_pretrained``, takes any montage whose channels are named.
    The scaling of the input is checked against the encoder's
    (:func:`check_input_scaling`).
    """
    check_input_scaling(estimator, X, reset)
    if isinstance(X, torch.utils.data.Dataset):
        montages = getattr(X, "montages", None)
        if montages is None:
            raise ValueError(
                f"{type(estimator).__name__} takes arrays or a Dataset that lists its "
                "'montages' and whose items are ({'x': window, 'channels': index "
                "pairs}, y), as sk_cria.datasets.EEGWindowsDataset does; got a "
                f"{type(X).__name__}."
            )
        montages = [list(names) for names in montages]
        if reset:
            estimator.ch_names_ = montages[0] if len(montages) == 1 else None
            for name in ("n_features_in_", "n_channels_in_"):
                estimator.__dict__.pop(name, None)
        return X, montages
    if reset or hasattr(estimator, "n_features_in_"):
        X, names = check_eeg_array(estimator, X, reset, PATCH_SIZE)
        names = resolve_ch_names(estimator, names, X.shape[1], reset=reset)
        if reset and not X.any():
            warnings.warn(
                f"{type(estimator).__name__}: X is all zeros at fit, so there is "
                "nothing to learn from it; check the data (a flat or unplugged "
                "recording, a wrong unit or scaling).",
                UserWarning, stacklevel=_outside_caller_level(),
            )
        return as_batches(X, names), [names]
    X, names = check_eeg_array(estimator, X, None, PATCH_SIZE)
    source = "the channel names of X" if names is not None else "ch_names"
    names = names if names is not None else estimator.ch_names
    seen = getattr(estimator, "montages_", [])
    if names is None and len(seen) == 1:
        names = seen[0]
    if names is None or len(names) != X.shape[1]:
        raise ValueError(
            f"{type(estimator).__name__} needs the names of the {X.shape[1]} channels "
            "of X to look up their embeddings: put an EEGPreprocessor(ch_names=...) "
            "before it or set ch_names=... (one name per channel)."
        )
    _check.check_params_of(estimator, _check.check_ch_names, source, names)
    names = list(names)
    return as_batches(X, names), [names]


def encoder_scaling(source):
    """The EEGPreprocessor ``scaling`` an ``encoder`` source was trained with, or None.

    None for no source (random weights) and for sources that do not say
    (a CRIA module trained on plain arrays).
    """
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        try:
            return pretrained_scaling(source)
        except (OSError, ValueError):  # loading the encoder says what is wrong
            return None
    if isinstance(source, CRIA):
        return getattr(source, "input_scaling", None)
    scaling = getattr(source, "input_scaling_", None)
    if scaling is None and getattr(source, "module_", None) is not None:
        scaling = getattr(source.encoder_, "input_scaling", None)
    return scaling


def check_input_scaling(estimator, X, reset):
    """Warn when X was scaled otherwise than the encoder was trained on.

    The scaling of X is that of the :class:`~sk_cria.EEGArray` (or of a
    windows dataset's preprocessor); plain arrays say nothing and are not
    checked. At fit (``reset``) the reference is the ``encoder`` source, and
    ``input_scaling_`` records what the fitted encoder was trained on: the
    scaling of X if fit trains (``max_epochs`` > 0), else the source's. Later
    calls are checked against ``input_scaling_``.
    """
    scaling = getattr(X, "scaling", None)
    if scaling is None:
        scaling = getattr(getattr(X, "preprocessor", None), "scaling", None)
    if reset or not hasattr(estimator, "input_scaling_"):
        expected = encoder_scaling(estimator.encoder)
    else:
        expected = estimator.input_scaling_
    if scaling is not None and expected is not None and not same_scaling(scaling, expected):
        warnings.warn(
            f"{type(estimator).__name__}: the encoder was trained on input preprocessed "
            f"with EEGPreprocessor(scaling={expected!r}), but X was preprocessed with "
            f"scaling={scaling!r}, so it reads amplitudes unlike those it learnt from. "
            f"Preprocess with EEGPreprocessor(scaling={expected!r}), or pre-train an "
            f"encoder on scaling={scaling!r} input (ViewMaskPretrainer().fit).",
            UserWarning, stacklevel=_outside_caller_level(),
        )
    if reset:
        trains = estimator.max_epochs > 0
        estimator.input_scaling_ = ((scaling if scaling is not None else expected) if trains
                                    else (expected if expected is not None else scaling))


def record_montages(estimator, montages, reset):
    """Add the montages of training data to ``montages_`` (started afresh at fit)."""
    seen = [] if reset else estimator.montages_
    estimator.montages_ = seen + [names for names in montages if names not in seen]


def montage_ids(dataset):
    """The montage of each item of a windows dataset (or of a Subset of one); else None."""
    if isinstance(dataset, torch.utils.data.Subset):
        ids = montage_ids(dataset.dataset)
        return None if ids is None else ids[np.asarray(dataset.indices)]
    return getattr(dataset, "montage_ids", None)


def n_windows(X):
    """Windows in X as :func:`model_input` returns it (a Dataset or a batch dict)."""
    return len(X) if isinstance(X, torch.utils.data.Dataset) else len(X["x"])


def as_batches(X, ch_names):
    """skorch's input for an array of windows: the windows and their channels.

    Every batch carries the vocabulary index pairs of its channels
    (``channels``, :func:`sk_cria.channels.lookup_channels`), as the items of
    :class:`~sk_cria.datasets.EEGWindowsDataset` do: arrays and recordings
    reach the module the same way, and no module keeps channel names.
    """
    pairs = channel_pairs(ch_names)
    # A real copy per window (2 % of a 1 s window's bytes), not a read-only
    # broadcast view, which torch refuses to wrap without a warning.
    return {"x": X, "channels": np.repeat(pairs[np.newaxis], len(X), axis=0)}


def channel_pairs(ch_names):
    """Vocabulary index pairs of ``ch_names``; one warning names unknown channels."""
    lookup = lookup_channels(ch_names)
    warn_unknown_channels(lookup.unknown, stacklevel=_outside_caller_level())
    return lookup.indices


@contextmanager
def seeded(random_state):
    """Seed torch inside the block and restore the caller's RNG state after it."""
    if random_state is None:
        yield
        return
    if isinstance(random_state, (int, np.integer)):
        seed = int(random_state)
    else:  # a RandomState, as scikit-learn allows
        seed = int(check_random_state(random_state).randint(2**31 - 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def continuation_seed(random_state, epochs_done):
    """The seed of training continued after ``epochs_done`` epochs (None stays None)."""
    if random_state is None or not isinstance(random_state, (int, np.integer)):
        return random_state  # a RandomState draws its next seed itself
    return int(np.random.SeedSequence([int(random_state), int(epochs_done)])
               .generate_state(1)[0] >> 1)


@contextmanager
def concrete_device(net):
    """Let skorch see a real device while ``net.device`` is ``"auto"``.

    skorch reads ``self.device`` wherever it moves tensors; the constructor
    parameter must keep the user's value (scikit-learn's contract), so the
    resolved device is put in place only for the duration of a call.
    The call also runs within the net's torch thread budget
    (:func:`sk_cria.threads.torch_threads`), so that parallel fits do not
    oversubscribe the cores.
    """
    requested = net.device
    net.device = resolve_device(requested)
    try:
        # getattr: an estimator without an n_threads parameter gets the default.
        with torch_threads(getattr(net, "n_threads", None)):
            yield
    finally:
        net.device = requested


def to_device_async(x, device):
    """Move tensors (alone or in a dict/list/tuple) to ``device`` without blocking.

    From pinned memory (the loaders pin on CUDA) the copy overlaps the
    computation already queued; on the CPU it is a no-op.
    """
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {key: to_device_async(value, device) for key, value in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_device_async(value, device) for value in x)
    return x


def device_batches(net, dataset):
    """Yield ``(x, y)`` of ``net``'s evaluation iterator over ``dataset``, x on its device.

    Between batches the torch thread count follows the other processes' load
    (:func:`sk_cria.threads.rebalance`), as in skorch's loops (``infer``).
    """
    for x, y in net.get_iterator(dataset, training=False):
        rebalance()
        yield to_device_async(x, net.device), y


def _to_float32(out):
    """Floating tensors of a module's output (a tensor or a tuple of them) in float32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple):
        return tuple(_to_float32(o) for o in out)
    return out


@functools.lru_cache(maxsize=None)  # asked at every training step; the CPU does not change
def native_cpu_bfloat16():
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX), as torch reports.

    Elsewhere bfloat16 arithmetic is emulated and no faster than float32.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def autocast(device, precision="auto", training_bfloat16=False):
    """The mixed-precision context of an estimator's ``device`` and ``precision``.

    "auto": bfloat16 autocast on CUDA; on the CPU, bfloat16 for the steps of
    an estimator that asks for it in training (``training_bfloat16``:
    pre-training) where the CPU has native bfloat16 products
    (:func:`native_cpu_bfloat16`), float32 otherwise; "float32": none;
    "bfloat16": bfloat16 autocast on either (loss and probe curves against
    float32: ``benchmarks/results/precision.md`` and ``precision_seed1.md``).
    """
    device = torch.device(device)
    if precision == "auto" and device.type != "cuda":
        precision = "bfloat16" if training_bfloat16 and native_cpu_bfloat16() else "float32"
    if precision == "float32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16)


def check_finite_loss(net, loss, stage):
    """Stop training at a NaN or infinite loss, naming the epoch, the batch and the causes.

    Called on every batch before the optimizer steps, so the weights keep
    the values of the last finite step. In a distributed run the loss is
    averaged over the processes first, so that every process stops together;
    the mean (the loss of the global batch, the same on every process) is
    returned for the history.
    """
    loss = ddp.mean_over_processes(loss.detach())
    if bool(torch.isfinite(loss)):
        return loss
    where = f"epoch {len(net.history)}"
    if stage == "training" and len(net.history):
        where += f", batch {len(net.history[-1]['batches'])}"
    causes = [f"a learning rate too high (lr={net.lr!r}: try it 10 times lower)"]
    causes += [f"{cause} ({name}={getattr(net, name)!r})"
               for name, cause in getattr(net, "_divergence_causes", {}).items()]
    causes.append("bad input: windows with huge values (unscaled EEG: put an "
                  "EEGPreprocessor before this step) or NaN in a dataset's windows")
    raise FloatingPointError(
        f"{type(net).__name__}: the {stage} loss is {loss.item()} at {where}; training "
        f"stopped (the weights are those before this batch). Likely causes: "
        f"{'; '.join(causes)}."
    )


def check_finite_output(net, values, what):
    """Refuse NaN or infinite outputs (embeddings, probabilities) instead of returning them."""
    bad = ~np.isfinite(values).reshape(len(values), -1).all(axis=1)
    if not bad.any():
        return values
    # NaN-aware: a NaN weight makes the largest NaN (Python's max would skip it).
    largest = float(torch.stack([p.detach().abs().max().float()
                                 for p in net.module_.parameters()]).max())
    cause = (f"its weights are finite (the largest {largest:.3g}): training that "
             "diverged (lr too high) or windows with extreme values (unscaled EEG: put "
             "an EEGPreprocessor before this step)" if np.isfinite(largest)
             else "its weights hold NaN or infinite values: training diverged (lower lr) "
             "or the encoder was loaded from a damaged file")
    raise FloatingPointError(
        f"{type(net).__name__}: the model gave non-finite {what} for {int(bad.sum())} of "
        f"{len(values)} windows (the first: window {int(np.argmax(bad))}); {cause}."
    )


def _stopped_early(net):
    """Whether skorch's EarlyStopping, not the user, raised the KeyboardInterrupt.

    EarlyStopping ends a fit by raising KeyboardInterrupt once its patience
    is spent (``misses_ == patience``), as a Ctrl-C does.
    """
    return any(isinstance(callback, EarlyStopping)
               and getattr(callback, "misses_", None) == callback.patience
               for _, callback in getattr(net, "callbacks_", ()))


class CRIANetMixin:
    """skorch behaviour shared by ViewMaskPretrainer and CRIAClassifier.

    Put before the skorch base class: ``class X(CRIANetMixin, NeuralNet)``.
    """

    #: Constructor parameters checked by fit and initialize (name -> check).
    _param_checks = PARAM_CHECKS

    def _check_params(self):
        """Check the constructor parameters, as scikit-learn does at fit."""
        _check.check_params(self, self._param_checks)

    def __sklearn_clone__(self):
        # A fitted ViewMaskPretrainer given as ``encoder`` is a read-only source
        # of weights (copied at every initialisation); cloning it would unfit
        # it and lose them, so clones share the reference instead.
        params = self.get_params(deep=False)
        source = params.pop("encoder")
        if not isinstance(source, BaseEstimator):
            return super().__sklearn_clone__()
        params = {key: clone(value, safe=False) for key, value in params.items()}
        return type(self)(encoder=source, **params)

    def __setstate__(self, state):
        # skorch maps the pickled tensors onto ``state["device"]``, which must
        # be a torch device; "auto" is resolved on the machine that unpickles
        # (so a net pickled next to a GPU loads on a CPU-only worker) and the
        # user's parameter is put back afterwards.
        requested = state["device"]
        state["device"] = resolve_device(requested)
        super().__setstate__(state)
        self.device = requested

    def initialize(self):
        self._check_params()
        with concrete_device(self), seeded(self.random_state):
            return super().initialize()

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        step["loss"] = check_finite_loss(self, step["loss"], "training")
        return step

    def validation_step(self, batch, **fit_params):
        step = super().validation_step(batch, **fit_params)
        step["loss"] = check_finite_loss(self, step["loss"], "validation")
        return step

    def infer(self, x, **fit_params):
        rebalance()  # every batch of fit and predict: follow the other processes' load
        x = to_device_async(x, self.device)
        with autocast(self.device, self.precision, self._training_bfloat16()):
            out = super().infer(x, **fit_params)
        # The loss is computed outside autocast, in float32: bfloat16 logits
        # meet float32 class weights there, which cross-entropy refuses.
        return _to_float32(out)

    #: Whether ``precision="auto"`` trains in bfloat16 on a CPU with native
    #: bfloat16 products (:func:`autocast`); predictions stay float32 there.
    _cpu_auto_bfloat16 = False

    def _training_bfloat16(self):
        return self._cpu_auto_bfloat16 and self.module_.training

    def get_default_callbacks(self):
        callbacks = list(super().get_default_callbacks())
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        return callbacks

    def _train(self, X, y, reset, **fit_params):
        """(Re)initialise when fitting afresh, then run skorch's training loop."""
        # A continuation (partial_fit) is seeded too, from the seed and the epochs
        # already done: fit then partial_fit gives the same weights on every run.
        seed = self.random_state if reset else continuation_seed(self.random_state,
                                                                 len(self.history))
        with concrete_device(self), seeded(seed):
            if reset and (not self.warm_start or not self.initialized_):
                super().initialize()
            return super().partial_fit(X, y, **fit_params)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop; a Ctrl-C stops it with a warning and sets ``interrupted_``.

        skorch's ``partial_fit`` swallows the KeyboardInterrupt and returns
        the net as it is; the warning says that it is only partly trained, and
        ``interrupted_`` lets callers (``sk-cria pretrain``) tell an
        interrupted fit from a finished one and never publish it as finished.
        """
        self.interrupted_ = False
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            if _stopped_early(self):
                raise  # skorch's EarlyStopping ends a fit so: a finished fit
            self.interrupted_ = True
            steps = sum("train_loss" in batch for row in self.history
                        for batch in row["batches"])  # validation batches left out
            resume = (" Fit again with the same data and parameters to resume from "
                      f"the last checkpoint in {str(self.checkpoint_dir)!r}."
                      if getattr(self, "checkpoint_dir", None) is not None else "")
            warnings.warn(
                f"{type(self).__name__}: training was interrupted (KeyboardInterrupt) in "
                f"epoch {len(self.history)}, after {steps} training batch(es) in all; the "
                f"model is only partly trained.{resume}",
                UserWarning, stacklevel=2,
            )
            raise  # skorch's partial_fit catches it, ends the fit and returns
