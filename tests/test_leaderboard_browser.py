"""The HTML leaderboard in a real headless browser (Debian's chromium through selenium and the
system chromedriver): the page loads from file:// and a table sorts numerically, both ways, when
a header is clicked. Skipped only where no browser is installed; ``scripts/test.sh`` installs
one (``scripts/install_browser.sh``) where apt can be used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests._leaderboard_data import fake_model, results, write
from tracr_bench.leaderboard.entries import load_entries
from tracr_bench.leaderboard.html_page import render_html
from tracr_bench.leaderboard.submit import submit

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> tuple[str, str] | None:
    binary = next((b for b in map(shutil.which, BROWSERS) if b), None)
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/lib/chromium/chromedriver",) if Path(p).is_file()), None
    )
    return (binary, driver) if binary and driver else None


pytestmark = pytest.mark.skipif(
    _browser() is None,
    reason="no browser installed: needs chromium and chromedriver (Debian: apt-get install "
    "chromium chromium-driver; scripts/test.sh does it where apt is usable)",
)


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, chromedriver = _browser()  # type: ignore[misc]
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(chromedriver), options=options)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


@pytest.fixture
def page(tmp_path) -> Path:
    """Four base models; parity ID 100.00, 5.00, 50.00 and one without parity (empty cell):
    a text sort would put 100.00 before 5.00."""
    board = tmp_path / "leaderboard"
    board.mkdir()
    for name, acc in (("a-model", 1.0), ("b-model", 0.05), ("c-model", 0.5), ("d-model", None)):
        model = fake_model(tmp_path / "models", name)
        accs = {("count", "test"): 0.1} if acc is None else {("parity", "test"): acc}
        path = write(tmp_path / f"{name}.json", results(model, accs))
        submit(path, directory=board, name=name, submitted_by="t", date="2026-01-01")
    html = tmp_path / "index.html"
    html.write_text(render_html(load_entries(board)), "utf-8")
    return html


def _column(driver, table: str, header: str) -> tuple[list[str], list[str]]:
    from selenium.webdriver.common.by import By

    heads = [h.text.strip(" ▲▼") for h in driver.find_elements(By.CSS_SELECTOR, f"#{table} th")]
    i = heads.index(header)
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    models = [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows]
    values = [r.find_elements(By.TAG_NAME, "td")[i].text for r in rows]
    return models, values


def _click(driver, table: str, header: str) -> None:
    from selenium.webdriver.common.by import By

    for th in driver.find_elements(By.CSS_SELECTOR, f"#{table} th"):
        if th.text.strip(" ▲▼") == header:
            th.click()
            return
    raise AssertionError(f"no header {header!r}")


def test_page_sorts_when_a_header_is_clicked(driver, page):
    driver.get(page.as_uri())
    assert driver.title == "tracr-bench leaderboard"
    models, values = _column(driver, "main", "parity ID")
    assert models == ["a-model", "b-model", "c-model", "d-model"]  # grouped by base name
    assert values == ["100.00", "5.00", "50.00", "–"]

    _click(driver, "main", "parity ID")
    models, values = _column(driver, "main", "parity ID")
    assert values == ["5.00", "50.00", "100.00", "–"]  # numeric, empty cells last
    assert models == ["b-model", "c-model", "a-model", "d-model"]

    _click(driver, "main", "parity ID")
    models, values = _column(driver, "main", "parity ID")
    assert values == ["100.00", "50.00", "5.00", "–"]
    assert models == ["a-model", "c-model", "b-model", "d-model"]

    from selenium.webdriver.common.by import By

    sorted_by = [
        (th.text, th.get_attribute("aria-sort"))
        for th in driver.find_elements(By.CSS_SELECTOR, "#main th")
        if th.get_attribute("aria-sort")
    ]
    assert len(sorted_by) == 1 and sorted_by[0][1] == "descending"

    _click(driver, "main", "model")  # text columns sort too
    assert _column(driver, "main", "model")[0] == ["a-model", "b-model", "c-model", "d-model"]
    _click(driver, "main", "model")
    assert _column(driver, "main", "model")[0] == ["d-model", "c-model", "b-model", "a-model"]

    # the per-task table sorts on its own
    _click(driver, "task-parity", "test (ID)")
    assert _column(driver, "task-parity", "test (ID)")[1] == ["5.00", "50.00", "100.00"]


def test_charts_are_drawn(driver, page):
    """Each task's chart is laid out (a visible box of the size it declares) with a bar per
    row that has a result, its accessible name from its title."""
    from selenium.webdriver.common.by import By

    driver.get(page.as_uri())
    for task, bars in (("parity", 3), ("count", 1)):  # each row evaluated the test split only
        svg = driver.find_element(By.CSS_SELECTOR, f"#chart-{task} svg")
        assert svg.is_displayed()
        assert svg.size["width"] > 300 and svg.size["height"] > 200
        assert svg.get_attribute("role") == "img"
        title = driver.find_element(By.CSS_SELECTOR, f"#chart-{task}-title")
        assert title.get_attribute("textContent").startswith(f"{task}: exact match")
        rects = svg.find_elements(By.CSS_SELECTOR, "rect")
        drawn = [r for r in rects if r.find_elements(By.TAG_NAME, "title")]
        assert len(drawn) == bars
        assert all(r.size["height"] >= 1 for r in drawn)
