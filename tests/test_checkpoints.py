"""load_pretrained: the authors' file layouts load strictly and give the same outputs; every kind
of mismatch gives a clear error and leaves the model untouched. zoo_table and docs/zoo.md agree."""

from __future__ import annotations

import importlib.util
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from hairlayers.errors import HairError
from hairlayers.models import create_model, load_pretrained, read_checkpoint
from hairlayers.models.promptir import promptir
from hairlayers.models.restormer import restormer
from test_models_promptir import to_authors

ROOT = Path(__file__).resolve().parents[1]


def outputs_equal(a: torch.nn.Module, b: torch.nn.Module, channels: int = 3) -> bool:
    x = torch.rand(2, channels, 19, 21)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def save(obj, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


# ---------------------------------------------------------------- the authors' layouts


def test_restormer_basicsr_pth(tmp_path) -> None:
    source = restormer(preset="tiny")
    path = save({"params": source.state_dict()}, tmp_path, "deraining.pth")
    net = load_pretrained(restormer(preset="tiny"), path)
    assert outputs_equal(net, source)


def test_restormer_biasfree_grey_denoiser(tmp_path) -> None:
    kwargs = dict(preset="tiny", layer_norm="biasfree", in_channels=1, out_channels=1)
    source = restormer(**kwargs)
    path = save({"params": source.state_dict()}, tmp_path, "gaussian_gray_denoising_blind.pth")
    net = create_model("restormer", checkpoint=str(path), **kwargs)
    assert outputs_equal(net, source, channels=1)


def test_params_ema_preferred_and_key_override(tmp_path) -> None:
    plain, ema = restormer(preset="tiny"), restormer(preset="tiny")
    path = save({"params": plain.state_dict(), "params_ema": ema.state_dict()}, tmp_path, "x.pth")
    assert outputs_equal(load_pretrained(restormer(preset="tiny"), path), ema)
    assert outputs_equal(load_pretrained(restormer(preset="tiny"), path, key="params"), plain)
    assert read_checkpoint(path)[1] == "params_ema"


def test_promptir_lightning_ckpt(tmp_path) -> None:
    source = promptir(preset="tiny")
    authors = to_authors(source.state_dict())
    lightning = {
        "epoch": 149,
        "global_step": 1_000,
        "pytorch-lightning_version": "2.0.0",
        "state_dict": OrderedDict(("net." + k, v) for k, v in authors.items()),
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 2e-4}]}],
        "lr_schedulers": [{"last_epoch": 149}],
    }
    path = save(lightning, tmp_path, "model.ckpt")
    net = create_model("promptir", preset="tiny", checkpoint=path)
    assert outputs_equal(net, source)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "net.module."])
def test_wrapper_prefixes_are_stripped(tmp_path, prefix) -> None:
    source = restormer(preset="tiny")
    path = save({prefix + k: v for k, v in source.state_dict().items()}, tmp_path, "w.pth")
    assert outputs_equal(load_pretrained(restormer(preset="tiny"), path), source)


def test_loaded_dict_and_nested_container() -> None:
    source = restormer(preset="tiny")
    net = load_pretrained(restormer(preset="tiny"), {"model": {"state_dict": source.state_dict()}})
    assert outputs_equal(net, source)


def test_name_argument_selects_the_remap() -> None:
    source = promptir(preset="tiny")
    authors = to_authors(source.state_dict())
    net = load_pretrained(promptir(preset="tiny"), authors, name="promptir")
    assert outputs_equal(net, source)
    # A module without a registry_name and no name= gets the keys as they are.
    holder = torch.nn.Sequential(promptir(preset="tiny"))
    with pytest.raises(HairError, match="missing"):
        load_pretrained(holder, {"0." + k: v for k, v in authors.items()})
    load_pretrained(holder, {"0." + k: v for k, v in source.state_dict().items()})
    assert outputs_equal(holder, source)


# ---------------------------------------------------------------- clear errors


def test_missing_and_unexpected_keys_are_listed(tmp_path) -> None:
    sd = restormer(preset="tiny").state_dict()
    sd.pop("output.weight")
    sd["extra.weight"] = torch.zeros(1)
    path = save({"params": sd}, tmp_path, "bad.pth")
    net = restormer(preset="tiny")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(HairError) as info:
        load_pretrained(net, path)
    message = str(info.value)
    assert "1 missing, 1 unexpected, 0 with another shape" in message
    assert "missing from the file (1): output.weight" in message
    assert "unexpected in the file (1): extra.weight" in message
    assert "bad.pth" in message and "(params)" in message
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched


def test_shape_mismatch_is_listed() -> None:
    sd = restormer(preset="tiny", dim=8).state_dict()
    with pytest.raises(HairError) as info:
        load_pretrained(restormer(preset="tiny"), sd)
    message = str(info.value)
    assert "patch_embed.proj.weight: file (8, 3, 3, 3) vs model (16, 3, 3, 3)" in message
    assert "… and" in message  # long lists are cut at 20 with a count


def test_biasfree_hint() -> None:
    biasfree = restormer(preset="tiny", layer_norm="biasfree").state_dict()
    with pytest.raises(HairError, match="layer_norm='biasfree'"):
        load_pretrained(restormer(preset="tiny"), biasfree)
    withbias = restormer(preset="tiny").state_dict()
    with pytest.raises(HairError, match="layer_norm='withbias'"):
        load_pretrained(restormer(preset="tiny", layer_norm="biasfree"), withbias)


def test_wrong_architecture_hint() -> None:
    with pytest.raises(HairError, match="no key in common"):
        load_pretrained(restormer(preset="tiny"), {"conv.weight": torch.zeros(1)})


def test_unreadable_inputs(tmp_path) -> None:
    with pytest.raises(HairError, match="not found"):
        load_pretrained(restormer(preset="tiny"), tmp_path / "missing.pth")
    with pytest.raises(HairError, match="found no state_dict"):
        load_pretrained(restormer(preset="tiny"), {"epoch": 3, "optimizer": {"lr": 1.0}})
    with pytest.raises(HairError, match="no entry 'params'"):
        load_pretrained(restormer(preset="tiny"), {"state_dict": {"a": torch.zeros(1)}}, key="params")
    with pytest.raises(TypeError, match="path or a loaded checkpoint"):
        load_pretrained(restormer(preset="tiny"), 42)
    with pytest.raises(TypeError, match="nn.Module"):
        load_pretrained("restormer", {"a": torch.zeros(1)})


class NotPlainData:
    pass


def test_weights_only_refusal_is_explained(tmp_path) -> None:
    path = save({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": NotPlainData()},
                tmp_path, "custom.ckpt")
    with pytest.raises(HairError, match="weights_only=False"):
        load_pretrained(restormer(preset="tiny"), path)


# ---------------------------------------------------------------- zoo table


def _make_zoo():
    spec = importlib.util.spec_from_file_location("make_zoo", ROOT / "docs" / "make_zoo.py")
    make_zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_zoo)
    return make_zoo


def test_zoo_table_lists_models_with_exact_counts() -> None:
    table = _make_zoo().zoo_table()
    assert "| restormer | 26,126,644 |" in table
    assert "| promptir | 35,376,967 |" in table
    assert "| restormer | 24.09 / 0.927 | 34.81 / 0.962 |" in table


def test_docs_zoo_page_is_up_to_date() -> None:
    make_zoo = _make_zoo()
    current = make_zoo.PAGE.read_text(encoding="utf-8")
    assert make_zoo.render(current) == current, (
        "docs/zoo.md is stale (registry metadata changed): run `PYTHONPATH=src python docs/make_zoo.py`"
    )


# ---------------------------------------------------------------- damaged files (issue 11)


def _flip_a_tensor_bit(path: Path) -> None:
    """Flip one bit inside the first tensor record of a torch zip file (not in its headers)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename)
    data = bytearray(path.read_bytes())
    # the record's bytes follow its 30-byte local header, the name and the extra field
    extra = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + len(info.filename.encode()) + extra
    data[start + 5] ^= 0x04
    path.write_bytes(bytes(data))


def test_bit_flipped_file_is_refused_naming_it(tmp_path) -> None:
    source = restormer(preset="tiny")
    path = save({"params": source.state_dict()}, tmp_path, "flipped.pth")
    _flip_a_tensor_bit(path)
    target = restormer(preset="tiny")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(HairError, match=r"flipped\.pth.*does not match its checksum"):
        load_pretrained(target, path)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_empty_or_truncated_file_names_the_file(tmp_path, damage: str) -> None:
    path = save({"params": restormer(preset="tiny").state_dict()}, tmp_path, f"{damage}.pth")
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    with pytest.raises(HairError, match=rf"{damage}\.pth"):
        load_pretrained(restormer(preset="tiny"), path)


def test_non_finite_weights_are_refused(tmp_path) -> None:
    state = restormer(preset="tiny").state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].clone().fill_(float("nan"))
    path = save({"params": state}, tmp_path, "nan.pth")
    with pytest.raises(HairError, match=rf"(?s)nan\.pth.*NaN or Inf.*{re.escape(key)}"):
        load_pretrained(restormer(preset="tiny"), path)
    load_pretrained(restormer(preset="tiny"), path, check_finite=False)
