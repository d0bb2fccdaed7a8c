"""docs/cli.md, generated from the ``bench`` parser: every command and option, grouped, with defaults and examples.

    python -m benchmarks.cli.docs > docs/cli.md

tests/test_docs.py fails when docs/cli.md differs from what this writes, so the page follows the parser. A
command that no group below names is listed under "Other commands", so a new sub-command is documented as
soon as it is added to ``benchmarks.cli.COMMANDS`` (then give it a group here).
"""
from __future__ import annotations

import argparse
import re

# (title, what the group is for, commands in order: "run", "perf throughput", ...)
GROUPS = (
    ("Train and re-run", "Train algorithms on tasks, and re-run a stored run.", ("run", "reproduce")),
    ("Results", "Turn the results store into the report, the leaderboard and a paper's figures; time inference.",
     ("report", "figures", "latency")),
    ("Datasets", "The og-marl vaults: download, verify, describe, generate.", ("data",)),
    ("This machine and the registry", "What is installed and can run here; whether a plugin keeps the contract.",
     ("list", "doctor", "test-plugin")),
    ("Speed tools (`bench perf`)", "Measurements of the harness itself; none trains a benchmark run.", ("perf",)),
)

HEADER = """# The `bench` command

Generated from the command's parser by `python -m benchmarks.cli.docs > docs/cli.md` (a test keeps this page
current): every command and option, with its default. `bench COMMAND --help` prints the same for one command.

- A bare `bench` prints the help and exits 0; so does a bare group (`bench data`, `bench perf`).
- `bench --version` prints the harness version.
- Exit status: 0 on success; 2 for a mistake in the command (an unknown name, a malformed value, a missing
  store or dataset), reported as one line `bench: error: ...` saying how to fix it, before anything is written;
  1 when `bench run` finishes with a failed job or `bench test-plugin` with a failed check; 130 when interrupted;
  141 when the reader of the output went away (`bench figures | head`), without a traceback.
- `--json` (where a command has it) prints JSON on stdout, NaN written as `null`; `bench run --json` sends its
  progress and tables to stderr so that stdout holds only the JSON.
- Option names mean the same everywhere: `--algos` (comma-separated algorithm names), `--suite`, `--task`
  (SUITE/TASK), `--results` (the results store), `--out` (where a command writes), `--set KEY=VALUE` (a plugin's
  config value), `--json`. Former names are still accepted and listed under each command.
"""


def _walk(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            shown = {a.dest: a.help for a in action._choices_actions}  # the sub-commands the help lists
            for name, sub in action._name_parser_map.items():
                yield path + [name], sub, shown.get(name), name in shown


def commands(parser) -> dict:
    """{"run": (parser, help), "perf throughput": ..., "data download": ...} of every listed sub-command, and the
    former names (hidden) as {"throughput": "perf throughput"}."""
    out, hidden = {}, {}

    def visit(p, path):
        for sub_path, sub, help_, listed in _walk(p, path):
            key = " ".join(sub_path)
            if not listed:
                twin = [k for k in out if k.endswith(" " + key)]
                hidden[key] = twin[0] if twin else ""
                continue
            out[key] = (sub, help_)
            visit(sub, sub_path)

    visit(parser, [])
    for key in list(hidden):  # a hidden name seen before its listed twin
        hidden[key] = hidden[key] or next((k for k in out if k.endswith(" " + key)), "")
    return out, hidden


def _md(text: str) -> str:
    """Help text as Markdown text: <...> and * literal, | safe inside a table."""
    return re.sub(r"([<*|])", r"\\\1", " ".join(str(text).split()))


def _default(action) -> str:
    d = action.default
    if d is None or d is argparse.SUPPRESS or d is False or action.nargs == 0:
        return ""
    return f"`{','.join(map(str, d)) if isinstance(d, (list, tuple)) else d}`"


def _options(parser) -> tuple[list, list]:
    rows, former = [], []
    by_dest = {}
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if a.help == argparse.SUPPRESS:
            former.append(a)
            continue
        by_dest.setdefault(a.dest, a)
        if a.option_strings:
            name = ", ".join(f"`{o}`" for o in a.option_strings)
            if a.nargs != 0:
                metavar = a.metavar or (("{" + ",".join(map(str, a.choices)) + "}") if a.choices else a.dest.upper())
                name += f" `{metavar}`"
        else:
            name = f"`{a.metavar or a.dest}`" + (" (positional)" if a.nargs not in ("?", "*") else " (optional positional)")
            if a.choices:
                name += " one of " + ", ".join(f"`{c}`" for c in a.choices)
        help_ = (a.help or "") % {"default": a.default, "prog": parser.prog} if "%(" in (a.help or "") else (a.help or "")
        rows.append(f"| {name} | {_default(a)} | {_md(help_)} |")
    notes = []
    for a in former:
        now = by_dest.get(a.dest)
        if now is not None and a.option_strings:
            notes.append(f"`{a.option_strings[0]}` (now `{now.option_strings[0]}`)")
    return rows, notes


def _examples(parser) -> list:
    lines, on = [], False
    for line in (parser.epilog or "").splitlines():
        if line.strip().startswith("examples:"):
            on = True
            continue
        if on and line.strip().startswith("bench"):
            lines.append(line.strip())
        elif on and line.strip():
            on = False
    return lines


def _section(key: str, parser, help_: str, level: int) -> list:
    out = [f"{'#' * level} `bench {key}`", ""]
    if help_:
        out += [_md(help_[0].upper() + help_[1:]) + ".", ""]
    if parser.description and parser.description.strip() != (help_ or "").strip():
        out += [_md(parser.description), ""]
    out += ["```text", " ".join(parser.format_usage().split()).replace("usage: ", "", 1), "```", ""]  # syntax, not a command
    rows, former = _options(parser)
    if rows:
        out += ["| option | default | what it does |", "|---|---|---|", *rows, ""]
    if former:
        out += ["Former names, still accepted: " + ", ".join(former) + ".", ""]
    ex = _examples(parser)
    if ex:
        out += ["```bash", *ex, "```", ""]
    return out


def render(parser=None) -> str:
    if parser is None:
        from benchmarks.cli import build_parser

        parser = build_parser()
    found, hidden = commands(parser)
    top = [k for k in found if " " not in k]
    lines = [HEADER, "## Commands", ""]
    grouped = [c for _, _, cs in GROUPS for c in cs]
    others = [c for c in top if c not in grouped]
    groups = list(GROUPS) + ([("Other commands", "Commands not yet placed in a group.", tuple(others))] if others else [])
    for title, what, cs in groups:
        present = [c for c in cs if c in found]
        lines.append(f"- {title}: " + ", ".join(f"`bench {c}`" for c in present))
    lines.append("")
    for title, what, cs in groups:
        lines += [f"## {title}", "", what, ""]
        for c in cs:
            if c not in found:
                continue
            lines += _section(c, *found[c], level=3)
            for key in [k for k in found if k.startswith(c + " ")]:
                lines += _section(key, *found[key], level=4)
    if hidden:
        lines += ["## Former command names", "", "Still accepted, left out of the help:", ""]
        lines += [f"- `bench {old}`: `bench {new}`" for old, new in sorted(hidden.items())]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
