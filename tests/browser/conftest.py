"""A real headless Chromium, driven by Selenium through Debian's chromedriver.

`make browser` installs both (Debian packages chromium and chromium-driver).
Where neither can be found the browser tests skip and say why. Screenshots of
each page go to TEND_SCREENSHOT_DIR (default var/screenshots).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("TEND_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("TEND_CHROMEDRIVER") or shutil.which("chromedriver")
SCREENSHOTS = Path(
    os.environ.get("TEND_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "var" / "screenshots")
)
LAPTOP = (1366, 900)
TABLET = (768, 1024)


@pytest.fixture(scope="session")
def browser(live_server):
    # Depends on live_server so that it quits first: Chromium's keep-alive
    # connections close while the server and its database are still up.
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "No headless Chromium here: run `make browser` (installs Debian's chromium and chromium-driver) "
            "or set TEND_CHROMIUM and TEND_CHROMEDRIVER."
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
        "--lang=en-US",
    ):
        options.add_argument(flag)
    # The console log, to read Content-Security-Policy violations from.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def no_csp_violations(browser):
    """Every page a browser test opens works under Tend's Content-Security-Policy."""
    browser.get_log("browser")  # what earlier tests left
    yield
    violations = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert not violations, violations


@pytest.fixture
def screenshot(browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, size: tuple[int, int] = LAPTOP) -> Path:
        browser.set_window_size(*size)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(size[0], min(max(height, size[1]), 4000))
        path = SCREENSHOTS / f"{name}.png"
        browser.save_screenshot(str(path))
        browser.set_window_size(*LAPTOP)
        return path

    return take
