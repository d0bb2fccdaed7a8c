"""The leaderboard page, rendered in headless Chromium: tables present, every image loaded, screenshot not blank."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.test_analysis import make_store

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed for the leaderboard test and was not found on PATH "
                f"(looked for {', '.join(BROWSERS)}). `sh tests/setup.sh` installs it (apt-get install chromium; "
                ".ci/apt-packages.txt lists it).")


def _chromium(browser, tmp_path, *args, timeout=120):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}", "--allow-file-access-from-files"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=timeout)


# a probe appended to a copy of the page: after load it writes what the browser actually rendered
PROBE = """<script>window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var p = document.createElement('pre'); p.id = 'probe';
  p.textContent = 'images=' + imgs.length + ' loaded=' + ok + ' tables=' + document.querySelectorAll('table').length;
  document.body.appendChild(p);
});</script></body>"""


def test_leaderboard_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    from analysis.report import write_report
    from benchmarks.store import save_latency as save

    browser = _browser()
    root = tmp_path / "runs"
    make_store(root, algos=("macflow", "bc", "flowbc"), seeds=3)
    for name, ms in (("macflow", 0.3), ("bc", 0.25), ("flowbc", 1.2)):
        save({"name": name, "label": "games/landmarks", "n_agents": 3, "median_ms": ms, "iqr_ms": 0.05,
              "per_agent_ms": ms / 3, "nfe": 10 if name == "flowbc" else 1, "nfe_counted": 1, "device": "cpu",
              "cost_overrides": {}, "date": "2026-01-01T00:00:00", "machine": {"cpu": "test cpu"}}, root)
    out = tmp_path / "report"
    write_report(root, out, reps=100)
    page = out / "leaderboard.html"
    src = page.read_text()
    assert "harness version 0.1.0" in src and "Aggregate panel" in src and "test cpu" in src
    # every image the page references exists and decodes
    imgs = re.findall(r'<img src="([^"]+)"', src)
    assert {"figures/score_vs_latency.png", "figures/aggregates.png", "figures/performance_profiles.png"} <= set(imgs)
    for rel in imgs:
        with Image.open(out / rel) as im:
            im.verify()
    probe_page = out / "leaderboard_probe.html"
    probe_page.write_text(src.replace("</body>", PROBE))
    r = _chromium(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe_page.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    m = re.search(r"images=(\d+) loaded=(\d+) tables=(\d+)", dom)
    assert m, "the page's load event never fired in Chromium:\n" + dom[-2000:]
    n_img, n_loaded, n_tables = map(int, m.groups())
    assert n_img == len(imgs) and n_loaded == n_img, f"{n_loaded} of {n_img} images loaded"
    assert n_tables >= 3  # aggregate panel + the games suite's normalised and return tables
    for algo in ("macflow", "bc", "flowbc"):
        assert f">{algo}</td>" in dom
    assert "0.300 ± 0.025" in dom  # the latency column
    shot = tmp_path / "shot.png"
    r = _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--virtual-time-budget=10000",
                  page.as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.size == (1280, 2000)
        px = np.asarray(im.convert("L"), dtype=np.float64)
    assert px.std() > 5 and (px < 128).mean() > 0.005, "the screenshot is blank"
