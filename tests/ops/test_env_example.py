"""`.env.example` documents every setting `Settings` defines, and no setting that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from tusportal.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# `NAME=value`, commented out (`# NAME=default`) or not
ASSIGNMENT = re.compile(r"^\s*(?:#\s*)?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def env_example_names() -> list[str]:
    return ASSIGNMENT.findall((ROOT / ".env.example").read_text())


def test_every_setting_is_documented() -> None:
    documented = {name for name in env_example_names() if name.startswith("TUSPORTAL_")}
    expected = {"TUSPORTAL_" + name.upper() for name in Settings.model_fields}
    assert not expected - documented, f"add to .env.example, with a comment: {sorted(expected - documented)}"
    assert not documented - expected, f"not settings (any more): {sorted(documented - expected)}"


def test_each_variable_appears_once() -> None:
    names = env_example_names()
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_settings_are_commented_out_at_their_defaults() -> None:
    # a copied .env changes nothing but the compose passwords until an operator uncomments a line
    text = (ROOT / ".env.example").read_text()
    active = re.findall(r"^(TUSPORTAL_[A-Z0-9_]+)=", text, flags=re.MULTILINE)
    assert not active, f"uncommented settings in .env.example: {active}"
