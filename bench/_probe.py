"""A pytest plugin for the benchmarks (`-p bench._probe`): it observes a runbook run, it does
not change what the run does. Results go to the JSON file named by $BENCH_PROBE_OUT.

How it observes, without editing the harness: after collection it swaps the code object of a
few functions for a two-line trampoline that calls the original and records the call. Every
reference to those functions (CheckSpec.func in checks.ALL_CHECKS, `from x import f`
names) therefore goes through the probe. Instrumented:
- every `check_*` function of the `checks` package;
- `fixtures.waiting.wait_until` (its judge and pause are wrapped to see polls and sleeps;
  time blocked in a `wake`, the Node watch, is not counted as a pause);
- `drivers.observe.observe` (one full cluster observation), `drivers.observe.observe_node`
  (one node's Talos side), `drivers.process.Runner.run`
  (one process), `drivers.kube.Kube._do` (one Kubernetes API request).

Postconditions asserted (the count the upgrade benchmark compares with the guide's):
a *leaf* check evaluation = a `check_*` call that called no other `check_*` (aggregators such
as check_gate are not counted, their parts are). Outside a wait each leaf evaluation counts
once. Inside a wait only the leaf evaluations of the final judgement count (the one that
passed or, on timeout, failed): polling the same condition 12 times asserts it once, the way
`talosctl health` waits on each of its checks and prints it once. A wait whose judge calls no
check function (e.g. "Talos API answering") counts as one postcondition. Plain `assert`
statements in the runbook's tests are not counted: the number is a lower bound.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import time
import types
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

_NAME = "__bench_probe__"


class Probe:
    """The recorder. One instance per pytest process (module global PROBE)."""

    def __init__(self) -> None:
        self.originals: dict[str, Callable[..., Any]] = {}
        self.stack: list[dict[str, bool]] = []
        self.waits: list[dict[str, Any]] = []
        self.test: str | None = None
        self.times: dict[str, float] = {"plugin_imported": time.time()}
        self.postconditions: list[dict[str, Any]] = []
        self.wait_log: list[dict[str, Any]] = []
        self.processes: list[dict[str, Any]] = []
        self.kube: list[dict[str, Any]] = []
        self.observations: list[dict[str, Any]] = []
        self.node_looks: list[dict[str, Any]] = []  # one node's Talos side (observe_node)
        self.tests: dict[str, dict[str, Any]] = {}
        self.runners: list[Any] = []
        self.kubes: list[Any] = []
        self.instrumented: list[str] = []
        self.leaf_calls = 0  # every leaf evaluation, every poll included (for comparison only)

    # ---- instrumentation ------------------------------------------------------------------
    def instrument(self, func: Any, kind: str, key: str) -> None:
        """Route every call of `func` through self.<kind>(key, args, kwargs)."""
        if key in self.originals or func.__code__.co_freevars:
            return
        orig = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                                  func.__defaults__, func.__closure__)
        orig.__kwdefaults__ = func.__kwdefaults__
        orig.__qualname__ = func.__qualname__
        src = (f"def {func.__name__}(*args, **kwargs):\n"
               f"    __tracebackhide__ = True\n"
               f"    return {_NAME}.{kind}({key!r}, args, kwargs)\n")
        namespace: dict[str, Any] = {}
        exec(compile(src, f"<bench probe: {key}>", "exec"), namespace)  # noqa: S102
        func.__globals__[_NAME] = self
        self.originals[key] = orig
        func.__code__ = namespace[func.__name__].__code__
        func.__defaults__ = None
        func.__kwdefaults__ = None
        self.instrumented.append(key)

    def install(self) -> None:
        import checks
        import drivers.kube
        import drivers.observe
        import drivers.process
        import fixtures.waiting

        modules = [importlib.import_module(f"checks.{m.name}")
                   for m in pkgutil.iter_modules(checks.__path__)]
        for mod in modules:
            for name, obj in list(vars(mod).items()):
                if (name.startswith("check_") and inspect.isfunction(obj)
                        and obj.__module__ == mod.__name__):
                    self.instrument(obj, "check", f"{mod.__name__}.{name}")
        self.instrument(fixtures.waiting.wait_until, "wait", "fixtures.waiting.wait_until")
        self.instrument(drivers.observe.observe, "observe", "drivers.observe.observe")
        self.instrument(drivers.observe.observe_node, "observe", "drivers.observe.observe_node")
        self.instrument(drivers.process.Runner.run, "process", "drivers.process.Runner.run")
        self.instrument(drivers.kube.Kube._do, "kube_request", "drivers.kube.Kube._do")

    # ---- trampolines ----------------------------------------------------------------------
    def check(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        frame = {"nested": False}
        if self.stack:
            self.stack[-1]["nested"] = True
        self.stack.append(frame)
        try:
            result = self.originals[key](*args, **kwargs)
        finally:
            self.stack.pop()
        if not frame["nested"]:
            self.leaf_calls += 1
            entry = {"check": key.removeprefix("checks."),
                     "findings": len(result) if isinstance(result, list | tuple) else None}
            if self.waits:
                self.waits[-1]["bucket"].append(entry)
            else:
                self._commit([entry], "direct")
        return result

    def wait(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = list(args)
        judge = call[1] if len(call) > 1 else kwargs["judge"]
        pause = kwargs.get("pause", time.sleep)
        ctx: dict[str, Any] = {"bucket": [], "judged": 0, "slept": 0.0}

        def judged(value: Any) -> Any:
            ctx["bucket"] = []
            ctx["judged"] += 1
            return judge(value)

        def paused(seconds: float) -> None:
            ctx["slept"] += seconds
            pause(seconds)

        if len(call) > 1:
            call[1] = judged
        else:
            kwargs["judge"] = judged
        kwargs["pause"] = paused
        self.waits.append(ctx)
        started, ok = time.perf_counter(), False
        try:
            result = self.originals[key](*call, **kwargs)
            ok = True
            return result
        finally:
            self.waits.pop()
            polls = getattr(result, "polls", None) if ok else None
            self.wait_log.append({
                "what": kwargs.get("what"), "test": self.test, "ok": ok,
                "seconds": time.perf_counter() - started, "slept": ctx["slept"],
                "judgements": ctx["judged"], "polls": polls,
                "judge": getattr(judge, "__qualname__", str(judge))})
            entries = ctx["bucket"]
            if not entries and ctx["judged"]:
                entries = [{"check": f"wait: {getattr(judge, '__qualname__', 'judge')}",
                            "findings": None}]
            self._commit(entries, "wait (final judgement)")

    def _commit(self, entries: list[dict[str, Any]], via: str) -> None:
        for e in entries:
            self.postconditions.append({**e, "test": self.test, "via": via})

    def observe(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return self.originals[key](*args, **kwargs)
        finally:
            into = self.node_looks if key.endswith("observe_node") else self.observations
            into.append({"test": self.test, "in_wait": bool(self.waits),
                         "seconds": time.perf_counter() - started})

    def process(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        runner, argv = args[0], list(args[1] if len(args) > 1 else kwargs["argv"])
        if not any(r is runner for r in self.runners):
            self.runners.append(runner)
        started = time.perf_counter()
        try:
            return self.originals[key](*args, **kwargs)
        finally:
            self.processes.append({"tool": Path(str(argv[0])).name, "verb": _verb(argv),
                                   "test": self.test, "in_wait": bool(self.waits),
                                   "seconds": time.perf_counter() - started})

    def kube_request(self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        kube, what = args[0], str(args[1] if len(args) > 1 else kwargs.get("what"))
        if not any(k is kube for k in self.kubes):
            self.kubes.append(kube)
        started = time.perf_counter()
        try:
            return self.originals[key](*args, **kwargs)
        finally:
            self.kube.append({"what": what, "test": self.test, "in_wait": bool(self.waits),
                              "seconds": time.perf_counter() - started})

    # ---- report ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        by_check = Counter(p["check"] for p in self.postconditions)
        by_phase = Counter(_phase(p["test"]) for p in self.postconditions)
        verbs: dict[str, dict[str, float]] = {}
        for p in self.processes:
            v = verbs.setdefault(f"{p['tool']} {p['verb']}", {"calls": 0, "seconds": 0.0})
            v["calls"] += 1
            v["seconds"] += p["seconds"]
        return {
            "times": self.times,
            "counters": {
                "runner_calls": sum(int(getattr(r, "calls", 0)) for r in self.runners),
                "kube_requests": sum(int(getattr(k, "requests", 0)) for k in self.kubes),
                "processes_seen": len(self.processes),
                "talosctl_processes": sum(1 for p in self.processes
                                          if p["tool"].startswith("talosctl")),
                "kube_requests_seen": len(self.kube),
            },
            "postconditions": {"total": len(self.postconditions),
                               "every_poll_counted": self.leaf_calls,
                               "distinct_checks": len(by_check),
                               "by_check": dict(by_check.most_common()),
                               "by_phase": dict(by_phase),
                               "list": self.postconditions},
            "observations": {"count": len(self.observations),
                             "seconds": sum(o["seconds"] for o in self.observations),
                             "by_phase": dict(Counter(_phase(o["test"])
                                                      for o in self.observations)),
                             "list": self.observations},
            "node_looks": {"count": len(self.node_looks),
                           "seconds": sum(o["seconds"] for o in self.node_looks)},
            "processes": {"count": len(self.processes),
                          "seconds": sum(p["seconds"] for p in self.processes),
                          "by_command": verbs, "list": self.processes},
            "kube": {"count": len(self.kube), "seconds": sum(k["seconds"] for k in self.kube),
                     "by_what": dict(Counter(_generic(k["what"]) for k in self.kube))},
            "waits": self.wait_log,
            "tests": self.tests,
            "instrumented": self.instrumented,
        }


def _verb(argv: list[str]) -> str:
    """`get version`, `upgrade`, `etcd status`...: the command words of a talosctl argv."""
    words, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
            continue
        if a in ("--talosconfig", "-e", "--endpoints", "-n", "--nodes", "--context"):
            skip = True
            continue
        if a.startswith("-"):
            break
        words.append(a)
    return " ".join(words[:2]) if words and words[0] in ("get", "etcd") else " ".join(words[:1])


def _phase(nodeid: str | None) -> str:
    if not nodeid:
        return "session (outside tests)"
    return Path(nodeid.split("::", 1)[0]).stem.removeprefix("test_")


def _generic(what: str) -> str:
    return what.split(" ", 1)[0] + " " + what.split(" ", 2)[1] if " " in what else what


PROBE = Probe()


# ---- hooks -----------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    PROBE.times["configured"] = time.time()


def pytest_collection_finish(session: pytest.Session) -> None:
    PROBE.times["collected"] = time.time()
    PROBE.install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    PROBE.times.setdefault("first_test", time.time())
    PROBE.test = item.nodeid
    yield
    PROBE.test = None
    PROBE.times["last_test_done"] = time.time()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    t = PROBE.tests.setdefault(report.nodeid, {"seconds": 0.0, "outcome": "passed"})
    t["seconds"] += report.duration
    if report.outcome != "passed":
        t["outcome"] = report.outcome


def pytest_unconfigure(config: pytest.Config) -> None:
    PROBE.times["unconfigured"] = time.time()
    out = os.environ.get("BENCH_PROBE_OUT")
    if out:
        Path(out).write_text(json.dumps(PROBE.summary(), indent=1, default=str))
