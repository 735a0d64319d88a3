"""The byte progress bar of `data submit|get`: shown only for transfers large enough to wait for."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from databright.cli.progress import SHOW_FROM, ByteProgress, columns

MB = 10**6


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def test_a_large_transfer_shows_its_bytes() -> None:
    console, out = terminal()
    with ByteProgress(console, "downloading") as bar:
        for done in range(0, 20 * MB + 1, 4 * MB):
            bar(done, 20 * MB)
        assert bar.shown
    text = out.getvalue()
    assert "downloading" in text and "20.0/20.0 MB" in text


def test_a_small_transfer_shows_nothing() -> None:
    console, out = terminal()
    with ByteProgress(console, "downloading") as bar:
        bar(SHOW_FROM - 1, SHOW_FROM - 1)
        assert not bar.shown
    assert out.getvalue() == ""


def test_inside_another_display_the_bar_is_a_task_removed_at_the_end() -> None:
    console, _ = terminal()
    with Progress(*columns(), console=console) as steps:
        steps.add_task("validating", total=None)
        with ByteProgress(console, "uploading", into=steps) as sent:
            sent(SHOW_FROM, 2 * SHOW_FROM)
            assert [t.description for t in steps.tasks] == ["validating", "uploading"]
            assert steps.tasks[1].completed == SHOW_FROM
        assert [t.description for t in steps.tasks] == ["validating"]
