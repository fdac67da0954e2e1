"""Progress reporting for the CLI: bars on a terminal, JSON lines for programs (the QGIS plugin)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator

Progress = Callable[[str, int, int], None]  # (stage, steps just done, total steps)

STAGES = {"infer": ("Extracting buildings", "tile"), "vectorize": ("Vectorising", "row")}  # name, unit


class Bars:
    """One tqdm bar per stage, on stderr."""

    def __init__(self) -> None:
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            name, unit = STAGES.get(stage, (stage, "step"))
            bar = self.bars[stage] = tqdm(total=total, desc=name, unit=unit, leave=False)
        bar.update(done)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class JsonLines:
    """``{"stage": ..., "done": ..., "total": ..., "percent": ...}`` on stderr, one per whole percent."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}
        self.last: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.done[stage] = self.done.get(stage, 0) + done
        percent = int(100 * self.done[stage] / max(total, 1))
        if percent != self.last.get(stage):
            self.last[stage] = percent
            line = {"stage": stage, "done": self.done[stage], "total": total, "percent": percent}
            print(json.dumps(line), file=sys.stderr, flush=True)

    def close(self) -> None:
        """Nothing to close: every line is flushed as it is printed."""


def no_progress(stage: str, done: int, total: int) -> None:
    """The :data:`Progress` of a caller that wants none."""


@contextlib.contextmanager
def reporting(mode: str, quiet: bool) -> Iterator[Progress]:
    """The reporter for ``--progress`` (auto: bars on a terminal, bar, json or none), closed on exit."""
    if mode == "json":
        report = JsonLines()
    elif quiet or mode == "none" or (mode == "auto" and not sys.stderr.isatty()):
        yield no_progress
        return
    else:
        report = Bars()
    try:
        yield report
    finally:
        report.close()
