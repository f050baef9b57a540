"""Pair degraded images with their ground truth by globbing folders, and say what did not pair.

Text file lists silently drop images whose names changed; here every file on disk is accounted
for: paired, unpaired (named), or unreadable (named, with the reason).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import HairError
from .io import IMAGE_EXTENSIONS, check_image, list_images

__all__ = ["PairingReport", "PairingError", "pair_folders", "list_clean", "RULES"]

_SHOW = 50  # names listed in an error message before "... and N more"


class PairingError(HairError):
    """A task's folders are empty, half-paired or hold unreadable files; ``.report`` has the details."""

    def __init__(self, message: str, report: "PairingReport") -> None:
        super().__init__(message)
        self.report = report


def _same(stem: str) -> list[str]:
    return [stem]


def _derain(stem: str) -> list[str]:
    # Rain100L / Rain13K style: rain-12 -> norain-12; some copies keep identical names
    return ["no" + stem, stem] if stem.startswith("rain") else [stem]


def _dehaze(stem: str) -> list[str]:
    # RESIDE / SOTS: 0001_0.8_0.2 -> 0001 (ground-truth id = name up to the first "_")
    return [stem.split("_", 1)[0]]


RULES: dict[str, Callable[[str], list[str]]] = {"same": _same, "derain": _derain, "dehaze": _dehaze}
"""Naming rules: input file stem → candidate ground-truth stems, tried in order."""


@dataclasses.dataclass
class PairingReport:
    """What globbing a task's folders found.

    Attributes:
        task: label of the task the folders belong to.
        pairs: ``(input, target)`` paths that paired and are readable; ``input`` is ``None`` for
            clean-only tasks (denoising).
        unpaired_inputs: degraded images with no ground truth.
        unpaired_targets: ground-truth images no input refers to.
        unreadable: ``(path, reason)`` for files Pillow cannot open.
        missing_folders: expected folders that do not exist.
        ambiguous: ground-truth stems present with several extensions (``x.png`` and ``x.jpg``).
        strict_targets: whether unpaired targets count as a problem (one-to-one tasks).
        ignored: files in the folders whose suffix is not an image suffix (listed, not a problem).
    """

    task: str
    pairs: list[tuple[Path | None, Path]] = dataclasses.field(default_factory=list)
    unpaired_inputs: list[Path] = dataclasses.field(default_factory=list)
    unpaired_targets: list[Path] = dataclasses.field(default_factory=list)
    unreadable: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    missing_folders: list[Path] = dataclasses.field(default_factory=list)
    ambiguous: list[Path] = dataclasses.field(default_factory=list)
    strict_targets: bool = True
    ignored: list[Path] = dataclasses.field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """One line per problem file or folder (empty when everything paired)."""
        out = [f"missing folder: {p}" for p in self.missing_folders]
        out += [f"no ground truth for: {p}" for p in self.unpaired_inputs]
        if self.strict_targets:
            out += [f"no degraded input for: {p}" for p in self.unpaired_targets]
        out += [f"unreadable: {p} ({why})" for p, why in self.unreadable]
        out += [f"ambiguous ground truth (several extensions): {p}" for p in self.ambiguous]
        return out

    def summary(self) -> str:
        """Human-readable account: counts, then every problem (first 50, then a count)."""
        head = (
            f"{self.task}: {len(self.pairs)} pairs, {len(self.unpaired_inputs)} inputs without ground truth,"
            f" {len(self.unpaired_targets)} unused ground-truth files, {len(self.unreadable)} unreadable"
        )
        probs = self.problems
        if not self.strict_targets and self.unpaired_targets:
            head += " (unused ground truth is normal for this many-to-one task)"
        lines = [head] + ["  " + p for p in probs[:_SHOW]]
        if len(probs) > _SHOW:
            lines.append(f"  ... and {len(probs) - _SHOW} more (see .report.problems)")
        if self.ignored:
            names = ", ".join(p.name for p in self.ignored[:10])
            more = f" and {len(self.ignored) - 10} more" if len(self.ignored) > 10 else ""
            lines.append(f"  ignored {len(self.ignored)} non-image files: {names}{more}")
        return "\n".join(lines)

    def enforce(self, allow_unpaired: bool) -> None:
        """Raise :class:`PairingError` if there are no pairs, or problems and not ``allow_unpaired``.

        With ``allow_unpaired=True`` problems only produce a ``UserWarning`` with the summary.
        """
        import warnings

        if not self.pairs:
            raise PairingError(f"no usable images for task {self.summary()}", self)
        if self.problems:
            if not allow_unpaired:
                raise PairingError(
                    "refusing a half-paired dataset (pass allow_unpaired=True to use the pairs found):\n"
                    + self.summary(),
                    self,
                )
            warnings.warn(f"using only the pairs found:\n{self.summary()}", UserWarning, stacklevel=3)


def _non_images(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.is_file() and p.suffix.lower() not in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def _readable(paths: Sequence[Path], report: PairingReport, check_files: bool) -> set[Path]:
    if not check_files:
        return set(paths)
    ok = set()
    for p in paths:
        why = check_image(p)
        if why is None:
            ok.add(p)
        else:
            report.unreadable.append((p, why))
    return ok


def list_clean(folder: Path, task: str, *, check_files: bool = True) -> PairingReport:
    """Report for a clean-only task (denoising): every image under ``folder``, recursively.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> list_clean(Path(tempfile.mkdtemp()) / "nothing", "denoise").missing_folders[0].name
        'nothing'
    """
    report = PairingReport(task)
    if not folder.is_dir():
        report.missing_folders.append(folder)
        return report
    files = list_images(folder, recursive=True)
    report.ignored = _non_images(folder, recursive=True)
    ok = _readable(files, report, check_files)
    report.pairs = [(None, p) for p in files if p in ok]
    return report


def pair_folders(
    input_dir: Path,
    target_dir: Path,
    task: str,
    *,
    rule: str = "same",
    recursive_inputs: bool = False,
    check_files: bool = True,
) -> PairingReport:
    """Pair every image in ``input_dir`` with a ground truth in ``target_dir`` by file name.

    Stems are compared without extension (``x.jpg`` may pair with ``x.png``), using ``rule``:
    ``"same"`` (identical stems), ``"derain"`` (``rain-N`` → ``norain-N``, else identical) or
    ``"dehaze"`` (stem up to the first ``_``; many inputs share one ground truth).

    Args:
        input_dir: degraded images.
        target_dir: ground-truth images.
        task: label used in messages.
        rule: naming rule, a key of :data:`RULES`.
        recursive_inputs: glob ``input_dir`` recursively (``Train/Dehaze/synthetic/part1..4``).
        check_files: open every file's header with Pillow and report unreadable ones.

    Returns:
        A :class:`PairingReport`; call ``.enforce(allow_unpaired)`` to act on it.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for sub, name in [("in", "rain-1.png"), ("in", "rain-2.png"), ("gt", "norain-1.png")]:
        ...     (root / sub).mkdir(exist_ok=True); Image.new("RGB", (4, 4)).save(root / sub / name)
        >>> r = pair_folders(root / "in", root / "gt", "derain", rule="derain")
        >>> len(r.pairs), [p.name for p in r.unpaired_inputs]
        (1, ['rain-2.png'])
    """
    if rule not in RULES:
        raise HairError(f"unknown pairing rule {rule!r}; expected one of {sorted(RULES)}")
    report = PairingReport(task, strict_targets=rule != "dehaze")
    for d in (input_dir, target_dir):
        if not d.is_dir():
            report.missing_folders.append(d)
    if report.missing_folders:
        return report
    inputs = list_images(input_dir, recursive=recursive_inputs)
    targets = list_images(target_dir)
    report.ignored = _non_images(input_dir, recursive_inputs) + _non_images(target_dir, False)
    by_stem: dict[str, Path] = {}
    for t in targets:
        if t.stem in by_stem:
            report.ambiguous.append(t)
        else:
            by_stem[t.stem] = t
    used: set[Path] = set()
    matched: list[tuple[Path, Path]] = []
    for inp in inputs:
        target = next((by_stem[s] for s in RULES[rule](inp.stem) if s in by_stem), None)
        if target is None:
            report.unpaired_inputs.append(inp)
        else:
            matched.append((inp, target))
            used.add(target)
    report.unpaired_targets = [t for t in targets if t not in used and t not in report.ambiguous]
    ok = _readable(sorted({p for pair in matched for p in pair}), report, check_files)
    report.pairs = [(i, t) for i, t in matched if i in ok and t in ok]
    return report
