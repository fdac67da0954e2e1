"""Networks, the registry, model cards and weights files."""

import os
import pickle

import pytest
import torch

from geoseg.errors import GeosegError
from geoseg.models import io, registry
from geoseg.models.blocks import max_unpool2x
from geoseg.models.card import ModelCard


@pytest.mark.parametrize("name", list(registry.PRESETS))
def test_every_preset_maps_odd_sizes_to_logits_of_the_same_size(name):
    card = registry.preset_card(name)
    model = registry.build(card)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 45, 71))
    assert out.shape == (2, card.num_outputs, 45, 71)
    assert torch.isfinite(out).all()


def test_enet_has_its_published_size():
    params = sum(p.numel() for p in registry.create("enet", 12).parameters())
    assert 0.35e6 < params < 0.37e6


def test_unpooling_puts_values_back_where_the_maxima_were():
    x = torch.randn(2, 3, 8, 6)
    pooled, indices = torch.nn.functional.max_pool2d(x, 2, return_indices=True)
    expected = torch.nn.functional.max_unpool2d(pooled, indices, 2)
    assert torch.equal(max_unpool2x(pooled, indices), expected)


def test_save_and_load_round_trip_is_bit_exact(tmp_path):
    card = registry.preset_card("enet-buildings")
    card.metrics = {"iou": 0.5}
    model = registry.build(card)
    path = tmp_path / "m.safetensors"
    io.save(model, card, path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by others as any output, not private
    state, loaded_card = io.load_state(path)
    again = registry.build(loaded_card, state)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert loaded_card == card


def test_half_precision_files_load_into_fp32_networks(tmp_path):
    card = registry.preset_card("eunet-buildings")
    model = registry.build(card)
    path = tmp_path / "m.safetensors"
    io.save(model, card, path, dtype=torch.float16)
    state, _ = io.load_state(path)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    again = registry.build(card, state)
    assert all(p.dtype == torch.float32 for p in again.parameters())
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(again.state_dict()[name], value, rtol=1e-3, atol=1e-4), name
    assert path.stat().st_size < 0.6 * sum(v.numel() * 4 for v in model.state_dict().values())


def test_a_random_file_is_not_a_model(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x00\x01not a model at all" * 10)
    with pytest.raises(GeosegError, match="not a geoseg model"):
        registry.load(path)


class _Boom:
    def __reduce__(self):
        return (open, ("/tmp/geoseg-pickle-was-executed", "w"))


def test_a_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"state": _Boom()}))
    with pytest.raises(GeosegError):
        registry.load(path)
    assert not marker.exists()
    import os
    assert not os.path.exists("/tmp/geoseg-pickle-was-executed")


def test_a_safetensors_file_without_card_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(GeosegError, match="no model card"):
        registry.load(path)


def test_weights_for_another_architecture_are_refused(tmp_path):
    card = registry.preset_card("enet-buildings")
    path = tmp_path / "m.safetensors"
    io.save(registry.build(card), card, path)
    state, _ = io.load_state(path)
    with pytest.raises(GeosegError, match="do not fit"):
        registry.build(registry.preset_card("eunet-buildings"), state)


def test_card_json_round_trip_and_validation():
    card = registry.preset_card("enet-camvid")
    assert ModelCard.from_json(card.to_json()) == card
    assert card.num_outputs == 12 and card.ignore_index == 11
    with pytest.raises(GeosegError, match="lacks"):
        ModelCard.from_json('{"name": "x"}')
