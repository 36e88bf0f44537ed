"""The HTML report in a real browser: headless Chromium opens it, every image loads,
the console stays clean, and screenshots are kept under test-artifacts/.

Skipped where Chromium, its driver or selenium is absent (install lines: README,
"Reports").
"""

import base64
import shutil
from pathlib import Path

import pytest
from report_store import write_store

from reconbench.reports.report import build_report, write_report

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
    "google-chrome")
DRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM or not DRIVER:
        pytest.skip("headless Chromium and chromedriver are not installed "
                    "(apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1366,768")  # a laptop screen
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def screenshot(driver, name: str, full_page: bool) -> Path:
    """Save a PNG of the viewport (or the whole page) under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": full_page})
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def test_report_opens_with_all_images_and_no_errors(browser, tmp_path):
    output = write_report(build_report(write_store(tmp_path / "store", ensemble=True,
                                                      spectral=True)),
                          tmp_path / "report")
    browser.get((output / "report.html").as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
    assert len(images) == len(list((output / "figures").glob("*.png"))) > 0
    assert all(complete and width > 0 for complete, width, _ in images), images
    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    assert "Uncertainty" in headings
    assert browser.execute_script(
        "return document.getElementById('uncertainty-toy-random').getBoundingClientRect().height"
    ) > 0
    for figure in ("calibration-toy-random", "coverage-toy-random", "psd-score-toy-random"):
        assert browser.execute_script(
            f"return document.getElementById('{figure}').querySelector('img').naturalWidth") > 0
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # nothing wider than the screen but the scrollable table boxes
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366
    assert screenshot(browser, "report-laptop.png", full_page=False).stat().st_size > 0
    assert screenshot(browser, "report-full.png", full_page=True).stat().st_size > 0
