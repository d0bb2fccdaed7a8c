"""``bench data``: download, verify, describe and generate datasets.

    bench data download --suite smacv1 [--task 3m]     og-marl zips: resumable, size + sha256 checked, atomic
    bench data verify [PATH ...] [--deep]              open every vault under the data directory (or PATH)
    bench data info PATH [--json]                      the dataset card of one vault
    bench data collect --suite mpe [--task T] [--budget tiny|small|full] [--seed 0] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from algorithms.errors import BenchError, DatasetError
from benchmarks.cli.args import add_json_option, old_name


def add(sub):
    p = sub.add_parser("data", help="download, verify, describe or generate datasets (og-marl vaults)",
                       description="Datasets live in $BENCH_DATA (default: a user cache directory) in og-marl's "
                                   "layout <source>/<env>/<scenario>.vlt/<quality>/.",
                       epilog="examples:\n  bench data download --suite smacv1 --task 3m\n  bench data verify\n"
                              "  bench data info ~/.cache/bench/data/og_marl/smac_v1/3m.vlt/Good --json\n"
                              "  bench data collect --suite mpe --budget small",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    d = verbs.add_parser("download", help="download og-marl datasets of a suite (resumable, verified)",
                         description="Download the og-marl zips of a suite's datasets: resumable, size and sha256 "
                                     "checked, unpacked atomically into the data directory.")
    d.add_argument("--suite", required=True, help="smacv1, smacv2, mamujoco or mpe")
    d.add_argument("--task", help="one scenario or task of the suite, e.g. 3m or 3m-good (default: all)")
    d.add_argument("--out", metavar="DIR", dest="data_dir",
                   help="where to put the data (default: $BENCH_DATA or the user cache directory)")
    old_name(d, "--data-dir", "data_dir")
    d.add_argument("--force", action="store_true", help="download again and replace what is there")
    d.add_argument("--keep-zip", action="store_true", help="keep the verified zip next to the data")
    d.add_argument("--retries", type=int, default=3, help="automatic resumes of an interrupted transfer")
    d.add_argument("--list", action="store_true", help="only list the catalogue entries and where they go")
    d.set_defaults(func=cmd_download)

    v = verbs.add_parser("verify", help="open every vault (data directory or PATHs) and check its fields",
                         description="Open every vault under the data directory (or the PATHs given) and check its "
                                     "metadata, fields and first timesteps; --deep reads all of it. Exits 2 if any "
                                     "fails, naming the command that replaces it.")
    v.add_argument("paths", nargs="*", help="vault directories (default: everything under the data directory)")
    v.add_argument("--deep", action="store_true", help="read all data (NaN, ranges), not just metadata and a prefix")
    v.set_defaults(func=cmd_verify)

    i = verbs.add_parser("info", help="print the dataset card of a vault",
                         description="The dataset card of one vault: scenario, quality, episodes, transitions, agents, "
                                     "shapes and return statistics (metadata and a light read, not the whole data).")
    i.add_argument("path", help="<root>/<scenario>.vlt/<quality> (or a .vlt directory holding one quality)")
    add_json_option(i, "the card")
    i.set_defaults(func=cmd_info)

    c = verbs.add_parser("collect", help="generate datasets by running behaviour policies (mpe, mamujoco, smax)",
                         description="Generate a suite's datasets by rolling its behaviour policies out in the "
                                     "environment, written as og-marl vaults.")
    c.add_argument("--suite", required=True, help="the suite whose datasets are generated (mpe, mamujoco or smax)")
    c.add_argument("--task", help="one task of the suite (default: all)")
    c.add_argument("--budget", choices=("tiny", "small", "full"), default="full",
                   help="size of the generation run: tiny (tests), small (minutes), full (the papers' sizes)")
    c.add_argument("--seed", type=int, default=0, help="seed of the behaviour policies' rollouts")
    c.add_argument("--out", help="output root (default: the data directory)")
    c.set_defaults(func=cmd_collect)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])  # a bare group prints its help, as a bare `bench`


def _progress():
    state = {"last": -1}

    def cb(done, total):
        if not sys.stderr.isatty():
            return
        pct = int(100 * done / total) if total > 0 else -1
        if pct != state["last"]:
            state["last"] = pct
            sys.stderr.write(f"\r  {done / 1e6:9.1f} MB" + (f" / {total / 1e6:.1f} MB ({pct}%)" if total > 0 else ""))
            sys.stderr.flush()
            if total > 0 and done >= total:
                sys.stderr.write("\n")

    return cb


def cmd_download(args) -> int:
    from benchmarks.data import catalogue
    from benchmarks.data.vault import data_dir

    root = Path(args.data_dir).expanduser() if args.data_dir else data_dir()
    chosen = catalogue.entries(args.suite, args.task)
    if args.list:
        for e in chosen:
            state = "present" if e.present(root) else "missing"
            print(f"{e.name:40s} {e.approx:>8s}  {','.join(e.uids):40s} {state:8s} {e.url}")
        return 0
    if args.retries < 0:
        raise BenchError("--retries must be >= 0")
    for e in chosen:
        print(f"{e.name}: {e.url} (~{e.approx}) -> {e.vlt_dir(root)}")
        catalogue.download(e, root, force=args.force, retries=args.retries, keep_zip=args.keep_zip,
                           progress=_progress())
    return 0


def _all_vaults(root: Path) -> list:
    out = []
    if not root.exists():
        return out
    for meta in sorted(root.rglob("metadata.json")):
        rel = meta.relative_to(root).parts
        if any(part.startswith(".") for part in rel):  # partial downloads, temporary writes
            continue
        out.append(meta.parent)
    return out


def verify_vault(path: Path, deep: bool = False) -> str:
    """One line describing a healthy vault; raises DatasetError otherwise."""
    from benchmarks.data.vault import from_experience, read_dataset, read_raw, vault_fields

    info = vault_fields(path)
    if info["timesteps"] <= 0:
        raise DatasetError(f"{path} holds no timesteps")
    if deep:
        ds = read_dataset(path)
        s = ds.summary()
        return f"{s['episodes']} episodes, {s['transitions']} transitions, return {s['return_mean']:.3f} ± {s['return_std']:.3f}"
    ds = from_experience(read_raw(path, timesteps=1000))
    return (f"{info['timesteps']} timesteps x {ds.rewards.shape[0]} streams, {ds.n_agents} agents, "
            f"obs {ds.observations.shape[-1]}, fields {', '.join(sorted(info['fields']))}")


def cmd_verify(args) -> int:
    from benchmarks.data import catalogue
    from benchmarks.data.vault import data_dir

    root = data_dir()
    if args.paths:
        targets = []
        for p in args.paths:
            p = Path(p).expanduser()
            found = [p] if (p / "metadata.json").is_file() else _all_vaults(p)
            if not found:
                raise DatasetError(f"no vault (metadata.json) at or under {p}")
            targets += found
    else:
        targets = _all_vaults(root)
        for e in catalogue.CATALOGUE:  # a download whose marker lists a quality that is gone
            if e.present(root):
                marker = json.loads((e.vlt_dir(root) / catalogue.MARKER).read_text())
                for uid in marker.get("uids", {}):
                    if not (e.vault(uid, root) / "metadata.json").is_file():
                        targets.append(e.vault(uid, root))
        if not targets:
            print(f"no datasets under {root}; get some with `bench data download --suite S` or `bench data collect --suite S`")
            return 0
    failed = []
    for t in targets:
        try:
            print(f"ok    {t}: {verify_vault(t, args.deep)}")
        except DatasetError as exc:
            failed.append(str(t))
            print(f"FAIL  {t}: {exc}")
    if failed:
        raise DatasetError(f"{len(failed)} of {len(targets)} datasets failed verification; delete them and download "
                           f"(`bench data download --suite S --task T --force`) or collect them again")
    return 0


def cmd_info(args) -> int:
    from benchmarks.data.vault import describe

    card = describe(args.path)
    if args.json:
        print(json.dumps(card, indent=2, default=str))
        return 0
    order = ("path", "scenario", "quality", "generator", "seed", "episodes", "transitions", "streams", "agents",
             "obs_dim", "state_dim", "action_kind", "action_dim", "return_mean", "return_std", "return_min", "return_max")
    for k in order:
        if k in card:
            v = card[k]
            print(f"{k:12s} {v:.4g}" if isinstance(v, float) else f"{k:12s} {v}")
    for k, v in card.items():
        if k not in order:
            print(f"{k:12s} {v}")
    return 0


def cmd_collect(args) -> int:
    try:
        from benchmarks.data.collect import collect
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.data.collect":
            raise
        raise BenchError("dataset generation (benchmarks/data/collect.py) is not part of this installation; "
                         "use `bench data download` or `bench run --dataset PATH`") from None
    from benchmarks.data.vault import data_dir

    out = Path(args.out).expanduser() if args.out else data_dir()
    paths = collect(args.suite, args.task, out, args.budget, args.seed)
    for p in paths:
        print(p)
    return 0
