"""Screenshots for the README: the HTML report of the seed article, and the `stance serve` page after labelling it.

    python docs/screenshots.py models/minilm        # writes docs/report.png and docs/serve-page.png

Needs Chromium and chromedriver (Debian: chromium chromium-driver) and selenium (the dev extra).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "data/articles/a001-nato-air-missile-defence.txt"


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1500", "--hide-scrollbars"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def main(model_dir: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "seed.html"
        stance = [sys.executable, "-m", "stance"]
        subprocess.run(
            [*stance, "predict", model_dir, "--input", str(SEED), "-o", str(report), "-q", "--threshold", "0.5"],
            check=True,
        )
        driver.get(report.as_uri())
        driver.save_screenshot(str(REPO / "docs/report.png"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*stance, "serve", model_dir, "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "text").send_keys(SEED.read_text(encoding="utf-8").split("\n---\n", 1)[1])
        driver.find_element(By.ID, "label").click()
        WebDriverWait(driver, 60).until(EC.presence_of_all_elements_located((By.CSS_SELECTOR, "#result [data-label]")))
        driver.save_screenshot(str(REPO / "docs/serve-page.png"))
    finally:
        server.terminate()
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/minilm")
