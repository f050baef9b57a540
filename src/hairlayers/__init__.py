"""hairlayers: HAIR (hypernetwork-based all-in-one image restoration) as plug-and-play layers.

Example:
    >>> import torch, hairlayers
    >>> conv = hairlayers.HyperConv2d(3, 8, 3, padding=1, num_kernels=5, giv_dim=16)
    >>> conv(torch.randn(2, 3, 32, 32), torch.randn(2, 16)).shape
    torch.Size([2, 8, 32, 32])
"""

from . import functional
from .errors import BackendUnavailableError, HairError
from .giv import GIVInput, GIVModel, is_hair_model
from .inference import restore
from .layers import (
    GIVClassifier,
    HyperConv2d,
    HyperConvTranspose2d,
    HyperDeformConv2d,
    HyperLayer,
    HyperLinear,
    HyperSelectingNet,
    WeightBox,
)
from .transform import HairModel, hairify, specialize, unhairify

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "GIVClassifier",
    "GIVInput",
    "GIVModel",
    "HairError",
    "HairModel",
    "HyperConv2d",
    "HyperConvTranspose2d",
    "HyperDeformConv2d",
    "HyperLayer",
    "HyperLinear",
    "HyperSelectingNet",
    "WeightBox",
    "functional",
    "hairify",
    "is_hair_model",
    "restore",
    "specialize",
    "unhairify",
    "__version__",
]
