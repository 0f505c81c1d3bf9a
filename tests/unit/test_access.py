"""Who may read what (access.py): readers decided at index time, enforced on every read of the index."""

from __future__ import annotations

import grp
import json
import os
import pwd
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL, write_files

from hybridsearch import Hit, HybridIndex, InputError, NotFoundError, Principal, SearchRequest
from hybridsearch.access import parse_readers
from hybridsearch.cli import cli
from hybridsearch.config import IndexConfig, LoaderConfig

SHARE = {
    "公開/案内.md": "# 社内案内\n\n食堂は十二時から営業します。会議室の予約は総務で受け付けます。",
    "総務/出張規程.md": "# 出張規程\n\n出張の旅費は総務部が精算します。日当は一日三千円です。",
    "人事/給与規程.md": "# 給与規程\n\n給与は毎月二十五日に支払います。賞与は年二回です。",
    "人事/評価.md": "---\nreaders: [user:sato]\n---\n# 評価\n\n評価面談は年二回、給与の見直しと一緒に行います。",
    "経理/予算.csv": "title,text,readers\n予算,今年度の予算は前年比で五パーセント増です。,group:keiri\n"
    "交際費,交際費の上限は一人五千円です。給与とは別です。,everyone\n",
}
CONFIG = '[readers]\n"総務/**" = ["group:somu"]\n"人事/**" = ["group:jinji"]\n'

SOMU = Principal("tanaka", groups=["somu"])
JINJI = Principal("suzuki", groups=["jinji"])
SATO = Principal("sato")
KEIRI = Principal("kato", groups=["keiri"])


@pytest.fixture
def share_index(tmp_path: Path) -> HybridIndex:
    share = write_files(tmp_path / "share", {**SHARE, "hsearch.toml": CONFIG})
    return HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL)


def paths(hits: list[Hit]) -> set[str]:
    """The paths below the share of the hits that score (alpha 0: that share a word with the query)."""
    return {hit.path.split("share/", 1)[-1] for hit in hits if hit.score > 0}


def test_each_principal_finds_only_what_they_may_read(share_index: HybridIndex) -> None:
    with share_index as index:
        assert paths(index.search("給与", k=20, alpha=0)) == {"経理/予算.csv"}  # no principal: the open documents
        assert paths(index.search("給与", k=20, alpha=0, principal=JINJI)) == {"人事/給与規程.md", "経理/予算.csv"}
        assert paths(index.search("給与", k=20, alpha=0, principal=SATO)) == {"人事/評価.md", "経理/予算.csv"}
        assert paths(index.search("出張 旅費", k=20, principal=SOMU)) >= {"総務/出張規程.md"}
        assert "総務/出張規程.md" not in paths(index.search("出張 旅費", k=20, principal=JINJI))
        assert paths(index.search("出張 旅費", k=20)) == {"公開/案内.md", "経理/予算.csv"}
        hits = index.search("予算", k=20, principal=KEIRI)
        assert any(hit.record for hit in hits if hit.title == "予算")
        assert not [hit for hit in index.search("予算", k=20, principal=SOMU) if hit.title == "予算"]


def test_a_principal_equals_a_where_on_their_documents(share_index: HybridIndex) -> None:
    reader = Principal("kato", groups=["keiri", "jinji"])  # all but 総務 and sato's 評価
    with share_index as index:
        everyone = Principal("all", groups=["somu", "jinji", "keiri"])
        every_path = {hit.path for hit in index.search("給与", k=50, alpha=0, principal=everyone)}
        theirs = sorted(path for path in every_path if "総務" not in path and "評価" not in path)
        assert len(theirs) == 3
        for alpha in (0.0, 0.4, 1.0):
            as_principal = index.respond(SearchRequest("給与の支払い", k=10, alpha=alpha, principal=reader))
            where = {"path": theirs}
            as_where = index.respond(SearchRequest("給与の支払い", k=10, alpha=alpha, where=where, principal=everyone))
            assert [hit.to_dict() for hit in as_principal.hits] == [hit.to_dict() for hit in as_where.hits]


def test_get_of_a_forbidden_id_is_not_found_as_for_an_unknown_one(share_index: HybridIndex) -> None:
    with share_index as index:
        hit = index.search("給与 二十五日", k=1, principal=JINJI)[0]
        assert index.get(hit.id, principal=JINJI).id == hit.id
        for asked in (hit.id, hit.document_id):
            with pytest.raises(NotFoundError) as forbidden:
                index.get(asked, principal=SOMU)
            with pytest.raises(NotFoundError) as unknown:
                index.get(asked + "x", principal=SOMU)
            assert str(forbidden.value) == str(unknown.value).replace(asked + "x", asked)


def test_field_listings_name_only_readable_documents(share_index: HybridIndex) -> None:
    with share_index as index:
        assert "readers" in index.fields(principal=JINJI)
        seen = index.field_values(principal=None)
        assert seen["readers"] == ["everyone"]
        assert set(index.field_values(principal=KEIRI)["readers"]) == {"everyone", "group:keiri"}
        titles = index.field_values(principal=SOMU)["title"]
        assert "給与規程" not in titles and "出張規程" in titles


def test_readers_that_are_not_entries_close_the_document() -> None:
    warnings: list[str] = []
    assert parse_readers("group:somu、 user:tanaka", "a.md", warnings.append) == ["group:somu", "user:tanaka"]
    assert parse_readers(["somu"], "a.md", warnings.append) == ["nobody"]
    assert parse_readers([], "a.md", warnings.append) == ["nobody"]
    assert "'somu'" in warnings[0]


def test_a_principal_is_never_read_from_a_request_mapping() -> None:
    with pytest.raises(InputError, match="Unknown search option 'principal'"):
        SearchRequest.from_mapping({"query": "給与", "principal": {"user": "sato"}})
    with pytest.raises(InputError, match="user name"):
        Principal("ta naka")


def test_hsearch_toml_readers_are_checked(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {"a.md": "給与", "hsearch.toml": '[readers]\n"**" = ["somu"]\n'})
    with pytest.raises(InputError, match=r"\[readers\] '\*\*' must be a list of"):
        HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL)


def test_private_index_opens_only_what_a_rule_opens(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {"a.md": "給与の規程", "b.md": "---\nreaders: everyone\n---\n給与の案内"})
    config = IndexConfig(loader=LoaderConfig(private=True))
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL, config=config) as index:
        assert [hit.title or hit.path for hit in index.search("給与")] == [str(share / "b.md")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_posix_readers_follow_owner_group_mode_and_folders(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {"open.md": "給与 公開", "group.md": "給与 部内", "own.md": "給与 本人",
                                             "closed/in.md": "給与 非公開"})  # fmt: skip
    (share / "open.md").chmod(0o644)
    (share / "group.md").chmod(0o640)
    (share / "own.md").chmod(0o600)
    (share / "closed" / "in.md").chmod(0o644)
    (share / "closed").chmod(0o700)
    share.chmod(0o755)
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid((share / "group.md").stat().st_gid).gr_name
    config = IndexConfig(loader=LoaderConfig(acl="posix", private=True))  # --private: only where no rule says
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL, config=config) as index:
        hits = index.search("給与", k=10, alpha=0, principal=Principal(me, groups=[group]))
        readers = {hit.path.rsplit("/", 1)[-1]: hit.metadata["readers"] for hit in hits}
    assert readers["open.md"] == ["everyone"]
    assert readers["group.md"] == [f"group:{group}", f"user:{me}"]
    assert readers["own.md"] == [f"user:{me}"]
    assert readers["in.md"] == [f"user:{me}"]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_the_command_line_reads_as_user_or_as_no_one(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {**SHARE, "hsearch.toml": CONFIG})
    location = str(tmp_path / "index")
    assert run("index", str(share), "--index", location, "--model", FAKE_MODEL, "-q").exit_code == 0
    public = run("query", "給与 二十五日", "--index", location, "--alpha", "0", "--json")
    assert "給与規程.md" not in public.output
    jinji = run("query", "給与 二十五日", "--index", location, "--alpha", "0", "--json", "--user", "suzuki",
                "--group", "jinji")  # fmt: skip
    hit = json.loads(jinji.output)["hits"][0]
    assert hit["path"].endswith("人事/給与規程.md")
    forbidden = run("get", hit["document_id"], "--index", location, "--user", "tanaka", "--group", "somu")
    assert forbidden.exit_code == 1 and f"has no chunk or document with id {hit['document_id']!r}" in forbidden.output
    assert run("get", hit["id"], "--index", location, "--user", "suzuki", "--group", "jinji").exit_code == 0
    lonely = run("query", "給与", "--index", location, "--group", "jinji")
    assert lonely.exit_code == 2 and "--group needs --user" in lonely.output
    shown = run("info", "--index", location)
    assert "set per document; fields of the documents open to everyone (give --user)" in shown.output
    questions = tmp_path / "questions.tsv"
    questions.write_text("給与はいつ支払われますか\t人事/給与規程.md\n", encoding="utf-8")
    as_jinji = run("eval", str(questions), "--index", location, "--json", "-q", "--user", "suzuki", "--group", "jinji")
    assert json.loads(as_jinji.stdout)["metrics"]["recall@10"] == 1.0
    as_no_one = run("eval", str(questions), "--index", location, "--json", "-q")
    assert "names no document" in as_no_one.stderr


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_permission_change_is_picked_up_by_the_next_run_without_encoding(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {"給与.md": "給与は毎月二十五日に支払います。", "案内.md": "食堂"})
    share.chmod(0o755)
    (share / "給与.md").chmod(0o644)
    config = IndexConfig(loader=LoaderConfig(acl="posix"))
    me = pwd.getpwuid(os.getuid()).pw_name
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL, config=config) as index:
        assert paths(index.search("給与", alpha=0)) != set()
    (share / "給与.md").chmod(0o600)
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL, config=config) as index:
        assert index.report is not None
        assert (index.report.changed, index.report.unchanged) == (1, 1)
        assert index.report.vectors == index.report.cached  # every vector from the embedding cache
        assert paths(index.search("給与", alpha=0)) == set()
        assert paths(index.search("給与", alpha=0, principal=Principal(me))) != set()


def _set_acl_denying(path: Path, uid: int) -> bool:
    """Give `path` a POSIX access ACL that denies `uid` (False where the file system has no ACLs)."""
    entries = [
        (0x01, 6, 0xFFFFFFFF),
        (0x02, 0, uid),
        (0x04, 4, 0xFFFFFFFF),
        (0x10, 4, 0xFFFFFFFF),
        (0x20, 4, 0xFFFFFFFF),
    ]
    blob = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, id_) for tag, perm, id_ in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", blob)
    except OSError:
        return False
    return True


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_posix_readers_close_what_the_mode_bits_cannot_say(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {"0604.md": "給与 他人", "acl.md": "給与 ACL", "real/in.md": "給与 本物"})
    share.chmod(0o755)
    (share / "0604.md").chmod(0o604)  # others may read, the file's group may not: not everyone
    (share / "acl.md").chmod(0o644)
    has_acl = _set_acl_denying(share / "acl.md", 4242)
    (share / "real" / "in.md").chmod(0o600)
    (share / "link.md").symlink_to(share / "real" / "in.md")  # a link is not followed: no second, open copy
    config = IndexConfig(loader=LoaderConfig(acl="posix"))
    warnings: list[str] = []
    me = pwd.getpwuid(os.getuid()).pw_name
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL, config=config, warn=warnings.append) as index:
        assert index.report is not None and index.report.ignored == 1
        hits = index.search("給与", k=10, alpha=0, principal=Principal(me))
        readers = {Path(hit.path).name: hit.metadata["readers"] for hit in hits}
        assert paths(index.search("給与", k=10, alpha=0)) == (set() if has_acl else {"acl.md"})
    assert readers["0604.md"] == [f"user:{me}"]
    assert readers["in.md"] == [f"user:{me}"] and "link.md" not in readers
    if has_acl:
        assert readers["acl.md"] == [f"user:{me}"]
        assert any("POSIX ACL" in warning for warning in warnings)


def test_a_field_only_forbidden_documents_have_is_as_unknown_as_one_no_document_has(share_index: HybridIndex) -> None:
    secret = write_files(Path(share_index.location).parent / "share", {"人事/秘.md": "---\nsalary_band: A\n---\n給与"})
    with HybridIndex.build(secret, share_index.location, model=FAKE_MODEL) as index:
        assert index.search("給与", where={"salary_band": "A"}, principal=JINJI)
        for field in ("salary_band", "no_such_field"):
            with pytest.raises(InputError) as error:
                index.search("給与", where={field: "A"}, principal=SOMU)
            assert "salary_band" not in str(error.value).split(";", 1)[1]


def test_readers_of_any_other_shape_close_the_document(tmp_path: Path) -> None:
    variants = ["readers:", "readers: ~", "readers: [null]", "readers: {a: b}", "readers: [[everyone]]",
                "readers: [group:x, {everyone: 1}]", "Readers: group:x", "ｒｅａｄｅｒｓ: group:x"]  # fmt: skip
    files = {f"v{n}.md": f"---\n{line}\n---\n給与 {n}" for n, line in enumerate(variants)}
    records = [
        '{"text": "給与 j0", "readers": null}',
        '{"text": "給与 j1", "readers": {"group": 1}}',
        '{"text": "給与 j2", "readers": [null, "group:x"]}',
        '{"text": "給与 j3", "readers": 1e999}',
    ]
    files["records.jsonl"] = "\n".join(records) + "\n"
    files["sheet.csv"] = "text, readers\n給与 c0, group:x\n給与 c1,\n"
    share = write_files(tmp_path / "share", {**files, "open.md": "給与 open"})
    warnings: list[str] = []
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL, warn=warnings.append) as index:
        assert paths(index.search("給与", k=50, alpha=0)) == {"open.md"}
        as_x = {hit.text.split()[-1] for hit in index.search("給与", k=50, alpha=0, principal=Principal("u", ["x"]))}
    assert as_x == {"open", "5", "6", "7", "j2", "c0"}  # what names group:x, however it is spelt, and nothing else
    assert any("'None'" in warning for warning in warnings)


def test_the_bm25_ceiling_is_that_of_the_documents_one_may_read(tmp_path: Path) -> None:
    share = write_files(tmp_path / "share", {"open.md": "予算の案内です。", "人事/多い.md": "予算予算予算予算予算予算",
                                             "hsearch.toml": CONFIG})  # fmt: skip
    with HybridIndex.build(share, tmp_path / "index", model=FAKE_MODEL) as index:
        seen_by_somu = index.search("予算", k=5, alpha=0, principal=SOMU)
        seen_by_jinji = index.search("予算", k=5, alpha=0, principal=JINJI)
    assert [Path(hit.path).name for hit in seen_by_somu if hit.bm25 > 0] == ["open.md"]
    assert seen_by_somu[0].bm25_norm == 1.0  # not a share of a chunk somu may not read
    assert Path(seen_by_jinji[0].path).name == "多い.md" and seen_by_jinji[0].bm25_norm == 1.0
