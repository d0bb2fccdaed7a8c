"""The og-marl dataset catalogue and a resumable, verified, atomic downloader.

Each entry is one zip on the og-marl Hugging Face dataset repository holding ``<scenario>.vlt/<uid>/``
vaults. It unzips to ``<data_dir>/<source>/<env>/<scenario>.vlt/`` (og-marl's own layout, so og-marl
finds our downloads and we find theirs).

Where a task reads a dataset (:meth:`Entry.locate`): the copy in the data directory (``$BENCH_DATA``) when it
was installed by ``bench data download`` or holds every quality the catalogue lists; otherwise og-marl's
own copy, found in og-marl's vault directories (``$BENCH_OGMARL_VAULTS``, default ``./vaults``: og-marl's
``download_and_unzip_vault`` writes ``<dataset_base_dir>/<source>/<env>/<scenario>.vlt/`` with
``dataset_base_dir="./vaults"``, relative to the working directory). A found copy is used in place, never
fetched again; its zip's digest is unknown, so its statistics are what ``bench run`` and ``bench data info``
compare with the published ones.

Download protocol:

1. bytes stream into ``<data_dir>/.downloads/<name>.zip.part``, with ``<name>.zip.part.json`` recording the
   URL, the server's ``ETag`` / ``Last-Modified`` and the total length. An interrupted transfer keeps both
   and the next attempt resumes with ``Range`` + ``If-Range``; a server that answers with the whole file
   (If-Range failed), or with a range of a file whose validators or length differ from the recorded ones,
   makes the transfer start again from byte 0 (automatic retries, then the same command resumes);
2. the size must equal the server's total, and size and sha256 must equal the expected ones (:func:`expected`):
   pinned in the catalogue from the publisher's listing (``shared/reference/dataset_digests.md``: the
   Git-LFS pointers of the dataset repository), or accepted with ``--accept-sha256`` (recorded in
   ``<data_dir>/digests.json``), or, for a file the listing gives no digest for (zerg_5_vs_5), recorded
   there on the first verified download. A file that differs is kept as ``<name>.zip.rejected`` and refused
   with both digests and the command that accepts it (which installs the kept file without downloading again);
3. the zip is CRC-checked and extracted into a hidden temporary directory, its qualities are compared with
   the catalogue's list (a missing one refuses the archive, an extra one is reported), every vault in it is
   opened, and only then is the ``.vlt`` directory renamed into place. Nothing half-written ever appears
   under the final name, and an installed copy is only replaced by a verified one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import os
import re
import shlex
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
OGMARL_ENV = "BENCH_OGMARL_VAULTS"  # og-marl's vault directories, os.pathsep-separated
OGMARL_DEFAULT = "vaults"  # og-marl's download_and_unzip_vault(dataset_base_dir="./vaults"), Vault(rel_dir="vaults")
MARKER = ".bench-download.json"
CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def ogmarl_dirs() -> list:
    """og-marl's vault directories searched for datasets it already downloaded (absolute paths)."""
    raw = os.environ.get(OGMARL_ENV)
    parts = raw.split(os.pathsep) if raw is not None else [OGMARL_DEFAULT]
    return [Path(p).expanduser().absolute() for p in parts if p.strip()]


@dataclasses.dataclass(frozen=True)
class Copy:
    """An installed copy of a catalogue entry: its ``.vlt`` directory, and whether ``bench data download``
    installed it (size and sha256 of its zip verified, marker written) or it was found (og-marl's download,
    or unzipped by hand)."""
    path: Path
    downloaded: bool

    def how(self) -> str:
        if self.downloaded:
            return "installed by `bench data download` (its zip's size and sha256 verified)"
        where = "og-marl's vault directory" if any(d in self.path.parents for d in ogmarl_dirs()) else "the data directory"
        return (f"found in {where}, not downloaded by bench (og-marl's download or unzipped by hand; its zip's "
                f"sha256 is unknown)")


@dataclasses.dataclass(frozen=True)
class Entry:
    suite: str
    scenario: str
    source: str  # og_marl | omiga | omar
    env: str  # og-marl env key: smac_v1, smac_v2, mamujoco, gymnasium_mamujoco, mpe
    rel: str  # path of the zip under the repository root
    uids: tuple  # datasets (qualities) inside the zip
    approx: str  # size from the repository listing (for the user)
    sha256: Optional[str] = None  # pinned from the publisher's listing; None: recorded on the first verified download
    size: Optional[int] = None  # exact size in bytes, pinned with the sha256
    default: bool = True  # part of `bench data download --suite S` without --task
    # statistics og-marl publishes per dataset (docs/dataset_cards/datacard_info.json, as summarised in
    # shared/reference/ogmarl_datasets.md): uid -> (episodes or None, mean episode return, decimals shown)
    published: tuple = ()
    # the prefix of the suite's task names when it is not the scenario's name (mpe/spread-expert reads
    # simple_spread, mamujoco/3-hopper-expert reads 3hopper), so `--task` accepts either
    task_prefix: Optional[str] = None

    def prefix_of(self, task: str) -> Optional[str]:
        """The name (scenario or task prefix) that ``task`` (``3m``, ``3m-good``, ``spread-expert``) starts with."""
        t = task.lower()
        for name in (self.scenario, self.task_prefix):
            if name and (t == name.lower() or t.startswith(name.lower() + "-")):
                return name
        return None

    @property
    def name(self) -> str:
        return f"{self.source}/{self.env}/{self.scenario}"

    @property
    def url(self) -> str:
        return f"{os.environ.get(MIRROR_ENV, HF).rstrip('/')}/{self.rel}"

    def _under(self, root: Optional[Path]) -> Path:
        from benchmarks.data.vault import data_dir

        return Path(root or data_dir()) / self.source / self.env / f"{self.scenario}.vlt"

    def vlt_dir(self, root: Optional[Path] = None) -> Path:
        """The ``.vlt`` directory under ``root``; without a root, the copy :meth:`locate` finds, else the place
        in the data directory where ``bench data download`` puts it."""
        if root is None:
            found = self.locate()
            if found is not None:
                return found.path
        return self._under(root)

    def vault(self, uid: str, root: Optional[Path] = None) -> Path:
        return self.vlt_dir(root) / uid

    def present(self, root: Optional[Path] = None) -> bool:
        """Installed by ``bench data download`` under ``root`` (default: the data directory)."""
        return (self._under(root) / MARKER).is_file()

    def missing_uids(self, vlt: Path) -> list:
        """The catalogue's qualities that have no vault (``metadata.json``) in ``vlt``."""
        from benchmarks.data.vault import META_FILE

        return [uid for uid in self.uids if not (Path(vlt) / uid / META_FILE).is_file()]

    def copy_at(self, root: Path) -> Optional[Copy]:
        """The copy under ``root``: installed by ``bench data download``, or holding every listed quality."""
        vlt = self._under(Path(root).expanduser().absolute())
        if (vlt / MARKER).is_file():
            return Copy(vlt, True)
        if vlt.is_dir() and not self.missing_uids(vlt):
            return Copy(vlt, False)
        return None

    def locate(self, root: Optional[Path] = None) -> Optional[Copy]:
        """The copy tasks read: under ``root`` (default: the data directory, ``$BENCH_DATA``), then in og-marl's
        vault directories (:func:`ogmarl_dirs`); None when there is none."""
        from benchmarks.data.vault import data_dir

        seen = []
        for r in [Path(root or data_dir()).expanduser().absolute(), *ogmarl_dirs()]:
            if r in seen:
                continue
            seen.append(r)
            found = self.copy_at(r)
            if found is not None:
                return found
        return None


def _e(suite, scenario, source, env, folder, uids, approx, default=True, published=None, pin=None, task_prefix=None):
    pub = tuple((uid, v[0], v[1], v[2] if len(v) > 2 else 2) for uid, v in (published or {}).items())
    sha, size = pin or (None, None)
    return Entry(suite, scenario, source, env, f"{folder}/{env}/{scenario}.zip", tuple(uids), approx, sha256=sha,
                 size=size, default=default, published=pub, task_prefix=task_prefix)


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
       pin=("83228ef6e30f91f3728d26d2f4aa3c6176fd7be026c419032bb91d5cef80a0d9", 882_029_673), task_prefix="6-halfcheetah"),
    _e("mamujoco", "3hopper", "omiga", "mamujoco", "prior_work/omiga", OMIGA_MUJOCO, "599 MB",
       pin=("c20dc32579ef352da9bd959e50518178d56ae77916ad639a54b1e323cd5b2c5b", 599_008_299), task_prefix="3-hopper"),
    _e("mamujoco", "2ant", "omiga", "mamujoco", "prior_work/omiga", OMIGA_MUJOCO, "1.31 GB",
       pin=("b8bebe9072e84f01e62dd9698cf90e1817bf717ebafb205724a058593417759d", 1_305_860_596), task_prefix="2-ant"),
    # og-marl's own MaMuJoCo data (MuJoCo 2.1 multiagent_mujoco, not a DESIGN task): only with --task
    _e("mamujoco", "2halfcheetah", "og_marl", "mamujoco", "core", GPM, "8.93 GB", default=False,
       published={"Good": (1_000, 6924, 0), "Medium": (None, 1485, 0), "Poor": (None, 400, 0)},
       pin=("9537abf4fb1a7a8894819c45eb3d3221c074e96023cdc9882b084589c62f6f3e", 8_934_288_721)),
    _e("mpe", "simple_spread", "omar", "mpe", "prior_work/omar", ("Expert", "Medium", "Medium-Replay", "Random"),
       "4.98 GB", task_prefix="spread",
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
    hit = [e for e in mine if e.prefix_of(t)]
    if not hit:
        raise unknown(f"dataset of suite '{suite}'", t, [e.scenario for e in mine])
    return hit[:1]


def find(source: str, env: str, scenario: str) -> Entry:
    for e in CATALOGUE:
        if (e.source, e.env, e.scenario) == (source, env, scenario):
            return e
    raise unknown("catalogue dataset", f"{source}/{env}/{scenario}", [e.name for e in CATALOGUE])


def resolve(ref: str) -> tuple:
    """(Entry, uid) of a task-style reference ``<suite>/<scenario>-<quality>`` (``smacv1/3m-good``)."""
    suite, _, task = ref.partition("/")
    if suite not in suites() or not task:
        raise DatasetError(f"{ref!r} is neither a vault directory nor a catalogue dataset <suite>/<scenario>-<quality> "
                           f"(e.g. smacv1/3m-good; suites: {', '.join(suites())})")
    entry = entries(suite, task)[0]
    quality = task[len(entry.prefix_of(task)) + 1:]
    uid = next((u for u in entry.uids if u.lower() == quality.lower()), None)
    if uid is None:
        raise unknown(f"quality of {suite}/{entry.scenario}", quality, [u.lower() for u in entry.uids])
    return entry, uid


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
            "downloaded": meta.get("downloaded"), "digest": meta.get("digest")}


def compare_published(summary: dict, path) -> Optional[dict]:
    """A dataset's statistics beside the ones og-marl publishes for it, or None when the catalogue lists none.

    ``summary`` holds ``episodes`` and ``return_mean`` (``Dataset.summary()`` or the dataset card) of the vault
    at ``path``. Episodes may differ by one (an episode cut by the end of a stream is not counted); the mean
    return must agree to the published rounding. Returns ``published`` and ``got`` (episodes, return_mean),
    ``decimals``, ``match`` and ``problems`` (one sentence per number that differs, naming both)."""
    entry = entry_of(path)
    uid = Path(path).name
    pub = {u: (eps, ret, dec) for u, eps, ret, dec in (entry.published if entry else ())}
    if uid not in pub:
        return None
    eps, ret, dec = pub[uid]
    got = {"episodes": int(summary["episodes"]), "return_mean": float(summary["return_mean"])}
    problems = []
    if eps is not None and abs(got["episodes"] - eps) > 1:
        problems.append(f"holds {got['episodes']} episodes, og-marl publishes {eps}")
    if not abs(got["return_mean"] - ret) <= 0.5 * 10.0 ** -dec + 1e-9:
        problems.append(f"has mean episode return {got['return_mean']:.{dec + 2}f}, og-marl publishes {ret:.{dec}f}")
    return {"entry": entry.name, "uid": uid, "published": {"episodes": eps, "return_mean": ret}, "got": got,
            "decimals": dec, "match": not problems, "problems": problems}


def check_published(summary: dict, path) -> Optional[dict]:
    """Compare a dataset's statistics with the ones og-marl publishes for it (:func:`compare_published`);
    returns the published ones. A mismatch is a DatasetError naming both numbers: the data changed, or the
    file is not the one published."""
    cmp = compare_published(summary, path)
    if cmp is None:
        return None
    if cmp["problems"]:
        fix = ("delete it and run `bench data download` again, or pass your own data with --dataset from another "
               "directory")
        raise DatasetError(f"{cmp['entry']}/{cmp['uid']} at {path} {cmp['problems'][0]}; the data differ from the "
                           f"published dataset: {fix}")
    return cmp["published"]


def about(path, summary: dict) -> dict:
    """What the catalogue knows of the vault at ``path`` (``bench data info``): ``catalogue`` (entry/quality),
    ``copy`` (its ``.vlt`` directory, how it got there, what ``download`` recorded, and whether it is the copy
    tasks read, :meth:`Entry.locate`) and ``published`` (:func:`compare_published` with ``summary``, None
    when og-marl publishes no statistics for it); empty for a vault outside the catalogue's layout."""
    entry = entry_of(path)
    if entry is None:
        return {}
    vlt = Path(path).expanduser().absolute().parent
    dl = installed_download(path)
    used = entry.locate()
    copy = {"path": str(vlt), "how": Copy(vlt, dl is not None).how(), "download": dl,
            "used": used is not None and used.path == vlt, "used_copy": str(used.path) if used else None}
    return {"catalogue": f"{entry.name}/{Path(path).name}", "copy": copy, "published": compare_published(summary, path)}


# ---- expected digests: pinned, accepted, or recorded on the first verified download ---------------------
def _digests_file(root: Path) -> Path:
    return root / "digests.json"


def recorded_digest(entry: Entry, root: Path) -> Optional[dict]:
    try:
        return json.loads(_digests_file(root).read_text()).get(entry.rel)
    except (OSError, ValueError):
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _record_digest(entry: Entry, root: Path, sha: str, size: int, **how) -> None:
    f = _digests_file(root)
    data = _read_json(f) or {}
    data[entry.rel] = {"sha256": sha, "size": size, "url": entry.url, **how}
    _write_json(f, data)


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a download of an entry must be: sha256 and size, and where they come from (``origin``: pinned,
    accepted, recorded, given (with --accept-sha256 on this command), or none)."""
    sha256: Optional[str]
    size: Optional[int]
    origin: str
    date: Optional[str] = None

    def source(self) -> str:
        return {"pinned": "pinned from the publisher's listing",
                "accepted": f"accepted with --accept-sha256 on {self.date}",
                "recorded": f"recorded on the first download on {self.date}",
                "given": "given with --accept-sha256",
                "none": "no published digest"}[self.origin]

    def describe(self, root: Path) -> str:
        if self.origin == "none":
            return (f"the publisher's listing gives no sha256 for this file: the first verified download's is recorded "
                    f"in {_digests_file(root)} and later downloads are checked against it")
        size = f", {self.size} bytes" if self.size else ""
        return f"expected sha256 {self.sha256}{size} ({self.source()})"


def expected(entry: Entry, root: Path, accept: Optional[str] = None) -> Expected:
    """The digest a download of ``entry`` into ``root`` must have: ``accept`` (this command's --accept-sha256),
    else one accepted earlier (``digests.json``), else the catalogue's pin, else the one recorded on the first
    download, else none."""
    rec = recorded_digest(entry, root) or {}
    if rec.get("accepted") and rec.get("sha256"):
        current = Expected(rec["sha256"], rec.get("size"), "accepted", rec["accepted"])
    elif entry.sha256:
        current = Expected(entry.sha256, entry.size, "pinned")
    elif rec.get("sha256"):
        current = Expected(rec["sha256"], rec.get("size"), "recorded", rec.get("recorded"))
    else:
        current = Expected(None, None, "none")
    if accept and accept != current.sha256:
        return Expected(accept, entry.size if accept == entry.sha256 else None, "given")
    return current


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _drop(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
        _sidecar(p).unlink(missing_ok=True)


# ---- transfer ----------------------------------------------------------------------------------------
class Interrupted(Exception):
    pass


def _validators(headers) -> dict:
    return {"etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}


def _if_range(state: dict) -> Optional[str]:
    """The If-Range value for a resume: a strong ETag, else the Last-Modified date (RFC 9110 13.1.5)."""
    etag = state.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return state.get("last_modified")


def _changed(state: dict, now: dict, total: int) -> str:
    """How the remote file differs from the one the part file was started from ('' when it does not)."""
    diffs = [f"{label} {state[k]} -> {now[k]}" for k, label in (("etag", "ETag"), ("last_modified", "Last-Modified"))
             if state.get(k) and now.get(k) and state[k] != now[k]]
    if (state.get("total") or -1) >= 0 and total >= 0 and state["total"] != total:
        diffs.append(f"length {state['total']} -> {total}")
    return ", ".join(diffs)


def _total(content_range: str) -> int:
    t = content_range.rpartition("/")[2]
    return int(t) if t.isdigit() else -1


def _fetch(url: str, part: Path, timeout: float, progress: Optional[Callable[[int, int], None]],
           log: Callable[[str], None] = print) -> int:
    """Append the missing bytes of ``url`` to ``part``; returns the total size.

    ``<part>.json`` records the URL and the server's validators and length when byte 0 is written; a resume
    sends them back (If-Range) and checks the answer against them, and starts again from byte 0 when the
    remote file changed, or when the part file has no such record."""
    state_file = _sidecar(part)
    have = part.stat().st_size if part.exists() else 0
    state = (_read_json(state_file) or {}) if have else {}
    if have and state.get("url") != url:
        log(f"{part.name}: no record of the remote file its {have} bytes came from; starting again")
        have = 0
    for _ in range(2):  # a second pass only after a change was seen, and then from byte 0
        req = urllib.request.Request(url, headers={"User-Agent": "offline-marl-bench", "Accept-Encoding": "identity"})
        if have:
            req.add_header("Range", f"bytes={have}-")
            validator = _if_range(state)
            if validator:
                req.add_header("If-Range", validator)
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to fetch: the part file is already complete
                total = _total(exc.headers.get("Content-Range", ""))
                why = _changed(state, _validators(exc.headers), total)
                if not why:
                    return total if total >= 0 else have
                log(f"{part.name}: the remote file changed since this transfer started ({why}); starting again")
                have, state = 0, {}
                continue
            raise DatasetError(f"download of {url} failed: HTTP {exc.code} {exc.reason}. Check the URL or the mirror "
                               f"(${MIRROR_ENV}), or download the zip by hand and unzip it into the data directory") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise Interrupted(f"cannot connect to {url}: {getattr(exc, 'reason', exc)}") from None
        with resp:
            now = _validators(resp.headers)
            if resp.status == 206:
                rng = resp.headers.get("Content-Range", "")  # bytes start-end/total
                start = int(rng.split(" ")[-1].split("-")[0]) if "-" in rng else -1
                if start != have:
                    raise DatasetError(f"server answered range {rng!r} to a request for bytes {have}-; delete "
                                       f"{part} and try again")
                total = _total(rng)
                why = _changed(state, now, total)
                if why:  # a server that ignores If-Range sent a range of another file
                    log(f"{part.name}: the remote file changed since this transfer started ({why}); starting again")
                    have, state = 0, {}
                    continue
                mode = "ab"
            else:  # 200: the whole file (If-Range failed: it changed; or the server cannot resume)
                if have:
                    log(f"{part.name}: the server sent the whole file instead of the missing bytes (the file changed "
                        f"since this transfer started, or the server cannot resume); starting again")
                have = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else -1
                mode = "wb"
                _write_json(state_file, {"url": url, **now, "total": total, "started": _now()})
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
    raise AssertionError("unreachable: the second pass starts from byte 0")


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for member in zf.infolist():
        target = (dest / member.filename).resolve()
        if root != target and root not in target.parents:
            raise DatasetError(f"zip member {member.filename!r} would be written outside {dest}; refusing the archive")
    zf.extractall(dest)


def _install(entry: Entry, zip_path: Path, root: Path, force: bool, meta: dict,
             log: Callable[[str], None] = print) -> Path:
    """CRC-check, extract to a temporary directory, check the qualities against the catalogue's, open every
    vault, then rename into place."""
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
        missing = [u for u in entry.uids if u not in uids]
        extra = [u for u in uids if u not in entry.uids]
        if missing:
            raise DatasetError(f"the zip of {entry.name} lacks the quality {', '.join(missing)} (the catalogue lists "
                               f"{', '.join(entry.uids)}; the zip holds {', '.join(uids) or 'none'}); nothing was "
                               f"installed. The published file differs from the catalogue: report it, or unzip the "
                               f"file yourself and pass a vault with --dataset")
        if extra:
            log(f"{entry.name}: the zip also holds {', '.join(extra)}, which the catalogue does not list (it lists "
                f"{', '.join(entry.uids)}); installed, but no task reads it")
        summary = {}
        for uid in uids:
            info = vault_fields(vlt / uid)  # raises DatasetError on a corrupt vault
            summary[uid] = {"timesteps": info["timesteps"], "fields": {k: v[0] for k, v in info["fields"].items()}}
        (vlt / MARKER).write_text(json.dumps({**meta, "uids": summary, "unlisted": extra}, indent=2))
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


def accept_command(entry: Entry, root: Path, sha: str) -> str:
    """The command that accepts ``sha`` as the digest of ``entry``'s file in ``root``."""
    from benchmarks.data.vault import data_dir

    cmd = f"bench data download --suite {entry.suite} --task {entry.scenario}"
    if Path(root).absolute() != data_dir().expanduser().absolute():
        cmd += f" --data-dir {shlex.quote(str(root))}"
    if entry.present(root):
        cmd += " --force"
    return f"{cmd} --accept-sha256 {sha}"


def _refuse(entry: Entry, root: Path, want: Expected, sha: str, size: int, kept: Path, again: bool) -> DatasetError:
    size_note = f" ({want.size} bytes)" if want.size else ""
    installed = entry.locate(root)
    untouched = f"; the installed copy at {installed.path} is untouched" if installed else ""
    why = ("the same bytes arrived on the previous attempt too, so the file most likely changed upstream" if again else
           "either the publisher replaced the file or the transfer was corrupted")
    return DatasetError(
        f"{entry.name}: the downloaded file differs from the expected one: expected sha256 {want.sha256}{size_note}, "
        f"{want.source()}; got sha256 {sha} ({size} bytes). Nothing was installed{untouched}; {why}. If the "
        f"publisher replaced it, accept the new file with `{accept_command(entry, root, sha)}` (installs the file "
        f"kept at {kept} without downloading again); otherwise delete {kept} and run the download again")


def download(entry: Entry, root: Optional[Path] = None, force: bool = False, retries: int = 3,
             timeout: float = 60.0, keep_zip: bool = False, log: Callable[[str], None] = print,
             progress: Optional[Callable[[int, int], None]] = None, accept_sha256: Optional[str] = None) -> Path:
    """Download, verify and install one catalogue entry; returns its ``.vlt`` directory.

    Without ``force``, a copy already installed under ``root`` or found in og-marl's vault directories
    (:meth:`Entry.locate`) is used and nothing is fetched. ``accept_sha256`` is the digest to accept in place
    of the expected one (a file that changed upstream): a file kept from a refused download with that digest
    is installed without downloading again, and the digest is recorded in ``<root>/digests.json``."""
    from benchmarks.data.vault import data_dir

    root = Path(root or data_dir()).expanduser().absolute()
    final = entry.vlt_dir(root)
    accept = None
    if accept_sha256 is not None:
        accept = accept_sha256.strip().lower()
        if not _SHA256.fullmatch(accept):
            raise DatasetError(f"--accept-sha256 takes a sha256 digest (64 hex digits), got {accept_sha256!r}; copy it "
                               f"from the message of the refused download")
    if not force:
        found = entry.locate(root)
        if found is not None:
            if found.downloaded:
                log(f"{entry.name}: already present at {found.path}")
            else:
                log(f"{entry.name}: using the copy at {found.path}, {found.how()}; `--force` downloads a verified "
                    f"copy to {final}")
            if accept:
                log(f"{entry.name}: --accept-sha256 has no effect, nothing is downloaded (add --force to download)")
            return found.path
        if final.is_dir() and any(final.iterdir()):
            raise DatasetError(f"{final} exists but was not installed by `bench data download` and lacks "
                               f"{', '.join(entry.missing_uids(final))} (an interrupted og-marl download, or your own "
                               f"data?); move it away, or pass --force to replace it with the download")
    want = expected(entry, root, accept)
    log(f"{entry.name}: {want.describe(root)}")
    downloads = root / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    stem = f"{entry.source}-{entry.env}-{entry.scenario}.zip"
    part, kept = downloads / f"{stem}.part", downloads / f"{stem}.rejected"
    kept_sha = (_read_json(_sidecar(kept)) or {}).get("sha256") if kept.exists() else None
    url = entry.url
    if accept and kept_sha == accept and sha256_file(kept) == accept:
        log(f"{entry.name}: installing the file kept from the refused download ({kept.name}, sha256 accepted); "
            f"nothing is downloaded")
        _drop(part)
        os.replace(kept, part)
        _drop(kept)
        sha, size = accept, part.stat().st_size
    else:
        if part.exists() and part.stat().st_size:
            log(f"{entry.name}: resuming {part.name} at {part.stat().st_size} bytes")
        attempt = 0
        while True:
            try:
                total = _fetch(url, part, timeout, progress, log)
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
        if total >= 0 and size != total:
            _drop(part)
            raise DatasetError(f"{entry.name}: downloaded {size} bytes, the server announced {total}; the file was "
                               f"deleted, run the same command again")
        sha = sha256_file(part)
    if (want.sha256 and sha != want.sha256) or (want.size and size != want.size):
        _drop(kept)
        os.replace(part, kept)
        _write_json(_sidecar(kept), {"sha256": sha, "size": size, "url": url, "refused": _now()})
        _drop(part)
        raise _refuse(entry, root, want, sha, size, kept, again=kept_sha == sha)
    meta = {"url": url, "sha256": sha, "size": size, "downloaded": _now(), "digest": want.origin}
    try:
        out = _install(entry, part, root, force, meta, log)
    except DatasetError:
        _drop(part)  # a corrupt archive is not resumable
        raise
    if want.origin == "none":
        _record_digest(entry, root, sha, size, recorded=_now())
        log(f"{entry.name}: the publisher's listing gives no sha256 for this file; recorded {sha} ({size} bytes) in "
            f"{_digests_file(root)} and future downloads are checked against it")
    elif want.origin == "given":
        replaces = expected(entry, root)
        if sha == entry.sha256:  # back to the pinned file: forget the digest accepted in its place
            data = _read_json(_digests_file(root)) or {}
            data.pop(entry.rel, None)
            _write_json(_digests_file(root), data)
        else:
            _record_digest(entry, root, sha, size, accepted=_now(), replaces=replaces.sha256)
        log(f"{entry.name}: sha256 {sha} accepted in place of {replaces.sha256 or 'none'} ({replaces.source()}); "
            f"future downloads are checked against it ({_digests_file(root)})")
    else:
        log(f"{entry.name}: size and sha256 verified ({sha[:16]}..., {want.source()})")
    if kept.exists():
        _drop(kept)
        log(f"{entry.name}: deleted {kept.name}, the file kept from an earlier refused download")
    if keep_zip:
        os.replace(part, downloads / stem)
    _drop(part)
    log(f"{entry.name}: installed {', '.join(sorted(p.name for p in out.iterdir() if p.is_dir()))} at {out}")
    return out
