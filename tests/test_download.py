"""`bench data download` against a local HTTP server (127.0.0.1, with Range support) serving a small vault zip."""
from __future__ import annotations

import dataclasses
import http.server
import io
import json
import os
import re
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmarks.data import catalogue
from benchmarks.data.vault import read_dataset, write_dataset
from algorithms.errors import DatasetError
from test_vault import discrete_dataset

# the catalogue's 3m entry without its pinned digest (the test's zip is not the published file): a test that
# needs a pin sets the test zip's own
ENTRY = dataclasses.replace(catalogue.entries("smacv1", "3m")[0], sha256=None, size=None)


class Server:
    """Serves ``files`` {url path: bytes}; ``cut_after`` drops the connection of the next response
    after that many body bytes (Content-Length still announces everything); ``corrupt`` flips a byte."""

    def __init__(self):
        self.files: dict = {}
        self.cut_after = None
        self.corrupt = False
        self.requests: list = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if outer.corrupt:
                    body = bytearray(body)
                    body[len(body) // 2] ^= 0xFF
                    body = bytes(body)
                total, start = len(body), 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= total:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{total}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(total - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                chunk = body[start:]
                if outer.cut_after is not None:
                    n, outer.cut_after = outer.cut_after, None
                    self.wfile.write(chunk[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def vault_zip(tmp: Path) -> bytes:
    src = tmp / "src"
    write_dataset(discrete_dataset(seed=0), src / "3m.vlt" / "Good", metadata={"generator": "test"})
    write_dataset(discrete_dataset(seed=1), src / "3m.vlt" / "Poor", metadata={"generator": "test"})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((src / "3m.vlt").rglob("*")):
            zf.write(p, p.relative_to(src).as_posix())
    return buf.getvalue()


def use_entry(monkeypatch, entry):
    """Put ``entry`` in the catalogue in place of the one of the same name (what the CLI looks up)."""
    monkeypatch.setattr(catalogue, "CATALOGUE", tuple(entry if e.name == entry.name else e for e in catalogue.CATALOGUE))


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    return vault_zip(tmp_path_factory.mktemp("zip"))


@pytest.fixture
def server(payload, monkeypatch):
    s = Server()
    s.files["/" + ENTRY.rel] = payload
    monkeypatch.setenv(catalogue.MIRROR_ENV, s.url)
    monkeypatch.setenv("BENCH_FAST_RETRY", "1")
    use_entry(monkeypatch, ENTRY)
    yield s
    s.close()


def test_full_download_installs_verified_vaults_and_records_digest(tmp_path, server, payload):
    import hashlib

    log = []
    out = catalogue.download(ENTRY, tmp_path, log=log.append)
    assert out == tmp_path / "og_marl" / "smac_v1" / "3m.vlt"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Good", "Poor"]
    ds = read_dataset(out / "Good")
    np.testing.assert_array_equal(ds.observations, discrete_dataset(seed=0).observations)
    sha = hashlib.sha256(payload).hexdigest()
    rec = json.loads((tmp_path / "digests.json").read_text())[ENTRY.rel]
    assert rec["sha256"] == sha and rec["size"] == len(payload)
    assert any("recorded" in m and sha in m for m in log)  # says that it recorded the digest
    assert not list((tmp_path / ".downloads").iterdir())  # the zip is gone after install
    # a second run finds it; --force downloads again and now checks the recorded digest
    log.clear()
    catalogue.download(ENTRY, tmp_path, log=log.append)
    assert any("already present" in m for m in log) and len(server.requests) == 1
    catalogue.download(ENTRY, tmp_path, force=True, log=log.append)
    assert any("sha256 verified" in m for m in log)


def test_interrupted_transfer_resumes_with_range(tmp_path, server, payload):
    server.cut_after = len(payload) // 3
    with pytest.raises(DatasetError, match="interrupted.*run the same command again to resume"):
        catalogue.download(ENTRY, tmp_path, retries=0)
    part = tmp_path / ".downloads" / "og_marl-smac_v1-3m.zip.part"
    assert part.stat().st_size == len(payload) // 3
    assert not ENTRY.vlt_dir(tmp_path).exists()  # nothing under the final name
    catalogue.download(ENTRY, tmp_path, retries=0)
    assert server.requests[-1][1] == f"bytes={len(payload) // 3}-"
    assert read_dataset(ENTRY.vault("Poor", tmp_path)).rewards.shape == (2, 40)
    assert not part.exists()


def test_automatic_retry_resumes_within_one_command(tmp_path, server, payload):
    server.cut_after = 1000
    log = []
    catalogue.download(ENTRY, tmp_path, retries=2, log=log.append)
    assert [r[1] for r in server.requests] == [None, "bytes=1000-"]
    assert any("resuming" in m for m in log)
    assert ENTRY.present(tmp_path)


def test_corrupt_file_is_rejected_and_nothing_installed(tmp_path, server, payload):
    import hashlib

    server.corrupt = True
    with pytest.raises(DatasetError, match="corrupt"):
        catalogue.download(ENTRY, tmp_path)
    assert not ENTRY.vlt_dir(tmp_path).exists()
    assert not (tmp_path / "digests.json").exists()  # a bad file never becomes the reference digest
    assert not list((tmp_path / ".downloads").iterdir())
    assert [p.name for p in (tmp_path / "og_marl" / "smac_v1").iterdir()] == []  # no temporary leftovers
    # with a known digest, a corrupt file fails the sha256 check before anything is unzipped
    good = dict(sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    known = dataclasses.replace(ENTRY, **good)
    with pytest.raises(DatasetError, match="sha256 .* does not match"):
        catalogue.download(known, tmp_path)
    assert not known.vlt_dir(tmp_path).exists()
    server.corrupt = False
    catalogue.download(known, tmp_path)
    assert known.present(tmp_path)


def test_missing_file_and_unreachable_server(tmp_path, server, monkeypatch):
    with pytest.raises(DatasetError, match="HTTP 404"):
        catalogue.download(dataclasses.replace(ENTRY, rel="core/smac_v1/none.zip"), tmp_path)
    monkeypatch.setenv(catalogue.MIRROR_ENV, "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(DatasetError, match="interrupted.*cannot connect"):
        catalogue.download(ENTRY, tmp_path, retries=1, timeout=2)


def test_cli_download_and_verify(tmp_path, server, monkeypatch, capsys):
    from benchmarks.cli import main

    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    assert main(["data", "download", "--suite", "smacv1", "--task", "3m-good"]) == 0
    assert main(["data", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok    ") == 2 and "3m.vlt/Good" in out
    assert main(["data", "verify", "--deep"]) == 0
    # damage one vault: verify names it and fails
    (ENTRY.vault("Poor", tmp_path) / "manifest.ocdbt").write_bytes(b"x")
    assert main(["data", "verify"]) == 2
    assert "FAIL" in capsys.readouterr().out
    assert main(["data", "download", "--suite", "smacv9"]) == 2
    assert "smacv1" in capsys.readouterr().err


def test_catalogue_covers_the_design_suites():
    names = {e.name for e in catalogue.CATALOGUE}
    for scen in ("3m", "8m", "2s3z", "5m_vs_6m"):
        assert f"og_marl/smac_v1/{scen}" in names
    assert "omiga/smac_v1/2c_vs_64zg" in names and "omar/mpe/simple_spread" in names
    for scen in ("terran_5_vs_5", "zerg_5_vs_5", "terran_10_vs_10"):
        assert f"og_marl/smac_v2/{scen}" in names
    assert {e.scenario for e in catalogue.entries("mamujoco")} >= {"6halfcheetah", "3hopper", "2ant"}
    assert all(e.url.startswith("https://huggingface.co/datasets/InstaDeepAI/og-marl/resolve/main/")
               for e in catalogue.CATALOGUE if not os.environ.get(catalogue.MIRROR_ENV))


def test_not_enough_disk_space_is_said_before_writing(tmp_path, server, monkeypatch):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(catalogue.shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 100, 100))
    with pytest.raises(DatasetError, match="not enough disk space.*BENCH_DATA"):
        catalogue.download(ENTRY, tmp_path)
    assert not ENTRY.vlt_dir(tmp_path).exists()


def test_suite_default_downloads_skip_the_extra_datasets():
    assert "2halfcheetah" not in {e.scenario for e in catalogue.entries("mamujoco")}
    assert catalogue.entries("mamujoco", "2halfcheetah")[0].source == "og_marl"
    # 2c_vs_64zg: no task reads it (benchmarks/envs/smac.py REMOVED_MAPS), so only by name
    assert [e.scenario for e in catalogue.entries("smacv1")] == ["3m", "8m", "2s3z", "5m_vs_6m"]
    assert [e.scenario for e in catalogue.entries("smacv1", "2c_vs_64zg-good")] == ["2c_vs_64zg"]


def test_every_catalogue_file_but_zerg_is_pinned_from_the_publishers_listing():
    """The pins are shared/reference/dataset_digests.md's Git-LFS pointer values (sha256, size in bytes);
    the publisher's listing gives none for zerg_5_vs_5, whose digest is recorded on the first download."""
    units = {"MB": 1e6, "GB": 1e9}
    for e in catalogue.CATALOGUE:
        if e.scenario == "zerg_5_vs_5":
            assert e.sha256 is None and e.size is None
            continue
        assert isinstance(e.sha256, str) and re.fullmatch(r"[0-9a-f]{64}", e.sha256), e.name
        assert isinstance(e.size, int) and e.size > 0, e.name
        # the size agrees with the listing's rounded one (a dropped or doubled digit would not)
        num, unit = e.approx.split()
        assert abs(e.size - float(num) * units[unit]) <= 0.5 * 10 ** -len(num.partition(".")[2]) * units[unit], e.name
    assert len({e.sha256 for e in catalogue.CATALOGUE if e.sha256}) == len(catalogue.CATALOGUE) - 1
