"""Standalone operators the model zoo needs that plain PyTorch lacks.

- :func:`deform_conv2d` / :class:`ModulatedDeformConv2d`: modulated deformable convolution
  (DCNv2, used by AirNet), pure PyTorch, with ``torchvision.ops`` used only when it is installed
  and works (:func:`torchvision_unavailable` says why not).
"""

from .deform_conv import DEFAULT_MAX_ELEMENTS, ModulatedDeformConv2d, deform_conv2d, torchvision_unavailable

__all__ = ["deform_conv2d", "ModulatedDeformConv2d", "torchvision_unavailable", "DEFAULT_MAX_ELEMENTS"]
