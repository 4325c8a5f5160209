"""End to end: the real server on a loopback port, the page driven in headless Chromium."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from .conftest import require_shared

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(segmenter):
    import uvicorn

    from zsseg.server import create_app

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(segmenter), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def server(conse_segmenter):
    yield from serve(conse_segmenter)


@pytest.fixture(scope="module")
def default_server(default_segmenter):
    yield from serve(default_segmenter)


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "Chromium and chromedriver are not installed (Debian "
            "packages chromium, chromium-driver; .ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,900",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def test_upload_type_click_see_overlay_and_legend(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    image = require_shared("data", "voc2012", "val", "images", "2007_000042.jpg")
    browser.get(server + "/")
    browser.find_element(By.ID, "file").send_keys(str(image))
    browser.find_element(By.ID, "classes").send_keys("train, person, car, building, grass, sky")
    browser.find_element(By.ID, "go").click()
    wait = WebDriverWait(browser, 120)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#legend li")))
    items = browser.find_elements(By.CSS_SELECTOR, "#legend li")
    names = [li.find_element(By.CLASS_NAME, "name").text for li in items]
    assert names and set(names) <= {"train", "person", "car", "building", "grass", "sky"}
    overlay = browser.find_element(By.ID, "overlay")
    assert overlay.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].naturalWidth", overlay) == 500
    assert browser.find_element(By.ID, "download").is_displayed()
    assert browser.find_element(By.ID, "error").text == ""
    ActionChains(browser).move_to_element(overlay).perform()
    wait.until(lambda d: d.find_element(By.ID, "tip").is_displayed())
    assert browser.find_element(By.ID, "tip").text in names
    shot = tmp_path / "page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_street_frame_with_the_default_and_a_shipped_vocabulary(default_server, browser, tmp_path):
    """The README's screenshot (ZSSEG_SCREENSHOT=docs/img/web-page.png): a CamVid frame, several classes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    image = require_shared("data", "camvid", "val", "images", "0016E5_07959.png")
    browser.get(default_server + "/")
    browser.find_element(By.ID, "file").send_keys(str(image))
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#vocab option")) > 1)
    Select(browser.find_element(By.ID, "vocab")).select_by_value("camvid11")
    browser.find_element(By.ID, "go").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#legend li")))
    names = [li.find_element(By.CLASS_NAME, "name").text for li in browser.find_elements(By.CSS_SELECTOR, "#legend li")]
    assert {"road", "sky", "building"} <= set(names), names
    assert browser.find_element(By.ID, "error").text == ""
    shot = Path(os.environ.get("ZSSEG_SCREENSHOT", tmp_path / "page.png"))
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_the_legend_says_how_each_class_was_scored(default_server, browser):
    """A user who typed "street" sees that it was read as the network's road; an unknown name is the VLM's."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    image = require_shared("data", "camvid", "val", "images", "0016E5_08049.png")
    browser.get(default_server + "/")
    browser.find_element(By.ID, "file").send_keys(str(image))
    browser.find_element(By.ID, "classes").send_keys("street, sky, house, giraffe")
    browser.find_element(By.ID, "go").click()
    wait = WebDriverWait(browser, 120)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#legend li")))
    how = {
        li.find_element(By.CLASS_NAME, "name").text: li.find_element(By.CLASS_NAME, "how").text
        for li in browser.find_elements(By.CSS_SELECTOR, "#legend li")
    }
    assert set(how) == {"street", "sky", "house", "giraffe"}
    assert how["street"].startswith("network class road (similarity 0.8")
    assert how["sky"] == "network class sky (same name)"
    assert how["house"].startswith("network class building")
    assert how["giraffe"] == "vision-language model only"
    giraffe = [li for li in browser.find_elements(By.CSS_SELECTOR, "#legend li") if "giraffe" in li.text][0]
    assert giraffe.get_attribute("class") == "absent"  # listed, with 0 % of the pixels


def test_errors_are_shown_to_the_person(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image")
    browser.get(server + "/")
    browser.find_element(By.ID, "file").send_keys(str(bad))
    browser.find_element(By.ID, "classes").send_keys("cat, dog")
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "error").text)
    assert "not an image" in browser.find_element(By.ID, "error").text
