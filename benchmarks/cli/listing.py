"""``bench list algos|suites|tasks``: what is registered, and whether each suite can run here."""
from __future__ import annotations

import argparse


def add(sub):
    p = sub.add_parser("list", help="list algorithms, suites or tasks",
                       epilog="examples:\n  bench list algos\n  bench list tasks --suite games",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="?", default="algos", choices=["algos", "suites", "tasks"])
    p.add_argument("--suite", help="only this suite's tasks")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    import algorithms
    from benchmarks.tasks import all_suites, get_suite

    if args.what == "algos":
        for name, cls in sorted(algorithms.all_algorithms().items()):
            kinds = ",".join(sorted(cls.supports))
            exe = "centralised" if cls.centralised_execution else "decentralised"
            print(f"{name:14s} {kinds:22s} {exe:14s} {cls.paper}")
    elif args.what == "suites":
        for name, s in sorted(all_suites().items()):
            why = s.available()
            print(f"{name:10s} {'ok' if not why else 'unavailable: ' + why:12s}  {s.description}")
    else:
        suites = [get_suite(args.suite)] if args.suite else list(all_suites().values())
        for s in suites:
            for t in s.tasks:
                print(f"{s.name}/{t}")
            for t, why in s.removed.items():
                print(f"{s.name}/{t}  (removed: {why})")
    return 0
