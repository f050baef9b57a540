"""AirNet (Li et al., CVPR 2022): a contrastive degradation encoder guiding a deformable restorer.

Two halves, named as in the authors' code so that their ``.pth`` files load unchanged:

* ``E`` — the CBDE (contrastive-based degradation encoder), a MoCo pair of ``ResEncoder`` s:
  ``E.E.encoder_q`` (trained by gradients) and ``E.E.encoder_k`` (its momentum copy, never trained
  by gradients), plus a queue of past keys. A ResEncoder maps the image to ``inter``, a full-
  resolution 64-channel degradation map (``E_pre``), then through two strided ResBlocks
  (64→128→256) and global pooling to a 256-d embedding, and an MLP head (used only by the
  contrastive loss).
* ``R`` — the DGRN restorer: head conv, 5 groups (DGG) × 5 blocks (DGB) at 64 channels, a conv,
  a tail conv. Each DGB holds two DGMs; a DGM adds to its input a modulated deformable
  convolution whose offsets and mask are predicted from ``cat(x, inter)``, and an SFT modulation
  ``x · γ(inter) + β(inter)``. There is no global image residual.

At paper settings the model has 8,930,313 parameters, 7,610,377 of them trained by gradients
(the key encoder's 1,319,936 are not).

Use ``model(image)`` to restore (any size, values in [0, 1]); use
:meth:`AirNet.training_loss` to train (L1 + 0.1 · InfoNCE, see its docstring and
``docs/zoo.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import positive_int
from ..errors import HairError
from ..ops.deform_conv import ModulatedDeformConv2d
from ._registry import register_model
from ._builder import check_image, preset_config

__all__ = [
    "AirNet",
    "AirNetLoss",
    "CBDE",
    "DGRN",
    "ResEncoder",
    "MomentumContrast",
    "airnet",
    "AIRNET_PRESETS",
    "AIRNET_TABLE6",
]

_SLOPE = 0.1  # LeakyReLU slope used throughout AirNet


# --------------------------------------------------------------------------- encoder (CBDE)


class ResBlock(nn.Module):
    """Conv-BN-LeakyReLU-Conv-BN plus a 1×1 conv-BN shortcut, then LeakyReLU (encoder block)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(_SLOPE),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.backbone(x) + self.shortcut(x), _SLOPE)


class ResEncoder(nn.Module):
    """Image → (embedding, projection for the contrastive loss, full-resolution map ``inter``).

    Args:
        in_channels: image channels.
        dims: ``(inter, mid, embedding)`` widths; the paper's ``(64, 128, 256)``.
    """

    def __init__(self, in_channels: int = 3, dims: Sequence[int] = (64, 128, 256)) -> None:
        super().__init__()
        d0, d1, d2 = dims
        self.E_pre = ResBlock(in_channels, d0, stride=1)
        self.E = nn.Sequential(
            ResBlock(d0, d1, stride=2), ResBlock(d1, d2, stride=2), nn.AdaptiveAvgPool2d(1)
        )
        self.mlp = nn.Sequential(nn.Linear(d2, d2), nn.LeakyReLU(_SLOPE), nn.Linear(d2, d2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inter = self.E_pre(x)
        embedding = self.E(inter).flatten(1)
        return embedding, self.mlp(embedding), inter


class MomentumContrast(nn.Module):
    """MoCo over :class:`ResEncoder` s: query encoder, momentum key encoder, queue of negatives.

    Args:
        in_channels: image channels.
        dims: ResEncoder widths; ``dims[-1]`` is the contrastive feature size.
        queue_size: number of negative keys kept (the authors use ``256 × batch size``).
        momentum: key encoder update ``k ← m·k + (1 − m)·q``.
        temperature: softmax temperature of the InfoNCE logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        dims: Sequence[int] = (64, 128, 256),
        queue_size: int = 1280,
        momentum: float = 0.999,
        temperature: float = 0.07,
    ) -> None:
        super().__init__()
        self.momentum = momentum
        self.temperature = temperature
        self.encoder_q = ResEncoder(in_channels, dims)
        self.encoder_k = ResEncoder(in_channels, dims)
        for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            p_k.data.copy_(p_q.data)
            p_k.requires_grad = False  # moved by momentum_update(), never by gradients
        self.register_buffer("queue", F.normalize(torch.randn(dims[-1], queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def momentum_update(self) -> None:
        """Move every key-encoder parameter towards its query-encoder counterpart."""
        for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            p_k.mul_(self.momentum).add_(p_q.detach(), alpha=1.0 - self.momentum)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest queue columns with ``keys`` ``(B, dim)``, wrapping around."""
        size = self.queue.shape[1]
        if keys.shape[0] > size:
            raise HairError(
                f"a batch of {keys.shape[0]} keys does not fit a queue of {size}; raise queue_size"
            )
        ptr = int(self.queue_ptr)
        index = (ptr + torch.arange(keys.shape[0], device=self.queue.device)) % size
        self.queue[:, index] = keys.detach().t().to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + keys.shape[0]) % size

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE logits ``(B, 1 + queue_size)`` (positive first) and the query's ``inter``.

        In training mode this also advances the key encoder and pushes the keys into the queue,
        in that order (the order of MoCo and of the authors' code). In eval mode it has no side
        effects.
        """
        _, q, inter = self.encoder_q(query)
        q = F.normalize(q, dim=1)
        with torch.no_grad():
            if self.training:
                self.momentum_update()
            _, k, _ = self.encoder_k(key)
            k = F.normalize(k, dim=1)
        positive = (q * k).sum(dim=1, keepdim=True)
        negative = q @ self.queue.clone().detach()
        logits = torch.cat([positive, negative], dim=1) / self.temperature
        if self.training:
            self.enqueue(k)
        return logits, inter


class CBDE(nn.Module):
    """The contrastive-based degradation encoder: a :class:`MomentumContrast` named ``E``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.E = MomentumContrast(**kwargs)


# --------------------------------------------------------------------------- restorer (DGRN)


class DCNLayer(ModulatedDeformConv2d):
    """DCNv2 whose offsets and mask come from ``cat(x, inter)`` through ``conv_offset_mask``.

    The offset/mask conv starts at zero (so training starts from a plain convolution with mask
    0.5); its ``3·k²`` outputs split into thirds ``(o1, o2, m)``: offsets ``cat(o1, o2)`` in
    torchvision's ``(dy, dx)`` layout, mask ``sigmoid(m)``.
    """

    def __init__(self, channels: int, inter_channels: int, kernel_size: int = 3, **kwargs: Any) -> None:
        super().__init__(
            channels, channels, kernel_size, padding=(kernel_size - 1) // 2, bias=False, **kwargs
        )
        self.conv_offset_mask = nn.Conv2d(
            channels + inter_channels,
            3 * kernel_size * kernel_size,
            kernel_size,
            padding=(kernel_size - 1) // 2,
        )
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def reset_parameters(self) -> None:
        """Uniform in ``±1/sqrt(C_in·k²)``, as the authors initialise their DCN layer."""
        bound = 1.0 / self.weight[0].numel() ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        o1, o2, m = self.conv_offset_mask(torch.cat([x, inter], dim=1)).chunk(3, dim=1)
        return super().forward(x, torch.cat([o1, o2], dim=1), torch.sigmoid(m))


class SFTLayer(nn.Module):
    """Spatial feature transform ``x · γ(inter) + β(inter)``, γ and β two 1×1 convs each."""

    def __init__(self, channels: int, inter_channels: int) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(inter_channels, channels, 1, bias=False),
                nn.LeakyReLU(_SLOPE),
                nn.Conv2d(channels, channels, 1, bias=False),
            )

        self.conv_gamma = branch()
        self.conv_beta = branch()

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        return x * self.conv_gamma(inter) + self.conv_beta(inter)


class DGM(nn.Module):
    """Degradation-guided module: ``x + DCN(x, inter) + SFT(x, inter)``."""

    def __init__(self, channels: int, inter_channels: int, kernel_size: int = 3, **dcn_kwargs: Any) -> None:
        super().__init__()
        self.dcn = DCNLayer(channels, inter_channels, kernel_size, **dcn_kwargs)
        self.sft = SFTLayer(channels, inter_channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        return x + self.dcn(x, inter) + self.sft(x, inter)


def _conv(cin: int, cout: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2)


class DGB(nn.Module):
    """Degradation-guided block: DGM, conv, DGM, conv (LeakyReLU between), plus the input."""

    def __init__(self, channels: int, inter_channels: int, kernel_size: int = 3, **dcn_kwargs: Any) -> None:
        super().__init__()
        self.dgm1 = DGM(channels, inter_channels, kernel_size, **dcn_kwargs)
        self.dgm2 = DGM(channels, inter_channels, kernel_size, **dcn_kwargs)
        self.conv1 = _conv(channels, channels, kernel_size)
        self.conv2 = _conv(channels, channels, kernel_size)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.dgm1(x, inter), _SLOPE)
        out = F.leaky_relu(self.conv1(out), _SLOPE)
        out = F.leaky_relu(self.dgm2(out, inter), _SLOPE)
        return self.conv2(out) + x


class DGG(nn.Module):
    """Degradation-guided group: ``n_blocks`` DGBs and a conv (``body``), plus the input."""

    def __init__(
        self, channels: int, inter_channels: int, kernel_size: int, n_blocks: int, **dcn_kwargs: Any
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = [
            DGB(channels, inter_channels, kernel_size, **dcn_kwargs) for _ in range(n_blocks)
        ]
        self.body = nn.ModuleList(blocks + [_conv(channels, channels, kernel_size)])

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        res = x
        for block in self.body[:-1]:
            res = block(res, inter)
        return self.body[-1](res) + x


class DGRN(nn.Module):
    """Degradation-guided restoration network: head, ``n_groups`` DGGs and a conv, tail."""

    def __init__(
        self,
        in_channels: int = 3,
        n_feats: int = 64,
        inter_channels: int = 64,
        n_groups: int = 5,
        n_blocks: int = 5,
        kernel_size: int = 3,
        **dcn_kwargs: Any,
    ) -> None:
        super().__init__()
        self.head = nn.Sequential(_conv(in_channels, n_feats, kernel_size))
        groups: list[nn.Module] = [
            DGG(n_feats, inter_channels, kernel_size, n_blocks, **dcn_kwargs) for _ in range(n_groups)
        ]
        self.body = nn.ModuleList(groups + [_conv(n_feats, n_feats, kernel_size)])
        self.tail = nn.Sequential(_conv(n_feats, in_channels, kernel_size))

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        res = x
        for group in self.body[:-1]:
            res = group(res, inter)
        res = self.body[-1](res) + x
        return self.tail(res)


# --------------------------------------------------------------------------- the network


@dataclass
class AirNetLoss:
    """What :meth:`AirNet.training_loss` returns.

    Attributes:
        total: the scalar to backpropagate.
        contrastive: InfoNCE (cross-entropy of the logits with the positive at index 0).
        l1: mean absolute error of the restoration (``None`` in the ``"encoder"`` phase).
        restored: the restored batch (``None`` in the ``"encoder"`` phase).
        logits: ``(B, 1 + queue_size)`` contrastive logits.
    """

    total: torch.Tensor
    contrastive: torch.Tensor
    l1: torch.Tensor | None
    restored: torch.Tensor | None
    logits: torch.Tensor


class AirNet(nn.Module):
    """The AirNet network; prefer the :func:`airnet` builder, which knows the presets.

    Args:
        in_channels: image channels (in and out).
        n_feats: restorer width (paper 64).
        n_groups: DGGs in the restorer (paper 5).
        n_blocks: DGBs per DGG (paper 5).
        kernel_size: restorer convolution size (paper 3).
        encoder_dims: ResEncoder widths ``(inter, mid, embedding)`` (paper ``(64, 128, 256)``).
        queue_size: MoCo negatives; the authors' files hold ``256 × their batch size``
            (``All.pth``: 1280, ``Denoise.pth``: 768, ``Derain.pth``/``Dehaze.pth``: 256) and
            must be loaded into a model built with the same value.
        momentum: key-encoder momentum (0.999).
        temperature: InfoNCE temperature (0.07).
        dcn_max_elements, dcn_backend: passed to :func:`hairlayers.ops.deform_conv2d`.

    Shape:
        - input: ``(B, C, H, W)``, any ``H, W``, values in [0, 1].
        - output: ``(B, C, H, W)``.
    """

    registry_name = "airnet"

    def __init__(
        self,
        in_channels: int = 3,
        n_feats: int = 64,
        n_groups: int = 5,
        n_blocks: int = 5,
        kernel_size: int = 3,
        encoder_dims: Sequence[int] = (64, 128, 256),
        queue_size: int = 1280,
        momentum: float = 0.999,
        temperature: float = 0.07,
        dcn_max_elements: int | None = None,
        dcn_backend: str = "auto",
    ) -> None:
        super().__init__()
        encoder_dims = tuple(encoder_dims)
        for name, value in (
            ("in_channels", in_channels),
            ("n_feats", n_feats),
            ("n_groups", n_groups),
            ("n_blocks", n_blocks),
            ("queue_size", queue_size),
        ):
            positive_int(name, value)
        if len(encoder_dims) != 3 or any(not isinstance(d, int) or d < 1 for d in encoder_dims):
            raise HairError(
                f"encoder_dims must be 3 positive ints (inter, mid, embedding), got {encoder_dims!r}"
            )
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise HairError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        if not 0.0 <= momentum <= 1.0:
            raise HairError(f"momentum must be in [0, 1], got {momentum!r}")
        if not temperature > 0:
            raise HairError(f"temperature must be positive, got {temperature!r}")
        self.in_channels = in_channels
        self.R = DGRN(
            in_channels,
            n_feats,
            encoder_dims[0],
            n_groups,
            n_blocks,
            kernel_size,
            max_elements=dcn_max_elements,
            backend=dcn_backend,
        )
        self.E = CBDE(
            in_channels=in_channels,
            dims=encoder_dims,
            queue_size=queue_size,
            momentum=momentum,
            temperature=temperature,
        )

    @property
    def restorer(self) -> DGRN:
        """The DGRN (``self.R``)."""
        return self.R

    @property
    def moco(self) -> MomentumContrast:
        """The MoCo pair and queue (``self.E.E``)."""
        return self.E.E

    def degradation_map(self, image: torch.Tensor) -> torch.Tensor:
        """``inter``: the query encoder's full-resolution degradation map ``(B, encoder_dims[0], H, W)``."""
        check_image(image, self.in_channels)
        return self.moco.encoder_q.E_pre(image)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Restore ``image`` ``(B, C, H, W)`` (any size). No side effects, in either mode.

        Only the part of the encoder the restorer reads (``E_pre``) runs; the embedding and MLP
        head matter for the contrastive loss alone.
        """
        return self.R(image, self.degradation_map(image))

    def training_loss(
        self,
        degraded: torch.Tensor,
        clean: torch.Tensor | None = None,
        *,
        key: torch.Tensor | None = None,
        phase: str = "joint",
        contrastive_weight: float = 0.1,
    ) -> AirNetLoss:
        """The AirNet training objective for one batch.

        ``phase="joint"`` (default): ``L1(restored, clean) + contrastive_weight · InfoNCE`` with
        the authors' weight 0.1. ``phase="encoder"``: InfoNCE alone, the restorer is not run.
        The authors train the encoder alone first (``epochs_encoder``, 100 epochs in their
        script, lr 1e-3 ×0.1 every 60 epochs), then everything jointly (lr 1e-4 halved every 125
        epochs), with Adam; the HAIR paper's comparison retrains it in its own all-in-one setup.

        The InfoNCE positive pair is ``degraded`` (query) and ``key``, another view of the same
        degraded images: the authors use a second random crop of each degraded image; without
        ``key``, the horizontally flipped batch is used. In training mode each call advances
        the key encoder by momentum and pushes the keys into the queue (so call it once per
        step); in eval mode it changes nothing.

        Args:
            degraded: ``(B, C, h, w)`` degraded patches.
            clean: ``(B, C, h, w)`` ground truth (needed for ``"joint"``).
            key: ``(B, C, h', w')`` second view of each degraded image, or ``None``.
            phase: ``"joint"`` or ``"encoder"``.
            contrastive_weight: weight of InfoNCE in the joint phase.

        Returns:
            An :class:`AirNetLoss`; backpropagate ``.total``.

        Example:
            >>> import torch
            >>> from hairlayers.models.airnet import airnet
            >>> net = airnet(preset="tiny")
            >>> degraded, clean = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
            >>> losses = net.training_loss(degraded, clean)
            >>> losses.total.backward()
            >>> losses.logits.shape  # positive + 64 queued negatives
            torch.Size([2, 65])
        """
        if phase not in ("joint", "encoder"):
            raise HairError(f"phase must be 'joint' or 'encoder', got {phase!r}")
        check_image(degraded, self.in_channels)
        if key is None:
            key = torch.flip(degraded, dims=(-1,))
        check_image(key, self.in_channels)
        if key.shape[0] != degraded.shape[0]:
            raise HairError(f"key has {key.shape[0]} images, degraded has {degraded.shape[0]}")
        logits, inter = self.moco(degraded, key)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        contrastive = F.cross_entropy(logits, labels)
        if phase == "encoder":
            return AirNetLoss(contrastive, contrastive, None, None, logits)
        if clean is None:
            raise HairError("phase='joint' needs the clean images")
        if clean.shape != degraded.shape:
            raise HairError(
                f"clean {tuple(clean.shape)} and degraded {tuple(degraded.shape)} must have the same shape"
            )
        restored = self.R(degraded, inter)
        l1 = F.l1_loss(restored, clean)
        return AirNetLoss(l1 + contrastive_weight * contrastive, contrastive, l1, restored, logits)


#: Width/depth presets: ``tiny`` for tests and docs (a 64×64 forward in well under a second on
#: CPU), ``mini`` for the CPU Table-6 reproduction.
AIRNET_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(n_feats=64, n_groups=5, n_blocks=5, encoder_dims=(64, 128, 256), queue_size=1280),
    "mini": dict(n_feats=32, n_groups=2, n_blocks=2, encoder_dims=(32, 64, 128), queue_size=512),
    "tiny": dict(n_feats=16, n_groups=1, n_blocks=1, encoder_dims=(16, 32, 64), queue_size=64),
}

AIRNET_TABLE6 = {
    "SOTS": (21.04, 0.884),
    "Rain100L": (32.98, 0.951),
    "BSD68 σ25": (30.91, 0.882),
    "GoPro": (24.35, 0.781),
    "LOLv1": (18.18, 0.735),
    "avg": (25.49, 0.847),
}


@register_model(
    paper_params="8.93M (8,930,313; 7,610,377 trained by gradients, the rest is the momentum key encoder)",
    table6=AIRNET_TABLE6,
    table6_params="9M",
    presets=AIRNET_PRESETS,
    checkpoint_format=(
        "plain `.pth` state_dict of the whole AirNet (`R.*` restorer, `E.E.*` MoCo incl. `queue`, "
        "`queue_ptr` and BatchNorm statistics); key names identical to ours. Build with the file's "
        "queue length: `queue_size=1280` for All.pth, 768 for Denoise.pth, 256 for Derain/Dehaze.pth."
    ),
    license_note=(
        "architecture: Li et al., CVPR 2022; the authors' code is published without a licence "
        "(this implementation is independent)"
    ),
    remap_checkpoint=None,
)
def airnet(
    n_feats: int | None = None,
    n_groups: int | None = None,
    n_blocks: int | None = None,
    encoder_dims: Sequence[int] | None = None,
    queue_size: int | None = None,
    preset: str | None = None,
    **kwargs: Any,
) -> AirNet:
    """Build AirNet: the paper's settings by default, or a small preset.

    Args:
        n_feats: restorer width (paper 64).
        n_groups: restorer groups (paper 5).
        n_blocks: blocks per group (paper 5).
        encoder_dims: encoder widths (paper ``(64, 128, 256)``).
        queue_size: MoCo queue length (paper build 1280).
        preset: ``None``/``"paper"`` (8.93M parameters), ``"mini"`` (width 32, 2 groups × 2
            blocks, encoder ``(32, 64, 128)``; 0.67M trained by gradients — the CPU Table-6
            reproduction trains this)
            or ``"tiny"`` (width 16, 1 × 1, encoder ``(16, 32, 64)``; for tests). Explicit
            arguments override the preset.
        **kwargs: passed to :class:`AirNet` (``in_channels``, ``kernel_size``, ``momentum``,
            ``temperature``, ``dcn_max_elements``, ``dcn_backend``).

    Returns:
        The model, in training mode.

    Example:
        >>> import torch
        >>> net = airnet(preset="tiny").eval()
        >>> net(torch.rand(2, 3, 37, 45)).shape
        torch.Size([2, 3, 37, 45])
    """
    config = preset_config(
        "airnet",
        preset,
        n_feats=n_feats,
        n_groups=n_groups,
        n_blocks=n_blocks,
        encoder_dims=encoder_dims,
        queue_size=queue_size,
    )
    return AirNet(**config, **kwargs)
