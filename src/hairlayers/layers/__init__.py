"""Hyper layers and the modules that drive them."""

from .base import HyperLayer
from .classifier import GIVClassifier, ResNetBlock
from .hyper_conv import HyperConv2d
from .hyper_conv_transpose import HyperConvTranspose2d
from .hyper_deform_conv import HyperDeformConv2d
from .hyper_linear import HyperLinear
from .selecting import HyperSelectingNet
from .weight_box import WeightBox

__all__ = [
    "GIVClassifier",
    "HyperConv2d",
    "HyperConvTranspose2d",
    "HyperDeformConv2d",
    "HyperLayer",
    "HyperLinear",
    "HyperSelectingNet",
    "ResNetBlock",
    "WeightBox",
]
