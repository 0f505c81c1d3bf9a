"""The README says what the code does: its two commands, and every CLI option it lists."""

import re

import pytest
from conftest import ROOT

from hybridsearch.cli import cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make quickstart", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^quickstart: setup$", makefile, re.M) and re.search(r"^test: setup$", makefile, re.M)
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


@pytest.mark.parametrize(
    "command",
    [
        "index",
        "remove",
        "backup",
        "watch",
        "query",
        "get",
        "info",
        "eval",
        "serve",
        "mcp",
        "cache info",
        "cache clear",
        "auth add-user",
    ],
)
def test_every_option_in_the_readme_exists(command: str) -> None:
    usage, model_options = README.split("## Command line", 1)[1].split("```", 2)[1].split("\nMODEL OPTIONS:")
    lines = [line for line in usage.splitlines() if line.startswith(f"hsearch {command} ")]
    block = usage[usage.index(lines[0]) + len(f"hsearch {command}") :].split("\nhsearch ", 1)[0]
    if "[MODEL OPTIONS]" in block:
        block += model_options
    documented = set(re.findall(r"(--?[a-z][a-z-]*)", block))
    group, _, sub = command.partition(" ")
    found = cli.commands[group]
    found = found.commands[sub] if sub else found  # type: ignore[attr-defined]
    actual = {opt for param in found.params for opt in [*param.opts, *param.secondary_opts]}
    assert documented <= actual, documented - actual
    assert {o for o in actual if o.startswith("--")} - {"--help"} <= documented


def test_every_image_the_readme_shows_is_in_the_repository() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert images and all((ROOT / image).is_file() for image in images), images
