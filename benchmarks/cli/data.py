"""``bench data``: download, verify, describe and generate datasets.

    bench data download --suite smacv1 [--task 3m]     og-marl zips: resumable, pinned size + sha256 checked, atomic
                        [--accept-sha256 DIGEST]       accept a file that changed upstream
    bench data verify [PATH ...] [--deep]              open every vault under the data directory (or PATH); --deep
                                                       also checks a task's data against its environment
    bench data info PATH|SUITE/TASK [--json]           the dataset card of one vault, beside og-marl's numbers
    bench data collect --suite mpe-gen [--task T] [--budget tiny|small|full] [--seed 0] [--out DIR]
    bench data analyse [PATH ...] [--task SUITE/TASK,...] [--out DIR] [--json]   returns, lengths, coverage
    bench data derive (subsample|target|combine) ... --out PATH              new vaults cut from or joined of others
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
                                   "layout <source>/<env>/<scenario>.vlt/<quality>/; datasets og-marl already "
                                   "downloaded are used where they are ($BENCH_OGMARL_VAULTS, default ./vaults). "
                                   "See docs/downloads.md.",
                       epilog="examples:\n  bench data download --suite smacv1 --task 3m\n  bench data verify\n"
                              "  bench data info smacv1/3m-good\n"
                              "  bench data info ~/.cache/bench/data/og_marl/smac_v1/3m.vlt/Good --json\n"
                              "  bench data collect --suite mpe-gen --budget small",
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
    d.add_argument("--force", action="store_true",
                   help="download again and replace what is there (also when og-marl's copy would be used)")
    d.add_argument("--accept-sha256", metavar="DIGEST",
                   help="accept this sha256 for the file of --task in place of the pinned or recorded one (a file "
                        "the publisher replaced; the refused download's message gives the digest and the command; default: "
                        "the pinned digest, or the one recorded on the first download)")
    d.add_argument("--keep-zip", action="store_true", help="keep the verified zip next to the data")
    d.add_argument("--retries", type=int, default=3, help="automatic resumes of an interrupted transfer")
    d.add_argument("--list", action="store_true",
                   help="only list the catalogue entries, the copy each would use and the digest it is checked against")
    d.set_defaults(func=cmd_download)

    v = verbs.add_parser("verify", help="open every vault (data directory, og-marl's copies the catalogue uses, or "
                                        "PATHs) and check its fields",
                         description="Open every vault under the data directory and og-marl's copies the catalogue "
                                     "uses (or the PATHs given) and check its metadata, fields and first timesteps; "
                                     "--deep reads all of it and runs the known-answer checks of the task whose data "
                                     "it is. Exits 2 if any fails, naming the command that replaces it.")
    v.add_argument("paths", nargs="*", help="vault directories (default: everything under the data directory)")
    v.add_argument("--deep", action="store_true",
                   help="read all data (NaN, ranges), not just metadata and a prefix, and run the known-answer checks "
                        "of the task whose data it is (e.g. mpe: rewards recomputed, dynamics replayed)")
    v.set_defaults(func=cmd_verify)

    i = verbs.add_parser("info", help="print the dataset card of a vault",
                         description="The dataset card of one vault: scenario, quality, episodes, transitions, agents, "
                                     "shapes and return statistics (metadata and a light read, not the whole data), "
                                     "beside og-marl's published statistics for a catalogue dataset.")
    i.add_argument("path", help="<root>/<scenario>.vlt/<quality> (or a .vlt directory holding one quality), or a "
                                "catalogue dataset by task name, e.g. smacv1/3m-good")
    add_json_option(i, "the card")
    i.set_defaults(func=cmd_info)

    c = verbs.add_parser("collect", help="generate datasets by running behaviour policies (mpe-gen, mamujoco-gen, smax)",
                         description="Generate a suite's datasets by rolling its behaviour policies out in the "
                                     "environment, written as og-marl vaults.")
    c.add_argument("--suite", required=True,
                   help="the suite whose datasets are generated (mpe-gen, mamujoco-gen or smax)")
    c.add_argument("--task", help="one task of the suite (default: all)")
    c.add_argument("--budget", choices=("tiny", "small", "full"), default="full",
                   help="size of the generation run: tiny (tests), small (minutes), full (the papers' sizes)")
    c.add_argument("--seed", type=int, default=0, help="seed of the behaviour policies' rollouts")
    c.add_argument("--out", help="output root (default: the data directory)")
    c.set_defaults(func=cmd_collect)
    add_analyse(verbs)
    add_derive(verbs)
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

    root = (Path(args.data_dir).expanduser() if args.data_dir else data_dir()).absolute()
    chosen = catalogue.entries(args.suite, args.task)
    if args.list:
        for e in chosen:
            found = e.locate(root)
            state = "missing" if found is None else "present" if found.downloaded else f"found {found.path}"
            print(f"{e.name:40s} {e.approx:>8s}  {','.join(e.uids):40s} sha256 {catalogue.expected(e, root).origin:8s} "
                  f"{e.url}  {state}")
        if any(catalogue.expected(e, root).origin == "none" for e in chosen):
            print("sha256 none: the publisher's listing gives no digest for the file; the first verified download's is "
                  "recorded and checks every later one")
        return 0
    if args.retries < 0:
        raise BenchError("--retries must be >= 0")
    if args.accept_sha256 and len(chosen) != 1:
        raise BenchError(f"--accept-sha256 is the digest of one file: add --task (one of "
                         f"{', '.join(e.scenario for e in chosen)})")
    for e in chosen:
        print(f"{e.name}: {e.url} (~{e.approx}) -> {e.vlt_dir(root)}")
        catalogue.download(e, root, force=args.force, retries=args.retries, keep_zip=args.keep_zip,
                           progress=_progress(), accept_sha256=args.accept_sha256)
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
        for e in catalogue.CATALOGUE:
            if e.present(root):  # a download whose marker lists a quality that is gone
                marker = json.loads((e.vlt_dir(root) / catalogue.MARKER).read_text())
                for uid in marker.get("uids", {}):
                    if not (e.vault(uid, root) / "metadata.json").is_file():
                        targets.append(e.vault(uid, root))
            found = e.locate(root)
            if found is not None and root.absolute() not in found.path.parents:  # og-marl's copy, used in place
                targets += [found.path / uid for uid in e.uids]
        if not targets:
            print(f"no datasets under {root}; get some with `bench data download --suite S` or `bench data collect --suite S`")
            return 0
    failed, mismatched = [], []
    for t in targets:
        try:
            print(f"ok    {t}: {verify_vault(t, args.deep)}")
        except DatasetError as exc:
            failed.append(str(t))
            print(f"FAIL  {t}: {exc}")
            continue
        if not known_answer_checks(t, args.deep):
            mismatched.append(str(t))
    if failed:
        raise DatasetError(f"{len(failed)} of {len(targets)} datasets failed verification; delete them and download "
                           f"(`bench data download --suite S --task T --force`) or collect them again")
    if mismatched:
        raise DatasetError(f"{len(mismatched)} of {len(targets)} datasets fail the known-answer checks of their task's "
                           f"environment (FAIL lines above): they are not the data the task was recorded in; download "
                           f"them again (`bench data download --suite S --task T --force`)")
    return 0


def known_answer_checks(path: Path, deep: bool) -> bool:
    """Print the known-answer checks (``Task.verify``) of the task whose data are the vault at ``path``, if any:
    dimensions, and with ``deep`` the checks that read the data (rewards recomputed, dynamics replayed, a reference
    score). False when one fails."""
    from benchmarks.tasks import tasks_of_vault

    task = next((k for k in tasks_of_vault(path) if k.verify is not None), None)
    if task is None:
        return True
    checks = task.verify(path, deep)
    print(f"      the environment of {task.id}{'' if deep else ' (dimensions; --deep reads the data)'}:")
    for c in checks:
        print(f"      {c.line()}")
    return all(c.passed for c in checks)


def cmd_info(args) -> int:
    from benchmarks.data import catalogue
    from benchmarks.data.vault import describe

    path = Path(args.path).expanduser()
    if not path.exists() and not args.path.startswith((".", "/", "~")) and args.path.count("/") == 1:
        entry, uid = catalogue.resolve(args.path)
        found = entry.locate()
        if found is None:
            raise DatasetError(f"{args.path} ({entry.name}/{uid}) is not downloaded: run `bench data download --suite "
                               f"{entry.suite} --task {entry.scenario}`")
        path = found.path / uid
    card = describe(path)
    card.update(catalogue.about(card["path"], card))
    if args.json:
        print(json.dumps(card, indent=2, default=str))
        return 0
    order = ("path", "scenario", "quality", "generator", "seed", "episodes", "transitions", "streams", "agents",
             "obs_dim", "state_dim", "action_kind", "action_dim", "return_mean", "return_std", "return_min", "return_max")
    for k in order:
        if k in card:
            v = card[k]
            print(f"{k:12s} {v:.4g}" if isinstance(v, float) else f"{k:12s} {v}")
    special = ("catalogue", "copy", "published")
    for k, v in card.items():
        if k not in order and k not in special:
            print(f"{k:12s} {v}")
    if "catalogue" in card:
        copy = card["copy"]
        dl = copy.get("download")
        when = f" on {dl['downloaded']}, zip sha256 {dl['sha256']} ({dl.get('digest') or 'checked'})" if dl else ""
        used = "tasks read this copy" if copy["used"] else f"tasks read the copy at {copy['used_copy'] or 'none'}"
        print(f"{'catalogue':12s} {card['catalogue']}")
        print(f"{'copy':12s} {copy['path']}: {copy['how']}{when}; {used}")
        print(f"{'published':12s} {_published_line(card['published'])}")
    return 0


def _published_line(cmp) -> str:
    """``bench data info``'s comparison with og-marl's published statistics, both numbers each."""
    if cmp is None:
        return "none listed in the catalogue for this dataset"
    pub, got, dec = cmp["published"], cmp["got"], cmp["decimals"]
    eps = f"{got['episodes']} episodes (og-marl publishes {pub['episodes'] if pub['episodes'] is not None else 'no count'})"
    ret = f"mean return {got['return_mean']:.{dec + 2}f} (og-marl publishes {pub['return_mean']:.{dec}f})"
    return f"{'match' if cmp['match'] else 'MISMATCH'}: {eps}, {ret}" + (
        "" if cmp["match"] else "; the data differ from the published dataset, and `bench run` refuses them")


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


# ---- bench data analyse ------------------------------------------------------------------------------------
def add_analyse(verbs) -> None:
    a = verbs.add_parser(
        "analyse", help="episode returns, episode lengths and joint state-action coverage of datasets, side by side",
        description="Describe datasets as og-marl's analyse_vault does: the distribution of episode returns (the "
                    "qualities of a scenario side by side), of episode lengths, and the joint state-action coverage "
                    "(SACo: distinct (state, joint action) pairs / timesteps, with how often each pair occurs). One "
                    "pass over each vault, a time slice at a time. Writes data_analysis.png and data_analysis.json.",
        epilog="examples:\n  bench data analyse ~/.cache/bench/data/generated/smax/3m.vlt\n"
               "  bench data analyse --task smax/3m-good,smax/3m-medium,smax/3m-poor --out 3m-analysis\n"
               "  bench data analyse --task games/coordination,games/payoff-0.5 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("paths", nargs="*", help="vaults (<root>/<scenario>.vlt/<quality>; a <scenario>.vlt directory "
                                            "stands for each of its qualities)")
    a.add_argument("--task", help="tasks as SUITE/TASK, comma-separated: the data each trains on (downloaded, "
                                  "generated, or made in memory for the games; default: none, give PATHs or --task)")
    a.add_argument("--data-seed", type=int, default=0, help="seed of generated data (default 0, what bench run uses)")
    a.add_argument("--bins", type=int, default=30, help="bins of the return histograms in the JSON (shared by all)")
    a.add_argument("--out", default="data-analysis", help="where the figure and the JSON go (default ./data-analysis)")
    a.add_argument("--json", action="store_true", help="print the analysis as JSON on stdout")
    a.set_defaults(func=cmd_analyse)


def vaults_at(path) -> list:
    """The vaults a path names: itself, or each quality of a ``<scenario>.vlt`` directory."""
    from benchmarks.data.vault import META_FILE, resolve_vault

    p = Path(path).expanduser()
    if p.is_dir() and not (p / META_FILE).is_file():
        found = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".") and (d / META_FILE).is_file())
        if found:
            return found
    return [resolve_vault(p)]


def analyse_sources(paths, tasks: str | None, data_seed: int) -> list:
    """One DatasetAnalysis per vault path and per task's data (a vault when the task has one on disk, else the
    dataset the task makes in memory)."""
    from benchmarks.cli.args import csv_list
    from benchmarks.data.analyse import analyse_dataset, analyse_vault

    if not paths and not tasks:
        raise BenchError("give vault paths or --task SUITE/TASK[,...] to analyse (e.g. bench data analyse --task "
                         "games/coordination)")
    out = [analyse_vault(v) for p in paths for v in vaults_at(p)]
    for tid in csv_list(tasks or ""):
        path, ds, label = task_data(tid, data_seed)
        out.append(analyse_vault(path, name=tid) if path else analyse_dataset(ds, tid, label))
    return out


def task_data(task_id: str, data_seed: int = 0) -> tuple:
    """(vault path, None, label) when the task's data are a vault on disk, else (None, Dataset, label): the data the
    task makes (generated on first use, or in memory for the games), generation messages sent to stderr."""
    import contextlib

    from benchmarks.tasks import get_task

    task = get_task(task_id)
    path = task.data_path(data_seed) if task.data_path is not None else None
    if path is not None and Path(path).exists():
        return Path(path), None, str(path)
    with contextlib.redirect_stdout(sys.stderr):  # keeps --json output clean
        ds = task.make_dataset(data_seed)
    return None, ds, (ds.card or {}).get("path") or f"task {task.id} (data seed {data_seed})"


def cmd_analyse(args) -> int:
    from analysis.datasets import figure
    from benchmarks.cli.args import dumps
    from benchmarks.data.analyse import shared_edges

    if args.bins < 1:
        raise BenchError(f"--bins must be a positive integer, got {args.bins}")
    analyses = analyse_sources(args.paths, args.task, args.data_seed)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    edges = shared_edges(analyses, args.bins)
    png = figure(analyses, out / "data_analysis.png")
    doc = {"datasets": [a.summary(edges) for a in analyses], "figure": str(png.resolve())}
    (out / "data_analysis.json").write_text(dumps(doc, indent=2) + "\n")
    if args.json:
        print(dumps(doc, indent=2))
        return 0
    print(f"{'dataset':32s} {'episodes':>9s} {'timesteps':>10s} {'return mean ± std [min, max]':>34s} "
          f"{'length mean [min, max]':>24s} {'joint SACo':>10s}")
    for a, d in zip(analyses, doc["datasets"]):
        r, ln = d["return"], d["episode_length"]
        ret = f"{r['mean']:.3f} ± {r['std']:.3f} [{r['min']:.3g}, {r['max']:.3g}]" if d["episodes"] else "-"
        length = f"{ln['mean']:.1f} [{ln['min']:.0f}, {ln['max']:.0f}]" if d["episodes"] else "-"
        print(f"{a.name:32s} {d['episodes']:>9d} {d['timesteps']:>10d} {ret:>34s} {length:>24s} "
              f"{d['coverage']['joint_saco']:>10.4g}")
    print(f"coverage over: {', '.join(dict.fromkeys(d['coverage']['over'] for d in doc['datasets']))}")
    print(f"figure: {png.resolve()}\njson:   {(out / 'data_analysis.json').resolve()}")
    return 0


# ---- bench data derive -------------------------------------------------------------------------------------
def add_derive(verbs) -> None:
    d = verbs.add_parser(
        "derive", help="new vaults from others: subsample, subsample to a target return distribution, combine",
        description="Write a new og-marl vault cut from or joined of datasets, with its own card: the rule, its "
                    "settings and seed, and every parent's content sha256 (recorded again in the provenance of every "
                    "run trained on it with `bench run --dataset PATH`). Sources are vault paths or SUITE/TASK (the "
                    "task's own data). Derived datasets hold whole episodes, in their order in the source.",
        epilog="examples:\n  bench data derive subsample smax/3m-good --fraction 0.1 --out data/3m.vlt/Good-10pc\n"
               "  bench data derive subsample PATH --episodes 500 --seed 1 --out data/3m.vlt/Good-500\n"
               "  bench data derive target smax/3m-medium --returns uniform --out data/3m.vlt/Medium-flat\n"
               "  bench data derive target PATH --returns like:OTHER_PATH --episodes 1000 --out OUT\n"
               "  bench data derive combine smax/3m-good smax/3m-poor --out data/3m.vlt/Good+Poor",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rules = d.add_subparsers(dest="rule", metavar="RULE")

    def common(p, many=False):
        p.add_argument("sources", nargs="+" if many else 1, metavar="SOURCE",
                       help="a vault path, or SUITE/TASK for the data the task trains on")
        p.add_argument("--out", required=True, help="the new vault: <root>/<scenario>.vlt/<name> (og-marl's layout)")
        p.add_argument("--data-seed", type=int, default=0, help="seed of a task's generated data (default 0)")
        p.add_argument("--force", action="store_true", help="replace a dataset already at --out")
        p.add_argument("--json", action="store_true", help="print the new card as JSON")
        p.set_defaults(func=cmd_derive)

    s = rules.add_parser("subsample", help="a number or a fraction of the episodes, uniformly without replacement")
    common(s)
    size = s.add_mutually_exclusive_group(required=True)
    size.add_argument("--episodes", type=int, help="how many episodes (give this or --fraction; no default)")
    size.add_argument("--fraction", type=float, help="which fraction of the episodes, in (0, 1] (give this or "
                                                     "--episodes; no default)")
    s.add_argument("--seed", type=int, default=0, help="seed of the draw")

    t = rules.add_parser("target", help="episodes drawn so that their returns follow a target distribution")
    common(t)
    t.add_argument("--returns", required=True, metavar="TARGET",
                   help="uniform (flat over the source's return range), normal:MEAN,STD, or like:PATH (the return "
                        "histogram of another vault or SUITE/TASK)")
    t.add_argument("--episodes", type=int, help="how many episodes (default: the most that meet the target in "
                                                "every bin; with N, bins short of episodes are recorded in the card)")
    t.add_argument("--bins", type=int, default=20, help="equal-width bins over the source's returns (default 20)")
    t.add_argument("--seed", type=int, default=0, help="seed of the draw")

    c = rules.add_parser("combine", help="every episode of several datasets of one task, one after the other")
    common(c, many=True)
    d.set_defaults(func=lambda args: (d.print_help(), 2)[1])


def load_source(source: str, data_seed: int = 0):
    """(Dataset, label) of a vault path or of SUITE/TASK's data (its vault, or what it makes in memory)."""
    from benchmarks.data.vault import read_dataset

    p = Path(source).expanduser()
    if not p.exists() and "/" not in source:
        raise DatasetError(f"no dataset at {p}: give a vault path or SUITE/TASK (e.g. smax/3m-good)")
    path, ds, label = (p, None, None) if p.exists() else task_data(source, data_seed)
    if path is not None:
        ds = read_dataset(path)
        label = ds.card["path"]
    return ds, label


def cmd_derive(args) -> int:
    from benchmarks.cli.args import dumps
    from benchmarks.data import derive
    from benchmarks.data.vault import describe

    out = Path(args.out).expanduser()
    if out.exists() and not args.force:
        raise DatasetError(f"a dataset already exists at {out}; choose another --out or add --force to replace it")
    if args.rule == "combine" and len(args.sources) < 2:
        raise DatasetError("combine takes two or more sources")
    loaded = [load_source(s, args.data_seed) for s in args.sources]
    dss, labels = [d for d, _ in loaded], [label for _, label in loaded]
    dropped = 0
    if args.rule == "subsample":
        ds, rule = derive.subsample(dss[0], args.episodes, args.fraction, args.seed)
    elif args.rule == "target":
        like = None
        if args.returns.startswith("like:"):
            other, _ = load_source(args.returns[5:], args.data_seed)
            like = other.episode_returns()
        ds, rule = derive.target_returns(dss[0], args.returns, args.episodes, args.bins, args.seed, like)
    else:
        ds, rule = derive.combine(dss, labels)
        dropped = sum(derive.steps_outside_episodes(d) for d in dss)
    parents = [derive.parent_record(d, label) for d, label in zip(dss, labels)]
    path = derive.write_derived(ds, rule, parents, [d.card for d in dss], out, overwrite=args.force, dropped=dropped)
    card = describe(path)
    if args.json:
        print(dumps(card, indent=2, default=str))
        return 0
    print(f"{path}: {card['episodes']} episodes, {card['transitions']} transitions, return "
          f"{card['return_mean']:.4g} ± {card['return_std']:.4g}")
    print(f"rule: {rule['text']}")
    for p in parents:
        print(f"parent: {p['source']} sha256 {p['sha256'][:16]}... ({p['episodes']} episodes, return "
              f"{p['return_mean']:.4g})")
    print(f"train on it: bench run --task SUITE/TASK --dataset {path}")
    return 0
