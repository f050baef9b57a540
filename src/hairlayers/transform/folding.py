"""Folded batches: which input rows of a converted layer come from which image.

A hyper layer mixes one kernel per *row* of its input's leading dimension. Many networks fold
the image batch ``B`` into that dimension together with something else before a linear or a
convolution: window attention ``(B·nW, tokens, C)``, video frames ``(B·T, C, H, W)``, heads
``(B·heads, L, d)``, tiles of an image stacked into the batch. The selection of image ``b`` must
then drive exactly the rows that came from image ``b``. That order is *measured*, never assumed:

* **Row probe.** The model runs once as given and once per image ``b`` with only image ``b`` of
  the input changed (every floating-point argument whose leading dimension is the batch). A row
  of a layer's input *comes from* image ``b`` when it changes exactly when image ``b`` does; a
  per-row checksum (sum and absolute sum) tells. Each call of each converted layer gets, per row,
  the set of images it depends on.
* **Orders.** With ``R = k·B`` rows, two orders are recognised, for every call of the layer:

  - ``"major"``: row ``r`` comes from image ``r // k`` — a ``reshape`` of ``(B, k, ...)`` to
    ``(B·k, ...)`` (window partition, ``(B·T)`` frames, ``(B·heads)``: the usual case);
  - ``"minor"``: row ``r`` comes from image ``r % B`` — ``(k, B, ...)`` flattened, e.g. tiles
    concatenated with ``torch.cat(tiles, 0)``.

  ``"batch"`` is a layer that only ever saw one row per image (``R = B``, row ``r`` from image ``r``).
* **Second size.** Windows per image change with the input size: a window-attention layer that
  sees one window per image at the traced size (``R = B``) sees several at a larger one. The
  model is therefore also run on the example input made twice as wide (when it accepts that
  size); a layer whose row count changes there is probed at that size too.
* **Refusal.** A row depending on several images (a fold that interleaves the batch with
  features, a sequence-first ``(L, B, C)`` layout, a mean over the batch), a row count that is
  not a multiple of the batch, rows in neither order, calls that disagree, or an order that a
  batch of one image cannot reveal: :func:`probe_folds` raises a :class:`HairError` naming the
  layer, saying why and how to go on (``exclude=``, a larger or a batch-of-2 ``example_input``).

The probe runs under ``torch.no_grad()`` in eval mode with the random generators seeded the same
for every pass (a model that draws noise in eval mode still compares like with like).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

from ..errors import HairError
from .trace import run_model

FOLDS = ("batch", "major", "minor")


@dataclass(frozen=True)
class RowCall:
    """One call of one layer in the row probe: which images each input row depends on.

    ``depends[b, r]`` is true when row ``r`` changed when only image ``b`` changed.
    """

    name: str
    depends: torch.Tensor  # (B, R) bool

    @property
    def rows(self) -> int:
        return int(self.depends.shape[1])


SPLIT = "<split>"  # the name under which the split features' rows are probed


def _row_prints(names: set[str], model: nn.Module, args: tuple,
                split: tuple[str, str] | None = None, counts_only: bool = False) -> list[tuple[str, torch.Tensor]]:
    """Run the model once; per call of a named module, a ``(2, R)`` checksum of its input rows
    (and, with ``split = (module, side)``, of the split features, named :data:`SPLIT`); with
    ``counts_only``, an empty ``(0, R)`` tensor (the row count only, no arithmetic)."""
    prints: list[tuple[str, torch.Tensor]] = []
    handles = []

    def keep(name: str, x: object) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            return
        if counts_only:
            prints.append((name, torch.empty(0, x.shape[0])))
            return
        # Rows that do not depend on the changed image are bit-identical (same inputs, same
        # kernels), so their sums are too; rows that do change by as much as the features.
        rows = x.detach().reshape(x.shape[0], -1)
        rows = rows if rows.is_floating_point() else rows.double()
        sums = torch.stack([rows.sum(1), torch.linalg.vector_norm(rows, ord=1, dim=1)])
        prints.append((name, sums.cpu()))

    def hook(name: str):
        def record(module: nn.Module, hargs: tuple) -> None:
            keep(name, next((a for a in hargs if isinstance(a, torch.Tensor)), None))

        return record

    for name, module in model.named_modules():
        if name in names:
            handles.append(module.register_forward_pre_hook(hook(name)))
        if split is not None and name == split[0]:
            if split[1] == "output":
                handles.append(module.register_forward_hook(lambda m, a, out: keep(SPLIT, out)))
            else:
                handles.append(module.register_forward_pre_hook(lambda m, a: keep(SPLIT, a[0] if a else None)))
    try:
        run_model(model, args, seed=0)
    finally:
        for handle in handles:
            handle.remove()
    return prints


def _with_image_changed(args: tuple, image: int, batch: int) -> tuple:
    """``args`` with image ``image`` of every floating batch tensor replaced by a noisy version."""
    gen = torch.Generator().manual_seed(1000 + image)
    out = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point() and a.dim() >= 1 and a.shape[0] == batch:
            a = a.clone()
            scale = (float(a[image].double().std()) if a[image].numel() > 1 else 0.0) + 1.0
            a[image] += (torch.randn(a[image].shape, generator=gen, dtype=torch.float64) * scale).to(a)
        out.append(a)
    return tuple(out)


def _probe_size(model: nn.Module, args: tuple, names: set[str], batch: int,
                base: list[tuple[str, torch.Tensor]] | None = None,
                split: tuple[str, str] | None = None) -> list[RowCall]:
    """The row probe at one input size: ``B`` more passes, each with one image changed."""
    base = base if base is not None else _row_prints(names, model, args, split)
    changed: list[list[torch.Tensor]] = []
    for image in range(batch):
        other = _row_prints(names, model, _with_image_changed(args, image, batch), split)
        if [(n, p.shape) for n, p in other] != [(n, p.shape) for n, p in base]:
            raise HairError(
                "the model ran different layers (or the same layers on other shapes) when one image of "
                "the example batch changed (data-dependent control flow), so hairify cannot tell which "
                "rows of a layer's input come from which image: name the layers with include="
            )
        changed.append([(p != q).any(0) for (_, p), (_, q) in zip(base, other)])
    return [RowCall(name, torch.stack([c[i] for c in changed])) for i, (name, _) in enumerate(base)]


def _larger(args: tuple) -> tuple | None:
    """The example input twice as wide (a mirrored copy beside it; the width alone keeps the
    pass at twice the cost), or ``None`` when the first argument is not an image-like
    ``(B, ..., H, W)`` floating tensor."""
    first = args[0] if args else None
    if not isinstance(first, torch.Tensor) or not first.is_floating_point() or first.dim() < 4:
        return None
    return (torch.cat([first, first.flip(-1)], dim=-1), *args[1:])


def _orders(call: RowCall, batch: int) -> tuple[set[str], str | None]:
    """The orders (``"major"``, ``"minor"``) one call's rows follow, or why they follow none."""
    depends, rows = call.depends, call.rows
    if rows % batch:
        return set(), f"its input has {rows} rows for a batch of {batch} images, not a multiple of it"
    shared = (depends.sum(0) > 1).nonzero()
    if len(shared):
        r = int(shared[0])
        images = depends[:, r].nonzero().flatten().tolist()
        return set(), (
            f"row {r} of its {rows}-row input depends on images {images}: rows hold several images "
            "(the batch is interleaved with other axes, or sits on another axis, e.g. sequence-first "
            "(L, B, C) tokens), so no image's kernel is the right one for that row"
        )
    k = rows // batch
    index = torch.arange(rows)
    known = depends.any(0)
    owner = depends.float().argmax(0)
    fits = {order for order, expected in (("major", index // k), ("minor", index % batch))
            if bool((owner[known] == expected[known]).all())}
    if fits:
        return fits, None
    r = int(((owner != index // k) & known).nonzero()[0])
    return set(), (
        f"its {rows} rows = {k}·{batch} follow no fold of the batch: row {r} comes from image "
        f"{int(owner[r])}, where a (B, k, ...) reshape would put image {r // k} and a (k, B, ...) "
        f"one image {r % batch}"
    )


def fold_of(name: str, calls: Sequence[RowCall], batch: int) -> str:
    """The fold of one layer from all its probed calls: ``"batch"``, ``"major"`` or ``"minor"``.

    Raises:
        HairError: naming the layer, when its rows cannot be attributed to images.
    """
    refuse = f"cannot give the converted layer {name!r} per-image kernels: "
    fix = f"; keep it static with exclude={name!r}"
    folded: list[set[str]] = []
    for call in calls:
        fits, why = _orders(call, batch)
        if why is not None:
            raise HairError(refuse + why + fix)
        if call.rows != batch:
            folded.append(fits)
    if not folded:
        return "batch"
    common = set.intersection(*folded)
    rows = sorted({c.rows for c in calls if c.rows != batch})
    if len(common) == 1:
        return common.pop()
    if not common:
        raise HairError(
            refuse + f"its calls fold the batch in different orders (rows {rows} for a batch of {batch}: "
            "some (B, k, ...), some (k, B, ...))" + fix
        )
    why = ("the example batch has one image, which cannot show which rows belong to which image; "
           "pass an example_input with at least 2 different images" if batch == 1 else
           "no row of its input depends on the images, so their order cannot be established")
    raise HairError(refuse + f"its input has {rows} rows for a batch of {batch}, and " + why + fix)


def probe_folds(model: nn.Module, args: tuple, names: Sequence[str], batch: int | None,
                split: tuple[str, str] | None = None) -> dict[str, str]:
    """How each named layer's input rows fold the image batch (see the module docstring).

    Args:
        model: the network (run in eval mode under ``torch.no_grad()``; its flag is restored).
        args: the example input (positional arguments); ``args[0]`` carries the batch.
        names: the module names of the layers to convert.
        batch: the example batch size (``None``: no Tensor first argument, nothing is probed).
        split: ``(module name, "output" | "input")`` of the split point: its features must have
            one row per image (the classifier computes one GIV per row).

    Returns:
        ``{name: fold}`` with fold one of :data:`FOLDS`.

    Raises:
        HairError: a layer whose rows cannot be attributed to images (the message names it), or
            split features that fold the batch.

    Example:
        >>> import torch, torch.nn as nn
        >>> class Frames(nn.Module):          # a video net: (B, T, C) -> (B·T, C) before a Linear
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = nn.Linear(4, 4)
        ...     def forward(self, x):
        ...         return self.fc(x.reshape(-1, 4)).reshape(x.shape)
        >>> probe_folds(Frames(), (torch.randn(2, 3, 4),), ["fc"], batch=2)
        {'fc': 'major'}
    """
    if batch is None or not names:
        return {name: "batch" for name in names}
    wanted = set(names)
    calls = _probe_size(model, args, wanted, batch, split=split)
    _check_split(split, [c for c in calls if c.name == SPLIT], batch)
    calls = [c for c in calls if c.name != SPLIT]
    larger = _larger(args)
    if larger is not None:
        calls += _probe_larger(model, larger, wanted, batch, calls)
    by_name: dict[str, list[RowCall]] = {name: [] for name in names}
    for call in calls:
        by_name[call.name].append(call)
    return {name: fold_of(name, by_name[name], batch) for name in names}


def _check_split(split: tuple[str, str] | None, calls: list[RowCall], batch: int) -> None:
    """The split features must hold one row per image, in batch order: one GIV per image."""
    if split is None or not calls:
        return
    where = f"the {split[1]} of {split[0]!r}"
    for call in calls:
        fits, why = _orders(call, batch)
        if why is None and call.rows == batch:
            continue
        detail = why if why is not None else f"it has {call.rows} rows for a batch of {batch} images"
        raise HairError(
            f"the split features ({where}) do not hold one row per image: {detail}. The classifier "
            "computes one GIV per row, so it would give windows, frames or tiles GIVs of their own "
            "instead of one per image; choose a split where the batch is not folded (split=<module "
            "name> or split=<stage>)"
        )


def _probe_larger(model: nn.Module, args: tuple, names: set[str], batch: int,
                  seen: list[RowCall]) -> list[RowCall]:
    """Probe at the doubled size the layers whose row count changes there but which showed one row
    per image at the traced size (their fold was invisible); none when the model refuses the size."""
    try:
        counts = _row_prints(names, model, args, counts_only=True)
    except HairError:
        return []  # a model for one input size only: the traced size is all there is
    unseen = {c.name for c in seen} - {c.name for c in seen if c.rows != batch}
    changing = {n for n, p in counts if n in unseen and p.shape[1] != batch}
    if not changing:
        return []
    try:
        return _probe_size(model, args, changing, batch)
    except HairError:
        return []


def expand_select(select: torch.Tensor, rows: int, fold: str) -> torch.Tensor:
    """The ``(B, N)`` selection spread over ``rows = k·B`` folded rows (row ``r`` gets its image's).

    Example:
        >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])           # image 0, image 1
        >>> expand_select(s, 4, "major")[:, 0].tolist()            # rows (0, 0, 1, 1)
        [1.0, 1.0, 0.0, 0.0]
        >>> expand_select(s, 4, "minor")[:, 0].tolist()            # rows (0, 1, 0, 1)
        [1.0, 0.0, 1.0, 0.0]
    """
    k = rows // select.shape[0]
    return select.repeat_interleave(k, dim=0) if fold == "major" else select.repeat(k, 1)
