"""The search page in a real headless Chromium (Debian packages chromium and chromium-driver),
driven with Selenium: type the quickstart's question, find Mars first, open it, share the URL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from access_share import build_share, write_auth
from conftest import FAKE_MODEL
from serving import running

from hybridsearch import HybridIndex

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs a headless browser: install the Debian packages chromium and chromium-driver",
)


@contextmanager
def searched(corpus: Path, index_dir: Path, driver: Any, query: str) -> Iterator[Any]:
    """The page of an index of `corpus`, served on loopback, after searching `query`: a WebDriverWait."""
    from selenium.webdriver.support.ui import WebDriverWait

    with HybridIndex.build(corpus, index_dir, model=FAKE_MODEL) as index, running({"docs": index.location}) as url:
        driver.get(url + "/?q=" + query)
        yield WebDriverWait(driver, 20)


def viewer_opened(wait: Any) -> Any:
    """The document viewer, once it shows."""
    from selenium.webdriver.common.by import By

    return wait.until(
        lambda d: d.find_element(By.ID, "viewer") if d.find_element(By.ID, "viewer").is_displayed() else None
    )


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,900", "--lang=ja"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_finds_mars_first_and_shows_it(built: HybridIndex, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = browser
    with running({"docs": built.location}) as url:
        driver.get(url + "/")  # type: ignore[attr-defined]
        wait = WebDriverWait(driver, 20)
        box = wait.until(lambda d: d.find_element(By.ID, "q"))
        box.send_keys("赤い惑星は?", Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li"))
        hits = driver.find_elements(By.CSS_SELECTOR, "#hits li")  # type: ignore[attr-defined]
        assert hits[0].text.splitlines()[0] == "1. 火星" and "planets/mars.md" in hits[0].text
        assert str(built.location) not in hits[0].text and "/docs/" not in hits[0].text  # below the folder indexed
        assert "赤い惑星" in hits[0].find_element(By.CSS_SELECTOR, ".snippet").text
        assert hits[0].find_elements(By.CSS_SELECTOR, ".snippet mark")  # matched words marked
        assert "BM25" in hits[0].text and "意味" in hits[0].text  # both raw scores
        shared = driver.current_url  # type: ignore[attr-defined]
        assert "q=%E8%B5%A4" in shared  # the URL holds the query

        box.send_keys(Keys.ARROW_DOWN)  # keyboard: down to the first hit, Enter opens it
        driver.switch_to.active_element.send_keys(Keys.ENTER)  # type: ignore[attr-defined]
        viewer = viewer_opened(wait)
        assert viewer.find_element(By.ID, "viewer-title").text == "火星"
        assert "赤い惑星" in viewer.find_element(By.CSS_SELECTOR, "#viewer-text mark.answer").text  # the answer marked
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)  # type: ignore[attr-defined]
        wait.until(lambda d: not d.find_element(By.ID, "viewer").is_displayed())

        driver.get(shared)  # type: ignore[attr-defined]  # a shared link runs its search
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li"))
        assert driver.find_elements(By.CSS_SELECTOR, "#hits li")[0].text.startswith("1. 火星")  # type: ignore[attr-defined]
        types = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#type option")]  # type: ignore[attr-defined]
        assert types[0] == "すべて" and {"md", "txt"} <= set(types)


def test_a_hit_opens_its_original_through_the_configured_link(corpus: Path, tmp_path: Path, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    (corpus / "hsearch.toml").write_text('[links]\n"planets" = "https://share.example.jp/資料/"\n', encoding="utf-8")
    (corpus / "trap.md").write_text(
        "---\nlink: javascript:alert(1)\n---\n# 罠\n\n赤い惑星の罠です。\n", encoding="utf-8"
    )
    (corpus / "phish.md").write_text(
        "---\nlink: https://evil.example/login\n---\n# 偽物\n\n赤い惑星の偽物です。\n", encoding="utf-8"
    )
    with searched(corpus, tmp_path / "linked", browser, "赤い惑星は?") as wait:
        hits = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li"))
        by_title = {hit.text.splitlines()[0].split(". ", 1)[1]: hit for hit in hits}
        link = by_title["火星"].find_element(By.CSS_SELECTOR, "a.original")
        assert link.text == "原本を開く"
        assert link.get_attribute("href") == "https://share.example.jp/%E8%B3%87%E6%96%99/mars.md"
        assert link.get_attribute("rel") == "noopener noreferrer" and link.get_attribute("target") == "_blank"
        assert not by_title["罠"].find_elements(By.CSS_SELECTOR, "a.original")  # a file's own link field is
        assert not by_title["偽物"].find_elements(By.CSS_SELECTOR, "a.original")  # never its original's address
        by_title["火星"].send_keys(Keys.ENTER)  # the viewer has the link too
        viewer = viewer_opened(wait)
        assert (
            viewer.find_element(By.CSS_SELECTOR, "#viewer-source a.original").get_attribute("href").endswith("/mars.md")
        )


def test_a_documents_other_passages_open_from_its_hit(corpus: Path, tmp_path: Path, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    chapters = "".join(
        f"## 第{n}章\n\n火星の探査{n}号は赤い惑星の地表を調べた。" + "観測を続けた。" * 40 + "\n\n" for n in range(1, 5)
    )
    (corpus / "planets" / "探査.md").write_text("# 火星探査\n\n" + chapters, encoding="utf-8")
    with searched(corpus, tmp_path / "grouped", browser, "赤い惑星の探査") as wait:
        driver: Any = browser
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li .more"))
        more = driver.find_element(By.CSS_SELECTOR, "#hits li .more")  # type: ignore[attr-defined]
        assert more.text.startswith("この文書の他の該当箇所")
        more.click()
        wait.until(lambda d: "の該当箇所" in d.find_element(By.ID, "status").text)
        hits = driver.find_elements(By.CSS_SELECTOR, "#hits li")  # type: ignore[attr-defined]
        assert len(hits) >= 3 and all("探査.md" in hit.text for hit in hits)  # that document's passages alone
        assert "within=" in driver.current_url  # type: ignore[attr-defined]  # shareable
        hits[1].send_keys(Keys.ENTER)  # the viewer marks the answering sentence inside the passage
        viewer = viewer_opened(wait)
        answer = viewer.find_element(By.CSS_SELECTOR, "#viewer-text mark.answer").text
        assert "赤い惑星" in answer and len(answer) < 60
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "#status .back").click()  # type: ignore[attr-defined]
        wait.until(lambda d: "件（docs" in d.find_element(By.ID, "status").text)
        titles = [hit.text.splitlines()[0] for hit in driver.find_elements(By.CSS_SELECTOR, "#hits li")]  # type: ignore[attr-defined]
        assert len(titles) == len(set(titles))  # one hit per document again


def test_each_reader_sees_their_own_results_with_their_token(tmp_path: Path, browser: object) -> None:
    """A server with an auth file: the page asks for a token, then shows that reader's documents,
    copies and filter choices; another token on the same page shows another reader's."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from hybridsearch.auth import Users
    from hybridsearch.server.guards import bearer_users

    driver: Any = browser
    with build_share(tmp_path) as index:
        location = index.location
    tokens = write_auth(tmp_path / "users.toml")
    with running({"share": location}, caller=bearer_users(Users.load(tmp_path / "users.toml"))) as url:
        driver.get(url + "/?q=有給休暇の申請 出張の旅費 給与の支払い")
        wait = WebDriverWait(driver, 20)

        def sign_in(user: str) -> str:
            """The hits' text once `user`'s token is saved (typed in the token bar, then Enter)."""
            box = wait.until(
                lambda d: d.find_element(By.ID, "token") if d.find_element(By.ID, "token").is_displayed() else None
            )
            box.send_keys(tokens[user] + "\n")
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li"))
            return driver.find_element(By.ID, "hits").text

        assert "アクセストークンが必要です" in wait.until(lambda d: d.find_element(By.ID, "status").text)
        suzuki = sign_in("suzuki")
        assert "人事/給与規程.md" in suzuki and "人事/休暇_控え.md" in suzuki and "総務" not in suzuki  # a copy too

        def types() -> set[str]:
            return {o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#type option")}

        assert types() == {"", "md", "txt"}  # 人事/評価.txt: a choice only suzuki has
        driver.find_element(By.ID, "token-change").click()
        tanaka = sign_in("tanaka")
        assert "総務/出張規程.md" in tanaka and "人事" not in tanaka
        assert "人事" not in driver.find_element(By.TAG_NAME, "body").text
        assert types() == {"", "md"} and not driver.find_element(By.ID, "type-label").is_displayed()
