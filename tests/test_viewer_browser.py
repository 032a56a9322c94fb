"""The viewer and the static site in a real headless Chromium: click through, check what is shown, and
leave a screenshot of each page in test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures_browser import Study, add_built_record, file_digest, screenshot
from helpers import run_cli
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from paperlink.web.links import quote_segment


def wait_for_url(driver: Any, url: str) -> None:
    """Clicks and form submissions navigate asynchronously: wait for the new page before looking."""
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(url))
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def image_loaded(driver: Any, element: Any) -> bool:
    return bool(
        driver.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", element
        )
    )


@pytest.mark.slow
def test_click_from_records_to_record_figure_and_comparison(study: Study, serve, browser) -> None:
    viewer = serve(study.root, "--tex", "paper/main.tex")
    browser.get(viewer.url)
    assert browser.title == "Records · paperlink"
    rows = browser.find_elements(By.CSS_SELECTOR, "table.records tbody th a")
    assert [row.text for row in rows] == [study.archived, study.tuned, study.baseline]
    screenshot(browser, "01-records")

    browser.find_element(By.LINK_TEXT, study.tuned).click()
    wait_for_url(browser, viewer.url + "records/tuned")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Record tuned")
    image = browser.find_element(By.CSS_SELECTOR, ".gallery img")
    assert image_loaded(browser, image)
    assert image.get_attribute("naturalWidth") == "300"
    digest = file_digest(study.root, "figures/tuned.png").sha256
    assert digest in image.get_attribute("alt")
    assert f"sha256:{digest}" in browser.find_element(By.CSS_SELECTOR, "table.files").text
    assert browser.find_element(By.ID, "rerun").text == "paperlink rerun tuned"
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff .d-add")]
    assert any(line.startswith("+pathlib.Path") and "png(300, 200" in line for line in added)
    screenshot(browser, "02-record")

    browser.find_element(By.PARTIAL_LINK_TEXT, "figure page").click()
    wait_for_url(browser, viewer.url + "figures/tuned/figures/tuned.png")
    assert browser.find_element(By.ID, "verification").text == "not archived"
    assert image_loaded(browser, browser.find_element(By.CSS_SELECTOR, ".main-figure img"))
    assert digest in browser.find_element(By.CSS_SELECTOR, "dl.digests").text
    assert "appendix.tex, line 2" in browser.find_element(By.CSS_SELECTOR, "ul.uses").text
    screenshot(browser, "03-figure")

    browser.find_element(By.LINK_TEXT, "tuned").click()
    wait_for_url(browser, viewer.url + "records/tuned")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Compare with the previous run").click()
    wait_for_url(browser, viewer.url + "compare/baseline/tuned")
    differences = browser.find_element(By.CSS_SELECTOR, "table.differences").text
    assert "argv" in differences and "orange" in differences
    screenshot(browser, "04-compare")

    browser.get(viewer.url + "records/archived-in-container")
    container = browser.find_element(By.ID, "container").text
    assert "sha256:" + "cd" * 32 in container
    assert "paperlink rerun archived-in-container" in container
    assert "10.5072/zenodo.123456" in browser.find_element(By.ID, "archive").text
    screenshot(browser, "05-record-container-archive")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, "header.site").is_displayed()
    screenshot(browser, "05b-record-print")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    browser.get(viewer.url + "figures")
    states = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "table.figures .state")]
    assert states == ["not archived", "not archived", "OK"]
    thumbs = browser.find_elements(By.CSS_SELECTOR, "table.figures img.thumb")
    assert len(thumbs) == 3 and all(image_loaded(browser, t) for t in thumbs)
    screenshot(browser, "06-figures")

    browser.get(viewer.url + "records/nope")
    assert "404 Not Found" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, "07-not-found")


def test_search_form_filters_without_javascript(study: Study, serve, browser) -> None:
    viewer = serve(study.root)
    browser.get(viewer.url)
    browser.find_element(By.NAME, "q").send_keys("narrower")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_for_url(browser, viewer.url + "?q=narrower&tag=&status=&script=&since=&until=")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.records tbody th a")
    assert [row.text for row in rows] == [study.tuned]


def test_compare_form_on_the_record_page(study: Study, serve, browser) -> None:
    viewer = serve(study.root)
    browser.get(viewer.url + "records/baseline")
    browser.find_element(By.NAME, "right").send_keys(study.archived)
    browser.find_element(By.CSS_SELECTOR, "#compare button").click()
    wait_for_url(browser, viewer.url + "compare/baseline/archived-in-container")


def test_html_in_a_record_runs_no_script(project_dir: Path, serve, browser) -> None:
    reason = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
    label = "<img-src=x-onerror=alert(1)>"
    run_cli(
        "run", "--label", label, "--reason", reason, "--",
        sys.executable, "-c", "print(\"<img src=x onerror=\\\"document.title='pwned'\\\">\")",
    )  # fmt: skip
    add_built_record(
        project_dir,
        "hostile",
        argv=["sh", "-c", "<script>document.title='pwned'</script>"],
        reason=reason,
    )
    viewer = serve(project_dir)
    for path in (
        "",
        "records/" + quote_segment(label),
        "records/hostile",
        "compare/hostile/" + quote_segment(label),
    ):
        browser.get(viewer.url + path)
        assert "pwned" not in browser.title
        assert browser.find_elements(By.CSS_SELECTOR, "main script, main img[onerror]") == []
    browser.get(viewer.url + "records/" + quote_segment(label))
    assert (
        browser.find_element(By.CSS_SELECTOR, "p.lead").text == reason
    )  # shown as text, literally
    assert "<img src=x onerror=" in browser.find_element(By.ID, "stdout").text
    assert browser.find_element(By.CSS_SELECTOR, "h1 .label").text == label
    assert browser.find_element(By.ID, "rerun").text == f"paperlink rerun '{label}'"  # shell-quoted
    screenshot(browser, "08-hostile-record")


def test_static_site_opens_from_disk(study: Study, browser, tmp_path: Path) -> None:
    site = tmp_path / "site"
    run_cli("site", str(site), "--tex", "paper/main.tex")
    browser.get(site.joinpath("index.html").as_uri())
    assert browser.title == "Records · paperlink"
    assert browser.find_elements(By.CSS_SELECTOR, "form.filters") == []
    screenshot(browser, "09-site-records")
    browser.find_element(By.LINK_TEXT, study.baseline).click()
    wait_for_url(browser, (site / "records" / "baseline.html").as_uri())
    image = browser.find_element(By.CSS_SELECTOR, ".gallery img")
    assert image_loaded(browser, image)
    assert browser.find_element(By.ID, "rerun").text == "paperlink rerun baseline"
    # The stylesheet came along: the header band is dark.
    colour = browser.find_element(By.CSS_SELECTOR, "header.site").value_of_css_property(
        "background-color"
    )
    assert colour == "rgba(29, 35, 48, 1)"
    screenshot(browser, "10-site-record")
    browser.find_element(By.PARTIAL_LINK_TEXT, "figure page").click()
    wait_for_url(browser, (site / "figures" / "baseline" / "figures" / "curve.png.html").as_uri())
    assert image_loaded(browser, browser.find_element(By.CSS_SELECTOR, ".main-figure img"))
    screenshot(browser, "11-site-figure")
    browser.get(site.joinpath("index.html").as_uri())
    browser.find_element(By.LINK_TEXT, study.tuned).click()
    wait_for_url(browser, (site / "records" / "tuned.html").as_uri())
    browser.find_element(By.PARTIAL_LINK_TEXT, "Compare with the previous run").click()
    wait_for_url(browser, (site / "compare" / "baseline" / "tuned.html").as_uri())
    assert "argv" in browser.find_element(By.CSS_SELECTOR, "table.differences").text
    images = browser.find_elements(By.CSS_SELECTOR, ".pair img")
    assert images == [] or all(image_loaded(browser, i) for i in images)


def test_chromium_is_debians_and_offline(browser) -> None:
    version = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=True
    )
    assert "Chromium" in version.stdout
    assert browser.capabilities["browserName"] in ("chrome", "chromium")
