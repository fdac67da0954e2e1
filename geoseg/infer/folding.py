"""Batch normalisation folded into the convolution before it, for inference.

In eval mode a ``BatchNorm2d`` is an affine map per channel, so it can be folded into the
weights and bias of the convolution whose output it takes: the same function (to float
rounding), one pass over the activations less per pair, and in bf16 one rounding less (the
normalisation's statistics and its subtraction no longer run in bf16).
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """``model``, in eval mode, with every ``BatchNorm2d`` that directly follows a convolution
    in an ``nn.Sequential`` folded into it and replaced by an identity (in place; returned
    for convenience). Only a ``Sequential`` guarantees that the convolution's output goes to
    the normalisation alone, so pairs elsewhere are left as they are."""
    model.eval()
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = parent._modules[first], parent._modules[second]
            if isinstance(conv, CONVOLUTIONS) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                parent._modules[first] = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                parent._modules[second] = nn.Identity()
    return model
