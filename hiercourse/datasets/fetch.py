"""Find a dataset's verified files: local folders first, then the cache, then a download.

Taught in chapter 00 (working offline); chapter 02's ``load`` goes through it.

Lookup order of ``locate(name, root)``:

1. ``root`` (the argument): ``root/<name>/``, else ``root`` itself holding the files;
2. ``$HIERCOURSE_DATA/<name>/``;
3. the user cache, ``$HIERCOURSE_CACHE/<name>/`` (default ``~/.cache/hiercourse/<name>/``);
4. a download into the cache (urls and mirrors in order, checksum checked).

Only the cache is ever written to: ``root`` and ``$HIERCOURSE_DATA`` may be
read-only. A download goes into a temporary folder inside the cache and is
renamed into place only once verified, so no half-written dataset is ever left.
A file that fails its checksum is an error (never silently used); a bad
download is deleted.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

from .registry import REGISTRY, Dataset, FileSpec
from .schema import DataError

#: Attempts per url before trying the next mirror, and the seconds to wait between them.
RETRIES = 2
RETRY_WAIT_S = 1.0
#: Seconds without an answer after which a download attempt gives up.
TIMEOUT_S = 60.0

MARKER = ".hiercourse-verified.json"

# Files already verified in this process, keyed by (path, size, mtime): checking a
# local copy costs one read per process, not one per call.
_VERIFIED: dict[tuple[str, int, int], bool] = {}


def cache_dir() -> Path:
    """The user cache folder (a Path): ``$HIERCOURSE_CACHE``, else ``~/.cache/hiercourse``. Taught in chapter 00."""
    env = os.environ.get("HIERCOURSE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hiercourse"


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest (64-character str) of the file at ``path``, read in 1 MiB chunks. Taught in chapter 00."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_dataset(name: str) -> Dataset:
    """The registry entry (a ``Dataset``) of ``name``; a DataError listing the registered names otherwise.

    Taught in chapter 00.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(
            f"Unknown dataset {name!r}. Registered datasets: {sorted(REGISTRY)}."
        ) from None


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _check_file(path: Path, spec: FileSpec, dataset: Dataset) -> None:
    """Raise a DataError when ``path`` does not match ``spec`` (checksum, or structure when no checksum)."""
    what = f"{dataset.name}: file {path}"
    fix = (
        f"The file is corrupt, truncated or from another release. Delete it and download "
        f"{dataset.name} again ({', '.join(dataset.urls) or dataset.homepage})."
    )
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise DataError(f"{what} has {size:,} bytes; the published file has {spec.size:,}. {fix}")
    if spec.sha256 is not None:
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise DataError(
                f"{what} fails its checksum: sha256 {actual}, expected {spec.sha256}. {fix}"
            )
        return
    data = path.read_bytes()
    if spec.lines is not None and _count_lines(data) != spec.lines:
        raise DataError(
            f"{what} has {_count_lines(data):,} lines; the published file has {spec.lines:,}. {fix}"
        )
    if spec.sep is not None and spec.fields is not None:
        first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        n_fields = len(first.split(spec.sep))
        if n_fields != spec.fields:
            raise DataError(
                f"{what}: its first line has {n_fields} field(s) separated by {spec.sep!r}; "
                f"expected {spec.fields}. {fix}"
            )


def _read_marker(folder: Path) -> dict:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _marker_entry(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(folder: Path, names: Iterable[str]) -> None:
    """Record (in a cache folder only) which files were verified, by size and mtime."""
    marker = _read_marker(folder)
    for name in names:
        marker[name] = _marker_entry(folder / name)
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1, sort_keys=True))
    os.replace(tmp, folder / MARKER)


def verify_folder(dataset: Dataset, folder: Path, names: Iterable[str], *, trust_marker: bool = False) -> None:
    """Check every named file of ``dataset`` in ``folder``; raise a DataError on the first bad one.

    A file passes without being read again when it was verified earlier in this
    process with the same size and mtime, or (``trust_marker``, cache folders
    only) when the cache's marker records it with the same size and mtime.
    Returns None. Taught in chapter 00.
    """
    marker = _read_marker(folder) if trust_marker else {}
    for name in names:
        path = folder / name
        key = _stat_key(path)
        if _VERIFIED.get(key):
            continue
        if marker.get(name) == _marker_entry(path):
            _VERIFIED[key] = True
            continue
        _check_file(path, dataset.file(name), dataset)
        _VERIFIED[key] = True


def _candidates(name: str, root: str | os.PathLike | None) -> list[tuple[str, Path | None]]:
    """(label, folder) pairs in lookup order; folder None when the source is not configured."""
    out: list[tuple[str, Path | None]] = []
    if root is not None:
        root = Path(root).expanduser()
        out.append(("root argument", root / name))
        out.append(("root argument", root))
    env = os.environ.get("HIERCOURSE_DATA")
    out.append(("$HIERCOURSE_DATA", Path(env).expanduser() / name if env else None))
    return out


def _present(folder: Path, names: Iterable[str]) -> tuple[list[str], list[str]]:
    names = list(names)
    have = [n for n in names if (folder / n).is_file()]
    return have, [n for n in names if n not in have]


def _wanted(dataset: Dataset, files: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """(required names, names to verify when present)."""
    all_names = [f.name for f in dataset.files]
    if files is None:
        required = [f.name for f in dataset.required_files]
    else:
        required = list(files)
        unknown = [n for n in required if n not in all_names]
        if unknown:
            raise DataError(f"{dataset.name} has no file(s) {unknown}; its files are {all_names}.")
    optional = [n for n in all_names if n not in required]
    return required, optional


def locate(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    files: Iterable[str] | None = None,
    progress: bool = False,
) -> Path:
    """The folder holding the verified files of dataset ``name``.

    ``files`` restricts the files that must be there (default: the registry's
    required files), e.g. ``locate("mnist", files=["t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz"])``. Lookup order: ``root`` (``root/<name>`` or
    ``root`` itself), ``$HIERCOURSE_DATA/<name>``, the cache, then a download into
    the cache when ``download`` is true. Raises DataError when the files are
    nowhere to be found (the message lists every folder searched and how to
    provide the files) or fail their checksum.

    Taught in chapter 00.
    """
    dataset = get_dataset(name)
    if dataset.kind == "synthetic":
        raise DataError(
            f"{name!r} is synthetic: there are no files to locate. "
            f"Generate it with hiercourse.datasets.load({name!r}) or make_shop()."
        )
    required, optional = _wanted(dataset, files)
    searched: list[str] = []
    for label, folder in _candidates(name, root):
        if folder is None:
            searched.append(f"{label}: not set")
            continue
        if not folder.is_dir():
            searched.append(f"{folder} ({label}): no such folder")
            continue
        have, missing = _present(folder, required)
        if missing:
            searched.append(f"{folder} ({label}): missing {missing}")
            continue
        extra, _ = _present(folder, optional)
        verify_folder(dataset, folder, have + extra)
        return folder

    cached = cache_dir() / name
    if cached.is_dir():
        have, missing = _present(cached, required)
        if not missing:
            extra, _ = _present(cached, optional)
            try:
                verify_folder(dataset, cached, have + extra, trust_marker=True)
                return cached
            except DataError as exc:
                if not download:
                    raise
                # Our own cache is corrupt: say so, then replace it with a fresh download.
                searched.append(f"{cached} (cache): failed verification ({exc})")
        else:
            searched.append(f"{cached} (cache): missing {missing}")
    else:
        searched.append(f"{cached} (cache): no such folder")

    if not download:
        raise DataError(_not_found_message(dataset, searched, ["downloads are off (download=False)"]))
    failures: list[str] = []
    folder = _download(dataset, required, failures, progress)
    if folder is None:
        raise DataError(_not_found_message(dataset, searched, failures))
    return folder


def _not_found_message(dataset: Dataset, searched: list[str], failures: list[str]) -> str:
    where = "\n".join(f"  - {s}" for s in searched)
    why = "\n".join(f"  - {f}" for f in failures)
    if dataset.archive is not None:
        inner = dataset.archive.member_dir or dataset.name
        get = (
            f"download {dataset.archive.urls[0]} (sha256 {dataset.archive.sha256}) and unzip it "
            f"into a folder DIR so that DIR/{inner}/{dataset.required_files[0].name} exists"
        )
    else:
        first = dataset.required_files[0]
        get = (
            f"download the files {[f.name for f in dataset.required_files]} (e.g. "
            f"{first.urls[0] if first.urls else dataset.homepage}) into DIR/{dataset.name}/"
        )
    return (
        f"Dataset {dataset.name!r} was not found and could not be downloaded.\n"
        f"Folders searched, in order:\n{where}\n"
        f"Download:\n{why}\n"
        f"To provide the files yourself: {get}; then set HIERCOURSE_DATA=DIR or pass root=DIR "
        f"(or place them so that {cache_dir() / dataset.name}/{dataset.required_files[0].name} exists). "
        f"Homepage: {dataset.homepage}"
    )


def _fetch(urls: Iterable[str], sha256: str, filename: str, folder: Path,
           failures: list[str], mismatches: list[str], progress: bool) -> Path | None:
    """Download ``filename`` from the first url that serves it with the right sha256."""
    import pooch  # lazy: importing pooch pulls in requests

    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=TIMEOUT_S)
    urls = list(urls)
    # one line per file, not pooch's line per attempt (mirrors x retries); the caller reports what failed
    print(f"downloading {filename} ({len(urls)} mirror(s), {RETRIES} tries each) ...", flush=True)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        for url in urls:
            for attempt in range(RETRIES):
                try:
                    path = pooch.retrieve(
                        url, known_hash=f"sha256:{sha256}", fname=filename, path=folder,
                        downloader=downloader, progressbar=progress,
                    )
                    return Path(path)
                except ValueError as exc:  # pooch: the hash did not match; its temp file is gone
                    mismatches.append(f"{url}: {exc}")
                    break  # the same server would send the same bytes again
                except Exception as exc:  # network errors of every kind: retry, then next mirror
                    if attempt + 1 == RETRIES:
                        failures.append(f"{url}: {type(exc).__name__}: {exc}")
                    else:
                        time.sleep(RETRY_WAIT_S)
    finally:
        logger.setLevel(level)
    return None


def _download(dataset: Dataset, required: list[str], failures: list[str], progress: bool) -> Path | None:
    """Download into a temporary folder in the cache, verify, then move into place."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / dataset.name
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dataset.name}-", dir=cache))
    mismatches: list[str] = []
    try:
        if dataset.archive is not None:
            staged = _download_archive(dataset, tmp, failures, mismatches, progress)
            if staged is not None:
                _swap_into_place(dataset, staged, target, tmp)
        else:
            _download_files(dataset, required, target, tmp, failures, mismatches, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if mismatches:
        raise DataError(
            f"{dataset.name}: the downloaded file failed its checksum and was deleted "
            f"(nothing was kept in the cache):\n  - " + "\n  - ".join(mismatches)
            + "\nThe server may now serve another release. Check the dataset's homepage "
            f"({dataset.homepage}) or provide verified files yourself (see datasets/README.md)."
        )
    have, missing = _present(target, required) if target.is_dir() else ([], required)
    return target if not missing else None


def _download_archive(dataset: Dataset, tmp: Path, failures: list[str],
                      mismatches: list[str], progress: bool) -> Path | None:
    archive = dataset.archive
    path = _fetch(archive.urls, archive.sha256, archive.filename, tmp / "download",
                  failures, mismatches, progress)
    if path is None:
        return None
    extracted = tmp / "extracted"
    try:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(extracted)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{dataset.name}: {path.name} is not a valid zip archive ({exc}).") from exc
    staged = extracted / archive.member_dir if archive.member_dir else extracted
    have, missing = _present(staged, [f.name for f in dataset.required_files])
    if missing:
        raise DataError(
            f"{dataset.name}: the archive {archive.filename} has no {missing} under "
            f"{archive.member_dir or 'its top level'}; the registry entry needs updating."
        )
    extra, _ = _present(staged, [f.name for f in dataset.files if not f.required])
    verify_folder(dataset, staged, have + extra)
    _write_marker(staged, have + extra)
    return staged


def _swap_into_place(dataset: Dataset, staged: Path, target: Path, tmp: Path) -> None:
    """Rename the verified folder to ``target``; an older (partial or bad) copy is moved aside first."""
    if target.exists():
        required = [f.name for f in dataset.required_files]
        have, missing = _present(target, required)
        if not missing:
            try:  # another process may have finished the same download meanwhile: keep its copy
                verify_folder(dataset, target, have, trust_marker=True)
                return
            except DataError:
                pass
        target.rename(tmp / "previous")  # the old, partial or bad copy is deleted with tmp
    try:
        staged.rename(target)
    except OSError:
        # Another process finished the same download first: keep its copy.
        if not target.is_dir():
            raise


def _download_files(dataset: Dataset, required: list[str], target: Path, tmp: Path,
                    failures: list[str], mismatches: list[str], progress: bool) -> None:
    """Per-file datasets (MNIST): each file is verified, then atomically replaced into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    for name in required:
        spec = dataset.file(name)
        path = target / name
        if path.is_file():
            try:
                verify_folder(dataset, target, [name], trust_marker=True)
                continue
            except DataError:
                pass  # replaced below by a fresh download
        got = _fetch(spec.urls, spec.sha256, name, tmp / "download", failures, mismatches, progress)
        if got is None:
            continue
        os.replace(got, path)
        done.append(name)
    if done:
        _write_marker(target, done)
