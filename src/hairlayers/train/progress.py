"""Progress display for training: a tqdm bar when tqdm is installed, plain log lines otherwise."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any, TextIO

from ..errors import HairError

__all__ = ["Progress"]


class Progress:
    """Shows step, loss, learning rate and throughput while training.

    Args:
        total: the run's last step (the bar's length).
        initial: step the run starts from (non-zero when resuming).
        mode: ``"auto"`` (tqdm if installed, else lines), ``"tqdm"``, ``"lines"`` or ``"off"``.
        log_every: with plain lines, print one every this many steps (and at the last step).
        stream: where lines and the bar go (default ``sys.stderr``).
        desc: label in front of the bar / lines.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = Progress(total=2, mode="lines", log_every=1, stream=out, desc="demo")
        >>> bar.update(1, {"loss": 0.5, "lr": 2e-4, "img/s": 10.0}); bar.close()
        >>> out.getvalue().strip()
        'demo step 1/2 loss 0.5000 lr 2.00e-04 img/s 10.0'
    """

    MODES = ("auto", "tqdm", "lines", "off")

    def __init__(
        self,
        total: int,
        initial: int = 0,
        mode: str = "auto",
        log_every: int = 10,
        stream: TextIO | None = None,
        desc: str = "train",
    ) -> None:
        if mode not in self.MODES:
            raise HairError(f"progress mode must be one of {self.MODES}, got {mode!r}")
        if mode == "auto":
            mode = "tqdm" if importlib.util.find_spec("tqdm") is not None else "lines"
        self.mode = mode
        self.total = total
        self.log_every = max(1, log_every)
        self.stream = stream if stream is not None else sys.stderr
        self.desc = desc
        self._bar: Any = None
        if mode == "tqdm":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, file=self.stream, dynamic_ncols=True)

    @staticmethod
    def _fmt(stats: dict[str, float]) -> dict[str, str]:
        out = {}
        for key, value in stats.items():
            if key == "lr":
                out[key] = f"{value:.2e}"
            elif key == "img/s":
                out[key] = f"{value:.1f}"
            else:
                out[key] = f"{value:.4f}"
        return out

    def update(self, step: int, stats: dict[str, float]) -> None:
        """Report that ``step`` (1-based count of steps done) finished with ``stats``."""
        if self.mode == "tqdm":
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix(self._fmt(stats), refresh=False)
        elif self.mode == "lines" and (step % self.log_every == 0 or step == self.total):
            text = " ".join(f"{k} {v}" for k, v in self._fmt(stats).items())
            print(f"{self.desc} step {step}/{self.total} {text}", file=self.stream, flush=True)

    def write(self, message: str) -> None:
        """Print a message without breaking the bar."""
        if self.mode == "off":
            return
        if self.mode == "tqdm":
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

