"""The event contract: the committed JSON Schemas in schemas/events/ are what consumers rely on.

`breaking_changes(old, new)` lists what would break an existing consumer: an event type or a field
that disappears (removed or renamed), a field that stops being required, or a type that changes in
either direction (narrowed or widened), including its format, pattern, const or enum. An added
optional or required field, or a new event type, is not breaking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tusportal.events import emit
from tusportal.events.schema import DATA_MODELS, EVENT_TYPES, envelope, json_schema, render, schema_file
from tusportal.state.uploads import Upload

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"
CONSTRAINTS = ("type", "format", "pattern", "const", "enum", "minimum", "maximum", "$ref")


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)
    return node


def _types(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a value may take (anyOf flattened), each reduced to its constraints."""
    node = _resolve(node, root)
    if "anyOf" in node:
        return [t for alt in node["anyOf"] for t in _types(alt, root)]
    return [{k: node[k] for k in CONSTRAINTS if k in node and k != "$ref"}]


def breaking_changes(
    old: dict[str, Any], new: dict[str, Any], where: str = "", *, roots: Any = None
) -> list[str]:
    old_root, new_root = roots or (old, new)
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems = []
    old_types = sorted(json.dumps(t, sort_keys=True) for t in _types(old, old_root))
    new_types = sorted(json.dumps(t, sort_keys=True) for t in _types(new, new_root))
    if old_types != new_types:
        problems.append(f"{where or 'event'}: type changed from {old_types} to {new_types}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        path = f"{where}.{name}" if where else name
        if name not in new_props:
            problems.append(f"{path}: removed (or renamed)")
            continue
        if name in old.get("required", []) and name not in new.get("required", []):
            problems.append(f"{path}: no longer required")
        problems += breaking_changes(old_props[name], new_props[name], path, roots=(old_root, new_root))
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        problems += breaking_changes(old_items, new_items, f"{where}[]", roots=(old_root, new_root))
    old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_values, dict) and isinstance(new_values, dict):
        problems += breaking_changes(old_values, new_values, f"{where}{{}}", roots=(old_root, new_root))
    return problems


def committed() -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.json"))}


# --- the contract holds ----------------------------------------------------------------------


def test_no_committed_event_type_or_field_breaks() -> None:
    published = committed()
    assert published, "schemas/events/ is empty: run python -m tusportal.events.schema --write"
    problems = []
    for event_type, old in published.items():
        if event_type not in EVENT_TYPES:
            problems.append(f"{event_type}: event type removed")
            continue
        problems += [f"{event_type}: {p}" for p in breaking_changes(old, json_schema(event_type))]
    assert not problems, "breaking change(s) to the event contract:\n" + "\n".join(problems)


def test_committed_schemas_are_current() -> None:
    """Additions are fine but must be published: regenerate with
    `uv run python -m tusportal.events.schema --write` and commit schemas/events/."""
    for event_type in EVENT_TYPES:
        path = schema_file(SCHEMAS, event_type)
        assert path.exists(), f"{path.name} missing: regenerate the schemas"
        assert path.read_text() == render(event_type), f"{path.name} is stale: regenerate the schemas"


# --- the checker catches what it must --------------------------------------------------------


def _schema(**props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"size": {"type": "integer"}}, "upload_id: removed"),  # removed
        ({"id": {"type": "string"}, "size": {"type": "integer"}}, "upload_id: removed"),  # renamed
        ({"upload_id": {"type": "string"}, "size": {"type": "string"}}, "size: type changed"),
        (
            {"upload_id": {"type": "string"}, "size": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
            "size: type changed",
        ),  # widened: a consumer reading an int now gets null
        ({"upload_id": {"type": "string", "pattern": "^x$"}, "size": {"type": "integer"}}, "type changed"),
    ],
)
def test_checker_flags_breaking_changes(change: dict[str, Any], expected: str) -> None:
    old = _schema(upload_id={"type": "string"}, size={"type": "integer"})
    new = _schema(**change)
    assert any(expected in p for p in breaking_changes(old, new))


def test_checker_flags_narrowing_and_dropped_requirement() -> None:
    old = _schema(sha256={"anyOf": [{"type": "string"}, {"type": "null"}]})
    assert breaking_changes(old, _schema(sha256={"type": "string"}))  # narrowed
    loose = {"type": "object", "required": [], "properties": {"sha256": {"type": "string"}}}
    assert any("no longer required" in p for p in breaking_changes(_schema(sha256={"type": "string"}), loose))


def test_checker_accepts_additions() -> None:
    old = _schema(upload_id={"type": "string"})
    new = _schema(upload_id={"type": "string"}, sha256={"type": "string"})
    new["properties"]["note"] = {"type": "string"}
    assert breaking_changes(old, new) == []


# --- emitted events match the published schemas ----------------------------------------------


def _upload(**overrides: Any) -> Upload:
    from datetime import UTC, datetime

    fields: dict[str, Any] = dict(
        id="u1", state="finished", offset=5, length=5, metadata_raw=None,
        metadata={"filename": "a.txt", "filetype": "text/plain", "flag": None},
        concat_kind=None, concat_parts=None, owner_id=None, batch_id="b1", storage_key="u1",
        storage_state=None, created_at=datetime.now(UTC), expires_at=None,
        finished_at=datetime.now(UTC), locked=False, expired=False,
    )  # fmt: skip
    fields.update(overrides)
    return Upload(**{k: v for k, v in fields.items() if k in Upload.__dataclass_fields__})


def _validate(event: emit.NewEvent) -> None:
    from datetime import UTC, datetime

    doc = envelope(
        event_id=event.id, source="/tusportal", type=event.type, subject=event.subject,
        time=datetime.now(UTC), data=event.data, sequence="0" * 32,
    )  # fmt: skip
    jsonschema.validate(doc, committed()[event.type], format_checker=jsonschema.FormatChecker())


def test_every_emitted_event_validates_against_its_published_schema() -> None:
    from dataclasses import dataclass
    from datetime import UTC, datetime

    upload = _upload()
    sha = "a" * 64
    _validate(emit.upload_created(upload))
    _validate(emit.upload_created(_upload(length=None, state="active")))
    _validate(emit.file_uploaded(upload, sha256=sha, download_url="http://x/files/u1"))
    _validate(emit.upload_terminated(upload))
    _validate(emit.upload_expired(_upload(state="expired", offset=2)))

    @dataclass
    class Batch:
        id: str = "b1"
        name: str = "scans"
        metadata: dict[str, Any] | None = None
        owner_id: str | None = None
        completed_at: datetime | None = None

    @dataclass
    class File:
        id: str
        filename: str | None
        length: int | None

    batch = Batch(metadata={"k": 1}, completed_at=datetime.now(UTC))
    _validate(emit.batch_completed(batch, [File("u1", "a.txt", 5), File("u2", None, 7)]))  # type: ignore[arg-type]
    assert set(DATA_MODELS) == set(EVENT_TYPES)


def test_file_uploaded_names_the_file_and_its_type() -> None:
    event = emit.file_uploaded(_upload(), sha256="b" * 64, download_url=None)
    assert event.data["filename"] == "a.txt"
    assert event.data["content_type"] == "text/plain"
    assert event.data["size"] == 5 and event.data["sha256"] == "b" * 64
    with pytest.raises(ValueError, match="sha256"):
        emit.file_uploaded(_upload(), sha256="not-hex", download_url=None)
