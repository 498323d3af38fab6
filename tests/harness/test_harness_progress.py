"""Live progress while a step waits (fixtures/progress.py): on a terminal one line updated in
place and left with the outcome; elsewhere a line every --progress-every seconds. Driven through
wait_until with a fake clock; pytest's real terminal reporter writes into a buffer."""

from __future__ import annotations

import contextlib
import io

import pytest

from fixtures import waiting
from fixtures.progress import TerminalProgress
from fixtures.waiting import WaitTimeout, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


def _run(pytestconfig: pytest.Config, *, tty: bool, every: float, ready_at: float) -> str:
    out = io.StringIO()
    reporter = pytest.TerminalReporter(pytestconfig, out)
    reporter._tw.fullwidth = 120
    clock = Clock()
    sink = TerminalProgress(lambda: reporter, contextlib.nullcontext, tty=tty, every=every,
                            clock=clock)
    waiting.show_progress(sink)
    try:
        wait_until(lambda: clock.now, lambda t: [] if t >= ready_at else ["w2: boot ID unchanged"],
                   timeout=600, what="w2 rebooted (new boot ID)", interval=1.0, clock=clock,
                   pause=clock.pause)
    except WaitTimeout:
        pass
    finally:
        waiting.show_progress(None)
    return out.getvalue()


def test_elsewhere_a_line_every_few_seconds_then_the_outcome(pytestconfig: pytest.Config) -> None:
    text = _run(pytestconfig, tty=False, every=10, ready_at=25)
    assert text.splitlines() == [
        "waiting for w2 rebooted (new boot ID): 10 s/600 s, still: w2: boot ID unchanged",
        "waiting for w2 rebooted (new boot ID): 20 s/600 s, still: w2: boot ID unchanged",
        "waited 25 s for w2 rebooted (new boot ID): OK"]


def test_on_a_terminal_one_line_updated_in_place(pytestconfig: pytest.Config) -> None:
    text = _run(pytestconfig, tty=True, every=10, ready_at=5)
    lines = text.split("\n")
    assert len([ln for ln in lines if ln.strip()]) == 1, text  # one line, rewritten with \r
    updates = [u.rstrip() for u in lines[0].split("\r") if u.strip()]
    assert updates[0] == "waiting for w2 rebooted (new boot ID): 2 s/600 s, still: w2: boot ID " \
                         "unchanged"
    assert updates[-1] == "waited 5 s for w2 rebooted (new boot ID): OK"


def test_a_short_wait_shows_nothing_and_a_timeout_says_so(pytestconfig: pytest.Config) -> None:
    assert _run(pytestconfig, tty=True, every=10, ready_at=1) == ""
    text = _run(pytestconfig, tty=False, every=300, ready_at=10_000)
    assert text.splitlines()[-1] == "waited 600 s for w2 rebooted (new boot ID): timed out"
