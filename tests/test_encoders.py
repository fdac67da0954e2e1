"""ImageNet encoders: strict loading of the local weights, first-convolution adaptation for
other band counts, the cards' normalisation, and training runs that start from them."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import SHARED
from geoseg.errors import GeosegError
from geoseg.models import io, registry
from geoseg.models.encoders import adapt_first_conv, first_conv_key, load_encoder_weights
from geoseg.train.config import load_config
from geoseg.train.loop import train
from test_train import config_file, pair_folder

MOBILENET = SHARED / "pretrained" / "mobilenet_v2_imagenet1k_v1.safetensors"
EFFICIENTNET = SHARED / "pretrained" / "tf_efficientnet_lite0_imagenet.safetensors"
EFFICIENTNET_LITE2 = SHARED / "pretrained" / "tf_efficientnet_lite2_imagenet.safetensors"
needs_weights = pytest.mark.skipif(not MOBILENET.is_file(), reason="../shared/data/pretrained is not here")


def test_one_band_kernel_answers_a_grey_image_as_the_rgb_kernel_does():
    kernel = torch.randn(8, 3, 3, 3)
    grey = torch.rand(1, 1, 9, 9)
    rgb = torch.nn.functional.conv2d(grey.expand(1, 3, 9, 9), kernel)
    one = torch.nn.functional.conv2d(grey, adapt_first_conv(kernel, 1))
    assert torch.allclose(one, rgb, atol=1e-5)


def test_more_bands_keep_the_response_to_a_flat_image():
    kernel = torch.randn(8, 3, 3, 3)
    flat = torch.full((1, 5, 4, 4), 0.7)
    rgb = torch.nn.functional.conv2d(flat[:, :3], kernel)
    for bands in (2, 5):
        adapted = torch.nn.functional.conv2d(flat[:, :bands], adapt_first_conv(kernel, bands))
        assert torch.allclose(adapted, rgb, atol=1e-5)
    assert torch.equal(adapt_first_conv(kernel, 5)[:, :3], kernel)
    assert adapt_first_conv(kernel, 3) is kernel


@needs_weights
@pytest.mark.parametrize("architecture,weights", [("eunet-mobilenetv2", MOBILENET),
                                                  ("eunet-efficientnet-lite0", EFFICIENTNET),
                                                  ("eunet-efficientnet-lite2", EFFICIENTNET_LITE2),
                                                  ("unet-mobilenetv2", MOBILENET)])
def test_imagenet_weights_load_strictly(architecture, weights):
    net = registry.create(architecture)
    load_encoder_weights(net.encoder, weights)
    state = load_file(str(weights))
    loaded = net.encoder.state_dict()
    key = first_conv_key(net.encoder)
    assert torch.equal(loaded[key], state[key])
    assert sum(torch.equal(loaded[k], v) for k, v in state.items() if k in loaded) == len(loaded)


@needs_weights
def test_a_one_band_encoder_gets_the_summed_rgb_kernel():
    net = registry.create("eunet-mobilenetv2", in_channels=1)
    load_encoder_weights(net.encoder, MOBILENET)
    key = first_conv_key(net.encoder)
    assert torch.allclose(net.encoder.state_dict()[key], load_file(str(MOBILENET))[key].sum(1, keepdim=True))


@needs_weights
def test_missing_or_mismatched_weights_are_one_clear_error(tmp_path):
    net = registry.create("eunet-mobilenetv2")
    with pytest.raises(GeosegError, match="do not exist"):
        load_encoder_weights(net.encoder, tmp_path / "nothing.safetensors")
    with pytest.raises(GeosegError, match="do not fit this encoder") as error:
        load_encoder_weights(net.encoder, EFFICIENTNET)
    assert "\n" not in str(error.value)
    truncated = {k: v for k, v in load_file(str(MOBILENET)).items() if not k.startswith("features.18")}
    save_file(truncated, str(tmp_path / "part.safetensors"))
    with pytest.raises(GeosegError, match="do not fit this encoder"):
        load_encoder_weights(net.encoder, tmp_path / "part.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(GeosegError, match="not a readable safetensors file"):
        load_encoder_weights(net.encoder, tmp_path / "junk.safetensors")


def test_cards_follow_the_encoder_normalisation():
    assert registry.preset_card("eunet-mobilenetv2-buildings").mean == pytest.approx([0.485, 0.456, 0.406])
    assert registry.preset_card("eunet-efficientnet-lite0-buildings").std == pytest.approx([0.5, 0.5, 0.5])
    assert registry.preset_card("eunet-buildings").mean == pytest.approx([0.5, 0.5, 0.5])  # no ImageNet encoder


@needs_weights
def test_training_from_imagenet_weights_records_them_in_the_card(tmp_path):
    root = pair_folder(tmp_path / "d")
    config = load_config(config_file(tmp_path, "eunet-mobilenetv2-buildings", [root], encoder_weights=str(MOBILENET),
                                     epochs=1, steps_per_epoch=3, precision="auto"))
    out = tmp_path / "m.safetensors"
    train(config, out, log=lambda line: None)
    state, card = io.load_state(out)
    assert "ImageNet" in card.initialisation and MOBILENET.name in card.initialisation
    assert card.mean == pytest.approx([0.485, 0.456, 0.406]) and card.std == pytest.approx([0.229, 0.224, 0.225])
    # the decoder trained; the encoder moved away from ImageNet only a little in three steps
    imagenet = load_file(str(MOBILENET))["features.0.0.weight"]
    trained = state["encoder.features.0.0.weight"]
    assert not torch.equal(trained, imagenet) and torch.allclose(trained, imagenet, atol=0.05)


def test_encoder_weights_need_an_encoder(tmp_path):
    root = pair_folder(tmp_path / "d")
    config = load_config(config_file(tmp_path, "eunet-buildings", [root], encoder_weights="x.safetensors"))
    with pytest.raises(GeosegError, match="has no ImageNet encoder"):
        train(config, tmp_path / "m.safetensors", log=lambda line: None)


def test_geoseg_mobilenetv2_answers_as_smp_does():
    import segmentation_models_pytorch as smp

    from geoseg.models.mobilenetv2 import MobileNetV2Encoder

    torch.manual_seed(0)
    theirs = smp.encoders.get_encoder("mobilenet_v2", in_channels=3, depth=5, weights=None).eval()
    mine = MobileNetV2Encoder(3).eval()
    mine.load_state_dict(theirs.state_dict())  # the same layout, key for key
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(theirs(x), mine(x)):
            assert torch.equal(a, b)
    assert mine.out_channels == tuple(theirs.out_channels)
