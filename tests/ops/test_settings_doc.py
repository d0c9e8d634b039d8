"""docs/operations.md's settings table is generated from `Settings` and must name every setting.

Regenerate the table after adding or changing a setting:

    uv run python tests/ops/test_settings_doc.py --write
"""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from tusportal.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
START = "<!-- settings-table:start (generated: uv run python tests/ops/test_settings_doc.py --write) -->"
END = "<!-- settings-table:end -->"

# meanings for the fields that carry no description in Settings
FALLBACK_MEANINGS = {
    "s3_access_key": "S3 access key",
    "s3_secret_key": "S3 secret key",
    "host": "Address to listen on (the image sets 0.0.0.0)",
    "port": "Port to listen on",
    "db_pool_min": "Fewest pooled database connections per process",
    "db_pool_max": "Most pooled database connections per process",
    "log_format": "auto (console lines on a terminal, JSON otherwise), console or json; the image sets json",
    "log_level": "debug, info, warning or error",
}


def env_name(field: str) -> str:
    return "TUSPORTAL_" + field.upper()


def render_default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return "empty"
    return f"`{value}`"


def meaning(name: str, info: FieldInfo) -> str:
    text = info.description or FALLBACK_MEANINGS.get(name, "")
    choices = typing.get_args(info.annotation) if typing.get_origin(info.annotation) is typing.Literal else ()
    if choices and not all(str(choice) in text for choice in choices):
        listed = ", ".join(f"`{choice}`" for choice in choices)
        text = f"{text}; one of {listed}" if text else f"one of {listed}"
    # a table cell: no pipes, and no <...> that Markdown would take for HTML
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def settings_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        lines.append(f"| `{env_name(name)}` | {render_default(info)} | {meaning(name, info)} |")
    return "\n".join(lines)


def documented_table(text: str) -> str:
    start, end = text.find(START), text.find(END)
    assert start != -1 and end > start, f"docs/operations.md lacks the markers {START!r} ... {END!r}"
    return text[start + len(START) : end]


def test_every_setting_is_in_the_table() -> None:
    table = documented_table(DOC.read_text())
    documented = set(re.findall(r"^\|\s*`(TUSPORTAL_[A-Z0-9_]+)`", table, flags=re.MULTILINE))
    expected = {env_name(name) for name in Settings.model_fields}
    hint = "; regenerate it: uv run python tests/ops/test_settings_doc.py --write"
    missing = sorted(expected - documented)
    assert not missing, f"missing from docs/operations.md: {missing}{hint}"
    assert not documented - expected, f"not settings any more: {sorted(documented - expected)}{hint}"


def test_table_renders_every_setting_once() -> None:
    rows = settings_table().splitlines()[2:]
    assert len(rows) == len(Settings.model_fields)
    assert all(row.count(" | ") == 2 for row in rows), "a meaning must not break the table"


def write() -> None:
    text = DOC.read_text()
    documented_table(text)
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{START}\n{settings_table()}\n{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(settings_table())
