"""The runner's summary: one row per rule (test), grouped by concept, plus the crashes seen."""

from __future__ import annotations

from collections import Counter
from typing import Any

LABELS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}


def _short(nodeid: str) -> tuple[str, str]:
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    return module, name


def print_summary(target: str, report: dict[str, Any] | None, crash_logs: list[str]) -> None:
    if report is None:
        print(f"\nrun.py: no report was written for {target} (did pytest start?)")
        return
    tests: list[dict[str, str]] = report["tests"]
    crashes: list[dict[str, Any]] = report["crashes"]
    crashed_by = {crash["nodeid"] for crash in crashes}
    width = max((len(_short(t["nodeid"])[1]) for t in tests), default=20)
    width = min(width, 90)

    print(f"\n=== tus conformance rules: {target} ({report['url']}) ===")
    current = None
    for test in tests:
        module, name = _short(test["nodeid"])
        if module != current:
            print(f"\n[{module}]")
            current = module
        note = test.get("reason", "")
        if test["nodeid"] in crashed_by:
            note = f"CRASHED THE SERVER; {note}" if note else "CRASHED THE SERVER"
        label = LABELS.get(test["outcome"], test["outcome"].upper())
        print(f"  {label:<5} {name:<{width}}  {note[:140]}".rstrip())

    if crashes:
        print("\n[server crashes]")
        for index, crash in enumerate(crashes):
            log = crash_logs[index] if index < len(crash_logs) else ""
            state = "restarted" if crash["restarted"] else "NOT restarted"
            print(f"  {crash['nodeid']}  ({crash['detected']}, {state})")
            if log:
                print(f"      log: {log}")

    counts = Counter(test["outcome"] for test in tests)
    summary = ", ".join(
        f"{LABELS[o].lower()} {counts[o]}" for o in LABELS if counts[o]
    )  # deliberately not pytest's "N passed" form: pytest's own closing line is the verdict
    print(f"\nrules for {target}: {summary}; server crashes {len(crashes)}")
