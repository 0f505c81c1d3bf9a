"""The auth file of `hsearch serve --auth`: checked when read, tokens mapped to principals by their
hash, users added by `hsearch auth add-user`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybridsearch import InputError, Principal
from hybridsearch.auth import Users, add_user, token_sha256
from hybridsearch.cli import cli

HASH = "ab" * 32
SATO = f'[[users]]\nname = "sato"\ntoken_sha256 = "{HASH}"\n'


def test_a_token_maps_to_its_user_and_no_other(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    tanaka, suzuki = add_user(path, "tanaka", ["somu"]), add_user(path, "鈴木", ["jinji", "somu"])
    users = Users.load(path)
    assert users.principal(tanaka) == Principal("tanaka", groups=["somu"])
    assert users.principal(suzuki.encode()) == Principal("鈴木", groups=["jinji", "somu"])
    for wrong in ("", tanaka[:-1], tanaka + " ", token_sha256(tanaka), "Bearer " + tanaka):
        assert users.principal(wrong) is None
    text = path.read_text(encoding="utf-8")
    assert tanaka not in text and token_sha256(tanaka) in text  # the hash, never the token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(tanaka) >= 40 and tanaka != suzuki


def test_add_user_refuses_a_name_twice_and_a_name_that_is_not_one(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user(path, "tanaka")
    with pytest.raises(InputError, match=f"^{path} already has a user named 'tanaka'"):
        add_user(path, "tanaka", ["somu"])
    for name, groups in (("ta naka", []), ("sato", ["a,b"]), ("sa\x7fto", []), ("sato", ["\x00"])):
        with pytest.raises(InputError, match=f"^{path}: the new user: "):
            add_user(path, name, groups)
    assert [user for user in path.read_text().splitlines() if user.startswith("name")] == ['name = "tanaka"']


def test_add_user_appends_to_a_file_without_a_final_line_break(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text(f'# our users\n[[users]]\nname = "sato"\ntoken_sha256 = "{HASH}"', encoding="utf-8")
    token = add_user(path, "tanaka", ["somu"])
    assert Users.load(path).principal(token) == Principal("tanaka", groups=["somu"])
    assert path.read_text().startswith("# our users\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[users]\n", "is not valid TOML"),
        ("", "lists no users; add one: hsearch auth add-user"),
        (f'admins = ["sato"]\n[[users]]\nname = "sato"\ntoken_sha256 = "{HASH}"\n', "unknown key 'admins'"),
        ('users = "sato"\n', r"users must be \[\[users\]\] tables"),
        (f'[[users]]\nname = "sato"\ntoken_sha256 = "{HASH}"\nadmin = true\n', r"users\[0\] has unknown key 'admin'"),
        ('[[users]]\nname = "sato"\n', r"users\[0\] has no token_sha256"),
        ('[[users]]\nname = "sato"\ntoken_sha256 = "secret"\n', "token_sha256 must be 64 hex digits"),
        (f'[[users]]\nname = "sato"\ntoken_sha256 = "{HASH[:-1]}"\n', "token_sha256 must be 64 hex digits"),
        (f'[[users]]\nname = "sa to"\ntoken_sha256 = "{HASH}"\n', r"users\[0\]: A user name is text"),
        (f'[[users]]\nname = "sato"\ngroups = "jinji"\ntoken_sha256 = "{HASH}"\n', "groups must be a list"),
        (f'[[users]]\nname = "sato"\ngroups = ["a b"]\ntoken_sha256 = "{HASH}"\n', "A group name is text"),
        (SATO + SATO.replace(HASH, "cd" * 32), "two users are named 'sato'"),
        (SATO + SATO.replace("sato", "kato").replace(HASH, HASH.upper()), "two users have the same token_sha256"),
    ],
)
def test_an_auth_file_is_checked_when_read(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as raised:
        Users.load(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_auth_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^No auth file at .*none.toml; make one: hsearch auth add-user"):
        Users.load(tmp_path / "none.toml")


def test_hsearch_auth_add_user_prints_the_token_once(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    runner = CliRunner()
    added = runner.invoke(cli, ["auth", "add-user", str(path), "tanaka", "--group", "somu", "--group", "keiri"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert "\n" not in token and token not in added.stderr and "Added tanaka in somu, keiri" in added.stderr
    assert Users.load(path).principal(token) == Principal("tanaka", groups=["somu", "keiri"])
    again = runner.invoke(cli, ["auth", "add-user", str(path), "tanaka"])
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr == f"Error: {path} already has a user named 'tanaka'; choose another name or edit the file.\n"
