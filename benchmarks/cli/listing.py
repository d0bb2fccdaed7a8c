"""``bench list algos|suites|tasks``: what is registered, and whether each suite can run here."""
from __future__ import annotations

import argparse
from benchmarks.cli.args import add_json_option, dumps


def add(sub):
    p = sub.add_parser("list", help="list algorithms, suites or tasks",
                       epilog="examples:\n  bench list algos\n  bench list tasks --suite games\n"
                              "  bench list algos --json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="algos", choices=["algos", "suites", "tasks"])
    p.add_argument("--suite", help="only this suite's tasks")
    add_json_option(p, "a JSON list (algos: name, action kinds, execution, paper; suites: name, available, why, "
                       "description; tasks: suite, task, id)")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    import algorithms
    from benchmarks.tasks import all_suites, get_suite

    if args.what == "algos":
        rows = [{"name": name, "actions": sorted(cls.supports),
                 "execution": "centralised" if cls.centralised_execution else "decentralised", "paper": cls.paper}
                for name, cls in sorted(algorithms.all_algorithms().items())]
        lines = [f"{r['name']:14s} {','.join(r['actions']):22s} {r['execution']:14s} {r['paper']}" for r in rows]
    elif args.what == "suites":
        rows = []
        for name, s in sorted(all_suites().items()):
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
