"""Loading and saving encoders: damaged, mismatched or hidden ones get a clear error.

Each test damages a copy of the encoder shipped with sk_cria ("cria-small")
as files get damaged in practice, and checks that the error names the file,
what is wrong and the fix.
"""

import json
import warnings
import re
import shutil

import numpy as np
import pytest
import torch

from sk_cria import CRIAClassifier, EEGPreprocessor, ViewMaskPretrainer
from sk_cria.model import CRIA
from sk_cria.model.io import SHIPPED_DIR

SHIPPED = SHIPPED_DIR / "cria-small"


@pytest.fixture
def shipped_copy(tmp_path):
    """The shipped folder as it is (saved before weights carried digests)."""
    return shutil.copytree(SHIPPED, tmp_path / "encoder")


@pytest.fixture
def resaved(tmp_path):
    """The shipped encoder saved again by this sk_cria."""
    folder = tmp_path / "resaved"
    ViewMaskPretrainer.from_pretrained("cria-small").save_pretrained(folder)
    return folder


def overwrite_tail(path, junk):
    data = bytearray(path.read_bytes())
    data[-len(junk):] = junk
    path.write_bytes(bytes(data))


def edit_config(folder, edit):
    header = json.loads((folder / "config.json").read_text())
    edit(header)
    (folder / "config.json").write_text(json.dumps(header))


def test_overwritten_weights_are_refused_by_every_loader(shipped_copy, eegmat_small):
    # The reproducer: the last 100 bytes of the weights overwritten,
    # which made the encoder embed NaN.
    weights = shipped_copy / "model.safetensors"
    overwrite_tail(weights, b"\xff" * 100)
    message = (rf"{re.escape(str(weights))} holds NaN or infinite weights \(tensor "
               r"tokenizer\.time_projection\.weight\).*copy or download it again")
    with pytest.raises(ValueError, match=message):
        ViewMaskPretrainer.from_pretrained(shipped_copy)
    with pytest.raises(ValueError, match=message):
        CRIA.from_pretrained(shipped_copy)
    b = eegmat_small
    both = np.r_[np.flatnonzero(b.target == 0)[:4], np.flatnonzero(b.target == 1)[:4]]
    X = EEGPreprocessor(sfreq=b.sfreq, ch_names=b.ch_names).fit_transform(b.data[both])
    with pytest.raises(ValueError, match=message):
        CRIAClassifier(encoder=shipped_copy).fit(X, b.target[both])


def test_damage_that_leaves_finite_weights_is_caught_by_the_digests(resaved):
    weights = resaved / "model.safetensors"
    overwrite_tail(weights, np.random.default_rng(0).bytes(100))
    with pytest.raises(ValueError, match=(
        rf"{re.escape(str(weights))} is damaged: the bytes of tensor "
        r"tokenizer\.time_projection\.weight differ.*re-run the pre-training"
    )):
        ViewMaskPretrainer.from_pretrained(resaved)


def test_truncated_weights_are_refused(shipped_copy):
    weights = shipped_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    with pytest.raises(ValueError, match=(
        rf"{re.escape(str(weights))} is not a safetensors file .*truncated or damaged"
    )):
        CRIA.from_pretrained(shipped_copy)


def test_config_without_its_config_key_is_refused(shipped_copy):
    edit_config(shipped_copy, lambda header: header.pop("config"))
    with pytest.raises(ValueError, match=(
        rf"{re.escape(str(shipped_copy / 'config.json'))} lacks the encoder config"
        r".*written together with model\.safetensors"
    )):
        ViewMaskPretrainer.from_pretrained(shipped_copy)


@pytest.mark.parametrize("field, value, problem", [
    ("widht", 3, r"Unknown CRIAConfig field\(s\) \['widht'\]"),
    ("n_heads", 3, r"d_model=64 must split into n_heads=3"),
    ("embed_dim", "128", r"CRIAConfig\.embed_dim must be an int >= 1, got '128'"),
])
def test_invalid_config_fields_name_the_file(shipped_copy, field, value, problem):
    edit_config(shipped_copy, lambda header: header["config"].update({field: value}))
    with pytest.raises(ValueError, match=(
        rf"{re.escape(str(shipped_copy / 'config.json'))} holds an invalid encoder config: "
        rf"{problem}.*re-save or re-download"
    )):
        CRIA.from_pretrained(shipped_copy)


@pytest.mark.parametrize("field, value, problem", [
    ("embed_dim", 64, r"config\.json says embed_dim=64 but model\.safetensors holds weights "
                      r"for embed_dim=128; 2 tensor\(s\) of another shape \(pooling\.projection"),
    ("n_layers", 3, r"config\.json says n_layers=3 but model\.safetensors holds weights for "
                    r"n_layers=2; 46 tensor\(s\) the config needs are missing \(layers\.2\."),
    ("pool_norm", "joint", r"2 tensor\(s\) the config needs are missing \(pooling\.norm\.bias, "
                           r"pooling\.norm\.weight\); 6 tensor\(s\) the config has no place "
                           r"for \(pooling\.norms\.0\.bias"),
])
def test_config_that_disagrees_with_the_weights_is_explained(shipped_copy, field, value,
                                                             problem):
    edit_config(shipped_copy, lambda header: header["config"].update({field: value}))
    with pytest.raises(ValueError, match=(
        rf"{re.escape(str(shipped_copy))}: config\.json and model\.safetensors do not "
        rf"describe the same encoder: {problem}.*same save_pretrained call"
    )):
        ViewMaskPretrainer.from_pretrained(shipped_copy)


def test_config_from_another_save_is_caught_even_when_shapes_agree(resaved):
    # A Hann or a boxcar taper builds the same tensors: only the config saved
    # with the weights tells them apart.
    edit_config(resaved, lambda header: header["config"].update(spectral_window="boxcar"))
    with pytest.raises(ValueError, match=(
        r"config\.json says spectral_window='boxcar' but model\.safetensors was saved with "
        r"spectral_window='hann'.*same save_pretrained call"
    )):
        CRIA.from_pretrained(resaved)


def test_overrides_that_change_shapes_are_blamed_not_the_files():
    with pytest.raises(ValueError, match=r"overrides \{'embed_dim': 64\} change the shape"):
        CRIA.from_pretrained("cria-small", embed_dim=64)
    assert CRIA.from_pretrained("cria-small", dropout=0.3).config.dropout == 0.3


@pytest.mark.parametrize("content", [None, "notes.txt"])
def test_local_folder_that_hides_the_shipped_encoder_says_so(tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cria-small").mkdir()
    if content:
        (tmp_path / "cria-small" / content).write_text("mine")
    with pytest.raises(FileNotFoundError, match=(
        rf"local folder {re.escape(str(tmp_path / 'cria-small'))} .*hides it.*Rename or "
        r"remove that folder, or .*sk_cria\.model\.io\.SHIPPED_DIR / 'cria-small'"
    )):
        ViewMaskPretrainer.from_pretrained("cria-small")
    with pytest.raises(FileNotFoundError, match="hides it"):
        CRIAClassifier(encoder="cria-small").initialize()
    # The route the message gives works from here.
    shipped = ViewMaskPretrainer.from_pretrained(SHIPPED_DIR / "cria-small").encoder_
    assert shipped.config.embed_dim == 128


def test_save_pretrained_refuses_to_replace_an_encoder_unless_asked(resaved):
    net = ViewMaskPretrainer.from_pretrained("cria-small")
    (resaved / "README.md").write_text("my notes")
    for save in (net.save_pretrained, net.encoder_.save_pretrained):
        with pytest.raises(FileExistsError, match=(
            rf"{re.escape(str(resaved))} already holds an encoder \(config\.json, "
            r"model\.safetensors\).*pass overwrite=True"
        )):
            save(resaved)
    net.save_pretrained(resaved, overwrite=True)
    assert (resaved / "README.md").read_text() == "my notes"


@pytest.mark.parametrize("name, content", [
    ("config.json", b'{"model_type": "bert", "hidden_size": 768}'),  # another library's
    ("config.json", b"{}"),
    ("config.json", b"\xff\xfe not json"),
    ("model.safetensors", None),  # safetensors of someone else, without config.json
    ("model.safetensors", b"not a safetensors file"),
])
def test_save_pretrained_never_replaces_a_file_it_did_not_write(tmp_path, name, content):
    """Issue 37: the advice 'pass overwrite=True' replaced the user's config.json."""
    from safetensors.torch import save

    folder = tmp_path / "mine"
    folder.mkdir()
    if content is None:
        content = save({"w": torch.ones(3)}, metadata={"format": "pt"})
    (folder / name).write_bytes(content)
    net = ViewMaskPretrainer.from_pretrained("cria-small")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=(
            rf"{re.escape(str(folder))} holds {re.escape(name)}, which sk-cria did not "
            r"write .*never replaces a file it did not write, even with overwrite=True: "
            r"move it away, or choose another folder"
        )):
            net.save_pretrained(folder, overwrite=overwrite)
        assert (folder / name).read_bytes() == content
        assert sorted(p.name for p in folder.iterdir()) == [name]


def test_save_pretrained_never_replaces_a_link_it_did_not_write(tmp_path):
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "config.json").symlink_to(tmp_path / "nowhere.json")  # broken
    with pytest.raises(FileExistsError, match="holds config.json, which sk-cria did not write"):
        CRIA.from_pretrained("cria-small").save_pretrained(folder, overwrite=True)
    assert (folder / "config.json").is_symlink()


def test_save_pretrained_overwrite_replaces_its_own_files_only(resaved):
    """An encoder sk-cria saved (and the shipped one, copied) is replaced when asked."""
    shutil.copy(SHIPPED / "model.safetensors", resaved / "model.safetensors")
    (resaved / "notes.txt").write_text("mine")
    CRIA.from_pretrained("cria-small").save_pretrained(resaved, overwrite=True, dtype="float16")
    assert CRIA.from_pretrained(resaved).config.embed_dim == 128
    assert (resaved / "notes.txt").read_text() == "mine"


def test_saved_again_the_shipped_encoder_embeds_identically(resaved):
    shipped = CRIA.from_pretrained("cria-small").state_dict()
    again = CRIA.from_pretrained(resaved).state_dict()
    assert shipped.keys() == again.keys()
    assert all(torch.equal(shipped[name], again[name]) for name in shipped)


def test_save_pretrained_refuses_non_finite_weights(tmp_path):
    encoder = CRIA.from_pretrained("cria-small")
    with torch.no_grad():
        encoder.pooling.projection.bias[0] = float("nan")
    with pytest.raises(ValueError, match=(
        r"Not saving to .*NaN or infinite values \(tensor pooling\.projection\.bias\)"
    )):
        encoder.save_pretrained(tmp_path / "diverged")
    assert not (tmp_path / "diverged").exists()


def test_half_precision_storage_halves_the_file_and_embeds_alike(tmp_path, eegmat_small):
    encoder = CRIA.from_pretrained("cria-small")
    encoder.save_pretrained(tmp_path / "fp32")
    encoder.save_pretrained(tmp_path / "fp16", dtype="float16")
    sizes = {name: (tmp_path / name / "model.safetensors").stat().st_size
             for name in ("fp32", "fp16")}
    assert sizes["fp16"] < 0.55 * sizes["fp32"]
    half = ViewMaskPretrainer.from_pretrained(tmp_path / "fp16")
    assert all(t.dtype == torch.float32 for t in half.encoder_.state_dict().values()
               if t.is_floating_point())
    X = _scaled(eegmat_small, "window", n=4)
    full = ViewMaskPretrainer.from_pretrained(tmp_path / "fp32").transform(X)
    # Rounding every weight to 11 significant bits moves the embedding by well
    # under a hundredth of its spread.
    assert np.abs(half.transform(X) - full).max() < 0.01 * full.std()


def test_save_pretrained_checks_its_arguments(tmp_path):
    encoder = CRIA.from_pretrained("cria-small")
    with pytest.raises(TypeError, match="overwrite must be True or False, got 'False'"):
        encoder.save_pretrained(tmp_path / "encoder", overwrite="False")
    with pytest.raises(ValueError, match=r"dtype must be one of \['bfloat16', 'float16', "
                                         r"'float32'\], got 'half'"):
        encoder.save_pretrained(tmp_path / "encoder", dtype="half")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match=rf"{re.escape(str(tmp_path / 'file'))} is a file"):
        encoder.save_pretrained(tmp_path / "file")


# ------------------------------------------------ the preprocessing an encoder carries
def _rows(eegmat_small, n):
    """n windows, half rest and half arithmetic."""
    return np.concatenate([np.flatnonzero(eegmat_small.target == c)[:n // 2] for c in (0, 1)])


def _scaled(eegmat_small, scaling, n=6):
    rows = _rows(eegmat_small, n)
    pre = EEGPreprocessor(sfreq=500.0, ch_names=eegmat_small.ch_names, line_freq=50.0,
                          scaling=scaling)
    return pre.fit_transform(eegmat_small.data[rows], groups=eegmat_small.groups[rows])


def test_shipped_and_older_folders_mean_per_window_scaling(shipped_copy):
    from sk_cria.model.io import pretrained_scaling

    assert "preprocessing" not in json.loads((SHIPPED / "config.json").read_text())
    assert pretrained_scaling("cria-small") == "window"
    assert CRIA.from_pretrained(shipped_copy).input_scaling == "window"


def test_saved_encoder_carries_its_scaling_and_warns_on_other_input(tmp_path, eegmat_small):
    from sk_cria.model import CRIAConfig

    X_group, X_window = _scaled(eegmat_small, "group"), _scaled(eegmat_small, "window")
    net = ViewMaskPretrainer(config=CRIAConfig.small(), max_epochs=1, batch_size=3,
                             random_state=0).fit(X_group)
    net.save_pretrained(tmp_path / "group")
    header = json.loads((tmp_path / "group" / "config.json").read_text())
    assert header["preprocessing"] == {"scaling": "group"}
    loaded = ViewMaskPretrainer.from_pretrained(tmp_path / "group")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the input it was trained on: no warning
        loaded.transform(X_group)
    message = (r"trained on input preprocessed with EEGPreprocessor\(scaling='group'\), but X "
               r"was preprocessed with scaling='window'.*Preprocess with "
               r"EEGPreprocessor\(scaling='group'\)")
    with pytest.warns(UserWarning, match=message):
        loaded.transform(X_window)
    with pytest.warns(UserWarning, match=message.replace("ViewMask", "CRIAClass")):
        CRIAClassifier(encoder=tmp_path / "group", max_epochs=1, batch_size=3).fit(
            X_window, eegmat_small.target[_rows(eegmat_small, 6)])


def test_shipped_encoder_warns_on_input_scaled_otherwise(eegmat_small):
    net = ViewMaskPretrainer.from_pretrained("cria-small")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.transform(_scaled(eegmat_small, "window", n=2))
    with pytest.warns(UserWarning, match=r"scaling='window'\), but X was preprocessed with "
                      r"scaling=100\.0"):
        net.transform(_scaled(eegmat_small, 100.0, n=2))


def test_invalid_recorded_scaling_names_the_file(shipped_copy):
    edit_config(shipped_copy, lambda h: h.update(preprocessing={"scaling": "subject"}))
    with pytest.raises(ValueError, match=r"config\.json holds an invalid \"preprocessing\" "
                       r"entry \(scaling must be .*got 'subject'\)"):
        ViewMaskPretrainer.from_pretrained(shipped_copy)
