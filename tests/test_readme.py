"""The user's docs stay true: every setting documented with its default where the README sends
readers for them (docs/configuration.md), the README's two commands exist, CI runs the tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CONFIGURATION_PATH = "docs/configuration.md"
CONFIGURATION = (ROOT / CONFIGURATION_PATH).read_text()


def test_every_setting_is_documented_with_its_default() -> None:
    for name, field in Settings.model_fields.items():
        variable = f"NBO_{name.upper()}"
        row = next(
            (line for line in CONFIGURATION.splitlines() if line.startswith(f"| `{variable}`")),
            None,
        )
        assert row is not None, f"{variable} missing from {CONFIGURATION_PATH}"
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, dict | list):
            shown = json.dumps(default)
        elif default is not None:
            shown = str(default).lower()
        else:
            continue
        assert shown in row.lower(), f"{variable}: default {shown} not in '{row}'"


def test_the_readme_sends_readers_to_the_settings() -> None:
    assert f"]({CONFIGURATION_PATH})" in README, f"the README does not link {CONFIGURATION_PATH}"


def test_first_screen_commands_exist_and_ci_runs_the_test_command() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)
    assert first_block
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
