"""The provider's console in a real headless browser (Debian's chromium and
chromium-driver, Selenium from python3-selenium): portcullis-provider serve
with a console password and two real portcullisd gateways enrolled (POST
/enrol with tokens from `enrol-token`) that pull the server's feed every
second and post their receipts to it. The browser logs in, fills and
submits the alert form, and then, without reloading the page, sees both
gateways' receipts for the alert appear and their state turn "sealed" (the
page's script polls /console/api/state). No Content-Security-Policy
violation may be reported by the browser.

Screenshots (login page, dashboard after the alert, dashboard with the
receipts) go to $PORTCULLIS_TEST_OUTPUT/screenshots, else
<repo>/build/test-output/screenshots; their paths are printed.

Skipped (with the reason) when chromium, chromedriver or selenium are absent.
"""

import http.client
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import REPO  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403
from outbreak_util import gen_key, pub_hex  # noqa: E402
from test_provider_cli import PROVIDER, TrustedKey  # noqa: E402
from test_provider_serve import token, write_key  # noqa: E402
from test_provider_console import (PASSWORD, console_factory, prov,  # noqa: E402,F401
                                   set_password)

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 60


def _missing():
    for p in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            return "%s not installed (apt-get install chromium chromium-driver)" % p
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not importable (apt-get install python3-selenium)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def screenshot_dir():
    out = os.environ.get("PORTCULLIS_TEST_OUTPUT")
    d = Path(out) / "screenshots" if out else REPO / "build" / "test-output" / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pc-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--no-first-run", "--disable-extensions", "--window-size=1400,1800",
              "--user-data-dir=" + profile):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_console_in_browser(prov, console_factory, browser, gateway_factory, sink, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import JavascriptException, StaleElementReferenceException
    from selenium.webdriver.support.ui import Select, WebDriverWait

    transient = (StaleElementReferenceException, JavascriptException)

    set_password(prov)
    srv = console_factory()
    hexkey = prov.hexkey

    # two real gateways, enrolled with their own keys, pulling the feed
    gws = []
    for name in ("gw-a", "gw-b"):
        k = gen_key()
        kp = tmp_path / ("%s.key" % name)
        write_key(kp, k)
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("POST", "/enrol", body=json.dumps({
            "token": token(prov), "gateway": name, "public_key": pub_hex(k)}))
        r = c.getresponse()
        assert r.status == 200, r.read()
        r.read()
        c.close()
        gws.append(gateway_factory(sink, TrustedKey(PROVIDER, hexkey), push=False, outbreak={
            "gateway_id": name, "feed_url": srv.base + "/feed/index.json",
            "receipt_url": srv.base + "/receipts", "poll_interval": "1s",
            "fetch_timeout": "5s", "gateway_key": str(kp)}))

    shots = screenshot_dir()
    saved = []

    def shot(name):
        p = shots / name
        browser.save_screenshot(str(p))
        saved.append(p)
        print("screenshot: %s" % p)

    # The page re-renders its tables on every poll and the form posts load a
    # new page, so what is read is read in one script run (a snapshot),
    # never element by element (stale elements).
    def rows(d, table, cell):
        return d.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
            ".map(tr => [tr.dataset.gateway, tr.dataset.message || '',"
            " (tr.querySelector(arguments[1]) || {}).textContent || ''])", table, cell)

    def text_of(d, id_):
        return d.execute_script(
            "var e = document.getElementById(arguments[0]); return e ? e.textContent : '';", id_)

    # log in
    browser.get(srv.base + "/console/login")
    assert "Log in" in browser.title
    shot("console-login.png")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.find_elements(By.ID, "alert-form"))
    assert sorted(g for g, _, _ in rows(browser, "#gateways", ".id")) == ["gw-a", "gw-b"]

    # raise an alert through the form
    browser.find_element(By.ID, "virus").send_keys("Test.Browser.Alert-1")
    Select(browser.find_element(By.ID, "mode")).select_by_value("hold")
    ttl = browser.find_element(By.ID, "ttl")
    ttl.clear()
    ttl.send_keys("1h")
    browser.find_element(By.ID, "name").send_keys("browser test")
    browser.find_element(By.ID, "raise").click()
    WebDriverWait(browser, WAIT, ignored_exceptions=transient).until(
        lambda d: "Published alert" in text_of(d, "flash"))
    flash = text_of(browser, "flash").strip()
    aid = flash.split()[2]
    assert aid.startswith("A-"), flash
    shot("console-after-alert.png")
    # from here on the page is not reloaded: a marker on window proves it
    browser.execute_script("window.pcMarker = 'no-reload';")

    def receipts_and_sealed(d):
        got = {g: st.strip() for g, m, st in rows(d, "#receipts", ".state") if m == aid}
        states = {g: st.strip() for g, _, st in rows(d, "#gateways", ".state")}
        return got == {"gw-a": "sealed", "gw-b": "sealed"} and \
            states == {"gw-a": "sealed", "gw-b": "sealed"}
    WebDriverWait(browser, WAIT, poll_frequency=0.25,
                  ignored_exceptions=transient).until(receipts_and_sealed)
    assert browser.execute_script("return window.pcMarker;") == "no-reload"
    last = rows(browser, "#gateways", ".last-receipt")
    assert len(last) == 2 and all(r.strip() == aid for _, _, r in last), last
    assert "live updates:" in text_of(browser, "live")
    shot("console-receipts.png")
    for g in gws:
        assert g.status().get("sealed") is True

    # the browser reported no CSP violation nor script error
    logs = browser.get_log("browser")
    bad = [e for e in logs if e.get("level") == "SEVERE" or
           "Content Security Policy" in e.get("message", "")]
    assert not bad, bad
    for p in saved:
        assert p.stat().st_size > 1000, p
