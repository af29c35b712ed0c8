#!/usr/bin/env python3
"""Build the course website into ``build/site/``: ``python3 course.py site`` runs this.

Jupyter Book 1 (Sphinx) renders the committed, executed chapters; nothing is re-executed and
nothing under ``notebooks/`` is changed. The build works in a copy, ``build/site-src/``:

- ``book/`` (the configuration and the static pages: the intro ``index.md``, benchmarks, glossary);
- the chapters, with each ``solution`` cell folded away (myst-nb's ``hide-cell`` tag, a
  "Show the worked solution" toggle) and the ``record(...)`` outputs, data for the tests, removed;
- ``_toc.yml``, made from README.md's chapter table (so the site's table of contents and the
  README never disagree: a chapter missing from either is an error), and the same table on the
  intro page;
- the benchmark page: every ``hiercourse/results/*.md`` (the tables the package ships), headings
  shifted one level down, with its CSV to download;
- the glossary page (``hiercourse.glossary.glossary_markdown()``);
- MathJax 3's files (``tex-chtml-full.js`` and its fonts) from the pinned package
  ``sphinx-mathjax-offline``, served from ``_static/mathjax/``: equations render offline.

The chapters' download button gives the notebooks as committed (the originals replace the build
copies in ``_sources/``).

Usage: ``python scripts/build_site.py [--out DIR] [--if-stale]``. ``--if-stale`` skips the build
when DIR was built from exactly the present inputs (a hash of them is kept in DIR).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hiercourse.editions import SOLUTION_TAG
from hiercourse.glossary import glossary_markdown
from hiercourse.notebook import RECORD_MIME
from hiercourse.results import RESULTS_DIR
from hiercourse.run import chapters as chapter_files

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"
SOURCE = ROOT / "build" / "site-src"
SITE = ROOT / "build" / "site"
STAMP = ".hiercourse-site-inputs"  # in the built site: the hash of what it was built from
SHOW_SOLUTION = {"code_prompt_show": "Show the worked solution", "code_prompt_hide": "Hide the worked solution"}
# Code fences Pygments cannot colour shown as plain text (a Sphinx warning otherwise, and warnings fail the
# build); Mermaid would need its JavaScript, and chapter 01 draws the same pipeline with matplotlib below it
PLAIN_FENCES = {"mermaid": "text"}
# Images from the web in the chapters' Markdown (the Colab badge) become text links: the site loads nothing
# from outside itself. `[![alt](image)](target)` -> `[alt](target)`, `![alt](image)` -> `[alt](image)`.
WEB_IMAGES = [(re.compile(r"\[!\[([^\]]*)\]\(https?://[^)\s]+\)\]\(([^)\s]+)\)"), r"[\1](\2)"),
              (re.compile(r"!\[([^\]]*)\]\((https?://[^)\s]+)\)"), r"[\1](\2)")]
MATHJAX_DIST = "sphinx-mathjax-offline"  # ships MathJax 3's es5 folder as package data
MATHJAX_FILES = ["tex-chtml-full.js", "output/chtml/fonts/woff-v2"]  # the script and the fonts it loads
CHAPTER_ROW = re.compile(r"^\|\s*\[([^\]]+)\]\((notebooks/[^)]+\.ipynb)\)\s*\|.*\|\s*$")
MARKER = "<!-- {name}: "  # a placeholder line in book/*.md, replaced at build time


def readme_chapters(readme: str) -> tuple[list[tuple[str, str]], str]:
    """README.md's chapter table: ``([(title, "notebooks/NN_name.ipynb"), ...], the table's Markdown)``."""
    section = readme.split("\n## The chapters", 1)[-1].split("\n## ", 1)[0]
    lines = section.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        raise SystemExit("README.md: no table under '## The chapters'; the site's table of contents is made from it")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    chapters = [match.groups() for match in map(CHAPTER_ROW.match, table) if match]
    return chapters, "\n".join(table) + "\n"


def check_chapters(chapters: list[tuple[str, str]]) -> None:
    """README's table and notebooks/ hold the same chapters, or the build stops and says which differ."""
    listed = [path for _, path in chapters]
    present = [f"notebooks/{p.name}" for p in chapter_files(folder=NOTEBOOKS)]
    missing = [p for p in listed if not (ROOT / p).is_file()]
    unlisted = [p for p in present if p not in listed]
    if missing or unlisted or len(set(listed)) != len(listed):
        raise SystemExit(
            "README.md's chapter table and notebooks/ disagree: "
            f"listed but missing {missing}, present but not listed {unlisted}, listed twice "
            f"{sorted({p for p in listed if listed.count(p) > 1})}. Fix the table (it is the site's contents)."
        )


def toc_yaml(chapters: list[tuple[str, str]], pages: list[str]) -> str:
    """Jupyter Book's ``_toc.yml``: the intro, the chapters in README order (README's titles), then ``pages``."""
    lines = ["# Made by scripts/build_site.py from README.md's chapter table; edit the README, not this.",
             "format: jb-book", "root: index", "parts:", "- caption: Chapters", "  chapters:"]
    for title, path in chapters:
        lines += [f"  - file: {path.removesuffix('.ipynb')}", f"    title: {json.dumps(title)}"]
    if pages:
        lines += ["- caption: Reference", "  chapters:"] + [f"  - file: {page}" for page in pages]
    return "\n".join(lines) + "\n"


def results_dir() -> Path:
    """Where the benchmark tables are: the package data ``hiercourse/results/``."""
    if not sorted(RESULTS_DIR.glob("*.md")):
        raise SystemExit(f"no benchmark tables (*.md) in {RESULTS_DIR}")
    return RESULTS_DIR


def benchmark_markdown(folder: Path, target: Path) -> str:
    """Every ``*.md`` in ``folder``, headings one level down, each with a download link to its CSV.

    The CSVs are copied into ``target`` (the build copy's ``results/``).
    """
    target.mkdir(parents=True, exist_ok=True)
    parts, seen = [], set()
    for path in sorted(folder.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        lines, fenced = [], False
        for line in text.splitlines():
            fenced ^= line.startswith("```")
            lines.append("#" + line if line.startswith("#") and not fenced else line)
        if lines and lines[0].startswith("## "):
            title = lines[0][3:].strip()
            if title in seen:  # two tables on one dataset: tell them apart in the page's contents
                lines[0] = f"## {title} ({path.stem})"
            seen.add(title)
        source = f"`{path.relative_to(ROOT).as_posix()}`"
        csv = path.with_suffix(".csv")
        if csv.is_file():
            shutil.copy2(csv, target / csv.name)
            source += f"; data, one row per model and seed: {{download}}`{csv.name} <results/{csv.name}>`"
        lines.insert(1, f"\nFrom {source}.")
        parts.append("\n".join(lines).strip() + "\n")
    # a div (sphinx-design) for book/_assets/hiercourse.css: eleven numeric columns, one line per number
    return ":::::{div} benchmark-tables\n" + "\n".join(parts) + ":::::\n"


def fill(page: str, name: str, text: str) -> str:
    """``page`` with its placeholder line ``<!-- name: ... -->`` replaced by ``text``."""
    pattern = re.compile(r"^" + re.escape(MARKER.format(name=name)) + r".*-->\s*$", re.M)
    if not pattern.search(page):
        raise SystemExit(f"book/: no placeholder '{MARKER.format(name=name)}...-->' for the {name}")
    return pattern.sub(lambda _: text.rstrip("\n"), page, count=1)


STUDENT_NOTE = ("**Two editions.** This page is the instructor edition: each worked solution is folded under its "
                "exercise. The student edition keeps the exercises without their solutions: "
                "{{download}}`download it <../student/{name}>`, or open it on Colab with the link above.")


def site_notebook(nb: dict, name: str | None = None) -> dict:
    """The chapter as the site shows it: solution cells folded, ``record(...)`` outputs removed, web images as links.

    A solution cell gets the tag ``hide-cell`` (beside any ``hide-input`` it has; myst-nb lets
    ``hide-cell`` win): its code and its output, which often prints the answer, fold into one toggle.
    With ``name`` (the chapter's file name) the first markdown cell ends with a link to the student
    edition (``student/<name>``, copied into the site's sources by ``prepare``).
    """
    if name is not None:
        intro = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        intro["source"] = "".join(intro["source"]).rstrip("\n") + "\n\n" + STUDENT_NOTE.format(name=name)
    for cell in nb["cells"]:
        metadata = cell.setdefault("metadata", {})
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            for fence, plain in PLAIN_FENCES.items():
                source = re.sub(rf"^(\s*```+){fence}\s*$", rf"\g<1>{plain}", source, flags=re.M)
            for pattern, link in WEB_IMAGES:
                source = pattern.sub(link, source)
            cell["source"] = source
        if cell["cell_type"] == "code" and SOLUTION_TAG in metadata.get("tags", []):
            if "hide-cell" not in metadata["tags"]:
                metadata["tags"] = [*metadata["tags"], "hide-cell"]
            metadata["mystnb"] = {**metadata.get("mystnb", {}), **SHOW_SOLUTION}
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if RECORD_MIME not in o.get("data", {})]
    return nb


def mathjax_source() -> Path:
    """The installed MathJax 3 ``es5`` folder (package data of ``sphinx-mathjax-offline``)."""
    try:
        folder = Path(str(md.distribution(MATHJAX_DIST).locate_file("sphinx-mathjax-offline/static/mathjax")))
    except md.PackageNotFoundError:
        folder = None
    if folder is None or not (folder / MATHJAX_FILES[0]).is_file():
        raise SystemExit(f"MathJax's files are missing: `pip install {MATHJAX_DIST}` "
                         "(`python3 course.py setup` installs it from requirements-lock.txt)")
    return folder


def inputs() -> list[Path]:
    """Every file the site is made from (this script, book/, README, chapters, results, glossary)."""
    files = [Path(__file__).resolve(), README, *sorted(BOOK.rglob("*")), *sorted(NOTEBOOKS.glob("*.ipynb")),
             *sorted((ROOT / "student").glob("*.ipynb"))]
    files += sorted(results_dir().glob("*"))
    files += [ROOT / "hiercourse" / "glossary.py", *sorted((ROOT / "hiercourse" / "data").glob("glossary*"))]
    return [f for f in files if f.is_file()]


def inputs_hash() -> str:
    digest = hashlib.sha256()
    for path in inputs():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(md.version(MATHJAX_DIST).encode() if _installed(MATHJAX_DIST) else b"")
    return digest.hexdigest()


def _installed(name: str) -> bool:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        return False
    return True


def is_fresh(site: Path = SITE) -> bool:
    """True when ``site`` was built from exactly the present inputs."""
    stamp = site / STAMP
    return stamp.is_file() and stamp.read_text() == inputs_hash()


def prepare(source: Path = SOURCE) -> tuple[list[str], list[tuple[str, str]]]:
    """Lay out the book's sources in ``source`` (emptied first); returns the extra pages in its contents and
    README's chapters (title, notebook path)."""
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(BOOK, source)
    readme = README.read_text(encoding="utf-8")
    chapters, table = readme_chapters(readme)
    check_chapters(chapters)
    for _, path in chapters:
        student = ROOT / "student" / Path(path).name  # the student edition, a download on the chapter's page
        if not student.is_file():
            raise SystemExit(f"{student.relative_to(ROOT)} is missing: `python3 course.py editions` writes it")
        (source / "student").mkdir(exist_ok=True)
        shutil.copy2(student, source / "student" / student.name)
        nb = site_notebook(json.loads((ROOT / path).read_text(encoding="utf-8")), Path(path).name)
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    intro = source / "index.md"
    intro.write_text(fill(intro.read_text(encoding="utf-8"), "chapter table", table), encoding="utf-8")
    pages = ["benchmarks"]
    bench = source / "benchmarks.md"
    results = benchmark_markdown(results_dir(), source / "results")
    bench.write_text(fill(bench.read_text(encoding="utf-8"), "results", results), encoding="utf-8")
    page = source / "glossary.md"
    page.write_text(fill(page.read_text(encoding="utf-8"), "glossary", glossary_markdown()), encoding="utf-8")
    pages.append("glossary")
    # book/_assets/ is the site's _static/ (not a _static/ folder: Jupyter Book would add every .js there
    # to every page, MathJax twice and its parts too)
    mathjax, static = mathjax_source(), source / "_assets" / "mathjax"
    for name in MATHJAX_FILES:
        copy = shutil.copytree if (mathjax / name).is_dir() else shutil.copy2
        (static / name).parent.mkdir(parents=True, exist_ok=True)
        copy(mathjax / name, static / name)
    (source / "_toc.yml").write_text(toc_yaml(chapters, pages), encoding="utf-8")
    return pages, chapters


def build(site: Path = SITE, source: Path = SOURCE) -> Path:
    """Build the website into ``site`` (replaced whole); returns ``site``. Sphinx warnings are errors."""
    started = time.perf_counter()
    stamp = inputs_hash()
    _, chapters = prepare(source)
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main(prog_name='jupyter-book')",
               "build", str(source), "--path-output", str(source), "--all", "-W", "--keep-going", "-q"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-20000:] + done.stderr[-20000:])
        raise SystemExit(f"jupyter-book build failed (exit {done.returncode}); the sources are in {source}")
    html = source / "_build" / "html"
    if site.exists():
        shutil.rmtree(site)
    site.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(html), str(site))
    for _, path in chapters:  # downloads: the chapters as committed
        shutil.copy2(ROOT / path, site / "_sources" / path)
    for sourcemap in site.glob("_static/**/*.map"):  # the theme's source maps, for its developers only
        sourcemap.unlink()
    (site / STAMP).write_text(stamp)
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    print(f"website built in {time.perf_counter() - started:.0f} s: {site} ({size / 2**20:.1f} MiB); "
          f"open {site / 'index.html'}")
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=SITE, help=f"output folder (default {SITE.relative_to(ROOT)})")
    parser.add_argument("--if-stale", action="store_true", help="skip the build when --out is up to date")
    args = parser.parse_args(argv)
    site = args.out.resolve()
    if args.if_stale and is_fresh(site):
        print(f"website up to date: {site}")
        return 0
    build(site, SOURCE if site == SITE else site.parent / f"{site.name}-src")
    return 0


if __name__ == "__main__":
    sys.exit(main())
