"""The registry's published checksums, the lookup order, downloads (from a local server) and their errors."""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import shutil
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from hiercourse.datasets import DataError, describe, fetch, locate
from hiercourse.datasets.registry import REGISTRY, Archive, Dataset, FileSpec

FILES = {"ratings.txt": b"1,10,5\r\n2,20,3\r\n", "items.txt": b"10,A, \"quoted, title\"\n20,B\n"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_files(folder: Path, files=FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def toy_zip(files=FILES, member_dir="toy") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"{member_dir}/{name}", data)
        zf.writestr(f"{member_dir}/EXTRA.md", b"not in the registry, kept anyway")
    return buf.getvalue()


def toy_archive_dataset(urls, archive_sha) -> Dataset:
    return Dataset(
        name="toy", description="test-only", licence="none", citation="none", homepage="http://example.invalid",
        files=tuple(FileSpec(n, sha(d), len(d)) for n, d in FILES.items()),
        archive=Archive("toy.zip", archive_sha, 0, tuple(urls), member_dir="toy"),
    )


def toy_file_dataset(base_urls) -> Dataset:
    """A per-file dataset, like MNIST: each file downloaded on its own, mirrors in order."""
    return Dataset(
        name="toyfiles", description="test-only", licence="none", citation="none", homepage="http://example.invalid",
        files=tuple(FileSpec(n, sha(d), len(d), urls=tuple(b + n for b in base_urls)) for n, d in FILES.items()),
    )


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("HIERCOURSE_CACHE", str(folder))
    monkeypatch.delenv("HIERCOURSE_DATA", raising=False)
    monkeypatch.setattr(fetch, "RETRY_WAIT_S", 0.0)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return folder


@pytest.fixture
def server(tmp_path):
    """A quiet HTTP server on 127.0.0.1 serving tmp_path/'www'; yields (folder, base url)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/toy.zip"  # nothing listens there any more: connection refused


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# --- the registry -----------------------------------------------------------------


def test_registry_entries_are_complete():
    import re

    assert {"ml-latest-small", "ml-100k", "ml-1m", "mnist", "shop"} <= set(REGISTRY)
    for d in REGISTRY.values():
        # what a learner reads: describe() shows the licence and citation in full, whatever the entry
        text = describe(d.name)
        assert d.licence.strip() and f"Licence: {d.licence}" in text and f"Cite: {d.citation}" in text
        if d.kind == "synthetic":
            assert not d.files and not d.urls
            continue
        assert d.urls and all(re.fullmatch(r"https?://[^\s/]+/\S*", u) for u in d.urls)
        hashes = [f.sha256 for f in d.files if f.sha256] + ([d.archive.sha256] if d.archive else [])
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)  # lower-case sha256 hex
        assert len({f.name for f in d.files}) == len(d.files)
        # a file without a published checksum must be checkable by its structure
        for f in d.files:
            assert f.sha256 or (f.lines and f.sep and f.fields), (d.name, f.name)
    assert len(REGISTRY["mnist"].file("train-images-idx3-ubyte.gz").urls) >= 2  # mirrors
    assert "Harper" in describe("ml-1m") and "LeCun" in describe("mnist")
    with pytest.raises(DataError, match="Registered datasets"):
        describe("ml-20m")


@pytest.mark.parametrize("name, folder", [("ml-latest-small", "ml-latest-small"), ("mnist", "mnist")])
def test_registry_checksums_equal_the_reference_copies(name, folder):
    from conftest import need_real_data

    sums = need_real_data(folder) / folder / "SHA256SUMS"
    published = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    for file_name, digest in published.items():
        assert REGISTRY[name].file(file_name).sha256 == digest


def test_real_latest_small_verifies_and_nothing_is_written(real_data_root, cache):
    folder = locate("ml-latest-small", real_data_root, download=False)
    assert folder == real_data_root / "ml-latest-small"
    assert not cache.exists()  # a local copy is used in place, never copied


def test_mnist_subset_from_the_reference_copy(mnist_root):
    test_files = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert locate("mnist", mnist_root, download=False, files=test_files) == mnist_root / "mnist"
    with pytest.raises(DataError, match="no file"):
        locate("mnist", mnist_root, download=False, files=["nope.gz"])


def test_unknown_and_synthetic_names():
    with pytest.raises(DataError, match="ml-100k.*ml-1m.*ml-latest-small.*mnist.*shop"):
        locate("ml-10m")
    with pytest.raises(DataError, match="synthetic"):
        locate("shop")


# --- lookup order and local checks --------------------------------------------------


def test_lookup_order_root_then_env_then_cache(tmp_path, cache, monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", toy_archive_dataset([closed_port_url()], "0" * 64))
    in_root = write_files(tmp_path / "root" / "toy")
    in_env = write_files(tmp_path / "env" / "toy")
    in_cache = write_files(cache / "toy")
    monkeypatch.setenv("HIERCOURSE_DATA", str(tmp_path / "env"))
    assert locate("toy", tmp_path / "root") == in_root
    assert locate("toy", in_root) == in_root  # root may also hold the files themselves
    assert locate("toy") == in_env
    assert locate("toy", tmp_path / "elsewhere") == in_env
    monkeypatch.delenv("HIERCOURSE_DATA")
    assert locate("toy") == in_cache
    (in_cache / "items.txt").unlink()
    with pytest.raises(DataError) as err:
        locate("toy", download=False)
    assert "missing ['items.txt']" in str(err.value)


def test_corrupted_local_file_is_an_error(real_data_root, tmp_path, cache):
    copy = tmp_path / "copy" / "ml-latest-small"
    copy.mkdir(parents=True)
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(real_data_root / "ml-latest-small" / name, copy / name)
    assert locate("ml-latest-small", copy.parent, download=False) == copy
    data = bytearray((copy / "ratings.csv").read_bytes())
    data[1000] ^= 0x01  # one flipped bit, same size: only the checksum can tell
    (copy / "ratings.csv").write_bytes(bytes(data))
    with pytest.raises(DataError, match="ratings.csv fails its checksum"):
        locate("ml-latest-small", copy.parent, download=False)


def test_structure_check_when_no_checksum_is_published(tmp_path, cache):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t2\t3\t881250949\n" * 10)
    (folder / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join("0" * 19) + "\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n")
    with pytest.raises(DataError, match="u.data has 10 lines; the published file has 100,000"):
        locate("ml-100k", tmp_path, download=False)


def test_a_file_is_checksummed_once_per_process(tmp_path, cache, monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", toy_archive_dataset([closed_port_url()], "0" * 64))
    root = write_files(tmp_path / "root" / "toy")
    calls = []
    real = fetch.sha256_file
    monkeypatch.setattr(fetch, "sha256_file", lambda p: calls.append(p) or real(p))
    locate("toy", root)
    locate("toy", root)
    assert len(calls) == len(FILES)
    (root / "ratings.txt").write_bytes(b"1,10,5\r\n2,20,4\r\n")  # changed content and mtime
    with pytest.raises(DataError, match="checksum"):
        locate("toy", root)


# --- downloads ------------------------------------------------------------------------


def test_download_extracts_into_the_cache_atomically(server, cache, tmp_path, monkeypatch):
    www, base = server
    blob = toy_zip()
    (www / "toy.zip").write_bytes(blob)
    # the first url is dead, the second a 404: the third (a mirror) serves the file
    urls = [closed_port_url(), base + "missing.zip", base + "toy.zip"]
    monkeypatch.setitem(REGISTRY, "toy", toy_archive_dataset(urls, sha(blob)))
    empty_root = tmp_path / "empty"
    empty_root.mkdir()
    folder = locate("toy", empty_root)
    assert folder == cache / "toy"
    assert leftovers(cache) == ["toy"]  # no temporary folder, no archive left behind
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert (folder / "EXTRA.md").is_file() and (folder / fetch.MARKER).is_file()
    assert list(empty_root.iterdir()) == []  # never writes into root
    (www / "toy.zip").unlink()
    assert locate("toy") == folder  # now served from the cache, no network needed


def test_corrupt_cache_is_replaced_by_a_fresh_download(server, cache, monkeypatch):
    www, base = server
    blob = toy_zip()
    (www / "toy.zip").write_bytes(blob)
    monkeypatch.setitem(REGISTRY, "toy", toy_archive_dataset([base + "toy.zip"], sha(blob)))
    bad = write_files(cache / "toy", {**FILES, "ratings.txt": b"1,10,5\r\n2,20,4\r\n"})
    with pytest.raises(DataError, match="checksum"):
        locate("toy", download=False)
    assert locate("toy") == bad
    assert (bad / "ratings.txt").read_bytes() == FILES["ratings.txt"]
    assert leftovers(cache) == ["toy"]


def test_wrong_checksum_deletes_the_download(server, cache, monkeypatch):
    www, base = server
    (www / "toy.zip").write_bytes(toy_zip())
    monkeypatch.setitem(REGISTRY, "toy", toy_archive_dataset([base + "toy.zip"], "ab" * 32))
    with pytest.raises(DataError, match="failed its checksum and was deleted"):
        locate("toy")
    assert leftovers(cache) == []  # nothing kept, not even a temporary folder


def test_offline_error_names_the_dataset_and_every_folder(cache, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", toy_archive_dataset([closed_port_url()], "ab" * 32))
    monkeypatch.setenv("HIERCOURSE_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as err:
        locate("toy", tmp_path / "root")
    msg = str(err.value)
    assert "'toy'" in msg and "ConnectionError" in msg
    for folder in (tmp_path / "root" / "toy", tmp_path / "env" / "toy", cache / "toy"):
        assert str(folder) in msg
    assert "HIERCOURSE_DATA" in msg and "unzip" in msg
    assert leftovers(cache) == []


def test_per_file_download_with_mirrors_and_subsets(server, cache, monkeypatch):
    www, base = server
    write_files(www / "second")
    monkeypatch.setitem(REGISTRY, "toyfiles", toy_file_dataset([base + "first/", base + "second/"]))
    folder = locate("toyfiles", files=["items.txt"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(["items.txt", fetch.MARKER])
    assert locate("toyfiles") == folder  # tops up the missing file
    assert (folder / "ratings.txt").read_bytes() == FILES["ratings.txt"]
    assert leftovers(cache) == ["toyfiles"]
