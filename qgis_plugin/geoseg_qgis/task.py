"""A background QGIS task that runs the geoseg command line, with progress and cancel in
QGIS's task manager."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsTask

from . import runner


class GeosegTask(QgsTask):
    """Runs ``args`` (a geoseg command) in a worker thread; ``on_done(ok, error, canceled)``
    runs in the main thread when it ends."""

    def __init__(self, description: str, args: list[str], on_done: Callable[[bool, str | None, bool], None]) -> None:
        super().__init__(description, QgsTask.CanCancel)
        self.args = args
        self.on_done = on_done
        self.error: str | None = None

    def run(self) -> bool:
        try:
            code, self.error = runner.run(self.args, self.setProgress, self.isCanceled)
        except runner.RunnerError as exc:
            self.error = str(exc)
            return False
        return code == 0

    def finished(self, ok: bool) -> None:
        self.on_done(ok, self.error, self.isCanceled())
