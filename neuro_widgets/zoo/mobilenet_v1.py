"""MobileNetV1 x0.25 for ImageNet (Howard et al. 2017): the small ImageNet backbone of RetinaFace.

Written from the architecture description of the public checkpoint ``mobilenetV1X0.25_pretrain.tar``
(biubug6/Pytorch_Retinaface), so that its state dict loads with a strict match: a stride-2 stem conv, then 13
depthwise-separable blocks in three stages (8 -> 64, 64 -> 128, 128 -> 256 channels), global average pool and a
1000-way linear classifier. Activations are LeakyReLU(0.1), each its own module and not in place, so that a hook
on a BatchNorm sees that BatchNorm's output and attribution methods that rewrite activation gradients work.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (input channels, output channels, stride) of the depthwise-separable blocks, per stage; stage1 starts with the
# stem conv_bn(3 -> 8, stride 2)
_STAGES: Tuple[List[Tuple[int, int, int]], ...] = (
    [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)],
    [(64, 128, 2)] + [(128, 128, 1)] * 5,
    [(128, 256, 2), (256, 256, 1)],
)


def conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """3x3 conv, BatchNorm, LeakyReLU(0.1) (state-dict indices 0, 1)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.LeakyReLU(0.1))


def conv_dw(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 conv + BN + LeakyReLU, then pointwise 1x1 conv + BN + LeakyReLU (indices 0..5)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.LeakyReLU(0.1),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1),
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 at width 0.25: input (N, 3, 224, 224) ImageNet-normalised, output (N, 1000) logits."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        first, second, third = _STAGES
        self.stage1 = nn.Sequential(conv_bn(3, 8, 2), *(conv_dw(*b) for b in first))
        self.stage2 = nn.Sequential(*(conv_dw(*b) for b in second))
        self.stage3 = nn.Sequential(*(conv_dw(*b) for b in third))
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(third[-1][1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(self.flatten(self.avg(x)))
