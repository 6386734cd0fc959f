"""Saving and loading CRIA checkpoints without ever unpickling.

A checkpoint is a directory with ``config.json`` (the :class:`CRIAConfig`
fields, the channel vocabulary the embedding rows stand for and the
preprocessing the encoder was trained with, ``{"scaling": ...}`` of
:class:`~sk_cria.EEGPreprocessor`; a folder without it was trained on
per-window scaling, the only one before the option) and
``model.safetensors`` (the weights). Both formats hold data only, so loading
a checkpoint, even a hostile one, cannot run code; files in pickle-based
formats (``torch.save`` archives, ``.bin``, ``.pt``, ``.pkl``) are refused.
Loading also refuses, naming the file and the tensors, weights that are
damaged (``model.safetensors`` keeps a SHA-256 digest of each tensor), not
finite, or not those ``config.json`` describes (the weights file keeps the
config it was saved with, and the shapes are checked against the config).

Encoders shipped inside the package (``sk_cria/pretrained/<name>/``, each with
a model card, ``README.md``) load offline by name wherever a directory is
taken: ``load_pretrained(CRIA, "cria-small")``. As in Hugging Face's
``from_pretrained``, an existing local directory of that name wins; one
that holds no encoder is refused with a message that says it hides the
shipped one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..atomic import open_atomic
from ..channels import CHANNEL_VOCABULARY
from .config import CRIAConfig

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "available_pretrained", "load_pretrained",
           "pretrained_scaling", "resolve_pretrained", "save_pretrained"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_FORMAT = "sk_cria.CRIA/1"
# Metadata keys of model.safetensors for the per-tensor digests and the config
# the weights were saved with (both absent from files saved before them).
_DIGESTS = "sha256"
_CONFIG = "config"
# Key of config.json for the preprocessing the encoder was trained with.
_PREPROCESSING = "preprocessing"
# Tensor names and shapes shown before "and N more" in a mismatch message.
_SHOWN = 5
_SAME_SAVE = ("The two files must come from the same save_pretrained call: re-save the "
              "encoder, or copy or download both files again.")
# Leading bytes of pickle streams (protocol 2+) and of torch.save zip archives,
# only used to word the error for a file that already failed to parse.
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")
#: Where the package keeps the encoders it ships, one folder each.
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


def available_pretrained():
    """Names of the encoders shipped inside sk_cria (loadable offline by name).

    Returns
    -------
    list of str
        Sorted; each names a folder with a model card, ``README.md``.
    """
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(d.name for d in SHIPPED_DIR.iterdir() if (d / CONFIG_NAME).is_file())


def resolve_pretrained(source):
    """The directory of an encoder given by path or by shipped name.

    Parameters
    ----------
    source : str or path-like
        A directory written by :func:`save_pretrained`, or the name of an
        encoder shipped with sk_cria (see :func:`available_pretrained`). An
        existing directory is taken first.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If ``source`` is neither an existing directory nor a shipped name,
        or is a shipped name but also a local directory that holds no
        encoder (it would hide the shipped one).
    """
    directory = Path(source)
    shipped = isinstance(source, str) and source in available_pretrained()
    if directory.is_dir():
        if shipped and not (directory / CONFIG_NAME).is_file():
            raise FileNotFoundError(
                f"{str(source)!r} names an encoder shipped with sk_cria, but the local "
                f"folder {directory.resolve()} (no {CONFIG_NAME}, so not an encoder) hides "
                "it: an existing local directory is taken first. Rename or remove that "
                "folder, or load the shipped encoder by its path, "
                f"sk_cria.model.io.SHIPPED_DIR / {source!r} ({SHIPPED_DIR / source})."
            )
        return directory
    if shipped:
        return SHIPPED_DIR / source
    raise FileNotFoundError(
        f"{str(source)!r} is neither an encoder directory (see save_pretrained) nor the "
        f"name of an encoder shipped with sk_cria ({available_pretrained()})."
    )


#: Storage precisions of save_pretrained (loading casts back to the model's float32).
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16,
                  "bfloat16": torch.bfloat16}


def save_pretrained(model, directory, overwrite=False, dtype="float32"):
    """Write ``model``'s config and weights into ``directory``.

    Parameters
    ----------
    model : CRIA
    directory : str or path-like
        Created if missing.
    overwrite : bool, default=False
        Replace the encoder files (``config.json``, ``model.safetensors``)
        that ``directory`` already holds; without it, such a folder is
        refused. Only files sk-cria wrote are replaced (both carry its
        format mark): a folder holding a ``config.json`` or
        ``model.safetensors`` of anyone else is refused even with it. Other
        files in the folder are never touched.
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        Precision of the stored floating-point weights: half precision
        halves the file (an encoder shipped inside the package stays under
        8 MB); loading casts them back to float32.

    Raises
    ------
    FileExistsError
        If ``directory`` already holds an encoder file and ``overwrite`` is
        False, or holds a ``config.json`` or ``model.safetensors`` that
        sk-cria did not write.
    NotADirectoryError
        If ``directory`` is a file.
    TypeError
        If ``overwrite`` is not a bool.
    ValueError
        If a weight of ``model`` is NaN or infinite (nothing is written).
    """
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}.")
    if not (isinstance(dtype, str) and dtype in STORAGE_DTYPES):
        raise ValueError(f"dtype must be one of {sorted(STORAGE_DTYPES)}, got {dtype!r}.")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(
            f"{directory} is a file; save_pretrained writes an encoder into a folder "
            "(config.json + model.safetensors): give a folder path."
        )
    # A link counts, even a broken one: the rename would replace it.
    existing = [name for name in (CONFIG_NAME, WEIGHTS_NAME)
                if os.path.lexists(directory / name)]
    # Whatever overwrite says: a file under an encoder's name that sk-cria did
    # not write (the user's own config.json, another library's weights) is kept.
    foreign = [name for name in existing if not _written_by_sk_cria(directory / name)]
    if foreign:
        raise FileExistsError(
            f"{directory} holds {', '.join(foreign)}, which sk-cria did not write (no "
            f"\"format\": {_FORMAT!r} in it); save_pretrained never replaces a file it did "
            "not write, even with overwrite=True: move "
            f"{'it' if len(foreign) == 1 else 'them'} away, or choose another folder."
        )
    if existing and not overwrite:
        raise FileExistsError(
            f"{directory} already holds an encoder ({', '.join(existing)}); save_pretrained "
            "does not replace it unless asked: pass overwrite=True, or choose another folder."
        )
    weights = {name: tensor.detach().cpu().contiguous()
               for name, tensor in model.state_dict().items()}
    weights = {name: t.to(STORAGE_DTYPES[dtype]) if t.is_floating_point() else t
               for name, t in weights.items()}
    # Non-finite first: the more telling cause when both apply.
    bad = _non_finite(weights)
    if bad:
        raise ValueError(
            f"Not saving to {directory}: the model's weights hold NaN or infinite values "
            f"({_summary(bad)}); training diverged (a lower lr or a higher temperature "
            "usually helps) and an encoder made of them would embed NaN."
        )
    directory.mkdir(parents=True, exist_ok=True)
    header = {
        "format": _FORMAT,
        "config": model.config.to_dict(),
        "channel_vocabulary": list(CHANNEL_VOCABULARY),
    }
    scaling = getattr(model, "input_scaling", None)
    if scaling is not None:  # unknown (plain arrays) is left out, read back as "window"
        header[_PREPROCESSING] = {"scaling": scaling}
    # The config travels with the weights too, so that a config.json from
    # another save is caught even where the shapes agree.
    metadata = {"format": _FORMAT, _CONFIG: json.dumps(model.config.to_dict()),
                _DIGESTS: json.dumps({name: _digest(t) for name, t in weights.items()})}
    # Weights first, config last: a folder with a config.json is a whole encoder.
    with open_atomic(directory / WEIGHTS_NAME, "wb") as file:
        file.write(save(weights, metadata=metadata))
    with open_atomic(directory / CONFIG_NAME) as file:
        file.write(json.dumps(header, indent=2))


def _written_by_sk_cria(path):
    """Whether ``path`` (a config.json or model.safetensors) carries sk-cria's format mark.

    Both files have carried ``"format": "sk_cria.CRIA/1"`` since the first
    save_pretrained (in the JSON, and in the safetensors metadata); a file
    that cannot be read as either is not sk-cria's.
    """
    if not path.is_file():
        return False
    try:
        if path.name == CONFIG_NAME:
            header = json.loads(path.read_text())
            return isinstance(header, dict) and header.get("format") == _FORMAT
        with safe_open(str(path), framework="pt") as file:
            return (file.metadata() or {}).get("format") == _FORMAT
    except (OSError, UnicodeDecodeError, ValueError, SafetensorError):
        return False


def load_pretrained(model_class, directory, overrides=None):
    """Build ``model_class`` from a checkpoint directory.

    Parameters
    ----------
    model_class : type
        :class:`CRIA` or a subclass.
    directory : str or path-like
        A directory written by :func:`save_pretrained`, or a shipped name
        such as ``"cria-small"`` (see :func:`resolve_pretrained`).
    overrides : dict, optional
        Config fields to change before the model is built; only settings
        that keep the weights' shapes (``dropout``, ``attn_mask_ratio``,
        ``k_c``, ...).

    Returns
    -------
    CRIA
        The model with the saved weights, in eval mode; its ``input_scaling``
        attribute is the ``scaling`` of the EEGPreprocessor it was trained
        with (:func:`pretrained_scaling`).

    Raises
    ------
    FileNotFoundError
        If the directory (or shipped name) or one of its two files is missing.
    ValueError
        If a file is not of the expected format (a pickle in particular), is
        damaged (a tensor differs from its saved digest or is not finite),
        or the config and the weights do not describe the same network.
    """
    directory = resolve_pretrained(directory)
    config_path = directory / CONFIG_NAME
    header = _read_header(config_path)
    try:
        saved = CRIAConfig.from_dict(header["config"])
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{config_path} holds an invalid encoder config: {error} The file was edited "
            f"or damaged; use the {CONFIG_NAME} written together with {WEIGHTS_NAME} by "
            "save_pretrained (re-save or re-download the encoder)."
        ) from error
    config = CRIAConfig.from_dict({**saved.to_dict(), **(overrides or {})})
    weights, metadata = _read_weights(directory / WEIGHTS_NAME)
    model = model_class(config)
    if _shape_differences(model.state_dict(), weights):
        _raise_mismatch(model_class, directory, saved, overrides, model.state_dict(), weights)
    # After the shapes, whose message says more; this catches the settings that
    # keep shapes (files saved with their config inside).
    _check_same_config(directory, saved, metadata)
    model.load_state_dict(weights, strict=True)
    # An attribute, not a buffer: the weights (and cria-small's file) stay as they are.
    model.input_scaling = _scaling_of(header, config_path)
    return model.eval()


def pretrained_scaling(directory):
    """The EEGPreprocessor ``scaling`` an encoder folder was trained with.

    Parameters
    ----------
    directory : str or path-like
        An encoder folder or a shipped name (see :func:`resolve_pretrained`).

    Returns
    -------
    str or float
        "window", "group" or a unit in microvolts; "window" for folders
        saved before the scaling was recorded (all were trained on it).
    """
    config_path = resolve_pretrained(directory) / CONFIG_NAME
    return _scaling_of(_read_header(config_path), config_path)


def _scaling_of(header, path):
    from ..preprocessing import LEGACY_SCALING, check_scaling

    preprocessing = header.get(_PREPROCESSING, {})
    scaling = (preprocessing.get("scaling", LEGACY_SCALING)
               if isinstance(preprocessing, dict) else preprocessing)
    try:
        check_scaling("scaling", scaling)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path} holds an invalid \"{_PREPROCESSING}\" entry ({str(error).rstrip('.')}); "
            "the file was edited or damaged: set it to the scaling the encoder was trained "
            'with, e.g. {"scaling": "window"}, or re-save the encoder with save_pretrained.'
        ) from None
    return scaling


def _read_header(path):
    _require_file(path)
    try:
        header = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _unreadable(path, "a JSON CRIA config", error) from error
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an sk_cria CRIA config (format {_FORMAT!r} expected).")
    if not isinstance(header.get("config"), dict):
        raise ValueError(
            f"{path} lacks the encoder config (a \"config\" object of CRIAConfig fields); "
            f"the file was edited or damaged: use the {CONFIG_NAME} written together with "
            f"{WEIGHTS_NAME} by save_pretrained (re-save or re-download the encoder)."
        )
    if header.get("channel_vocabulary") != list(CHANNEL_VOCABULARY):
        raise ValueError(
            f"{path} was saved with a different channel vocabulary than this sk_cria; "
            "its channel embeddings would be assigned to the wrong electrodes."
        )
    return header


def _read_weights(path):
    _require_file(path)
    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            weights = {name: file.get_tensor(name) for name in file.keys()}
    except SafetensorError as error:
        raise _unreadable(path, "a safetensors file", error) from error
    # Non-finite first: the more telling cause when both apply.
    bad = _non_finite(weights)
    if bad:
        raise ValueError(
            f"{path} holds NaN or infinite weights ({_summary(bad)}), so every embedding "
            "would be NaN: the file is damaged or was saved from a diverged training. "
            "Re-save the encoder with save_pretrained, copy or download it again, or "
            "re-run the pre-training that wrote it."
        )
    digests = json.loads(metadata.get(_DIGESTS, "{}"))
    damaged = sorted(name for name, tensor in weights.items()
                     if name in digests and digests[name] != _digest(tensor))
    if damaged:
        raise ValueError(
            f"{path} is damaged: the bytes of {_summary(damaged)} differ from those "
            "save_pretrained wrote (a disk error, or an edited or partly copied file). "
            "Re-save the encoder with save_pretrained, copy or download it again, or "
            "re-run the pre-training that wrote it."
        )
    return weights, metadata


def _require_file(path):
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint file {path} is missing; an encoder folder holds {CONFIG_NAME} "
            f"and {WEIGHTS_NAME}, both written by save_pretrained."
        )


def _unreadable(path, expected, error):
    """The error for a file that failed to parse, naming pickles explicitly."""
    with path.open("rb") as stream:
        start = stream.read(4)
    if start.startswith(_PICKLE_MAGIC):
        return ValueError(
            f"{path} holds a pickled payload (torch.save/pickle format), not {expected}. "
            "sk_cria refuses to load it, since unpickling can execute arbitrary code; "
            "save checkpoints with CRIA.save_pretrained (JSON + safetensors)."
        )
    return ValueError(
        f"{path} is not {expected} ({error}): it is truncated or damaged (an interrupted "
        "copy or download?). Re-save the encoder with save_pretrained, or copy or "
        "download it again."
    )


def _digest(tensor):
    raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
    return hashlib.sha256(raw.numpy().tobytes()).hexdigest()


def _non_finite(weights):
    return sorted(name for name, tensor in weights.items()
                  if tensor.is_floating_point() and not torch.isfinite(tensor).all())


def _summary(names):
    """``names`` for a message: "tensor(s)", the first few, then how many more."""
    return f"{'tensor' if len(names) == 1 else 'tensors'} {_first(names)}"


def _first(items, sep=", "):
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return sep.join(items[:_SHOWN]) + more


def _shape_differences(expected, weights):
    """Lines saying how ``weights`` differ from the ``expected`` state dict."""
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    resized = [f"{name} is {tuple(weights[name].shape)} in the file, {tuple(tensor.shape)} "
               "by the config"
               for name, tensor in sorted(expected.items())
               if name in weights and weights[name].shape != tensor.shape]
    lines = []
    if missing:
        lines.append(f"{len(missing)} tensor(s) the config needs are missing ({_first(missing)})")
    if unexpected:
        lines.append(f"{len(unexpected)} tensor(s) the config has no place for "
                     f"({_first(unexpected)})")
    if resized:
        lines.append(f"{len(resized)} tensor(s) of another shape ({_first(resized, '; ')})")
    return lines


# Sizes that can be read back from the weights, to name the disagreeing field.
_SIZES_IN_WEIGHTS = {
    "d_model": lambda w: w["channel_embedding.table.weight"].shape[1],
    "embed_dim": lambda w: w["pooling.projection.weight"].shape[0],
    "patch_size": lambda w: w["tokenizer.time_projection.weight"].shape[1],
    "n_layers": lambda w: len({name.split(".")[1] for name in w if name.startswith("layers.")}),
}


def _size_disagreements(config, weights, source):
    said = []
    for field, read in _SIZES_IN_WEIGHTS.items():
        try:
            held = read(weights)
        except (KeyError, IndexError):
            continue
        if held != getattr(config, field):
            said.append(f"{source} says {field}={getattr(config, field)} but {WEIGHTS_NAME} "
                        f"holds weights for {field}={held}")
    return said


def _check_same_config(directory, saved, metadata):
    """Refuse a config.json other than the one saved with the weights."""
    if _CONFIG not in metadata:
        return
    written = CRIAConfig.from_dict(json.loads(metadata[_CONFIG])).to_dict()
    said = [f"{CONFIG_NAME} says {field}={value!r} but {WEIGHTS_NAME} was saved with "
            f"{field}={written[field]!r}"
            for field, value in saved.to_dict().items() if value != written[field]]
    if said:
        raise ValueError(
            f"{directory}: {CONFIG_NAME} and {WEIGHTS_NAME} do not describe the same encoder: "
            + "; ".join(said) + ". " + _SAME_SAVE
        )


def _raise_mismatch(model_class, directory, saved, overrides, built, weights):
    """Explain why ``weights`` do not fit ``built``, the state dict of the model to load."""
    expected = built
    if overrides:
        # The saved config alone, built only on this error path and without
        # drawing from the global random state.
        with torch.random.fork_rng(devices=[]):
            expected = model_class(saved).state_dict()
        if not _shape_differences(expected, weights):
            raise ValueError(
                f"from_pretrained({str(directory)!r}): the overrides {overrides} change the "
                "shape of the encoder's weights, so the saved weights do not fit; override "
                "only settings that keep shapes (dropout, attn_mask_ratio, k_c, k_t)."
            )
    details = (_size_disagreements(saved, weights, CONFIG_NAME)
               + _shape_differences(expected, weights))
    raise ValueError(
        f"{directory}: {CONFIG_NAME} and {WEIGHTS_NAME} do not describe the same encoder: "
        + "; ".join(details) + ". " + _SAME_SAVE
    )
