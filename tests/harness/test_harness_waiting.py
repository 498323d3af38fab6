"""fixtures/waiting.wait_until with an injected clock and pause: no real sleeping."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from drivers.errors import CommandFailed, KubeError, ParseError, ToolNotFound, WaitAborted
from fixtures.waiting import WaitTimeout, wait_until


class Clock:
    """A fake monotonic clock; `pause` advances it and records each pause."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def script(*steps: object) -> Callable[[], object]:
    """A probe returning (or raising) each step in turn, then repeating the last one."""
    queue = list(steps)

    def probe() -> object:
        step = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(step, BaseException):
            raise step
        return step

    return probe


def not_ready(value: object) -> Sequence[str]:
    return [] if value == "Ready" else [f"w2 Ready={value}"]


def test_transient_errors_are_recorded_and_the_wait_goes_on() -> None:
    clock = Clock()
    refused = ConnectionRefusedError(111, "Connection refused")
    record = wait_until(script(refused, refused, TimeoutError("EOF"), "False", "Ready"), not_ready,
                        timeout=60, what="w2 Ready", interval=2, clock=clock, pause=clock.pause)
    assert record.value == "Ready"
    assert record.polls == 5
    assert record.transient == ["ConnectionRefusedError: [Errno 111] Connection refused",
                                "TimeoutError: EOF"]  # the same error twice is recorded once
    assert record.history == ["w2 Ready=False", "OK"]
    assert clock.pauses == [2, 2, 2, 2] and record.seconds == 8


def test_timeout_names_what_was_still_wrong() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeout) as e:
        wait_until(script("False"), not_ready, timeout=300, what="w2 Ready", interval=7,
                   clock=clock, pause=clock.pause)
    assert str(e.value) == "w2 Ready: after 300 s still: w2 Ready=False"
    assert e.value.last == ["w2 Ready=False"]
    assert sum(clock.pauses) == 300 and clock.pauses[-1] == 300 - 7 * 42  # never past deadline


def test_timeout_after_only_transient_errors_says_so() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeout) as e:
        wait_until(script(ConnectionRefusedError("connection refused")), not_ready, timeout=10,
                   what="apid on w2", clock=clock, pause=clock.pause)
    assert str(e.value) == ("apid on w2: after 10 s still: probe kept failing: "
                            "ConnectionRefusedError: connection refused")


def test_timeout_keeps_the_last_findings_not_the_first() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeout) as e:
        wait_until(script("Unknown", "False"), not_ready, timeout=5, what="w2 Ready",
                   interval=1, clock=clock, pause=clock.pause)
    assert str(e.value) == "w2 Ready: after 5 s still: w2 Ready=False"


def test_many_findings_are_summarised() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeout) as e:
        wait_until(script(7), lambda n: [f"w{i} NotReady" for i in range(int(str(n)))],
                   timeout=1, what="workers Ready", clock=clock, pause=clock.pause)
    assert str(e.value) == ("workers Ready: after 1 s still: w0 NotReady; w1 NotReady; "
                            "w2 NotReady; w3 NotReady; w4 NotReady (+2 more)")


def test_errors_not_declared_transient_are_raised() -> None:
    clock = Clock()
    with pytest.raises(WaitAborted) as e:
        wait_until(script(KeyError("bug")), not_ready, timeout=10, what="x",
                   transient=(OSError,), clock=clock, pause=clock.pause)
    assert clock.pauses == []
    assert isinstance(e.value.__cause__, KeyError)


def test_driver_errors_a_rebooting_node_causes_are_transient_by_default() -> None:
    clock = Clock()
    failed = CommandFailed("talosctl -n 10.5.0.3 get machinestatus", 1,
                           "rpc error: code = Unavailable desc = connection refused")
    record = wait_until(script(failed, KubeError("kubernetes list nodes: HTTP 503: "),
                               ConnectionRefusedError(111, "Connection refused"), "Ready"),
                        not_ready, timeout=60, what="w2 Ready", interval=1, clock=clock,
                        pause=clock.pause)
    assert record.value == "Ready" and len(record.transient) == 3


@pytest.mark.parametrize("error", [
    ParseError("talosctl etcd status", "missing column(s) LEADER in header ['NODE']", "NODE\n"),
    ToolNotFound("talosctl not found"),
    TypeError("'NoneType' object is not subscriptable"),
], ids=["parse-error", "no-talosctl", "bug"])
def test_a_harness_error_stops_the_wait_at_once_and_says_it_is_one(error: Exception) -> None:
    """Once, every exception was "transient": a parse error became a 30-minute timeout
    reported as a cluster failure."""
    clock = Clock()
    with pytest.raises(WaitAborted) as e:
        wait_until(script("False", error), not_ready, timeout=1800, what="w2 Ready",
                   interval=5, clock=clock, pause=clock.pause)
    assert clock.pauses == [5]  # one pause after the first poll, none after the error
    assert str(e.value) == (
        f"harness error while waiting until w2 Ready: {type(error).__name__}: {error} "
        "(not a cluster failure: the wait stopped at once instead of retrying until its "
        "timeout)")
    assert not isinstance(e.value, WaitTimeout)


@pytest.mark.parametrize("timeout", [0, -1])
def test_a_timeout_is_required(timeout: float) -> None:
    with pytest.raises(ValueError, match="wait_until needs a positive timeout"):
        wait_until(script("Ready"), not_ready, timeout=timeout, what="x")


@pytest.mark.parametrize(("timeout", "step"), [(60, 0.1), (600, 1.0), (3600, 2.0), (5, 0.1)])
def test_default_poll_interval_follows_the_patience_asked_for(timeout: float, step: float) -> None:
    clock = Clock()
    wait_until(script("NotReady", "NotReady", "Ready"), not_ready, timeout=timeout,
               what="w2 Ready", clock=clock, pause=clock.pause)
    assert clock.pauses == [step, step]


def test_a_wake_that_saw_the_change_replaces_the_first_pause_once() -> None:
    clock = Clock()
    asked: list[float] = []

    def wake(left: float) -> bool:  # a watch that saw the event 3 s later
        asked.append(left)
        clock.now += 3
        return True

    record = wait_until(script("False", "False", "Ready"), not_ready, timeout=60, what="w2 Ready",
                        interval=2, clock=clock, pause=clock.pause, wake=wake)
    assert record.polls == 3 and record.value == "Ready"
    assert asked == [60]  # once, with the time left
    assert clock.pauses == [2]  # after the wake, polling as usual
    assert record.seconds == 5


def test_a_wake_that_gave_up_falls_back_to_polling_within_the_deadline() -> None:
    clock = Clock()

    def wake(left: float) -> bool:  # the API was away: gave up after 1 s
        clock.now += 1
        return False

    with pytest.raises(WaitTimeout, match=r"^w2 Ready: after 10 s still: w2 Ready=False$"):
        wait_until(script("False"), not_ready, timeout=10, what="w2 Ready", interval=4,
                   clock=clock, pause=clock.pause, wake=wake)
    assert clock.pauses == [4, 4, 1]  # the deadline counts the time the wake took


def test_wake_first_waits_for_the_event_before_the_first_probe() -> None:
    """A probe that is dear (a whole observation) is not spent on a kubelet still starting:
    the wake comes first, then the probes; the wake's time counts against the deadline."""
    clock = Clock()
    probed_at: list[float] = []
    values = script("Ready")

    def probe() -> str:
        probed_at.append(clock.now)
        return values()

    def wake(left: float) -> bool:  # the Node turned Ready 3 s later
        clock.now += 3
        return True

    record = wait_until(probe, not_ready, timeout=60, what="w2 Ready", interval=2,
                        clock=clock, pause=clock.pause, wake=wake, wake_first=True)
    assert probed_at == [1003] and record.polls == 1 and clock.pauses == []


def test_wake_first_that_gave_up_still_probes_and_times_out_on_the_same_deadline() -> None:
    clock = Clock()

    def wake(left: float) -> bool:  # the API was away for the whole wait
        clock.now += left
        return False

    with pytest.raises(WaitTimeout, match=r"^w2 Ready: after 10 s still: w2 Ready=False$"):
        wait_until(script("False"), not_ready, timeout=10, what="w2 Ready", interval=4,
                   clock=clock, pause=clock.pause, wake=wake, wake_first=True)
    assert clock.pauses == []  # one probe at the deadline, judged, then the timeout
