"""The README is what a newcomer reads first: it must not drift from the code."""

import re
from pathlib import Path

from liaison.settings import Settings, env_name

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented():
    for field in Settings.model_fields:
        assert f"`{env_name(field)}`" in README, env_name(field)


def test_no_undocumented_variable_is_mentioned():
    mentioned = set(re.findall(r"LIAISON_[A-Z_]+", README))
    known = {env_name(field) for field in Settings.model_fields}
    assert mentioned <= known, mentioned - known


def test_the_two_setup_commands_are_make_targets():
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    for command in commands:
        assert re.search(rf"^{command.split()[1]}:", makefile, re.MULTILINE), command


def test_every_module_the_layout_table_names_exists():
    root = Path(__file__).parents[2]
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    checked = 0
    for row in re.findall(r"^\| `([a-z]+/)` \| (.*) \|$", layout, re.MULTILINE):
        part, cell = row
        for name in re.findall(r"`([\w./]+(?:\.py|/))`", cell):
            assert (root / part / name).exists() or (root / name).exists(), f"{part}{name}"
            checked += 1
    assert checked > 30
