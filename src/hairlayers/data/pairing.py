"""Pair degraded images with their ground truth by globbing folders, and say what did not pair.

Text file lists silently drop images whose names changed; here every file on disk is accounted
for: paired, unpaired (named), unusable (named, with the reason) or skipped (named, with the
reason). With ``check_files=True`` (the default) every image is decoded completely when the report
is built, in a thread pool, so that a truncated body, an image smaller than the training patch or
a pair whose two images differ in size is found before training starts, not in a data-loader
worker after step 1.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._checks import positive_int
from ..errors import HairError
from .io import ImageReadError, image_size, scan_folder

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
        unreadable: ``(path, reason)`` for files that cannot be decoded completely.
        missing_folders: expected folders that do not exist.
        ambiguous: ground-truth stems present with several extensions (``x.png`` and ``x.jpg``).
        strict_targets: whether unpaired targets count as a problem (one-to-one tasks).
        ignored: files in the folders whose suffix is not an image suffix (listed, not a problem).
        too_small: ``(path, (height, width))`` of images smaller than ``min_size`` on a side.
        size_mismatch: ``(input, target, input (h, w), target (h, w))`` of pairs whose images
            differ in size.
        skipped: ``(path, why)`` for entries not read: hidden files and folders, folders named
            like an image, sub-folders of a folder that is not searched recursively, broken links
            (listed, not a problem).
        min_size: the smallest height and width accepted (the training patch, or the test crop
            multiple).
        verified: whether every image was decoded (``check_files=True``).
        seconds: time spent scanning and verifying.
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
    too_small: list[tuple[Path, tuple[int, int]]] = dataclasses.field(default_factory=list)
    size_mismatch: list[tuple[Path, Path, tuple[int, int], tuple[int, int]]] = dataclasses.field(
        default_factory=list
    )
    skipped: list[tuple[Path, str]] = dataclasses.field(default_factory=list)
    min_size: int = 1
    verified: bool = False
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        """One line per problem file or folder (empty when everything paired)."""
        out = [f"missing folder: {p}" for p in self.missing_folders]
        out += [f"no ground truth for: {p}" for p in self.unpaired_inputs]
        if self.strict_targets:
            out += [f"no degraded input for: {p}" for p in self.unpaired_targets]
        out += [f"unreadable: {p} ({why})" for p, why in self.unreadable]
        out += [
            f"too small: {p} is {h}x{w}, smaller than {self.min_size}x{self.min_size}"
            for p, (h, w) in self.too_small
        ]
        out += [
            f"pair differs in size: {i} is {si[0]}x{si[1]}, {t} is {st[0]}x{st[1]}"
            for i, t, si, st in self.size_mismatch
        ]
        out += [f"ambiguous ground truth (several extensions): {p}" for p in self.ambiguous]
        return out

    def summary(self) -> str:
        """Human-readable account: counts, then every problem (first 50, then a count)."""
        head = (
            f"{self.task}: {len(self.pairs)} pairs, {len(self.unpaired_inputs)} inputs without ground truth,"
            f" {len(self.unpaired_targets)} unused ground-truth files, {len(self.unreadable)} unreadable,"
            f" {len(self.too_small)} too small, {len(self.size_mismatch)} pairs of different sizes"
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
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} entries:")
            lines += [f"    {p} ({why})" for p, why in self.skipped[:_SHOW]]
            if len(self.skipped) > _SHOW:
                lines.append(f"    ... and {len(self.skipped) - _SHOW} more (see .report.skipped)")
        if self.verified:
            lines.append(f"  decoded and size-checked every image in {self.seconds:.2f} s")
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


def _scan(folder: Path, recursive: bool, report: PairingReport) -> list[Path]:
    """The images of ``folder``; its other files and skipped entries go into ``report``."""
    images, others, skipped = scan_folder(folder, recursive)
    report.ignored += others
    report.skipped += skipped
    return images


def _size_or_reason(path: Path) -> tuple[int, int] | str:
    try:
        return image_size(path)
    except ImageReadError as err:
        return str(err)


def _verify(
    paths: Sequence[Path], report: PairingReport, check_files: bool, workers: int | None
) -> dict[Path, tuple[int, int] | None]:
    """Decode every file of ``paths`` (in a thread pool: Pillow decodes without the GIL) and record
    unreadable and too small ones in ``report``; returns the usable files and their sizes
    (``None`` when ``check_files`` is off)."""
    if not check_files:
        return dict.fromkeys(paths)
    report.verified = True
    workers = workers if workers is not None else min(16, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=positive_int("workers", workers)) as pool:
        results = list(pool.map(_size_or_reason, paths))
    ok: dict[Path, tuple[int, int] | None] = {}
    for path, result in zip(paths, results):
        if isinstance(result, str):
            report.unreadable.append((path, result))
        elif min(result) < report.min_size:
            report.too_small.append((path, result))
        else:
            ok[path] = result
    return ok


def list_clean(
    folder: Path, task: str, *, check_files: bool = True, min_size: int = 1, workers: int | None = None
) -> PairingReport:
    """Report for a clean-only task (denoising): every image under ``folder``, recursively.

    Args:
        folder: the clean images.
        task: label used in messages.
        check_files: decode every image and check its size (see :func:`pair_folders`).
        min_size: smallest height and width accepted.
        workers: threads decoding the images (default: twice the CPU count, at most 16).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> list_clean(Path(tempfile.mkdtemp()) / "nothing", "denoise").missing_folders[0].name
        'nothing'
    """
    start = time.perf_counter()
    report = PairingReport(task, min_size=positive_int("min_size", min_size))
    if not folder.is_dir():
        report.missing_folders.append(folder)
        return report
    files = _scan(folder, True, report)
    ok = _verify(files, report, check_files, workers)
    report.pairs = [(None, p) for p in files if p in ok]
    report.seconds = time.perf_counter() - start
    return report


def pair_folders(
    input_dir: Path,
    target_dir: Path,
    task: str,
    *,
    rule: str = "same",
    recursive_inputs: bool = False,
    check_files: bool = True,
    min_size: int = 1,
    workers: int | None = None,
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
        check_files: decode every paired file completely (in ``workers`` threads) and report
            unreadable ones, images smaller than ``min_size`` and pairs whose images differ in
            size; only pairs that pass are in ``pairs``. ``False`` checks nothing (a bad file
            then fails when it is loaded).
        min_size: smallest height and width accepted (the training patch size).
        workers: threads decoding the images (default: twice the CPU count, at most 16).

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
    start = time.perf_counter()
    report = PairingReport(task, strict_targets=rule != "dehaze", min_size=positive_int("min_size", min_size))
    for d in (input_dir, target_dir):
        if not d.is_dir():
            report.missing_folders.append(d)
    if report.missing_folders:
        return report
    inputs = _scan(input_dir, recursive_inputs, report)
    targets = _scan(target_dir, False, report)
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
    ok = _verify(sorted({p for pair in matched for p in pair}), report, check_files, workers)
    for i, t in matched:
        if i not in ok or t not in ok:
            continue
        if ok[i] != ok[t]:
            report.size_mismatch.append((i, t, ok[i], ok[t]))  # type: ignore[arg-type]
        else:
            report.pairs.append((i, t))
    report.seconds = time.perf_counter() - start
    return report
