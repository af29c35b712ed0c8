"""The course website (``python3 course.py site``), opened in headless Chromium as a reader would.

The site is built by ``scripts/build_site.py --if-stale`` (a build from the same inputs is reused),
served from 127.0.0.1 and loaded page by page with Selenium and Debian's ``chromium-driver``:

- every chapter of README.md's table is in the site's navigation, in the README's order, and its
  page renders: a screenshot that is not blank, the notebook's own title, no console error;
- the maths chapters' equations are typeset by MathJax (every ``.math`` node holds an
  ``mjx-container``, none a TeX error) and everything a page loads comes from the site itself;
- every link to a page or file of the site resolves, every image loads, the solution cells are
  folded, the benchmark page shows every table of the results folder, the glossary page exists
  exactly when ``hiercourse.glossary`` does.

Chromium is a system package: CI installs it (``.ci/run``); elsewhere, without it, the test skips
and says how to install it. Screenshots of every page go to ``build/site-screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import matplotlib.image
import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "build" / "site"
SHOTS = REPO / "build" / "site-screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
MATHS_CHAPTERS = ("04", "05")
CHAPTER_ROW = re.compile(r"^\|\s*\[([^\]]+)\]\((notebooks/[^)]+\.ipynb)\)\s*\|", re.M)


def readme_chapters() -> list[tuple[str, str]]:
    """(title, notebook path) of every row of README.md's chapter table, in its order."""
    section = (REPO / "README.md").read_text().split("\n## The chapters", 1)[1].split("\n## ", 1)[0]
    return CHAPTER_ROW.findall(section)


def notebook_facts(path: Path) -> dict:
    """What the site must show of a chapter: its title (first heading), solution cells, PNG outputs."""
    cells = json.loads(path.read_text())["cells"]
    intro = "".join(next(c for c in cells if c["cell_type"] == "markdown")["source"])
    return {
        "title": re.search(r"^# (.+)$", intro, re.M).group(1).strip(),
        "solutions": sum("solution" in c.get("metadata", {}).get("tags", []) for c in cells),
        "pngs": sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", [])),
    }


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    """Paths of the browser and its driver; skips (fails in CI) where they are missing."""
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    message = f"headless Chromium is needed (browser {browser}, chromedriver {driver}); as root: {INSTALL}"
    if os.environ.get("CI"):
        pytest.fail(f"CI: {message} (.ci/run does this before the tests; see its output)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(chromium) -> Path:
    """The built site (``chromium`` first: no build on a machine that cannot open it)."""
    done = subprocess.run([sys.executable, "scripts/build_site.py", "--if-stale"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the site did not build:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    assert (SITE / "index.html").is_file()
    return SITE


@pytest.fixture(scope="module")
def server(site):
    """The site over HTTP on 127.0.0.1 (file:// pages may not load MathJax's fonts)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(chromium):
    browser_path, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def pages(site, server, browser):
    """Load every page of the contents once; what each shows is collected for the checks below."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    names = ["index.html", "benchmarks.html"] + [p.replace(".ipynb", ".html") for _, p in readme_chapters()]
    if (site / "glossary.html").exists():
        names.append("glossary.html")
    found = {}
    for name in names:
        browser.get(f"{server}/{name}")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        typeset = browser.execute_async_script(_TYPESET)
        images = browser.execute_async_script(_IMAGES)
        png = browser.get_screenshot_as_png()
        (SHOTS / name.replace("/", "_").replace(".html", ".png")).write_bytes(png)
        found[name] = {
            "url": browser.current_url,
            "title": browser.title,
            "h1": [h.text for h in browser.find_elements(By.CSS_SELECTOR, "article.bd-article h1")],
            "nav": [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav.bd-docs-nav a.reference")],
            "errors": [e for e in browser.get_log("browser") if e["level"] == "SEVERE"],
            "resources": browser.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"),
            "links": browser.execute_script("return Array.from(document.links, a => a.href)"),
            "typeset": typeset,
            "images": images,
            "solutions": browser.execute_script(_SOLUTIONS),
            "tables": browser.execute_script(
                "return Array.from(document.querySelectorAll('article table'), "
                "t => Array.from(t.querySelectorAll('th'), th => th.textContent.trim()))"),
            "pixels": matplotlib.image.imread(io.BytesIO(png), format="png"),
        }
    return found


# Wait for MathJax (when the page has it) to finish, then count the maths and what MathJax made of it.
_TYPESET = """
const done = arguments[arguments.length - 1];
const count = () => ({
  mathjax: window.MathJax && window.MathJax.version || null,
  math: document.querySelectorAll('.math').length,
  untypeset: Array.from(document.querySelectorAll('.math')).filter(m => !m.querySelector('mjx-container')).length,
  containers: document.querySelectorAll('mjx-container').length,
  errors: Array.from(document.querySelectorAll('mjx-merror'), e => e.textContent),
});
const loads = !!document.querySelector('script[src*="mathjax"]');
const wait = (tries) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => document.fonts.ready).then(() => done(count()));
  } else if (loads && tries > 0) { setTimeout(() => wait(tries - 1), 100); } else { done(count()); }
};
wait(100);
"""
# Load every image now (lazy ones included), then list the ones that did not load.
_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = 'eager'; });
Promise.all(images.map(img => img.decode().catch(() => null))).then(() => done({
  count: images.length,
  figures: images.filter(img => img.src.includes('/_images/')).length,
  broken: images.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src),
}));
"""
# The solution cells: folded toggles whose label says so, their code not visible until opened.
_SOLUTIONS = """
const folds = Array.from(document.querySelectorAll('details.hide'));
return folds.filter(d => d.querySelector('summary').textContent.includes('Show the worked solution'))
  .map(d => ({open: d.open, codeVisible: Array.from(d.querySelectorAll('pre')).some(p => p.checkVisibility())}));
"""


def chapter_pages(pages):
    return [(title, path, pages[path.replace(".ipynb", ".html")]) for title, path in readme_chapters()]


def test_the_navigation_is_readmes_chapter_table(pages):
    chapters = readme_chapters()
    assert len(chapters) >= 10, "README.md's chapter table was not read"
    nav = pages["index.html"]["nav"]
    assert [t for t in nav if t in {title for title, _ in chapters}] == [title for title, _ in chapters], nav
    assert "Benchmark tables" in nav


def test_every_page_renders_without_console_errors(pages):
    for name, page in pages.items():
        pixels = page["pixels"][..., :3]
        assert pixels.std() > 0.05, f"{name}: the screenshot is blank"
        assert (np.abs(pixels - pixels[0, 0]).sum(axis=-1) > 0.3).mean() > 0.01, f"{name}: almost nothing drawn"
        assert not page["errors"], f"{name}: console errors {page['errors']}"
        assert page["h1"] and page["h1"][0].strip(), f"{name}: no heading"


def test_every_chapter_page_shows_its_title_images_and_folded_solutions(pages):
    for _, path, page in chapter_pages(pages):
        facts = notebook_facts(REPO / path)
        shown = page["h1"][0].replace("\u2019", "'")  # docutils' smart quotes
        assert shown == facts["title"], (path, page["h1"])
        assert page["title"].replace("\u2019", "'").startswith(facts["title"]), (path, page["title"])
        assert page["images"]["figures"] >= facts["pngs"], f"{path}: {page['images']} for {facts['pngs']} plots"
        assert len(page["solutions"]) == facts["solutions"], f"{path}: solutions {page['solutions']}"
        assert not any(s["open"] or s["codeVisible"] for s in page["solutions"]), f"{path}: a solution shows"


def test_every_image_loads(pages):
    for name, page in pages.items():
        assert not page["images"]["broken"], f"{name}: images that did not load {page['images']['broken']}"


def test_the_maths_chapters_equations_are_typeset_by_the_local_mathjax(pages):
    for _, path, page in chapter_pages(pages):
        typeset = page["typeset"]
        if not typeset["math"]:
            continue  # Sphinx loads MathJax only on pages with maths
        assert typeset["mathjax"] and typeset["mathjax"].startswith("3."), f"{path}: MathJax did not load"
        assert not typeset["errors"], f"{path}: TeX errors {typeset['errors']}"
        assert typeset["untypeset"] == 0, f"{path}: {typeset['untypeset']} of {typeset['math']} equations not typeset"
        if Path(path).name[:2] in MATHS_CHAPTERS:
            assert typeset["math"] >= 10 and typeset["containers"] >= typeset["math"], (path, typeset)


def test_everything_a_page_loads_comes_from_the_site(pages, server):
    for name, page in pages.items():
        outside = [url for url in page["resources"] if not url.startswith(server)]
        assert not outside, f"{name} loads from outside the site (it must work offline): {outside}"


def test_every_link_into_the_site_resolves(pages, server, site):
    checked = set()
    for name, page in pages.items():
        for href in page["links"]:
            url = urlparse(href)
            if not href.startswith(server) or url.path in checked:
                continue  # the web (repository, Jupyter Book's footer) is not the site's to check
            checked.add(url.path)
            target = site / unquote(url.path).lstrip("/")
            assert target.is_file() or (target / "index.html").is_file(), f"{name}: broken link {href}"
    assert any(p.endswith(".ipynb") for p in checked), "no chapter download link was seen"
    assert len(checked) > 15, checked


def test_every_chapter_page_offers_its_student_edition(pages, server, site):
    """The site shows both editions: the page is the instructor's, a download link gives the student's."""
    for _, path, page in chapter_pages(pages):
        name = Path(path).name
        downloads = [href for href in page["links"] if href.startswith(server) and href.endswith("/" + name)
                     and "/_downloads/" in href]
        assert downloads, f"{path}: no download link to the student edition"
        target = site / unquote(urlparse(downloads[0]).path).lstrip("/")
        assert target.read_bytes() == (REPO / "student" / name).read_bytes(), f"{path}: the download is not student/"


def test_the_benchmark_page_shows_every_results_table(pages, site):
    folder = next(f for f in (REPO / "hiercourse" / "results", REPO / "results") if sorted(f.glob("*.md")))
    expected = sum(text.count("\n|---") for text in (p.read_text() for p in folder.glob("*.md")))
    tables = pages["benchmarks.html"]["tables"]
    assert expected and len(tables) == expected, (len(tables), expected)
    # the benchmark's tables lead with NDCG@10 (overall, or per slice: "NDCG@10 [1-5 (rare)] (79 users)"), the
    # retrieval tables (chapter 13) with the recall of the exhaustive top 10, the interest-tree tables (chapter 08)
    # with beta's rank correlation with the truth
    for header in tables:
        assert any(cell.startswith(("NDCG@10", "recall of exhaustive top 10", "spearman_beta"))
                   for cell in header), header


def test_the_glossary_page_is_there_exactly_when_the_package_has_a_glossary(pages, site):
    has_glossary = importlib.util.find_spec("hiercourse.glossary") is not None
    assert (site / "glossary.html").is_file() == has_glossary
    if has_glossary:
        assert pages["glossary.html"]["tables"] and "Glossary" in pages["index.html"]["nav"]
