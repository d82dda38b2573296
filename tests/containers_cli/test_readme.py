"""The README's Containers section names the commands, and each is an installed entry point."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

COMMANDS = {
    "caldp-image-config": "caldp.cli.image:config_main",
    "caldp-image-build": "caldp.cli.image:build_main",
    "caldp-image-push": "caldp.cli.image:push_main",
    "caldp-docker-run-pipeline": "caldp.cli.container:run_pipeline_main",
    "caldp-docker-run-container": "caldp.cli.container:run_container_main",
    "caldp-process-aws": "caldp.cli.process_aws:main",
}
ROOT = Path(__file__).resolve().parents[2]


def test_readme_containers_section():
    text = (ROOT / "README.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    titles = [s.split("\n", 1)[0].strip() for s in sections]
    assert "Containers" in titles and titles.index("Containers") < titles.index("Development")
    body = sections[titles.index("Containers")]
    for command in COMMANDS:
        assert command in body, command
    assert "CALDP_HOME" in body and "docker/README.md" in body


def test_commands_are_entry_points():
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.name in COMMANDS}
    assert scripts == COMMANDS
    for value in COMMANDS.values():
        module, func = value.split(":")
        assert callable(getattr(__import__(module, fromlist=[func]), func))
