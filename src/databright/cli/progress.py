"""A byte progress bar for transfers large enough to wait for (`data submit`, `data get`).

Why lazily: the size of a transfer is known only once it starts (a download learns it from the
server, a submission from the canonical bytes it builds), and a bar that flashes for a few
milliseconds is noise. So the callback the store client calls after each chunk opens the bar on
its first call, and only if the transfer has at least `SHOW_FROM` bytes. Rich shows one live
display at a time: a command that already shows one (`data submit`'s steps) passes it as `into`,
and the bar is a task of it, removed when the transfer ends.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

SHOW_FROM = 8 << 20


class _Sized(ProgressColumn):
    """A column shown only for tasks with a total (a byte count), blank for plain step tasks."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> RenderableType:
        return self.inner.render(task) if task.total is not None else Text("")


def columns() -> tuple[ProgressColumn, ...]:
    """Description, then bar, bytes, speed and time left for byte tasks."""
    return (TextColumn("{task.description}"), _Sized(BarColumn()), _Sized(DownloadColumn()),
            _Sized(TransferSpeedColumn()), _Sized(TimeRemainingColumn()))


class ByteProgress:
    """`progress(done, total)` for `StoreClient` that shows a rich bar; use it as a context manager."""

    def __init__(self, console: Console, label: str, *, into: Progress | None = None,
                 show_from: int = SHOW_FROM) -> None:
        self.console, self.label, self.show_from = console, label, show_from
        self._into = into
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if total < self.show_from:
                return
            if self._into is None:
                self._bar = Progress(*columns(), console=self.console)
                self._bar.start()
            else:
                self._bar = self._into
            self._task = self._bar.add_task(self.label, total=total)
        if self._task is None:  # add_task above always sets it; keeps mypy's narrowing without an assert
            return
        self._bar.update(self._task, completed=done, total=total)

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is None:
            return
        if self._into is None:
            self._bar.stop()
        elif self._task is not None:
            self._bar.remove_task(self._task)
