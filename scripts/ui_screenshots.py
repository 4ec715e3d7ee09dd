"""Make the README's pictures of the web page (docs/img/ui-*.png) from the quickstart's
store: runs scripts/quickstart.py (or takes --store of one it made), serves the store
on a free loopback port, and has headless Chromium draw a version page and the
lineage graph.

    .venv/bin/python scripts/ui_screenshots.py [--store STORE] [--out docs/img]
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from artfs.store.store import Store  # noqa: E402
from tests.uiserver import running  # noqa: E402  (the test suite's in-process server)


def quickstart_store() -> str:
    print("running scripts/quickstart.py for its store…", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"the store is in (\S+);", done.stdout)
    assert found, "the quickstart no longer says where its store is"
    return found.group(1)


def browser(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a store the quickstart made (else run it now)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "img"))
    args = parser.parse_args()
    store_path = args.store or quickstart_store()
    store = Store.open(store_path, create=False)
    dataset = store.resolve("my-dataset:latest")
    model = store.resolve("model:latest")
    os.makedirs(args.out, exist_ok=True)
    pages = {
        "ui-version.png": f"/a/{dataset.name}/v{dataset.number}",
        "ui-graph.png": f"/graph?ref={model.label}&view=expanded",
    }
    driver = browser(1280, 900)
    try:
        with running(store_path, read_only=True) as url:
            for name, page in pages.items():
                driver.get(url + page)
                path = os.path.join(args.out, name)
                driver.save_screenshot(path)
                print(f"wrote {path} ({url}{page})")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
