"""`bench data download` against a local HTTP server (127.0.0.1, with Range, ETag and If-Range support)
serving small vault zips: pinned digests, files changed upstream, resumes across a change, the qualities a zip
holds, og-marl's own copies, and `bench data info` beside the published statistics."""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchmarks.data import catalogue
from benchmarks.data.vault import read_dataset, write_dataset
from algorithms.errors import DatasetError, UnknownNameError
from test_vault import discrete_dataset

# the catalogue's 3m entry without its pinned digest (the test's zip is not the published file): a test that
# needs a pin sets the test zip's own
ENTRY = dataclasses.replace(catalogue.entries("smacv1", "3m")[0], sha256=None, size=None, uids=("Good", "Poor"))
ZIP = "/" + ENTRY.rel


class Server:
    """Serves ``files`` {url path: bytes} with a strong ETag per content; ``cut_after`` drops the connection of
    the next response after that many body bytes (Content-Length still announces everything); ``corrupt`` flips
    a byte; ``if_range`` False ignores If-Range (sends the asked range whatever the validator)."""

    def __init__(self):
        self.files: dict = {}
        self.cut_after = None
        self.corrupt = False
        self.if_range = True
        self.requests: list = []  # (path, Range, If-Range)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range"), self.headers.get("If-Range")))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                if outer.corrupt:
                    body = bytearray(body)
                    body[len(body) // 2] ^= 0xFF
                    body = bytes(body)
                total, start = len(body), 0
                rng = self.headers.get("Range")
                if rng and outer.if_range and self.headers.get("If-Range") not in (None, etag):
                    rng = None  # RFC 9110 13.1.5: the representation changed, send all of it
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
                self.send_header("ETag", etag)
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
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def vault_zip(tmp: Path) -> bytes:
    """A zip of ``3m.vlt/Good`` and ``3m.vlt/Poor`` (discrete_dataset seeds 0 and 1) as the publisher lays it out."""
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


@pytest.fixture(scope="module")
def replaced(payload):
    """The file as the publisher replaced it: the same layout, other data (Good and Poor swapped)."""
    buf = io.BytesIO()
    swap = {"3m.vlt/Good/": "3m.vlt/Poor/", "3m.vlt/Poor/": "3m.vlt/Good/"}
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            name = next((new + info.filename[len(old):] for old, new in swap.items() if info.filename.startswith(old)),
                        info.filename)
            dst.writestr(name, src.read(info))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(payload, monkeypatch):
    s = Server()
    s.files[ZIP] = payload
    monkeypatch.setenv(catalogue.MIRROR_ENV, s.url)
    monkeypatch.setenv("BENCH_FAST_RETRY", "1")
    use_entry(monkeypatch, ENTRY)
    yield s
    s.close()


def test_full_download_installs_verified_vaults_and_records_digest(tmp_path, server, payload):
    log = []
    out = catalogue.download(ENTRY, tmp_path, log=log.append)
    assert out == tmp_path / "og_marl" / "smac_v1" / "3m.vlt"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Good", "Poor"]
    ds = read_dataset(out / "Good")
    np.testing.assert_array_equal(ds.observations, discrete_dataset(seed=0).observations)
    rec = json.loads((tmp_path / "digests.json").read_text())[ENTRY.rel]
    assert rec["sha256"] == sha(payload) and rec["size"] == len(payload)
    assert any("gives no sha256" in m for m in log)  # says before the transfer that no digest is published
    assert any("recorded" in m and sha(payload) in m for m in log)  # and that it recorded this one
    assert not list((tmp_path / ".downloads").iterdir())  # the zip is gone after install
    # a second run finds it; --force downloads again and now checks the recorded digest
    log.clear()
    catalogue.download(ENTRY, tmp_path, log=log.append)
    assert any("already present" in m for m in log) and len(server.requests) == 1
    catalogue.download(ENTRY, tmp_path, force=True, log=log.append)
    assert any("sha256 verified" in m and "recorded on the first download" in m for m in log)


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
    assert server.requests[1][2] == f'"{sha(payload)[:16]}"'  # the resume names the file it continues (If-Range)
    assert any("resuming" in m for m in log)
    assert ENTRY.present(tmp_path)


def test_corrupt_file_is_rejected_and_nothing_installed(tmp_path, server, payload):
    server.corrupt = True
    with pytest.raises(DatasetError, match="corrupt"):
        catalogue.download(ENTRY, tmp_path)
    assert not ENTRY.vlt_dir(tmp_path).exists()
    assert not (tmp_path / "digests.json").exists()  # a bad file never becomes the reference digest
    assert not list((tmp_path / ".downloads").iterdir())
    assert [p.name for p in (tmp_path / "og_marl" / "smac_v1").iterdir()] == []  # no temporary leftovers
    # with a known digest, a corrupt file fails the sha256 check before anything is unzipped
    known = dataclasses.replace(ENTRY, sha256=sha(payload), size=len(payload))
    with pytest.raises(DatasetError, match=f"expected sha256 {sha(payload)} .*; got sha256 [0-9a-f]{{64}}.*"
                                           f"transfer was corrupted"):
        catalogue.download(known, tmp_path)
    assert not known.vlt_dir(tmp_path).exists()
    server.corrupt = False
    log = []
    catalogue.download(known, tmp_path, log=log.append)
    assert known.present(tmp_path)
    assert any("deleted" in m and ".rejected" in m for m in log)  # the refused bytes do not stay behind
    assert not list((tmp_path / ".downloads").iterdir())


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



def test_file_changed_upstream_is_refused_with_both_digests_and_accepted_by_the_named_command(
        tmp_path, server, payload, replaced, monkeypatch, capsys):
    from benchmarks.cli import main

    pinned = dataclasses.replace(ENTRY, sha256=sha(payload), size=len(payload))
    use_entry(monkeypatch, pinned)
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    get = ["data", "download", "--suite", "smacv1", "--task", "3m"]
    assert main(get) == 0
    assert f"expected sha256 {sha(payload)}, {len(payload)} bytes (pinned" in capsys.readouterr().out
    before = read_dataset(pinned.vault("Good", tmp_path)).observations
    server.files[ZIP] = replaced  # the publisher replaces the file
    assert main(get + ["--force"]) == 2
    err = capsys.readouterr().err
    assert f"expected sha256 {sha(payload)} ({len(payload)} bytes), pinned from the publisher's listing" in err
    assert f"got sha256 {sha(replaced)} ({len(replaced)} bytes)" in err
    cmd = re.search(r"`(bench data download [^`]*)`", err).group(1)
    assert cmd == f"bench data download --suite smacv1 --task 3m --force --accept-sha256 {sha(replaced)}"
    # nothing installed is lost, nothing new is installed
    np.testing.assert_array_equal(read_dataset(pinned.vault("Good", tmp_path)).observations, before)
    assert not (tmp_path / "digests.json").exists()
    # the same bytes a second time: most likely a change upstream, not a bad transfer
    assert main(get + ["--force"]) == 2
    assert "the same bytes arrived on the previous attempt too" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="64 hex digits"):
        catalogue.download(pinned, tmp_path, force=True, accept_sha256="abc")
    # the named command installs the kept file without downloading it again, and records the digest
    n = len(server.requests)
    assert main(cmd.split()[1:]) == 0
    assert len(server.requests) == n
    np.testing.assert_array_equal(read_dataset(pinned.vault("Good", tmp_path)).observations,
                                  discrete_dataset(seed=1).observations)
    rec = json.loads((tmp_path / "digests.json").read_text())[pinned.rel]
    assert rec["sha256"] == sha(replaced) and rec["replaces"] == sha(payload) and rec["accepted"]
    assert "accepted in place of" in capsys.readouterr().out
    # later downloads are checked against the accepted digest
    assert main(get + ["--force"]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["data", "download", "--suite", "smacv1", "--accept-sha256", sha(replaced)]) == 2
    assert "add --task" in capsys.readouterr().err
    assert main(get + ["--list"]) == 0 and "sha256 accepted" in capsys.readouterr().out


@pytest.mark.parametrize("if_range", [True, False], ids=["server-honours-if-range", "server-ignores-if-range"])
def test_resume_starts_again_when_the_remote_file_changed_between_attempts(tmp_path, server, payload, replaced,
                                                                           if_range):
    server.cut_after = len(payload) // 3
    with pytest.raises(DatasetError, match="interrupted"):
        catalogue.download(ENTRY, tmp_path, retries=0)
    part = tmp_path / ".downloads" / "og_marl-smac_v1-3m.zip.part"
    state = json.loads((part.parent / (part.name + ".json")).read_text())
    assert state["etag"] == f'"{sha(payload)[:16]}"' and state["total"] == len(payload)
    server.files[ZIP], server.if_range = replaced, if_range
    log = []
    catalogue.download(ENTRY, tmp_path, retries=0, log=log.append)
    assert server.requests[1][1:] == (f"bytes={len(payload) // 3}-", state["etag"])  # Range + If-Range
    said = "sent the whole file" if if_range else "changed since this transfer started (ETag"
    assert any(said in m and "starting again" in m for m in log)
    # the other file whole, not the first third of one and the rest of the other
    np.testing.assert_array_equal(read_dataset(ENTRY.vault("Good", tmp_path)).observations,
                                  discrete_dataset(seed=1).observations)
    assert json.loads((tmp_path / "digests.json").read_text())[ENTRY.rel]["sha256"] == sha(replaced)


def test_part_file_without_a_record_of_its_remote_file_is_not_resumed(tmp_path, server, payload):
    server.cut_after = 1000
    with pytest.raises(DatasetError, match="interrupted"):
        catalogue.download(ENTRY, tmp_path, retries=0)
    (tmp_path / ".downloads" / "og_marl-smac_v1-3m.zip.part.json").unlink()  # as a part file of an older version
    log = []
    catalogue.download(ENTRY, tmp_path, retries=0, log=log.append)
    assert server.requests[-1][1] is None and any("no record of the remote file" in m for m in log)
    assert ENTRY.present(tmp_path)


def test_zip_missing_a_listed_quality_is_refused_and_an_unlisted_one_reported(tmp_path, server):
    three = dataclasses.replace(ENTRY, uids=("Good", "Medium", "Poor"))
    with pytest.raises(DatasetError, match=r"lacks the quality Medium \(the catalogue lists Good, Medium, Poor; "
                                           r"the zip holds Good, Poor\); nothing was installed"):
        catalogue.download(three, tmp_path)
    assert not three.vlt_dir(tmp_path).exists() and not (tmp_path / "digests.json").exists()
    log = []
    one = dataclasses.replace(ENTRY, uids=("Good",))
    catalogue.download(one, tmp_path, log=log.append)
    assert any("also holds Poor, which the catalogue does not list" in m for m in log)
    marker = json.loads((one.vlt_dir(tmp_path) / catalogue.MARKER).read_text())
    assert marker["unlisted"] == ["Poor"]


def test_ogmarl_copy_is_used_instead_of_fetched_and_named(tmp_path, server, payload, monkeypatch, capsys):
    from benchmarks.cli import main

    data, work = tmp_path / "data", tmp_path / "work"
    monkeypatch.setenv("BENCH_DATA", str(data))
    monkeypatch.delenv(catalogue.OGMARL_ENV, raising=False)
    monkeypatch.chdir(work.mkdir() or work)
    # og-marl's download_and_unzip_vault: <./vaults>/<source>/<env>/ + the zip's <scenario>.vlt/<uid>/
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        zf.extractall(work / "vaults" / "og_marl" / "smac_v1")
    ogm = work / "vaults" / "og_marl" / "smac_v1" / "3m.vlt"
    assert main(["data", "download", "--suite", "smacv1", "--task", "3m"]) == 0
    out = capsys.readouterr().out
    assert f"using the copy at {ogm}, found in og-marl's vault directory" in out and not server.requests
    assert ENTRY.vault("Good") == ogm / "Good"  # what the smac tasks read (tasks/smac.py dataset_path)
    assert main(["data", "info", "smacv1/3m-good"]) == 0
    out = capsys.readouterr().out
    assert f"copy         {ogm}: found in og-marl's vault directory" in out and "tasks read this copy" in out
    assert main(["data", "verify"]) == 0 and str(ogm / "Poor") in capsys.readouterr().out
    # a copy in the data directory comes first; a directory set in BENCH_OGMARL_VAULTS replaces ./vaults
    assert main(["data", "download", "--suite", "smacv1", "--task", "3m", "--force"]) == 0
    assert len(server.requests) == 1 and ENTRY.vault("Good") == ENTRY.vault("Good", data)
    assert "tasks read the copy at" in (main(["data", "info", str(ogm / "Good")]), capsys.readouterr().out)[1]
    monkeypatch.setenv(catalogue.OGMARL_ENV, str(tmp_path / "elsewhere"))
    assert catalogue.ogmarl_dirs() == [tmp_path / "elsewhere"]
    # an incomplete copy is not used, and a partial one in the data directory is not overwritten unasked
    shutil.rmtree(data)
    monkeypatch.setenv(catalogue.OGMARL_ENV, str(work / "vaults"))
    shutil.rmtree(ogm / "Poor")
    assert ENTRY.locate() is None
    shutil.copytree(ogm, ENTRY.vlt_dir(data))
    assert main(["data", "download", "--suite", "smacv1", "--task", "3m"]) == 2
    assert "lacks Poor" in capsys.readouterr().err and (ENTRY.vault("Good", data) / "metadata.json").is_file()


def test_info_compares_a_catalogue_vault_with_the_published_statistics(tmp_path, server, payload, monkeypatch,
                                                                        capsys):
    from benchmarks.cli import main

    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    good = read_dataset(catalogue.download(ENTRY, tmp_path, log=lambda m: None) / "Good").summary()
    # Good as published (the mean return to 2 decimals), Poor with other numbers
    use_entry(monkeypatch, dataclasses.replace(ENTRY, published=(("Good", good["episodes"], round(good["return_mean"], 2), 2),
                                                                 ("Poor", 43_559, 4.69, 2))))
    assert main(["data", "info", "smacv1/3m-good"]) == 0
    out = capsys.readouterr().out
    assert "catalogue    og_marl/smac_v1/3m/Good" in out and "installed by `bench data download`" in out
    assert (f"published    match: {good['episodes']} episodes (og-marl publishes {good['episodes']}), mean return "
            f"{good['return_mean']:.4f} (og-marl publishes {good['return_mean']:.2f})") in out
    assert main(["data", "info", str(ENTRY.vault("Poor", tmp_path)), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["published"]["match"] is False and card["published"]["published"]["episodes"] == 43_559
    assert card["copy"]["used"] is True and card["copy"]["download"]["sha256"] == sha(payload)
    assert main(["data", "info", "smacv1/3m-poor"]) == 0
    assert "published    MISMATCH: 10 episodes (og-marl publishes 43559)" in capsys.readouterr().out
    assert main(["data", "info", "smacv1/3m-expert"]) == 2
    assert "good, poor" in capsys.readouterr().err


def test_a_task_name_selects_the_zip_it_reads_when_the_names_differ():
    # the paper-data suites name their tasks after the environment (spread-expert, 3-hopper-medium), the zips
    # after the publisher's scenario (simple_spread, 3hopper): `--task` and `data info` accept both spellings
    for suite, task, scenario in (("mpe", "spread-expert", "simple_spread"), ("mpe", "simple_spread", "simple_spread"),
                                  ("mamujoco", "3-hopper-medium", "3hopper"), ("mamujoco", "2ant", "2ant"),
                                  ("smacv1", "3m-good", "3m")):
        assert [e.scenario for e in catalogue.entries(suite, task)] == [scenario]
    assert catalogue.resolve("mamujoco/2-ant-medium-expert")[1] == "Medium-Expert"
    assert catalogue.resolve("mpe/spread-medium-replay")[1] == "Medium-Replay"
    with pytest.raises(UnknownNameError, match="spreads"):
        catalogue.entries("mpe", "spreads-expert")
