"""Keeps the suite running when the server under test dies, and says which test killed it.

Before each test the server is probed with OPTIONS; after each test it is probed again. A server
that does not answer is "down": the test that was running (or the one just before, when the
death is only noticed at the next set-up) is recorded as having crashed it, and the restart hook
is called when one is configured:

  TUS_RESTART_CMD   a shell command that (re)starts the server; the suite waits for OPTIONS after it.
  TUS_REPORT_FILE   where to write a JSON report of every test's outcome and the crashes seen.

Without TUS_RESTART_CMD a dead server makes every later test error out with a clear message.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

PROBE_TIMEOUT = 3.0
RESTART_WAIT = 30.0


def server_answers(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when OPTIONS on the endpoint gets any HTTP answer."""
    try:
        httpx.request("OPTIONS", url, timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


def wait_until_answering(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_answers(url, timeout=1.0):
            return True
        time.sleep(0.1)
    return False


@dataclass
class Crash:
    nodeid: str
    detected: str  # "after-test" or "before-next-test"
    restarted: bool


@dataclass
class LivenessPlugin:
    url: str
    restart_cmd: str | None
    report_file: Path | None
    crashes: list[Crash] = field(default_factory=list)
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    previous: str | None = None
    restart_failed: bool = False
    down: bool = False
    ever_up: bool = False

    def _restart(self) -> bool:
        if not self.restart_cmd or self.restart_failed:
            return False
        completed = subprocess.run(self.restart_cmd, shell=True, check=False, timeout=120)
        ok = completed.returncode == 0 and wait_until_answering(self.url, RESTART_WAIT)
        self.restart_failed = not ok
        return ok

    def _record_crash(self, nodeid: str, detected: str) -> bool:
        restarted = self._restart()
        self.crashes.append(Crash(nodeid, detected, restarted))
        return restarted

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if server_answers(self.url):
            self.down, self.ever_up = False, True
            return
        if self.previous is None or not self.ever_up:
            pytest.fail(f"the server at {self.url} does not answer OPTIONS", pytrace=False)
        if not self.down and self._record_crash(self.previous, "before-next-test"):
            return
        self.down = True
        pytest.fail(
            f"the server at {self.url} is down (it died during or after {self.previous}) and "
            "could not be restarted; set TUS_RESTART_CMD to let the suite restart it",
            pytrace=False,
        )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):  # type: ignore[no-untyped-def]
        yield
        if not server_answers(self.url):
            item.stash[CRASHED] = True
            self.down = not self._record_crash(item.nodeid, "after-test")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if call.when == "call" and item.stash.get(CRASHED, False):
            report.user_properties.append(("crashed_server", True))
            report.sections.append(("tus server", "the server under test died during this test"))
            if report.passed:  # staying up is part of every rule
                report.outcome = "failed"
                report.longrepr = "the server under test died during this test"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.outcomes.setdefault(report.nodeid, {"outcome": "passed", "reason": ""})
        if report.when == "teardown":
            self.previous = report.nodeid
        if report.skipped:
            entry["outcome"] = "skipped"
            longrepr = report.longrepr
            if isinstance(longrepr, tuple):
                entry["reason"] = str(longrepr[2]).removeprefix("Skipped: ")
        elif report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["reason"] = _first_line(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_file is None:
            return
        doc = {
            "url": self.url,
            "tests": [
                {"nodeid": nodeid, **entry, "doc": DOCS.get(nodeid, "")}
                for nodeid, entry in self.outcomes.items()
            ],
            "crashes": [crash.__dict__ for crash in self.crashes],
        }
        self.report_file.write_text(json.dumps(doc, indent=2))

    def pytest_terminal_summary(self, terminalreporter) -> None:  # type: ignore[no-untyped-def]
        if not self.crashes:
            return
        terminalreporter.section("tus server crashes")
        for crash in self.crashes:
            state = "restarted" if crash.restarted else "NOT restarted"
            terminalreporter.write_line(f"{crash.nodeid}  [{crash.detected}, {state}]")


CRASHED = pytest.StashKey[bool]()
DOCS: dict[str, str] = {}


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(report.longrepr)
    return message.strip().splitlines()[0][:300] if message.strip() else ""


def make_plugin(url: str) -> LivenessPlugin:
    report = os.environ.get("TUS_REPORT_FILE")
    return LivenessPlugin(
        url=url,
        restart_cmd=os.environ.get("TUS_RESTART_CMD") or None,
        report_file=Path(report) if report else None,
    )
