"""Does a HAIR network specialise? What its selecting nets, kernels and weights do per degradation.

A hyper layer only differs from a static one when the selecting vector it receives changes from
image to image *and* its experts differ. These functions measure both, on a trained or untrained
model and a labelled set of images:

* :func:`record_selections` runs the model and records, per image, the GIV, the logits and
  softmax output of every selecting net, and the selecting vector every hyper layer used;
* :func:`selection_summary`: per selecting net and label, the mean selecting vector and its
  entropy (``log N`` = uniform: the layer is then a static network with averaged experts), how far
  apart the labels' mean selections are, and the logits' scale;
* :func:`kernel_separation`: how far the mixed kernels of two labels are apart, in units of the
  experts' spread (0: every label gets the same kernel);
* :func:`weight_change`: how far weights moved from their init, and whether a box's experts moved
  *apart* or all together (identical updates keep them as different as they started);
* :func:`gradient_norms`: gradient norms of the selecting nets, the classifier, the weight boxes
  and the rest, after a backward pass.

Example:
    >>> import torch
    >>> from hairlayers.models import create_model
    >>> from hairlayers.diagnostics import record_selections, selection_summary
    >>> _ = torch.manual_seed(0)
    >>> net = create_model("res_hair", preset="tiny")
    >>> rec = record_selections(net, torch.rand(4, 3, 32, 32), ["rain", "rain", "haze", "haze"])
    >>> summary = selection_summary(rec)
    >>> 0.0 < summary["normalised_entropy"] <= 1.0
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from .._checks import describe, positive_int
from ..errors import HairError
from ..layers import GIVClassifier, HyperLayer, HyperSelectingNet

__all__ = [
    "Recording",
    "entropy",
    "gradient_norms",
    "hyper_layers",
    "kernel_separation",
    "record_selections",
    "selecting_nets",
    "selection_summary",
    "weight_change",
]


def hyper_layers(model: nn.Module) -> dict[str, HyperLayer]:
    """Every hyper layer of ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, HyperLayer)}


def selecting_nets(model: nn.Module) -> dict[str, HyperSelectingNet]:
    """Every selecting net of ``model`` by qualified name (a hyper layer's own included)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, HyperSelectingNet)}


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy (natural log) of every row of a probability matrix; ``0 · log 0 = 0``.

    Example:
        >>> entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
        tensor([0.6931, 0.0000], dtype=torch.float64)
    """
    p = p.double()
    return (-p * torch.where(p > 0, p.log(), torch.zeros_like(p))).sum(-1) + 0.0  # + 0.0: no "-0"


@dataclass
class Recording:
    """What :func:`record_selections` saw, one row per image, in the order of ``labels``.

    Attributes:
        labels: the label of every image.
        selects: selecting net name → ``(n, N)`` softmax outputs.
        logits: selecting net name → ``(n, N)`` inputs of the softmax.
        layer_selects: hyper layer name → ``(n, N)`` selecting vector the layer mixed with.
        givs: ``(n, giv_dim)`` GIVs, or ``None`` for a model without a ``giv`` method.
    """

    labels: list[str]
    selects: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: dict[str, torch.Tensor] = field(default_factory=dict)
    layer_selects: dict[str, torch.Tensor] = field(default_factory=dict)
    givs: torch.Tensor | None = None


def _first_per_call(store: dict[str, torch.Tensor], name: str, value: torch.Tensor, batch: int) -> None:
    # One row per image: a net called twice in one forward keeps its first call; a (1, N) vector
    # shared by the batch (mode="free") is repeated; anything else (a batch folded with windows)
    # is not an image-level selection and is left out.
    if name in store:
        return
    if value.dim() == 2 and value.shape[0] == 1 and batch > 1:
        value = value.expand(batch, -1)
    if value.dim() == 2 and value.shape[0] == batch:
        store[name] = value.detach().double().cpu()


def record_selections(
    model: nn.Module,
    images: torch.Tensor,
    labels: Sequence[str],
    *,
    batch_size: int = 8,
) -> Recording:
    """Run ``model`` (eval mode, no gradients) on ``images`` and record what drives its hyper layers.

    Args:
        model: any network with hyper layers (a zoo model, a :class:`~hairlayers.HairModel`, your
            own); its ``giv(images)`` method, when it has one, gives the GIVs.
        images: ``(n, C, H, W)`` model inputs.
        labels: one label per image (e.g. the degradation).
        batch_size: images per forward pass.

    Returns:
        A :class:`Recording`. The model's training flag is restored afterwards.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise HairError(f"record_selections: images must be a tensor (n, C, H, W), got {describe(images)}")
    if len(labels) != images.shape[0]:
        raise HairError(f"record_selections: {images.shape[0]} images but {len(labels)} labels")
    batch_size = positive_int("batch_size", batch_size)
    nets, layers = selecting_nets(model), hyper_layers(model)
    if not nets and not layers:
        raise HairError("record_selections: the model has no selecting nets and no hyper layers")
    rec = Recording(labels=list(labels))
    parts: dict[str, dict[str, list[torch.Tensor]]] = {"selects": {}, "logits": {}, "layer_selects": {}}
    current: dict[str, dict[str, torch.Tensor]] = {}
    batch = 0

    def net_hooks(name: str, net: HyperSelectingNet) -> list[Any]:
        def on_logits(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            _first_per_call(current["logits"], name, out, batch)

        def on_select(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            _first_per_call(current["selects"], name, out, batch)

        return [net.fcnn.register_forward_hook(on_logits), net.register_forward_hook(on_select)]

    def spy(name: str, layer: HyperLayer) -> None:
        resolve = type(layer)._resolve_select.__get__(layer)

        def recorded(*args: Any, **kwargs: Any) -> torch.Tensor:
            select = resolve(*args, **kwargs)
            _first_per_call(current["layer_selects"], name, select, batch)
            return select

        layer._resolve_select = recorded  # type: ignore[method-assign]  # instance attribute, removed below

    handles = [h for name, net in nets.items() for h in net_hooks(name, net)]
    for name, layer in layers.items():
        spy(name, layer)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device  # the images follow the model (e.g. to the GPU)
    givs: list[torch.Tensor] = []
    has_giv = callable(getattr(model, "giv", None)) and getattr(model, "computes_giv", True)
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                x = images[start : start + batch_size].to(device)
                batch = x.shape[0]
                current = {key: {} for key in parts}
                model(x)
                for key, store in current.items():
                    for name, value in store.items():
                        parts[key].setdefault(name, []).append(value)
                if has_giv:
                    givs.append(model.giv(x).detach().double().cpu())
    finally:
        for h in handles:
            h.remove()
        for layer in layers.values():
            layer.__dict__.pop("_resolve_select", None)
        model.train(was_training)
    n = images.shape[0]
    for key, named in parts.items():
        # keep only what was seen for every image (a layer that ran on some inputs only is left out)
        setattr(rec, key, {name: torch.cat(v) for name, v in named.items() if sum(t.shape[0] for t in v) == n})
    rec.givs = torch.cat(givs) if givs else None
    return rec


def _label_means(values: torch.Tensor, labels: Sequence[str]) -> dict[str, torch.Tensor]:
    return {
        label: values[[i for i, lab in enumerate(labels) if lab == label]].mean(0)
        for label in sorted(set(labels))
    }


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


def selection_summary(rec: Recording) -> dict[str, Any]:
    """Per selecting net and label: the mean selecting vector, its entropy, the labels' distance.

    Returns a JSON-friendly dict:

    * ``nets[name]``: ``num_kernels``; ``uniform_entropy`` (``log N``); per label ``mean_select``,
      ``entropy_of_mean`` and ``mean_entropy`` (of each image's vector, averaged);
      ``task_distance``: the total-variation distance ``½‖s̄_a − s̄_b‖₁`` between two labels' mean
      selections, averaged over label pairs (0: every label is mixed alike, 1: disjoint experts);
      ``logit_std``: spread of the logits over the N experts within an image (how far the softmax
      is from uniform); ``logit_image_std``: spread of each logit over images (how much the GIV moves
      the selection);
    * ``normalised_entropy``: ``mean_entropy / log N`` averaged over nets and labels (1 = uniform);
      ``task_entropy[label]``: the same for one label, averaged over nets;
    * ``task_distance``, ``logit_std``, ``logit_image_std``: averaged over nets.
    """
    if not rec.selects:
        raise HairError("selection_summary: the recording holds no selecting-net outputs")
    nets: dict[str, Any] = {}
    for name, select in rec.selects.items():
        n_kernels = select.shape[1]
        means = _label_means(select, rec.labels)
        mean_entropies = _label_means(entropy(select)[:, None], rec.labels)
        tasks = {
            label: {
                "mean_select": [round(float(v), 6) for v in mean],
                "entropy_of_mean": float(entropy(mean[None])[0]),
                "mean_entropy": float(mean_entropies[label][0]),
            }
            for label, mean in means.items()
        }
        pairs = [0.5 * float((means[a] - means[b]).abs().sum()) for a, b in itertools.combinations(means, 2)]
        logits = rec.logits.get(name)
        nets[name] = {
            "num_kernels": n_kernels,
            "uniform_entropy": math.log(n_kernels),
            "tasks": tasks,
            "task_distance": _mean(pairs),
            "logit_std": float(logits.std(1, unbiased=False).mean()) if logits is not None else math.nan,
            "logit_image_std": float(logits.std(0, unbiased=False).mean()) if logits is not None else math.nan,
        }
    normalised = {
        label: [
            net["tasks"][label]["mean_entropy"] / net["uniform_entropy"] if net["num_kernels"] > 1 else 1.0
            for net in nets.values()
        ]
        for label in dict.fromkeys(rec.labels)
    }
    return {
        "nets": nets,
        "normalised_entropy": _mean([v for values in normalised.values() for v in values]),
        "task_entropy": {label: _mean(values) for label, values in normalised.items()},
        "task_distance": _mean([net["task_distance"] for net in nets.values()]),
        "logit_std": _mean([net["logit_std"] for net in nets.values()]),
        "logit_image_std": _mean([net["logit_image_std"] for net in nets.values()]),
    }


def kernel_separation(model: nn.Module, rec: Recording) -> dict[str, Any]:
    """How far apart the mixed kernels of two labels are, relative to the spread of the experts.

    For a hyper layer with experts ``W_i`` (flattened) and label-mean selections ``s̄_a``, the mean
    mixed kernel of label ``a`` is ``Σ_i s̄_a,i W_i`` (the mix is linear), so two labels' kernels are
    ``‖Σ_i (s̄_a,i − s̄_b,i)(W_i − W̄)‖`` apart. Divided by the experts' spread
    ``sqrt(mean_i ‖W_i − W̄‖²)`` this is 0 when every label gets the same kernel and about 1 when
    the labels use different experts.

    Returns ``layers[name]`` with ``separation`` (averaged over label pairs) and
    ``relative_spread`` (``spread / ‖W̄‖``: how different the experts are at all), and both
    averaged over layers.
    """
    layers = hyper_layers(model)
    out: dict[str, Any] = {}
    for name, select in rec.layer_selects.items():
        layer = layers.get(name)
        if layer is None or layer.num_kernels < 2:
            continue
        experts = layer.weight_box.detach().double().cpu().flatten(1)
        centred = experts - experts.mean(0)
        spread = float(centred.pow(2).sum(1).mean().sqrt())
        means = _label_means(select, rec.labels)
        pairs = [
            float(((means[a] - means[b]) @ centred).norm()) / spread if spread > 0 else 0.0
            for a, b in itertools.combinations(means, 2)
        ]
        out[name] = {
            "separation": _mean(pairs),
            "relative_spread": spread / max(float(experts.mean(0).norm()), 1e-30),
        }
    return {
        "layers": out,
        "separation": _mean([v["separation"] for v in out.values()]),
        "relative_spread": _mean([v["relative_spread"] for v in out.values()]),
    }


def weight_change(
    initial: Mapping[str, torch.Tensor], model: nn.Module, within: Sequence[str] | None = None
) -> dict[str, Any]:
    """How far the kernels moved from ``initial`` (a ``state_dict`` copy taken before training).

    Hyper layers report, per weight box (shared boxes once): ``relative_change``, the mean over
    experts of ``‖ΔW_i‖ / ‖W_i(0)‖``, and ``differential``, ``sqrt(mean_i ‖ΔW_i − ΔW̄‖²) /
    sqrt(mean_i ‖ΔW_i‖²)``: 0 when every expert received the same update (so the experts stay
    exactly as different as they started), about 1 when they moved independently. Static
    ``nn.Conv2d`` / ``nn.Linear`` / ``nn.ConvTranspose2d`` layers report ``relative_change`` of
    their weight, so a static baseline can be compared with a hyper network.

    Args:
        initial: parameter name → tensor before training (``{k: v.clone() for k, v in
            model.state_dict().items()}``).
        model: the trained model.
        within: only layers whose qualified name starts with one of these prefixes (e.g. the
            decoder's); all layers when ``None``.
    """
    hyper: dict[str, Any] = {}
    static: dict[str, float] = {}
    seen: set[int] = set()
    for name, module in model.named_modules():
        if within is not None and not any(name.startswith(p) for p in within):
            continue
        if isinstance(module, HyperLayer):
            box = module.weight_box
            key = f"{name}.weight_box"
            if id(box) in seen or key not in initial:
                continue
            seen.add(id(box))
            before = initial[key].detach().double().cpu().flatten(1)
            delta = box.detach().double().cpu().flatten(1) - before
            moved = float(delta.pow(2).sum(1).mean().sqrt())
            apart = float((delta - delta.mean(0)).pow(2).sum(1).mean().sqrt())
            hyper[name] = {
                "relative_change": float((delta.norm(dim=1) / before.norm(dim=1).clamp_min(1e-30)).mean()),
                "differential": apart / moved if moved > 0 else 0.0,
            }
        elif isinstance(module, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)) and f"{name}.weight" in initial:
            before = initial[f"{name}.weight"].detach().double().cpu()
            delta = module.weight.detach().double().cpu() - before
            static[name] = float(delta.norm() / before.norm().clamp_min(1e-30))
    return {
        "hyper": hyper,
        "static": static,
        "hyper_relative_change": _mean([v["relative_change"] for v in hyper.values()]),
        "hyper_differential": _mean([v["differential"] for v in hyper.values()]),
        "static_relative_change": _mean(list(static.values())),
    }


def gradient_norms(model: nn.Module) -> dict[str, dict[str, float]]:
    """Gradient norms after ``loss.backward()``, by role: selecting nets, classifier, weight boxes, other.

    Each group reports ``norm`` (L2 over all its gradients), ``rms`` (``norm / sqrt(numel)``, the
    typical per-element gradient) and ``numel``. Parameters without a gradient count as zeros. The
    classifier is any :class:`~hairlayers.GIVClassifier` or any module named ``classifier``.

    Example:
        >>> import torch
        >>> from hairlayers import HyperConv2d
        >>> layer = HyperConv2d(2, 2, 3, num_kernels=3, giv_dim=4)
        >>> layer(torch.randn(2, 2, 5, 5), torch.randn(2, 4)).sum().backward()
        >>> sorted(gradient_norms(layer))
        ['classifier', 'other', 'selecting nets', 'weight boxes']
    """
    owners: dict[str, str] = {}
    for path, module in model.named_modules():
        if isinstance(module, HyperSelectingNet):
            owners[path] = "selecting nets"
        elif isinstance(module, GIVClassifier) or path.rsplit(".", 1)[-1] == "classifier":
            owners[path] = "classifier"
    boxes = {id(p) for layer in hyper_layers(model).values() for p in (layer.weight_box, layer.bias_box) if p is not None}
    sums = {g: [0.0, 0] for g in ("selecting nets", "classifier", "weight boxes", "other")}
    for name, param in model.named_parameters():  # a shared box is listed once
        path = name.rpartition(".")[0]
        owner = [g for prefix, g in owners.items() if path == prefix or path.startswith(prefix + ".")]
        group = owner[0] if owner else "weight boxes" if id(param) in boxes else "other"
        grad = param.grad
        sums[group][0] += float(grad.detach().double().pow(2).sum()) if grad is not None else 0.0
        sums[group][1] += param.numel()
    return {
        g: {"norm": math.sqrt(sq), "rms": math.sqrt(sq / n) if n else 0.0, "numel": n}
        for g, (sq, n) in sums.items()
    }
