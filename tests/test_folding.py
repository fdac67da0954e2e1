"""Batch normalisation folded into convolutions: the same function, fewer layers."""

import numpy as np
import torch
from torch import nn

from geoseg.infer.folding import fold_batch_norms
from geoseg.infer.predictor import TorchBackend
from geoseg.models import registry
from geoseg.models.input import byte_table


def _trained_norm(channels: int, seed: int) -> nn.BatchNorm2d:
    """A BatchNorm2d with running statistics and an affine map far from the identity."""
    g = torch.Generator().manual_seed(seed)
    norm = nn.BatchNorm2d(channels)
    norm.running_mean = torch.randn(channels, generator=g) * 3
    norm.running_var = torch.rand(channels, generator=g) * 4 + 0.1
    norm.weight.data = torch.randn(channels, generator=g)
    norm.bias.data = torch.randn(channels, generator=g)
    return norm


class _Sum(nn.Module):
    """A convolution and a normalisation that are not a pair: the norm takes conv(x) + x."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.norm = _trained_norm(4, 3)

    def forward(self, x):
        return self.norm(self.conv(x) + x)


def test_folded_network_gives_the_same_answers_with_no_norm_left_in_its_sequences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _trained_norm(4, 1), nn.ReLU(),
                        nn.ConvTranspose2d(4, 4, 2, stride=2), _trained_norm(4, 2), _Sum())
    x = torch.randn(2, 3, 16, 16)
    net.eval()
    with torch.no_grad():
        expected = net(x)
        fold_batch_norms(net)
        got = net(x)
    norms = [name for name, m in net.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms == ["5.norm"]  # the pair inside _Sum is not a sequence: left alone
    assert isinstance(net[1], nn.Identity) and isinstance(net[4], nn.Identity)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_the_default_model_runs_folded_and_answers_as_before_in_fp32():
    net, card = registry.load(None)
    tiles = np.random.default_rng(0).integers(0, 256, (2, 3, 256, 256), dtype=np.uint8)
    with torch.inference_mode():
        x = torch.from_numpy(byte_table(card).take_along(tiles))
        unfolded = net(x)
    backend = TorchBackend(net, card, torch.device("cpu"), "fp32")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in backend.eager.modules())
    with torch.inference_mode():
        folded = backend.eager(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(folded, unfolded, atol=1e-3, rtol=1e-4)

