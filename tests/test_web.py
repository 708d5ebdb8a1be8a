"""The web page end to end in a real headless Chromium (Debian's chromium + chromedriver, which
scripts/setup.sh installs): the page loads, a sample game is picked and one window written, and the
cards show exactly the timeline the API sent the browser. The screenshot is kept at
tests/artifacts/timeline.png.

    pytest tests/test_web.py      (~40 s on 2 CPU cores; the embedded base model, no network)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _serving import ROOT, SAMPLES, LiveServer, game_meta, periods_of, windows_of

from fan_timeline.server import create_app
from fan_timeline.service import TimelineService

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "tests" / "artifacts"
SENTIMENT_RGB = {"positive": "rgb(21, 128, 61)", "negative": "rgb(220, 38, 38)", "mixed": "rgb(147, 51, 234)",
                 "neutral": "rgb(107, 114, 128)"}   # style.css


@pytest.fixture(scope="module")
def url(base_model_path):
    service = TimelineService.load(base_model_path, params_file=ROOT / "params.yaml")
    with LiveServer(create_app(service, samples_dir=SAMPLES)) as url:
        yield url


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: scripts/setup.sh installs them "
                        "(apt chromium chromium-driver)")
        pytest.skip("Chromium and ChromeDriver are not installed (bash scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,1650",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    d.set_script_timeout(30)
    yield d
    d.quit()


def _network(driver) -> list[dict]:
    return [json.loads(e["message"])["message"] for e in driver.get_log("performance")]


def test_pick_a_sample_write_a_window_and_the_cards_show_the_api_answer(url, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get_log("browser"), driver.get_log("performance")   # drain what earlier tests logged
    driver.get(url + "/")
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sample-select option")) > 1)
    n = windows_of(periods_of("S0001"))
    Select(driver.find_element(By.ID, "sample-select")).select_by_value("S0001")
    driver.find_element(By.ID, "load-sample").click()
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#window-list .chip")) == n)
    summary = driver.find_element(By.ID, "input-summary").text
    assert "stats_v2" in summary and "minute_stamps" in summary and f"{n} windows" in summary

    # Whose fans: the league thread and a team's own subreddit (this game has one team's); read the team's.
    audience = Select(driver.find_element(By.ID, "audience-select"))
    offered = [o.get_attribute("value") for o in audience.options]
    meta = game_meta("S0001")
    team_sub = next(a for a in offered if a != "r/nba")
    assert "r/nba" in offered and team_sub in {f"r/{meta[side]['subreddit']}" for side in ("home", "away")}, offered
    audience.select_by_value(team_sub)
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "read"
                                    and Select(d.find_element(By.ID, "audience-select")).first_selected_option
                                    .get_attribute("value") == team_sub)

    # a fan writes the whole game with one button; windows are an advanced choice, folded away
    assert driver.find_element(By.ID, "write-game").is_displayed()
    assert not driver.find_element(By.ID, "window-list").is_displayed()
    driver.find_element(By.CSS_SELECTOR, "#advanced summary").click()
    driver.find_element(By.ID, "select-none").click()
    last = n - 1    # the game's last window: it lists the final, a play any model writes
    driver.find_element(By.CSS_SELECTOR, f'#window-list .chip[data-index="{last}"]').click()
    assert driver.find_element(By.ID, "selection-count").text == f"1 of {n} selected"
    driver.find_element(By.ID, "generate").click()
    WebDriverWait(driver, 300).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", (
        driver.find_element(By.ID, "error").text)
    bar = driver.find_element(By.ID, "progress")
    assert bar.is_displayed() and bar.get_attribute("value") == bar.get_attribute("max") == "1"

    # The answer as it came over the wire (DevTools), not as the page's script kept it.
    events = _network(driver)
    (request_id,) = [e["params"]["requestId"] for e in events if e["method"] == "Network.responseReceived"
                     and e["params"]["response"]["url"].endswith("/v1/timeline")]
    answer = json.loads(driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})["body"])
    assert [w["index"] for w in answer["windows"]] == [last] and answer["game"]["game_id"] == "S0001"
    assert answer["audience"] == team_sub     # the feelings are that fan base's
    timeline = answer["timeline"]
    assert timeline, "the model wrote no moment: nothing for the cards to show"

    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "timeline.png"))

    cards = driver.find_elements(By.CSS_SELECTOR, "#cards .card")
    assert len(cards) == len(timeline)
    for card, entry in zip(cards, timeline):
        text = {part: card.find_element(By.CLASS_NAME, part).get_attribute("textContent")
                for part in ("ts", "event", "pill")}
        assert text == {"ts": entry["ts"], "event": entry["event"], "pill": entry["fan_sentiment"]}
        quotes = card.find_elements(By.CLASS_NAME, "quote")
        assert [q.get_attribute("textContent") for q in quotes] == ([entry["quote"]] if "quote" in entry else [])
        assert not card.find_elements(By.CSS_SELECTOR, ".quote *, .event *")     # text, never markup
        pill = card.find_element(By.CLASS_NAME, "pill")
        assert pill.value_of_css_property("background-color").replace("rgba", "rgb").startswith(
            SENTIMENT_RGB[entry["fan_sentiment"]][:-1])

    chart = driver.find_element(By.ID, "chart")
    assert len(chart.find_elements(By.CSS_SELECTOR, ".moment")) == len(timeline)
    assert len(chart.find_elements(By.CSS_SELECTOR, "path.score")) == 2
    assert len(chart.find_elements(By.CSS_SELECTOR, "rect.volume")) == len(answer["series"]["volume"])
    assert [t.text for t in chart.find_elements(By.CSS_SELECTOR, "text.axis-label")][:4] == ["Q1", "Q2", "Q3", "Q4"]

    # Offline: every network request went to this server (chrome:// are the browser's own pages).
    urls = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    remote = [u for u in urls if u.split(":", 1)[0] in ("http", "https", "ws", "wss")]
    assert len(remote) >= 6 and all(u.startswith(url + "/") for u in remote), remote
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_a_bad_file_shows_what_and_where(url, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    driver.find_element(By.CSS_SELECTOR, "#own-files summary").click()
    driver.find_element(By.ID, "pbp-text").send_keys("<html>503 Service Unavailable</html>")
    driver.find_element(By.ID, "read-own").click()
    box = driver.find_element(By.ID, "error")
    WebDriverWait(driver, 30).until(lambda d: box.is_displayed())
    assert "body.pbp" in box.text and "not valid JSON" in box.text



def test_api_docs_render_offline(url, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")   # drain what earlier tests logged
    driver.get(url + "/docs")
    WebDriverWait(driver, 30).until(lambda d: "/v1/timeline/upload" in d.find_element(By.TAG_NAME, "body").text)
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "/v1/windows" in body and "/version" in body
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
