"""``bench perf om2p-derivative``: OM2P's exact vs derivative-free MeanFlow derivative, memory and time."""
from __future__ import annotations

import argparse

from benchmarks.cli.args import add_set_option, parse_overrides
from benchmarks.perf.om2p_derivative import __doc__ as DESCRIPTION, measure


def add(sub):
    p = sub.add_parser("om2p-derivative", help="OM2P: memory and training time of the jvp vs finite-difference derivative",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  bench perf om2p-derivative\n"
                              "  bench perf om2p-derivative --task games/landmarks-10 --batch-size 256 --steps 100\n"
                              "  bench perf om2p-derivative --set hidden=64,64")
    p.add_argument("--task", default="games/landmarks", help="SUITE/TASK whose dataset is trained on")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (OM2P code: 256)")
    p.add_argument("--steps", type=int, default=50, help="gradient steps per timed scan")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats (the fastest is reported)")
    add_set_option(p, "om2p's, for both derivatives")
    p.set_defaults(func=cmd)


def cmd(args) -> int:
    res = measure(args.task, args.batch_size, args.steps, args.repeats, parse_overrides(args.set))
    mb = lambda b: f"{b / 2**20:.3f} MiB"
    print(f"om2p on {args.task}, batch {args.batch_size}, {args.steps} steps per scan, best of {args.repeats}")
    print(f"{'what':14s} {'derivative':10s} {'temp memory':>14s} {'total memory':>14s} {'ms/step':>10s} {'compile s':>10s}")
    for (part, name), r in res.items():
        print(f"{part:14s} {name:10s} {mb(r['temp_bytes']):>14s} {mb(r['total_bytes']):>14s} "
              f"{r['ms_per_step']:10.3f} {r['compile_s']:10.1f}")
    for part in ("update", "mf-loss grad"):
        j, f = res[(part, "jvp")], res[(part, "fd")]
        print(f"ratio jvp/fd ({part}): temp memory {j['temp_bytes'] / max(f['temp_bytes'], 1):.2f}x, total memory "
              f"{j['total_bytes'] / max(f['total_bytes'], 1):.2f}x, time per step {j['ms_per_step'] / f['ms_per_step']:.2f}x")
    print("OM2P abstract: up to 3.8x less GPU memory and up to 10.8x faster training (baseline not stated)")
    return 0
