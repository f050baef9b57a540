"""Split discovery: where the encoder ends and the hyper half begins.

The rules (also in ``docs/hairify.md``):

1. **Resolution path.** Spatial sizes are read from the 4-D inputs and outputs of image ops
   (convolutions, pooling, pixel (un)shuffle, upsampling, 2-D norms) in execution order, starting
   from the model input. Side branches are ignored: everything inside a module that turns a map
   into one vector per image (a GIV classifier, a prompt generator, squeeze-excitation), an
   output size that the next image op does not read (a spatial-reduction conv feeding attention
   keys), a jump by more than ×4 per side, and a collapse to 1×1 from a larger map.
2. **Stages.** Going down, every new lowest size starts a stage; after the lowest size is first
   reached, every new highest size starts one. A U-Net at 32×32 with two poolings has stages
   32 → 16 → 8 → 16 → 32. Stage boundaries are the candidate split points.
3. ``split="mid"`` is the boundary where the lowest size is first reached (Restormer: the output
   of ``down3_4`` = the input of ``latent``; a U-Net: the pooled map entering the bottleneck).
   ``split=k`` (int) is "after stage k" (Table 5's ``k + (S-k)`` configurations).
   ``split=0.4`` (float) is the output of the leaf module at 40 % of the execution order.
   ``split="name"`` is that module's output; ``"name:input"`` its (first) input.
4. The split point is hooked on the *outermost* module whose output (or first input) is that very
   tensor, and it must run exactly once per forward pass; when the producer runs several times
   (one pooling layer shared by every stage), the hook moves to the input of the module that
   reads the tensor next.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from ..errors import HairError
from .trace import Observation, Trace

MAX_STEP = 4.0  # largest per-side resolution change counted as a stage change


@dataclass(frozen=True)
class SplitPoint:
    """Where the classifier reads the features."""

    name: str  # module the hook sits on
    side: str  # "output" or "input"
    call: int  # index of that module's call in the trace
    shape: tuple[int, ...]  # shape of the split features in the recorded pass
    reason: str  # why this point was chosen, in words
    consumer: str | None = None  # for an output split: the module that reads the features next

    def describe(self) -> str:
        text = f"{self.side} of {self.name!r}"
        return text + (f" (= input of {self.consumer!r})" if self.consumer else "")


@dataclass(frozen=True)
class Stages:
    """The resolution path: sizes of the stages and the observations that start stages 2.."""

    sizes: list[tuple[int, int]]
    boundaries: list[Observation]
    accepted: list[Observation]  # every observation on the main path, in order
    lowest: int  # index in ``boundaries`` of the first arrival at the lowest size (-1: none)

    def text(self) -> str:
        return " → ".join(f"{h}×{w}" for h, w in self.sizes)

    def levels(self) -> list[tuple[int, int]]:
        """Distinct stage sizes, largest first: level 1 is full resolution (the paper's numbering)."""
        distinct = sorted(set(self.sizes), key=lambda s: -s[0] * s[1])
        return distinct

    def level_of(self, size: tuple[int, int]) -> int:
        """1-based level of a spatial size (the nearest level in log-area when not exact)."""
        levels = self.levels()
        area = math.log(max(size[0] * size[1], 1))
        return 1 + min(range(len(levels)), key=lambda i: abs(math.log(levels[i][0] * levels[i][1]) - area))

    def size_at(self, trace: Trace, call_index: int) -> tuple[int, int] | None:
        """The main-path size a call works at: its first image-op input inside it, else the last before."""
        call = trace.calls[call_index]
        inside = [o for o in self.accepted if o.side == "input" and call.order <= o.at <= call.end]
        if inside:
            return inside[0].size
        before = [o for o in self.accepted if o.at < call.order]
        return before[-1].size if before else trace.input_size


def _ratio(a: tuple[int, int], b: tuple[int, int]) -> float:
    return max(a[0] / b[0], b[0] / a[0], a[1] / b[1], b[1] / a[1])


def _global_spans(trace: Trace) -> list[tuple[int, int]]:
    """Calls that turn a map into one vector per image (a GIV classifier, a prompt generator):
    everything inside them is a side branch, not a stage of the network."""
    spans = []
    for call in trace.calls:
        if not call.name or call.inp is None or len(call.inp.shape) != 4 or call.out is None:
            continue
        out = call.out.shape
        if len(out) <= 2 or (len(out) == 4 and out[-2:] == (1, 1) and call.inp.shape[-2:] != (1, 1)):
            spans.append((call.order, call.end))
    return spans


def stages(trace: Trace) -> Stages:
    """Compute the resolution path of a recorded pass (rules 1 and 2 above)."""
    spans = _global_spans(trace)
    seen = [o for o in trace.observations if not any(a <= o.at <= b for a, b in spans)]
    # An output at a new size is a stage only if the next image op reads a map of that size
    # (a spatial-reduction conv feeding attention keys, as in SegFormer, is not).
    confirmed = []
    for i, obs in enumerate(seen):
        if obs.side == "output":
            following = next((o for o in seen[i + 1:] if o.side == "input"), None)
            if following is not None and following.size != obs.size:
                continue
        confirmed.append(obs)
    current = trace.input_size
    accepted: list[Observation] = []
    for obs in confirmed:
        if min(obs.size) < 1:
            continue
        if current is None:
            current = obs.size
        if obs.size == (1, 1) and current[0] * current[1] > 4:
            continue
        if _ratio(obs.size, current) > MAX_STEP:
            continue
        accepted.append(obs)
        current = obs.size
    start = trace.input_size or (accepted[0].size if accepted else None)
    if start is None:
        return Stages([], [], [], -1)

    def area(size: tuple[int, int]) -> int:
        return size[0] * size[1]

    lowest_area = min([area(start)] + [area(o.size) for o in accepted])
    boundaries: list[Observation] = []
    run_min, lowest, i_min = area(start), -1, len(accepted)
    for i, obs in enumerate(accepted):
        if area(obs.size) < run_min:
            boundaries.append(obs)
            run_min = area(obs.size)
            if run_min == lowest_area:
                lowest, i_min = len(boundaries) - 1, i
                break
    run_max = lowest_area
    for obs in accepted[i_min + 1:]:
        if area(obs.size) > run_max:
            boundaries.append(obs)
            run_max = area(obs.size)
    return Stages([start] + [o.size for o in boundaries], boundaries, accepted, lowest)


def _ancestors_or_self(name: str, of: str) -> bool:
    return name != "" and (of == name or of.startswith(name + "."))


def _point_at(trace: Trace, obs: Observation) -> tuple[str, str, int]:
    """The outermost module call carrying the tensor of an observation (rule 4)."""
    leaf = trace.calls[obs.call]
    if obs.side == "output":
        tensor = leaf.out
        found = [i for i, c in enumerate(trace.calls)
                 if c.out == tensor and _ancestors_or_self(c.name, leaf.name)]
    else:
        tensor = leaf.inp
        found = [i for i, c in enumerate(trace.calls)
                 if c.inp == tensor and c.arg0 and _ancestors_or_self(c.name, leaf.name)
                 and c.order <= leaf.order]
    if tensor is None or not found:
        return leaf.name, obs.side, obs.call
    best = min(found, key=lambda i: len(trace.calls[i].name))
    return trace.calls[best].name, obs.side, best


def _consumer_call(trace: Trace, call_index: int) -> int | None:
    """The call of the outermost module that takes the output of ``call_index`` as first input."""
    producer = trace.calls[call_index]
    if producer.out is None:
        return None
    users = [i for i, c in enumerate(trace.calls)
             if c.inp == producer.out and c.arg0 and c.order > producer.end and c.name]
    if not users:
        return None
    first = trace.calls[min(users, key=lambda i: trace.calls[i].order)]
    same = [i for i in users if _ancestors_or_self(trace.calls[i].name, first.name)
            and trace.calls[i].order <= first.order]
    return min(same, key=lambda i: len(trace.calls[i].name))


def _consumer(trace: Trace, call_index: int) -> str | None:
    index = _consumer_call(trace, call_index)
    return None if index is None else trace.calls[index].name


def _hookable(trace: Trace, obs: Observation) -> tuple[str, str, int]:
    """:func:`_point_at`, moved to the consumer's input when the producer runs several times
    (a pooling layer shared by all encoder stages cannot carry the split hook)."""
    name, side, index = _point_at(trace, obs)
    if side == "output" and trace.counts.get(name, 0) > 1:
        user = _consumer_call(trace, index)
        if user is not None and trace.counts.get(trace.calls[user].name, 0) == 1:
            return trace.calls[user].name, "input", user
    return name, side, index


def _candidates(trace: Trace, path: Stages) -> list[str]:
    top = []
    for call in trace.calls:
        if call.name and "." not in call.name and call.name not in top:
            top.append(call.name)
    return top


def _make(trace: Trace, name: str, side: str, index: int, reason: str) -> SplitPoint:
    call = trace.calls[index]
    tensor = call.out if side == "output" else call.inp
    if tensor is None or (side == "input" and not call.arg0):
        raise HairError(
            f"the {side} of {name!r} is not a Tensor: choose a split point that carries one feature map"
        )
    if trace.counts.get(name, 0) != 1:
        raise HairError(
            f"module {name!r} runs {trace.counts.get(name, 0)} times per forward pass; the split point "
            "must run exactly once"
        )
    user = _consumer(trace, index) if side == "output" else None
    return SplitPoint(name, side, index, tuple(tensor.shape), reason, user)


def find_split(trace: Trace, split: object) -> tuple[SplitPoint, Stages]:
    """Resolve the ``split`` argument of :func:`hairify` on a recorded pass.

    Args:
        trace: the recorded forward pass.
        split: ``"mid"``, a module name (``"name"`` / ``"name:input"`` / ``"name:output"``), an
            int stage ``k`` or a float fraction of the execution order.

    Returns:
        The split point and the resolution stages.
    """
    path = stages(trace)
    if isinstance(split, bool) or not isinstance(split, (str, int, float)):
        raise TypeError(f"split must be 'mid', a module name, an int or a float, got {split!r}")
    if split == "mid" or isinstance(split, int):
        if path.lowest < 0:
            size = path.sizes[0] if path.sizes else "unknown"
            raise HairError(
                f"no spatial downsampling found: the feature map stays at {size} from input to "
                "output, so there is no junction of two halves; pass split='<module name>' to choose one"
            )
        if split == "mid":
            k = path.lowest
            why = (f"the feature map first reaches its lowest resolution "
                   f"{path.sizes[k + 1][0]}×{path.sizes[k + 1][1]} here (stages {path.text()})")
        else:
            k = split - 1
            if not 0 <= k < len(path.boundaries):
                raise HairError(
                    f"split={split} is not a stage boundary: the model has {len(path.sizes)} resolution "
                    f"stages ({path.text()}), so an int split must be in 1..{len(path.sizes) - 1}"
                )
            why = f"after resolution stage {split} of {len(path.sizes)} ({path.text()})"
        name, side, index = _hookable(trace, path.boundaries[k])
        return _make(trace, name, side, index, why), path
    if isinstance(split, float):
        leaves = [i for i, c in enumerate(trace.calls) if not any(True for _ in c.module.children())]
        if not 0.0 < split < 1.0 or not leaves:
            raise HairError(f"a float split is a fraction of the execution order in (0, 1), got {split}")
        index = leaves[min(len(leaves) - 1, int(split * len(leaves)))]
        leaf = trace.calls[index]
        obs = Observation(index, "output", leaf.end, (0, 0))
        name, side, index = _hookable(trace, obs)
        return _make(trace, name, side, index, f"{split:.0%} of the execution order ({len(leaves)} leaf calls)"), path
    name, _, side = split.partition(":")
    side = side or "output"
    if side not in ("input", "output"):
        raise HairError(f"split {split!r}: the part after ':' must be 'input' or 'output'")
    modules = {c.name for c in trace.calls if c.name}
    if name not in modules:
        close = difflib.get_close_matches(name, sorted(modules), n=5)
        raise HairError(
            f"unknown split {name!r}: no module of that name ran on the example input. "
            f"Top-level candidates: {_candidates(trace, path)}"
            + (f"; close matches: {close}" if close else "")
            + "; or use 'mid', an int stage or a float fraction"
        )
    index = next(i for i, c in enumerate(trace.calls) if c.name == name)
    return _make(trace, name, side, index, f"named by the caller ({side} of {name!r})"), path


def upsampling_feeds(trace: Trace, split: object = "mid") -> list[str]:
    """Modules whose outputs enter each resolution increase after the split, in order.

    These are where PromptIR puts its prompt blocks (after Restormer's ``latent``,
    ``decoder_level3`` and ``decoder_level2``): the end of every decoder stage but the last.
    ``split`` is ``"mid"`` or an int stage as for :func:`find_split`.
    """
    path = stages(trace)
    if path.lowest < 0:
        raise HairError("no spatial downsampling found: the model has no decoder half to prompt")
    if split == "mid":
        first = path.lowest + 1
    elif isinstance(split, int) and not isinstance(split, bool) and 1 <= split < len(path.sizes):
        first = max(split, path.lowest + 1)
    else:
        raise HairError(f"split must be 'mid' or an int stage in 1..{len(path.sizes) - 1}, got {split!r}")
    names: list[str] = []
    for k in range(first, len(path.boundaries)):
        before, leaf = path.sizes[k], trace.calls[path.boundaries[k].call]
        # The outermost module around the size change that reads the previous stage's map ...
        changers = [
            c for c in trace.calls
            if _ancestors_or_self(c.name, leaf.name) and c.order <= leaf.order and c.end >= leaf.end
            and c.arg0 and c.inp is not None and tuple(c.inp.shape[-2:]) == before
        ]
        if not changers:
            continue
        changer = min(changers, key=lambda c: len(c.name))
        # ... and the outermost module that produced that map, run once.
        producers = [c for c in trace.calls if c.name and c.out == changer.inp and trace.counts.get(c.name) == 1]
        if producers:
            names.append(min(producers, key=lambda c: len(c.name)).name)
    if not names:
        raise HairError(f"found no resolution increase after the split ({path.text()})")
    return names
