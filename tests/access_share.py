"""A small office share whose folders have readers, and an auth file of two of its users, for the
tests of the doors (HTTP, MCP, retrievers, the page) that each must show a user only their documents."""

from __future__ import annotations

from pathlib import Path

from conftest import FAKE_MODEL, write_files

from hybridsearch import HybridIndex, Principal
from hybridsearch.auth import add_user

LEAVE = (
    "年次有給休暇は入社から半年後に十日付与されます。取得の申請は三日前までに上長へ提出してください。"
    "繰り越しは翌年度までです。"
)
SHARE = {
    "公開/休暇.md": "---\ncategory: 案内\n---\n# 休暇の取り方\n\n" + LEAVE,
    "人事/休暇_控え.md": "---\ncategory: 案内\n---\n# 休暇の取り方（控え）\n\n" + LEAVE,  # the same text, 人事 only
    "総務/出張規程.md": "---\ncategory: 規程\n---\n# 出張規程\n\n出張の旅費は総務部が精算します。日当は一日三千円。",
    "人事/給与規程.md": "---\ncategory: 人事秘\ngrade_table: あり\n---\n# 給与規程\n\n"
    "給与は毎月二十五日に支払います。賞与は年二回です。",
    "人事/評価.txt": "評価面談は年に二回、上長と行います。",  # the only txt: a filter choice of 人事's alone
    "hsearch.toml": '[readers]\n"総務/**" = ["group:somu"]\n"人事/**" = ["group:jinji"]\n',
}
TANAKA = Principal("tanaka", groups=["somu"])  # 総務: 出張規程, not 人事
SUZUKI = Principal("suzuki", groups=["jinji"])  # 人事: 給与規程 and the copy, not 総務


def build_share(root: Path) -> HybridIndex:
    """The share's index, built under `root` (open: the caller closes it)."""
    return HybridIndex.build(write_files(root / "share", SHARE), root / "index", model=FAKE_MODEL)


def write_auth(path: Path) -> dict[str, str]:
    """An auth file of tanaka and suzuki at `path`: {user name: their token}."""
    return {user.user: add_user(path, user.user, user.groups) for user in (TANAKA, SUZUKI)}


def below_share(path: str) -> str:
    """A path below the share (`人事/給与規程.md`)."""
    return path.split("share/", 1)[-1]
