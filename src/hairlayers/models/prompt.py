"""PromptIR's prompt blocks as a plug-in for any encoder–decoder.

A :class:`PromptBlock` reads a feature map, picks a convex mix of a few learned "prompt" tensors
from the map's global average (:class:`PromptGen`), fuses the prompt with the features by
concatenation and a transformer block, and maps back to the feature width with a 1×1 conv.
:func:`promptify` inserts such blocks after named modules of an existing network, inferring each
point's channel count and spatial size from one forward pass.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import describe, positive_int
from ..errors import HairError
from .restormer import TransformerBlock

__all__ = ["PromptGen", "PromptBlock", "PromptedModule", "promptify"]


class PromptGen(nn.Module):
    """Generate an input-conditioned prompt map.

    ``w = softmax(linear(GAP(x)))`` weights ``prompt_len`` learned ``(D, S, S)`` prompts; their
    weighted sum is bilinearly resized to the feature's ``H × W`` and passed through a 3×3 conv.

    Args:
        in_channels: channels ``C`` of the feature map that conditions the prompt.
        prompt_dim: prompt channels ``D``.
        prompt_len: number of learned prompts (PromptIR: 5).
        prompt_size: their spatial size ``S`` (PromptIR: the feature size at 128×128 patches).

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, D, H, W)`

    Example:
        >>> import torch
        >>> gen = PromptGen(16, prompt_dim=8, prompt_len=5, prompt_size=4)
        >>> gen(torch.randn(2, 16, 6, 7)).shape
        torch.Size([2, 8, 6, 7])
    """

    def __init__(self, in_channels: int, prompt_dim: int, prompt_len: int = 5, prompt_size: int = 16):
        super().__init__()
        for label, value in (("in_channels", in_channels), ("prompt_dim", prompt_dim),
                             ("prompt_len", prompt_len), ("prompt_size", prompt_size)):
            positive_int(label, value)
        # Uniform [0, 1) initialisation, as in PromptIR.
        self.prompts = nn.Parameter(torch.rand(prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear = nn.Linear(in_channels, prompt_len)
        self.conv = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def prompt_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(B, prompt_len)`` softmax weights of the prompts for feature map ``x``."""
        return F.softmax(self.linear(x.mean(dim=(-2, -1))), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.prompt_weights(x)
        prompt = torch.einsum("bl,ldhw->bdhw", weights, self.prompts)
        prompt = F.interpolate(prompt, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(prompt)

    def extra_repr(self) -> str:
        length, dim, size, _ = self.prompts.shape
        return f"prompt_len={length}, prompt_dim={dim}, prompt_size={size}"


class PromptBlock(nn.Module):
    """Prompt generation and fusion: ``reduce(fuse(cat(x, gen(x))))``.

    Args:
        in_channels: feature channels ``C``.
        prompt_dim: prompt channels ``D``; ``C + D`` must be divisible by ``num_heads``.
        prompt_len: number of learned prompts.
        prompt_size: spatial size of the learned prompts.
        out_channels: channels after the 1×1 ``reduce`` conv (default ``C``; PromptIR's latent
            block halves them).
        num_heads: heads of the fusing :class:`~hairlayers.models.restormer.TransformerBlock`.
        ffn_expansion_factor: its GDFN width factor.
        bias: bias of its convolutions and of ``reduce``.
        layer_norm: ``"withbias"`` or ``"biasfree"``.

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C_{out}, H, W)`

    Example:
        >>> import torch
        >>> block = PromptBlock(16, prompt_dim=8, prompt_size=4, num_heads=2)
        >>> block(torch.randn(2, 16, 6, 6)).shape
        torch.Size([2, 16, 6, 6])
    """

    def __init__(
        self,
        in_channels: int,
        prompt_dim: int,
        prompt_len: int = 5,
        prompt_size: int = 16,
        out_channels: int | None = None,
        num_heads: int = 1,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layer_norm: str = "withbias",
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        fused = in_channels + prompt_dim
        if fused % num_heads:
            raise HairError(
                f"in_channels + prompt_dim = {in_channels} + {prompt_dim} = {fused} must be "
                f"divisible by num_heads={num_heads}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.gen = PromptGen(in_channels, prompt_dim, prompt_len, prompt_size)
        self.fuse = TransformerBlock(fused, num_heads, ffn_expansion_factor, bias, layer_norm)
        self.reduce = nn.Conv2d(fused, out_channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise HairError(
                f"PromptBlock expects (B, {self.in_channels}, H, W) features, got {tuple(x.shape)}"
            )
        return self.reduce(self.fuse(torch.cat([x, self.gen(x)], dim=1)))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"


class PromptedModule(nn.Module):
    """Run ``base`` then ``prompt`` on its output; what :func:`promptify` puts in place.

    The original module stays reachable as ``.base`` (its parameters are renamed
    ``<name>.base.*``), the inserted block is ``.prompt``.

    Example:
        >>> import torch
        >>> wrapped = PromptedModule(torch.nn.Conv2d(3, 16, 3, padding=1),
        ...                          PromptBlock(16, prompt_dim=8, prompt_size=4))
        >>> wrapped(torch.randn(2, 3, 8, 8)).shape
        torch.Size([2, 16, 8, 8])
    """

    def __init__(self, base: nn.Module, prompt: PromptBlock) -> None:
        super().__init__()
        self.base = base
        self.prompt = prompt

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.prompt(self.base(*args, **kwargs))


def _get_submodule(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if not name or name not in modules:
        close = difflib.get_close_matches(name, [n for n in modules if n], n=5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise HairError(f"promptify: {name!r} is not a submodule name of the model{hint}")
    return modules[name]


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


_POINT_OPTIONS = {"prompt_dim", "prompt_len", "prompt_size", "num_heads", "ffn_expansion_factor",
                  "bias", "layer_norm"}


def promptify(
    model: nn.Module,
    points: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    example_input: Any = None,
    *,
    split: str | int = "mid",
    prompt_dim: int | None = None,
    prompt_len: int = 5,
    prompt_size: int | None = None,
    num_heads: int = 1,
    ffn_expansion_factor: float = 2.66,
    bias: bool = False,
    layer_norm: str = "withbias",
) -> nn.Module:
    """Insert a :class:`PromptBlock` after each named module of ``model``, in place.

    One forward pass on ``example_input`` (in eval mode, without gradients; the training flag is
    restored afterwards) records every point's output shape. Each point module is then replaced
    by a :class:`PromptedModule` whose prompt block keeps the channel count, so the rest of the
    network is unchanged. The new blocks are created on the device and dtype of the recorded
    features, and the model's output is unchanged in shape.

    Args:
        model: any network whose point modules return one ``(B, C, H, W)`` tensor.
        points: module names (as in ``model.named_modules()``), or a mapping from module name to
            per-point overrides of the keyword arguments below (e.g.
            ``{"latent": {"prompt_dim": 320}}``). ``None``: found automatically, like hairify's
            split — the end of every decoder stage but the last after ``split`` (on Restormer:
            ``latent``, ``decoder_level3``, ``decoder_level2``, PromptIR's places).
        example_input: what ``model(example_input)`` accepts (a tensor, or a tuple of
            positional arguments). Use the training patch size: it sets the default
            ``prompt_size``. ``None``: a random ``(2, C, 64, 64)`` batch.
        split: with ``points=None``: ``"mid"`` (the lowest resolution, as for
            :func:`hairlayers.hairify`) or an int stage.
        prompt_dim: prompt channels; default: the point's channel count.
        prompt_len: learned prompts per block.
        prompt_size: prompt spatial size; default: ``max(H, W)`` of the point's feature on the
            example input (PromptIR's choice: 16/32/64 at 128×128 patches).
        num_heads: heads of the fusing transformer block; must divide ``C + prompt_dim``.
        ffn_expansion_factor: its GDFN width factor.
        bias: convolution bias in the block.
        layer_norm: ``"withbias"`` or ``"biasfree"``.

    Returns:
        ``model`` itself, modified.

    Raises:
        HairError: unknown point name (with close matches), a point that does not run during the
            forward pass or does not return a 4-D tensor, an unknown per-point option.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(),
        ...                           torch.nn.Conv2d(8, 3, 3, padding=1))
        >>> _ = promptify(net, ["0"], torch.rand(1, 3, 16, 16), prompt_dim=4, num_heads=2)
        >>> type(net[0]).__name__, net[0].prompt.gen.prompts.shape
        ('PromptedModule', torch.Size([5, 4, 16, 16]))
        >>> net(torch.rand(2, 3, 20, 20)).shape
        torch.Size([2, 3, 20, 20])
    """
    from ..transform.split import upsampling_feeds
    from ..transform.trace import as_args, default_example_input, record

    if example_input is None:
        example_input = default_example_input(model)
    if points is None:
        was_training = model.training
        try:
            with torch.no_grad():
                points = upsampling_feeds(record(model.eval(), as_args(example_input)), split)
        finally:
            model.train(was_training)
    if isinstance(points, str):
        raise TypeError(f"points must be a list of module names or a mapping, got the str {points!r}")
    overrides: dict[str, dict[str, Any]] = (
        {str(k): dict(v) for k, v in points.items()} if isinstance(points, Mapping)
        else {str(p): {} for p in points}
    )
    if not overrides:
        raise HairError("promptify needs at least one point")
    for name, opts in overrides.items():
        unknown = set(opts) - _POINT_OPTIONS
        if unknown:
            raise HairError(
                f"unknown option(s) {sorted(unknown)} for point {name!r}; "
                f"allowed: {sorted(_POINT_OPTIONS)}"
            )
    targets = {name: _get_submodule(model, name) for name in overrides}

    shapes: dict[str, tuple[torch.Size, torch.device, torch.dtype]] = {}

    def recorder(name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                raise HairError(f"promptify: {name!r} must return a (B, C, H, W) tensor, got {describe(output)}")
            shapes.setdefault(name, (output.shape, output.device, output.dtype))
        return hook

    handles = [m.register_forward_hook(recorder(n)) for n, m in targets.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            args = example_input if isinstance(example_input, tuple) else (example_input,)
            model(*args)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    never_ran = [n for n in targets if n not in shapes]
    if never_ran:
        raise HairError(f"promptify: these points did not run in the forward pass: {never_ran}")

    defaults = dict(prompt_dim=prompt_dim, prompt_len=prompt_len, prompt_size=prompt_size,
                    num_heads=num_heads, ffn_expansion_factor=ffn_expansion_factor, bias=bias,
                    layer_norm=layer_norm)
    # Deepest names first, so wrapping a parent never changes a child's path still to be wrapped.
    for name in sorted(targets, key=lambda n: n.count("."), reverse=True):
        shape, device, dtype = shapes[name]
        opts = {**defaults, **overrides[name]}
        channels = int(shape[1])
        if opts["prompt_dim"] is None:
            opts["prompt_dim"] = channels
        if opts["prompt_size"] is None:
            opts["prompt_size"] = int(max(shape[-2:]))
        block = PromptBlock(channels, **opts).to(device=device, dtype=dtype)
        block.train(was_training)
        _set_submodule(model, name, PromptedModule(_get_submodule(model, name), block))
    return model
