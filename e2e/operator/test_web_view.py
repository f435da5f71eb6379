"""The web view in a real browser (Debian's Chromium, headless, driven by Selenium):
it follows a running Execution while the API's process is killed and restarted
mid-run, and ends with every line exactly once, in order, and the final phase."""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from e2e import harness
from e2e.operator import support
from e2e.operator.apifixtures import api, postgres, viewer
from e2e.operator.apisupport import ApiPod

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["api", "postgres", "viewer"]  # fixtures

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMEDRIVER = pathlib.Path("/usr/bin/chromedriver")

SLOW = """
import logging, time
log = logging.getLogger("web")
for i in range(150):
    if i % 10 == 0:
        log.warning("tick %d", i)
    else:
        print("line", i)
    time.sleep(0.06)
result = {"lines": 150}
"""


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian with its chromedriver (never a downloaded one);
    --no-sandbox because CI runs as root, no display needed."""
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "chromium and chromium-driver are missing: run `make setup` (apt packages)"
    )
    profile = tempfile.mkdtemp(prefix="kuberun-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def lines(driver: Any) -> list[tuple[str, str]]:
    script = (
        "return Array.from(document.querySelectorAll('#log .line'))"
        ".map(e => [e.dataset.id, e.querySelector('.text').textContent]);"
    )
    return [tuple(pair) for pair in driver.execute_script(script)]


def test_the_page_follows_a_run_across_an_api_restart(
    cluster: harness.Cluster,
    kx_namespace: str,
    api: ApiPod,
    viewer: str,
    redis_client: redis.Redis,
    browser: Any,
    tmp_path: pathlib.Path,
) -> None:
    created = support.create(cluster, kx_namespace, support.execution("watched", SLOW))
    uid = created["metadata"]["uid"]
    browser.get(f"{api.base_url()}/ui/?namespace={kx_namespace}&execution=watched")
    browser.find_element(By.ID, "token").send_keys(viewer)
    browser.find_element(By.ID, "connect").click()

    harness.wait_for("30 lines on the page", lambda: len(lines(browser)) >= 30, timeout=90)
    assert support.status(cluster, kx_namespace, "watched").get("phase") == "RUNNING"
    shown_before = len(lines(browser))
    api.kill()  # the process dies mid-stream; the kubelet starts it again
    api.wait_ready()
    assert support.status(cluster, kx_namespace, "watched").get("phase") == "RUNNING"

    harness.wait_for(
        "the outcome on the page",
        lambda: browser.find_element(By.ID, "outcome").get_attribute("data-done") == "true",
        timeout=120,
        interval=0.2,
    )
    # KUBERUN_E2E_SCREENSHOTS=DIR keeps the picture of the finished page for a person to look at.
    shots = pathlib.Path(os.environ.get("KUBERUN_E2E_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "web-view.png"))
    shown = lines(browser)
    stream = [(i, f["msg"]) for i, f in support.stream_messages(redis_client, kx_namespace, uid)]
    assert shown == stream  # every line once, in the stream's order
    assert shown_before < len(shown)
    log = browser.find_element(By.ID, "log")
    assert log.get_attribute("data-duplicates") is None  # nothing was even sent twice
    assert int(log.get_attribute("data-connections")) >= 2  # it did reconnect
    assert browser.find_element(By.ID, "final-phase").text == "SUCCESS"
    assert '"lines": 150' in browser.find_element(By.ID, "outcome").text
    harness.wait_for(
        "the list showing the final phase",
        lambda: "SUCCESS" in browser.find_element(By.CSS_SELECTOR, "tr[data-name='watched']").text,
        timeout=10,
    )
