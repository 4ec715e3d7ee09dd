"""The web page in a real browser: Debian's headless Chromium driven by Selenium through
the system chromedriver, against a real server.  Each test follows links as a person
would, checks what is shown, and saves a screenshot (under the test's tmp dir)."""

import os
import shutil

import pytest

from artfs.store import store as store_mod
from tests.ui_store import EVIL, build
from tests.uiserver import running

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("uib") / "store")
    ids = build(path, tmp_path_factory.mktemp("src"))
    store_mod.close_all()
    with running(path) as url:
        yield url, ids


@pytest.fixture(scope="module")
def browser():
    # Not a skip: the set-up installs them, and a page nobody opened is not tested.
    assert CHROMIUM and DRIVER, "needs chromium and chromium-driver: run scripts/setup.sh"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shot(browser, tmp_path):
    def take(name: str) -> str:
        path = str(tmp_path / f"{name}.png")
        assert browser.save_screenshot(path)
        assert os.path.getsize(path) > 5000  # a page was drawn, not a blank
        return path

    return take


def by(browser, css: str):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, css)


def navigate(browser, act) -> None:
    """Do ``act`` (a click or step that loads a page), then wait for the new page: the
    old page's elements, read too early, go stale under the reader."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element("tag name", "html")
    act()
    wait = WebDriverWait(browser, 30)
    wait.until(expected_conditions.staleness_of(old))
    wait.until(lambda b: b.execute_script("return document.readyState") == "complete")


def click_link(browser, text: str) -> None:
    from selenium.webdriver.common.by import By

    navigate(browser, browser.find_element(By.LINK_TEXT, text).click)


def test_front_page_to_version_to_file_preview(site, browser, shot):
    url, _ = site
    browser.get(url + "/")
    assert browser.title == "Artifacts · artfs"
    headings = [h.text for h in by(browser, "h2")]
    assert any(h.startswith("dataset") for h in headings)
    assert any(h.startswith("model") for h in headings)
    # the run named like markup is text on the page, and no alert opened
    assert EVIL in browser.find_element("tag name", "body").text
    shot("front")
    click_link(browser, "ds")
    assert browser.current_url.endswith("/a/ds")
    assert [a.text for a in by(browser, "table.versions tbody tr td:first-child a")] == [
        "v1",
        "v0",
    ]
    click_link(browser, "v1")
    assert "ds:v1" in browser.find_element("tag name", "h1").text
    rows = {r.find_element("tag name", "th").text: r for r in by(browser, "table.metadata tr")}
    assert rows["deep.k"].find_element("tag name", "td").text == EVIL
    shot("version")
    click_link(browser, "data.csv")
    cells = [c.text for c in by(browser, ".preview table td")]
    assert cells == ["1", "cat", "2", "<dog>"]
    shot("csv")
    browser.back()
    click_link(browser, "img/")
    click_link(browser, "red.png")
    image = by(browser, ".preview img")[0]
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 4  # it loaded
    shot("image")


def test_diff_from_the_version_page(site, browser, shot):
    url, _ = site
    browser.get(url + "/a/ds/v1")
    click_link(browser, "Diff with ds:v0")
    summary = by(browser, "p.summary")[0].text
    assert "1 added" in summary and "1 removed" in summary and "1 changed" in summary
    status = {
        r.find_elements("tag name", "td")[1].text.split()[0]: r.get_attribute("class")
        for r in by(browser, "table.diff tbody tr")
    }
    assert status["new.txt"] == "added" and status["old.txt"] == "removed"
    assert status["readme.txt"] == "modified"
    assert "+changed line" in by(browser, ".textdiff pre")[0].text
    shot("diff")


def test_run_page_from_the_front_page(site, browser, shot):
    url, ids = site
    browser.get(url + "/")
    click_link(browser, "train-1")
    assert browser.current_url.endswith(f"/run/{ids['train']}")
    assert "train-1" in browser.find_element("tag name", "h1").text
    captions = [f.text for f in by(browser, "figure.metric figcaption")]
    assert any(c.startswith("loss") for c in captions) and any(
        c.startswith("acc") for c in captions
    )
    summary = by(browser, "details.input summary")[0].text
    assert "ds:v1" in summary and "2 files read, 37 B" in summary
    shot("run")


def test_graph_page_pans_zooms_and_opens_nodes(site, browser, shot):
    from selenium.webdriver.common.action_chains import ActionChains

    url, ids = site
    browser.get(url + "/a/ds/v1")
    click_link(browser, "Lineage graph")
    box = by(browser, "#graph")[0]
    assert "js" in box.get_attribute("class")  # the pan/zoom script took over
    texts = [t.text for t in by(browser, "#graph svg g.node text")]
    assert "ds:v1" in texts and "train-1" in texts and "model:v0" in texts
    before = browser.execute_script(
        "return arguments[0].getAttribute('viewBox')", by(browser, "#graph svg")[0]
    )
    by(browser, "[data-zoom=in]")[0].click()
    after = browser.execute_script(
        "return arguments[0].getAttribute('viewBox')", by(browser, "#graph svg")[0]
    )
    assert float(after.split()[2]) < float(before.split()[2])  # zoomed in: a smaller view
    ActionChains(browser).move_to_element(box).click_and_hold().move_by_offset(
        80, 40
    ).release().perform()
    panned = browser.execute_script(
        "return arguments[0].getAttribute('viewBox')", by(browser, "#graph svg")[0]
    )
    assert panned.split()[:2] != after.split()[:2]
    assert browser.current_url.startswith(url + "/graph")  # a drag opens no node
    shot("graph")
    by(browser, "[data-zoom=fit]")[0].click()
    node = next(a for a in by(browser, "#graph svg g.node a") if "train-1" in a.text)
    click = "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    navigate(browser, lambda: browser.execute_script(click, node))
    assert browser.current_url.endswith(f"/run/{ids['train']}")
    navigate(browser, browser.back)
    from selenium.webdriver.support.ui import Select

    Select(by(browser, "select[name=view]")[0]).select_by_value("summary")
    navigate(browser, by(browser, "form.controls button")[0].click)
    summary = [t.text for t in by(browser, "#graph svg g.node text")]
    assert "dataset · 1 version" in summary and "train" in summary
    shot("graph-summary")
