"""Saving and loading CRIA checkpoints without ever unpickling.

A checkpoint is a directory with ``config.json`` (the :class:`CRIAConfig`
fields plus the channel vocabulary the embedding rows stand for) and
``model.safetensors`` (the weights). Both formats hold data only, so loading
a checkpoint, even a hostile one, cannot run code; files in pickle-based
formats (``torch.save`` archives, ``.bin``, ``.pt``, ``.pkl``) are refused.

Encoders shipped inside the package (``sk_cria/pretrained/<name>/``, each with
a model card, ``README.md``) load offline by name wherever a directory is
taken: ``load_pretrained(CRIA, "cria-small")``. As in Hugging Face's
``from_pretrained``, an existing local directory of that name wins.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..atomic import open_atomic
from ..channels import CHANNEL_VOCABULARY
from .config import CRIAConfig

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "available_pretrained", "load_pretrained",
           "resolve_pretrained", "save_pretrained"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_FORMAT = "sk_cria.CRIA/1"
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
        If ``source`` is neither an existing directory nor a shipped name.
    """
    directory = Path(source)
    if directory.is_dir():
        return directory
    if isinstance(source, str) and source in available_pretrained():
        return SHIPPED_DIR / source
    raise FileNotFoundError(
        f"{str(source)!r} is neither an encoder directory (see save_pretrained) nor the "
        f"name of an encoder shipped with sk_cria ({available_pretrained()})."
    )


def save_pretrained(model, directory):
    """Write ``model``'s config and weights into ``directory``.

    Parameters
    ----------
    model : CRIA
    directory : str or path-like
        Created if missing; existing checkpoint files are overwritten.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    header = {
        "format": _FORMAT,
        "config": model.config.to_dict(),
        "channel_vocabulary": list(CHANNEL_VOCABULARY),
    }
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    # Weights first, config last: a folder with a config.json is a whole encoder.
    with open_atomic(directory / WEIGHTS_NAME, "wb") as file:
        file.write(save(weights, metadata={"format": _FORMAT}))
    with open_atomic(directory / CONFIG_NAME) as file:
        file.write(json.dumps(header, indent=2))


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
        Config fields to change before the model is built.

    Returns
    -------
    CRIA
        The model with the saved weights, in eval mode.

    Raises
    ------
    FileNotFoundError
        If the directory (or shipped name) or one of its two files is missing.
    ValueError
        If a file is not of the expected format (a pickle in particular) or
        does not match the model.
    """
    directory = resolve_pretrained(directory)
    header = _read_header(directory / CONFIG_NAME)
    config = CRIAConfig.from_dict({**header["config"], **(overrides or {})})
    model = model_class(config)
    model.load_state_dict(_read_weights(directory / WEIGHTS_NAME), strict=True)
    return model.eval()


def _read_header(path):
    _require_file(path)
    try:
        header = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _unreadable(path, "a JSON CRIA config", error) from error
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an sk_cria CRIA config (format {_FORMAT!r} expected).")
    if header.get("channel_vocabulary") != list(CHANNEL_VOCABULARY):
        raise ValueError(
            f"{path} was saved with a different channel vocabulary than this sk_cria; "
            "its channel embeddings would be assigned to the wrong electrodes."
        )
    return header


def _read_weights(path):
    _require_file(path)
    try:
        return load_file(str(path))
    except SafetensorError as error:
        raise _unreadable(path, "a safetensors file", error) from error


def _require_file(path):
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file {path} is missing.")


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
    return ValueError(f"{path} is not {expected}: {error}")
