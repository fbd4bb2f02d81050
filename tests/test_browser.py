"""The labelling page in a real browser: start `stance serve` on a free port, open `/` in headless Chromium,
paste the seed article, press Label, and read the highlighted view. Needs Debian's `chromium` and
`chromium-driver` (.ci/run installs them) and selenium (the dev extra); skipped with the reason otherwise."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO

SEED = REPO / "data/articles/a001-nato-air-missile-defence.txt"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="no Chromium: apt-get install chromium chromium-driver (.ci/run does)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model):
    port = _free_port()
    cmd = [sys.executable, "-m", "stance", "serve", str(tiny_model), "--port", str(port), "--precision", "fp32"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if json.load(r)["status"] == "ok":
                    break
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def test_pasting_the_seed_article_shows_every_sentence_with_its_label(server, browser, tiny_model, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from inference.labeling import PredictOptions, label_inputs

    body = SEED.read_text(encoding="utf-8").split("\n---\n", 1)[1]  # the article as published, no header
    browser.get(server + "/")
    browser.find_element(By.ID, "text").send_keys(body)
    browser.find_element(By.ID, "label").click()
    spans = WebDriverWait(browser, 60).until(
        EC.presence_of_all_elements_located((By.CSS_SELECTOR, "#result [data-label]"))
    )
    # what `stance predict` says about the same text, sentence by sentence
    pasted, out = tmp_path / "pasted.txt", tmp_path / "pasted.jsonl"
    pasted.write_text(body, encoding="utf-8")
    label_inputs(tiny_model, PredictOptions(input=pasted, output=out, quiet=True))
    expected = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(spans) == len(expected) >= 15
    labels = [s.get_attribute("data-label") for s in spans]
    assert labels == [r["label"] for r in expected]
    known = next(i for i, r in enumerate(expected) if "SSC-8" in r["text"])
    assert "SSC-8" in spans[known].text and labels[known] == expected[known]["label"]
