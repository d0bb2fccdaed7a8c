"""The og-marl dataset catalogue and a resumable, verified, atomic downloader.

Each entry is one zip on the og-marl Hugging Face dataset repository holding ``<scenario>.vlt/<uid>/``
vaults. It unzips to ``<data_dir>/<source>/<env>/<scenario>.vlt/`` (og-marl's own layout, so og-marl
finds our downloads and we find theirs).

Download protocol:

1. bytes stream into ``<data_dir>/.downloads/<name>.zip.part``; an interrupted transfer keeps the
   part file and the next attempt resumes it with an HTTP ``Range`` request (automatic retries,
   then the same command resumes);
2. the size must equal the server's total (and the catalogue's, when it has one), and the sha256
   must equal the catalogue's digest or the one recorded on the first verified download
   (``<data_dir>/digests.json``; the command says when it records one). A mismatch deletes the file;
3. the zip is CRC-checked and extracted into a hidden temporary directory, every vault in it is
   opened, and only then is the ``.vlt`` directory renamed into place. Nothing half-written ever
   appears under the final name.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Optional

from algorithms.errors import DatasetError, unknown

HF = "https://huggingface.co/datasets/InstaDeepAI/og-marl/resolve/main"
MIRROR_ENV = "BENCH_DATA_MIRROR"  # replaces HF in every URL (a mirror, or a local server in tests)
MARKER = ".bench-download.json"
CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Entry:
    suite: str
    scenario: str
    source: str  # og_marl | omiga | omar
    env: str  # og-marl env key: smac_v1, smac_v2, mamujoco, gymnasium_mamujoco, mpe
    rel: str  # path of the zip under the repository root
    uids: tuple  # datasets (qualities) inside the zip
    approx: str  # size from the repository listing (for the user; not verified)
    sha256: Optional[str] = None  # pinned from the publisher's listing; None: recorded on the first verified download
    size: Optional[int] = None  # exact size in bytes, pinned with the sha256
    default: bool = True  # part of `bench data download --suite S` without --task
    # statistics og-marl publishes per dataset (docs/dataset_cards/datacard_info.json, as summarised in
    # shared/reference/ogmarl_datasets.md): uid -> (episodes or None, mean episode return, decimals shown)
    published: tuple = ()

    @property
    def name(self) -> str:
        return f"{self.source}/{self.env}/{self.scenario}"

    @property
    def url(self) -> str:
        return f"{os.environ.get(MIRROR_ENV, HF).rstrip('/')}/{self.rel}"

    def vlt_dir(self, root: Optional[Path] = None) -> Path:
        from benchmarks.data.vault import data_dir

        return Path(root or data_dir()) / self.source / self.env / f"{self.scenario}.vlt"

    def vault(self, uid: str, root: Optional[Path] = None) -> Path:
        return self.vlt_dir(root) / uid

    def present(self, root: Optional[Path] = None) -> bool:
        return (self.vlt_dir(root) / MARKER).is_file()


def _e(suite, scenario, source, env, folder, uids, approx, default=True, published=None, pin=None):
    pub = tuple((uid, v[0], v[1], v[2] if len(v) > 2 else 2) for uid, v in (published or {}).items())
    sha, size = pin or (None, None)
    return Entry(suite, scenario, source, env, f"{folder}/{env}/{scenario}.zip", tuple(uids), approx, sha256=sha,
                 size=size, default=default, published=pub)


GPM = ("Good", "Medium", "Poor")
OMIGA_MUJOCO = ("Expert", "Medium", "Medium-Replay", "Medium-Expert")
CATALOGUE = (
    _e("smacv1", "3m", "og_marl", "smac_v1", "core", GPM, "1.39 GB",
       published={"Good": (43_559, 16.49), "Medium": (41_619, 9.96), "Poor": (48_779, 4.69)},
       pin=("4cc6dd8462a1811cdf282a9e2308c8c2367f55d6abaf715389abc4e8182f4727", 1_391_810_903)),
    _e("smacv1", "8m", "og_marl", "smac_v1", "core", GPM, "2.53 GB",
       published={"Good": (30_638, 16.86), "Medium": (39_208, 10.14), "Poor": (20_629, 5.28)},
       pin=("b47b976b0af3bb41b9a4175ef23be374db0db824ec58c5dc243420f67a04318e", 2_533_505_237)),
    _e("smacv1", "2s3z", "og_marl", "smac_v1", "core", GPM, "1.75 GB",
       published={"Good": (18_616, 18.32), "Medium": (18_605, 12.57), "Poor": (9_942, 6.88)},
       pin=("aedfde67b00c972d9094340c5c41b2b8e1678e9e3a411b7a629b7246f8fa3f3f", 1_753_455_784)),
    _e("smacv1", "5m_vs_6m", "og_marl", "smac_v1", "core", GPM, "2.04 GB",
       published={"Good": (36_311, 16.58), "Medium": (39_284, 12.62), "Poor": (45_501, 7.45)},
       pin=("a87997f805a0a4a646accbbb273f856fc04f859e2ed2a03c4aaa6d41c585c125", 2_042_271_016)),
    _e("smacv1", "2c_vs_64zg", "omiga", "smac_v1", "prior_work/omiga", GPM, "233 MB", default=False,
       published={"Good": (None, 19.94), "Medium": (None, 13.00), "Poor": (None, 8.91)},
       pin=("63fc0b8ad46bea5f4fa804d75a588799144eb96e795b3a9d7efe5de51af033c5", 233_310_544)),
    _e("smacv2", "terran_5_vs_5", "og_marl", "smac_v2", "core", ("Replay", "Random"), "965 MB",
       published={"Replay": (17_958, 10.05), "Random": (37_874, 2.43)},
       pin=("04b5f9eb9d50193ec756a9820a096b49dfc787e7751dc006e51be4684b98b60b", 964_689_601)),
    _e("smacv2", "zerg_5_vs_5", "og_marl", "smac_v2", "core", ("Replay",), "588 MB",
       published={"Replay": (23_294, 7.34)}),
    _e("smacv2", "terran_10_vs_10", "og_marl", "smac_v2", "core", ("Replay",), "438 MB",
       published={"Replay": (13_588, 6.32)},
       pin=("a8f2e5647446fc0bc96c0ed39aa3b6d15fe433845293511b6b6e369549011455", 438_138_562)),
    _e("mamujoco", "6halfcheetah", "omiga", "mamujoco", "prior_work/omiga", OMIGA_MUJOCO, "882 MB",
       pin=("83228ef6e30f91f3728d26d2f4aa3c6176fd7be026c419032bb91d5cef80a0d9", 882_029_673)),
    _e("mamujoco", "3hopper", "omiga", "mamujoco", "prior_work/omiga", OMIGA_MUJOCO, "599 MB",
       pin=("c20dc32579ef352da9bd959e50518178d56ae77916ad639a54b1e323cd5b2c5b", 599_008_299)),
    _e("mamujoco", "2ant", "omiga", "mamujoco", "prior_work/omiga", OMIGA_MUJOCO, "1.31 GB",
       pin=("b8bebe9072e84f01e62dd9698cf90e1817bf717ebafb205724a058593417759d", 1_305_860_596)),
    # og-marl's own MaMuJoCo data (MuJoCo 2.1 multiagent_mujoco, not a DESIGN task): only with --task
    _e("mamujoco", "2halfcheetah", "og_marl", "mamujoco", "core", GPM, "8.93 GB", default=False,
       published={"Good": (1_000, 6924, 0), "Medium": (None, 1485, 0), "Poor": (None, 400, 0)},
       pin=("9537abf4fb1a7a8894819c45eb3d3221c074e96023cdc9882b084589c62f6f3e", 8_934_288_721)),
    _e("mpe", "simple_spread", "omar", "mpe", "prior_work/omar", ("Expert", "Medium", "Medium-Replay", "Random"),
       "4.98 GB",
       pin=("3ceec3d49c1907ecd5087f425713903151e2c9ae20a19614a0d2c60ef82153e6", 4_983_699_663)),
)


def suites() -> list:
    return sorted({e.suite for e in CATALOGUE})


def entries(suite: str, task: Optional[str] = None) -> list:
    """Catalogue entries of ``suite``; ``task`` selects one scenario (``3m`` or a task name ``3m-good``)."""
    mine = [e for e in CATALOGUE if e.suite == suite]
    if not mine:
        raise unknown("downloadable suite", suite, suites())
    if task is None:
        return [e for e in mine if e.default]
    t = task.split("/", 1)[-1]
    hit = [e for e in mine if t == e.scenario or t.lower().startswith(e.scenario.lower() + "-")]
    if not hit:
        raise unknown(f"dataset of suite '{suite}'", t, [e.scenario for e in mine])
    return hit[:1]


def find(source: str, env: str, scenario: str) -> Entry:
    for e in CATALOGUE:
        if (e.source, e.env, e.scenario) == (source, env, scenario):
            return e
    raise unknown("catalogue dataset", f"{source}/{env}/{scenario}", [e.name for e in CATALOGUE])


def entry_of(path) -> Optional[Entry]:
    """The catalogue entry a vault at ``<...>/<source>/<env>/<scenario>.vlt/<uid>`` belongs to, or None."""
    p = Path(path)
    if len(p.parts) < 4 or not p.parent.name.endswith(".vlt"):
        return None
    scenario, env, source = p.parent.name[:-4], p.parent.parent.name, p.parent.parent.parent.name
    return next((e for e in CATALOGUE if (e.source, e.env, e.scenario) == (source, env, scenario)), None)


def installed_download(path) -> Optional[dict]:
    """What ``download`` recorded for the vault at ``path`` (catalogue name, url, sha256 of the zip, date), or
    None when the data were not installed by ``bench data download``."""
    marker = Path(path).parent / MARKER
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    entry = entry_of(path)
    return {"entry": entry.name if entry else None, "url": meta.get("url"), "sha256": meta.get("sha256"),
            "downloaded": meta.get("downloaded")}


def check_published(summary: dict, path) -> Optional[dict]:
    """Compare a dataset's statistics with the ones og-marl publishes for it; returns the published ones.

    ``summary`` is ``Dataset.summary()`` of the vault at ``path``. Episodes may differ by one (an episode cut
    by the end of a stream is not counted); the mean return must agree to the published rounding. A
    mismatch is a DatasetError naming both numbers: the data changed, or the file is not the one published."""
    entry = entry_of(path)
    uid = Path(path).name
    pub = {u: (eps, ret, dec) for u, eps, ret, dec in (entry.published if entry else ())}
    if uid not in pub:
        return None
    eps, ret, dec = pub[uid]
    where = f"{entry.name}/{uid} at {path}"
    fix = "delete it and run `bench data download` again, or pass your own data with --dataset from another directory"
    if eps is not None and abs(summary["episodes"] - eps) > 1:
        raise DatasetError(f"{where} holds {summary['episodes']} episodes, og-marl publishes {eps}; the data differ "
                           f"from the published dataset: {fix}")
    tol = 0.5 * 10.0 ** -dec + 1e-9
    if not abs(summary["return_mean"] - ret) <= tol:
        raise DatasetError(f"{where} has mean episode return {summary['return_mean']:.{dec + 2}f}, og-marl publishes "
                           f"{ret:.{dec}f}; the data differ from the published dataset: {fix}")
    return {"episodes": eps, "return_mean": ret}


# ---- digests recorded on first verified download ----------------------------------------------------
def _digests_file(root: Path) -> Path:
    return root / "digests.json"


def recorded_digest(entry: Entry, root: Path) -> Optional[dict]:
    try:
        return json.loads(_digests_file(root).read_text()).get(entry.rel)
    except (OSError, ValueError):
        return None


def _record_digest(entry: Entry, root: Path, sha: str, size: int) -> None:
    f = _digests_file(root)
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        data = {}
    data[entry.rel] = {"sha256": sha, "size": size, "url": entry.url, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = f.with_name(f".{f.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, f)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# ---- transfer ----------------------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def _fetch(url: str, part: Path, timeout: float, progress: Optional[Callable[[int, int], None]]) -> int:
    """Append the missing bytes of ``url`` to ``part`` (Range resume); returns the total size."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "offline-marl-bench", "Accept-Encoding": "identity"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is already complete
            total = exc.headers.get("Content-Range", "").rpartition("/")[2]
            return int(total) if total.isdigit() else have
        raise DatasetError(f"download of {url} failed: HTTP {exc.code} {exc.reason}. Check the URL or the mirror "
                           f"(${MIRROR_ENV}), or download the zip by hand and unzip it into the data directory") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise Interrupted(f"cannot connect to {url}: {getattr(exc, 'reason', exc)}") from None
    with resp:
        if resp.status == 206:
            rng = resp.headers.get("Content-Range", "")  # bytes start-end/total
            start = int(rng.split(" ")[-1].split("-")[0]) if "-" in rng else -1
            if start != have:
                raise DatasetError(f"server answered range {rng!r} to a request for bytes {have}-; delete "
                                   f"{part} and try again")
            total_s = rng.rpartition("/")[2]
            total = int(total_s) if total_s.isdigit() else -1
            mode = "ab"
        else:  # 200: the server ignored Range, start over
            have = 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else -1
            mode = "wb"
        if total > 0:  # room for the rest of the zip plus its extracted copy
            free = shutil.disk_usage(part.parent).free
            need = (total - have) + total
            if free < need:
                raise DatasetError(f"not enough disk space for {url}: {need / 1e9:.2f} GB needed (zip + unpacked), "
                                   f"{free / 1e9:.2f} GB free under {part.parent}; free space or set BENCH_DATA "
                                   f"(or --data-dir) to a larger disk")
        done = have
        with open(part, mode) as fh:
            try:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            except (OSError, http.client.HTTPException) as exc:  # connection reset, timeout, incomplete read
                raise Interrupted(f"connection lost after {done} bytes ({exc})") from None
    if total >= 0 and done < total:
        raise Interrupted(f"transfer stopped after {done} of {total} bytes")
    return total if total >= 0 else done


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for member in zf.infolist():
        target = (dest / member.filename).resolve()
        if root != target and root not in target.parents:
            raise DatasetError(f"zip member {member.filename!r} would be written outside {dest}; refusing the archive")
    zf.extractall(dest)


def _install(entry: Entry, zip_path: Path, root: Path, force: bool, meta: dict) -> Path:
    """CRC-check, extract to a temporary directory, open every vault, then rename into place."""
    from benchmarks.data.vault import vault_fields

    final = entry.vlt_dir(root)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".unzip-{entry.scenario}-{uuid.uuid4().hex[:8]}"
    try:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise DatasetError(f"{zip_path.name}: member {bad} fails its CRC check; the download is corrupt")
                _safe_extract(zf, tmp)
        # a flipped byte lands in a header (BadZipFile, ValueError), a deflated member (zlib.error) or its sizes
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
            raise DatasetError(f"{entry.url} is not a valid zip ({exc}); the download is corrupt") from None
        vlt = tmp / f"{entry.scenario}.vlt"
        if not vlt.is_dir():
            found = [p.name for p in tmp.iterdir()]
            raise DatasetError(f"the zip of {entry.name} holds {found}, expected {entry.scenario}.vlt/<quality>/")
        uids = sorted(p.name for p in vlt.iterdir() if p.is_dir())
        if not uids:
            raise DatasetError(f"the zip of {entry.name} holds no dataset under {entry.scenario}.vlt/")
        summary = {}
        for uid in uids:
            info = vault_fields(vlt / uid)  # raises DatasetError on a corrupt vault
            summary[uid] = {"timesteps": info["timesteps"], "fields": {k: v[0] for k, v in info["fields"].items()}}
        (vlt / MARKER).write_text(json.dumps({**meta, "uids": summary}, indent=2))
        if final.exists():
            if not force and (final / MARKER).is_file():
                raise DatasetError(f"{final} already exists; use --force to replace it")
            trash = final.parent / f".old-{entry.scenario}-{uuid.uuid4().hex[:8]}"
            os.replace(final, trash)
            os.replace(vlt, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(vlt, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def download(entry: Entry, root: Optional[Path] = None, force: bool = False, retries: int = 3,
             timeout: float = 60.0, keep_zip: bool = False, log: Callable[[str], None] = print,
             progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Download, verify and install one catalogue entry; returns its ``.vlt`` directory."""
    from benchmarks.data.vault import data_dir

    root = Path(root or data_dir()).expanduser().absolute()
    final = entry.vlt_dir(root)
    if entry.present(root) and not force:
        log(f"{entry.name}: already present at {final}")
        return final
    downloads = root / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    part = downloads / f"{entry.source}-{entry.env}-{entry.scenario}.zip.part"
    if part.exists() and part.stat().st_size:
        log(f"{entry.name}: resuming {part.name} at {part.stat().st_size} bytes")
    url = entry.url
    attempt = 0
    while True:
        try:
            total = _fetch(url, part, timeout, progress)
            break
        except Interrupted as exc:
            attempt += 1
            if attempt > retries:
                got = part.stat().st_size if part.exists() else 0
                raise DatasetError(f"download of {entry.name} interrupted ({exc}); {got} bytes are kept in {part}: "
                                   f"run the same command again to resume") from None
            log(f"{entry.name}: {exc}; resuming (attempt {attempt + 1} of {retries + 1})")
            time.sleep(min(2.0 ** attempt, 10.0) if not os.environ.get("BENCH_FAST_RETRY") else 0.0)
    size = part.stat().st_size
    known = recorded_digest(entry, root)
    want_size = entry.size or (known or {}).get("size")
    if size != total or (want_size and size != want_size):
        part.unlink(missing_ok=True)
        raise DatasetError(f"{entry.name}: downloaded {size} bytes, expected {want_size or total}; the file was deleted, "
                           f"run the same command again")
    sha = sha256_file(part)
    want_sha = entry.sha256 or (known or {}).get("sha256")
    if want_sha and sha != want_sha:
        part.unlink(missing_ok=True)
        raise DatasetError(f"{entry.name}: sha256 {sha} does not match the expected {want_sha}; the corrupt file was "
                           f"deleted and nothing was installed. Run the same command again (or check ${MIRROR_ENV})")
    meta = {"url": url, "sha256": sha, "size": size, "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        out = _install(entry, part, root, force, meta)
    except DatasetError:
        part.unlink(missing_ok=True)  # a corrupt archive is not resumable
        raise
    if not want_sha:
        _record_digest(entry, root, sha, size)
        log(f"{entry.name}: the catalogue has no sha256 for this file; recorded {sha} ({size} bytes) in "
            f"{_digests_file(root)} and future downloads are checked against it")
    else:
        log(f"{entry.name}: sha256 verified ({sha[:16]}...)")
    if keep_zip:
        os.replace(part, downloads / part.name[: -len(".part")])
    else:
        part.unlink(missing_ok=True)
    log(f"{entry.name}: installed {', '.join(sorted(p.name for p in out.iterdir() if p.is_dir()))} at {out}")
    return out
