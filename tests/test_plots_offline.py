"""`dvc plots show` and `dvc plots diff` pages render in a browser with no network.

Builds the template with scripts/plots_template.py (Vega inlined from vl-convert-python), renders
small plot files at the paths this repository's dvc.yaml declares, written by the project's plot
writers (training's curves in plots/train, evaluate's tables in plots/eval), with real DVC in a
scratch repo, and opens the pages in headless Chromium whose network is cut off (every host
resolves to nothing). Proves: every plot div gets a drawn chart (a canvas with pixels), the
browser makes no http(s) request and logs no error; and DVC's default page, under the same
conditions, draws nothing — so the check can fail.

Run: pytest tests/test_plots_offline.py   (needs /usr/bin/chromium and /usr/bin/chromedriver; ~30 s)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _pipeline import REPO, commit, run

from fan_timeline.plots import Curves, write_table

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("template") / "plots_offline.html"
    subprocess.run([sys.executable, str(REPO / "scripts" / "plots_template.py"), "--out", str(out)], check=True)
    text = out.read_text()
    assert "{plot_divs}" in text and "{scripts}" not in text and "cdn.jsdelivr" not in text
    return out


def write_plot_data(repo: Path, event_f1: float) -> None:
    """Small plot files at the paths dvc.yaml declares, written by the project's own writers
    (`plots.Curves` as training writes them, `plots.write_table` as evaluate does)."""
    curves = Curves(repo / "plots" / "train")
    curves.clear()
    for s in range(0, 12, 2):
        curves.log(s, {"loss": 2.1 - 0.1 * s, "lr": 1e-3 * (1 - s / 12), "tokens_per_s": 300 + s,
                       "grad_norm": 0.5 - 0.01 * s})
    curves.log(0, {"val_loss": 2.13})
    curves.log(10, {"val_loss": 0.8})
    evals = repo / "plots" / "eval"
    runs = ["finetuned_constrained", "finetuned_free", "base_constrained", "rule", "rule (stress)"]
    write_table(evals / "event_f1.json",
                [{"run": r, "event_f1": event_f1 if i == 0 else 0.15 * i, "event_f1_ts_only": 0.2 * i}
                 for i, r in enumerate(runs)])
    write_table(evals / "per_game_f1.json",
                [{"game_id": g, "event_f1": f} for g, f in [("S0006", 0.29), ("S0010", 0.45), ("S0021", 0.2)]])
    write_table(evals / "sentiment_confusion.json",
                [{"actual": a, "predicted": p} for a, p in [("positive", "positive"), ("negative", "positive"),
                                                           ("neutral", "neutral"), ("negative", "negative")]])


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory) -> Path:
    """A git + DVC repo with this checkout's dvc.yaml (and the params.yaml it interpolates) and plot
    data: one commit, then a workspace edit."""
    repo = tmp_path_factory.mktemp("plots") / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, repo / name)
    write_plot_data(repo, event_f1=0.4)
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    commit(repo, "plots")
    write_plot_data(repo, event_f1=0.5)   # a change for `dvc plots diff` to show
    return repo


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 # No network: every host name fails to resolve, so a CDN script cannot load.
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def render(driver, page: Path, plots: int, timeout_s: float = 30.0) -> dict:
    """Open `page`; wait until `plots` charts are drawn or the timeout; report what happened."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("performance")   # drop earlier pages' events
    driver.get(page.as_uri())
    drawn_js = """return Array.from(document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks'))
        .filter(el => el.tagName.toLowerCase() === 'svg' ? el.querySelectorAll('path, rect, line').length > 0
            : el.width > 0 && el.height > 0
              && el.getContext('2d').getImageData(0, 0, el.width, el.height).data.some(v => v !== 0)).length"""
    try:
        WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(lambda d: d.execute_script(drawn_js) >= plots)
    except TimeoutException:
        pass
    requests = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            requests.append(msg["params"]["request"]["url"])
    return {"drawn": driver.execute_script(drawn_js),
            "divs": driver.execute_script("return document.querySelectorAll('body > div[id]').length"),
            "remote_requests": [u for u in requests if u.startswith(("http:", "https:"))],
            "errors": [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]}


def plot_count(show_json: str) -> int:
    """Number of plots in `dvc plots show --json` output ({"data": {file: [plot, ...]}})."""
    return sum(len(plots) for plots in json.loads(show_json)["data"].values())


def test_plots_show_and_diff_render_offline(plots_repo, template, browser, tmp_path):
    shown_json = run(["dvc", "plots", "show", "--json"], plots_repo)
    n_plots = plot_count(shown_json)
    assert n_plots == 7   # loss (train and val), lr, tokens/s, grad norm + the three eval plots
    # every plot is titled by what it shows, not by a file path (DVC's default for an untitled plot)
    titles = [plot["content"]["title"]["text"] for plots in json.loads(shown_json)["data"].values() for plot in plots]
    assert "Training and val loss" in titles and not [t for t in titles if "/" in str(t)], titles

    run(["dvc", "plots", "show", "--html-template", str(template), "-o", str(tmp_path / "show")], plots_repo)
    shown = render(browser, tmp_path / "show" / "index.html", n_plots)
    assert shown["divs"] == n_plots
    assert shown["drawn"] == n_plots, shown
    assert shown["remote_requests"] == [] and shown["errors"] == [], shown

    run(["dvc", "plots", "diff", "HEAD", "--html-template", str(template), "-o", str(tmp_path / "diff")], plots_repo)
    diffed = render(browser, tmp_path / "diff" / "index.html", n_plots)
    assert diffed["drawn"] == diffed["divs"] >= n_plots, diffed
    assert diffed["remote_requests"] == [] and diffed["errors"] == [], diffed


def test_default_dvc_page_stays_blank_offline(plots_repo, browser, tmp_path):
    """The control: without the template, DVC's page needs the CDN, so nothing is drawn here."""
    run(["dvc", "plots", "show", "-o", str(tmp_path / "default")], plots_repo)
    page = tmp_path / "default" / "index.html"
    assert "cdn.jsdelivr.net" in page.read_text()
    shown = render(browser, page, plot_count(run(["dvc", "plots", "show", "--json"], plots_repo)), timeout_s=5)
    assert shown["drawn"] == 0
    assert any("cdn.jsdelivr.net" in u for u in shown["remote_requests"]) and shown["errors"], shown
