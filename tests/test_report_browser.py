"""The report in a real browser: headless Chromium loads every image and logs no error.

CI installs Debian's ``chromium`` and ``chromium-driver`` (see .ci/run) and selenium comes with
the ``dev`` extra; where either is absent this test skips and says which. The screenshot goes
to the test's temporary folder, or to ``$AEKIT_SCREENSHOT_DIR`` when that is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1200,900")


def _browser(profile: Path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("chromium or chromedriver is absent: apt-get install -y chromium chromium-driver (CI does)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")  # a fresh profile every run
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


def test_report_renders_in_chromium(tmp_path):
    import aekit
    from aekit.report import build_report

    browser = _browser(tmp_path / "profile")  # skip before any training when there is no browser
    try:
        data = aekit.datasets.load("digits")
        model = aekit.VAE(input_shape=data.input_shape, latent_dim=2)  # 2-D codes: the map shows the code itself
        run = tmp_path / "run"
        aekit.Trainer(epochs=3, batch_size=64, progress=False, out_dir=run).fit(model, data)
        rep = build_report(run, model=model, data=data)
        assert len(rep.figures) == 6 and not rep.notes

        browser.set_page_load_timeout(60)
        browser.get(rep.path.resolve().as_uri())
        state = browser.execute_script(
            "return {ready: document.readyState, title: document.title,"
            " images: Array.from(document.images).map(i => ({id: i.parentElement.id, complete: i.complete,"
            " w: i.naturalWidth, h: i.naturalHeight})),"
            " height: document.documentElement.scrollHeight}")
        assert state["ready"] == "complete"
        assert state["title"].startswith("aekit report: VAE on digits")
        assert [i["id"] for i in state["images"]] == rep.figures  # every figure the report promised is on the page
        bad = [i for i in state["images"] if not (i["complete"] and i["w"] > 0 and i["h"] > 0)]
        assert not bad, f"images that did not load: {bad}"
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors

        out = Path(os.environ.get("AEKIT_SCREENSHOT_DIR", tmp_path))
        out.mkdir(parents=True, exist_ok=True)
        browser.set_window_size(1200, min(int(state["height"]) + 100, 8000))
        shot = out / "report-screenshot.png"
        assert browser.save_screenshot(str(shot))
        from PIL import Image

        with Image.open(shot) as img:
            assert img.size[0] >= 1000 and img.size[1] >= 2000
            # not a blank page: the screenshot holds dark pixels (text, digits, curves)
            assert min(img.convert("L").getextrema()) < 50
    finally:
        browser.quit()
