"""``bench list algos|suites|tasks``: what is registered, and whether each suite can run here."""
from __future__ import annotations

from algorithms.errors import BenchError
from benchmarks.cli.args import add_json_option, dumps


def add(sub):
    p = sub.add_parser("list", help="list the algorithms, suites or tasks (and whether each suite can run here)",
                       description="algos: every registered plugin (built-in and from other packages) with its action "
                                   "kinds, execution and paper, and any installed plugin that failed to load, with its "
                                   "error; suites: each suite, whether it can run on this machine and why not; tasks: "
                                   "every task as SUITE/TASK (tasks removed from a suite say why).",
                       epilog="examples:\n  bench list algos\n  bench list tasks --suite games\n"
                              "  bench list --suite smacv1\n  bench list algos --json")
    p.add_argument("what", nargs="?", choices=["algos", "suites", "tasks"],
                   help="what to list (default: algos; tasks when --suite is given)")
    p.add_argument("--suite", help="only this suite (its tasks, or its row of `suites`); default: every suite")
    add_json_option(p, "a list of objects (algos: name, actions, execution, paper, or name and error; suites: name, "
                       "available, why, description; tasks: suite, task, id)")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    import algorithms
    from benchmarks.tasks import all_suites, get_suite

    what = args.what or ("tasks" if args.suite else "algos")
    if args.suite and what == "algos":
        raise BenchError(f"--suite selects tasks or suites, not algorithms; `bench list tasks --suite {args.suite}` "
                         "lists its tasks")
    if what == "algos":
        rows = [{"name": name, "actions": sorted(cls.supports),
                 "execution": "centralised" if cls.centralised_execution else "decentralised", "paper": cls.paper}
                for name, cls in sorted(algorithms.all_algorithms().items())]
        lines = [f"{r['name']:14s} {','.join(r['actions']):22s} {r['execution']:14s} {r['paper']}" for r in rows]
        broken = [{"name": name, "error": why} for name, why in sorted(algorithms.FAILED.items())]
        rows += broken
        lines += [f"{r['name']:14s} NOT LOADED: {r['error']}" for r in broken]
    elif what == "suites":
        suites = {args.suite: get_suite(args.suite)} if args.suite else all_suites()
        rows = []
        for name, s in sorted(suites.items()):
            why = s.available()
            rows.append({"name": name, "available": not why, "why": why or None, "description": s.description})
        width = max([10] + [len(r["name"]) for r in rows])
        lines = [f"{r['name']:{width}s} {'ok' if r['available'] else 'unavailable: ' + r['why']:12s}  "
                 f"{r['description']}" for r in rows]
    else:
        suites = [get_suite(args.suite)] if args.suite else list(all_suites().values())
        rows = [{"suite": s.name, "task": t, "id": f"{s.name}/{t}"} for s in suites for t in s.tasks]
        rows += [{"suite": s.name, "task": t, "id": f"{s.name}/{t}", "removed": why}
                 for s in suites for t, why in s.removed.items()]
        lines = [r["id"] + (f"  (removed: {r['removed']})" if "removed" in r else "") for r in rows]
    print(dumps(rows, indent=2) if args.json else "\n".join(lines))
    return 0
