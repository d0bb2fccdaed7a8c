"""The docs say what the code does: every `bench ...` command shown in README.md and docs/*.md is one the CLI
accepts, docs/cli.md is the parser's current page, the README's test command is the one CI runs, and the
project's files speak of the project only."""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from benchmarks.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STARTS = {"&&", "||", "|", ";", "&"}  # `bench` after one of these (or at a line's start) begins a command
ENDS = STARTS | {">", ">>", "<", "2>", "2>&1", "&>"}
PREFIXES = {"nohup", "time", "sudo", "exec"}


def fenced_lines(text: str):
    """(line number, line) of every fenced code block, except ```text blocks (syntax such as usage lines)."""
    block = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            block = (line.strip() != "```text") if block is None else None
            continue
        if block:
            yield number, line


def shell_commands(lines):
    """Lines joined across trailing backslashes: (first line number, command text)."""
    text, first = "", None
    for number, line in lines:
        first = first or number
        if line.rstrip().endswith("\\"):
            text += line.rstrip()[:-1] + " "
            continue
        yield first, text + line
        text, first = "", None


def bench_argvs(command: str):
    """The argument lists of every `bench` invocation in one shell command: comments, redirections, pipes
    (`| jq ...`), `&&` chains and prefixes such as `nohup` handled by shlex."""
    lex = shlex.shlex(command, posix=True, punctuation_chars=True)
    lex.whitespace_split, lex.commenters = True, "#"
    try:
        tokens = list(lex)
    except ValueError:  # an unbalanced quote in prose: not a command
        return
    i = 0
    while i < len(tokens):
        before = [t for t in tokens[:i] if t not in PREFIXES]
        if tokens[i] == "bench" and (not before or before[-1] in STARTS):
            j = i + 1
            while j < len(tokens) and tokens[j] not in ENDS:
                j += 1
            yield tokens[i + 1:j]
            i = j
        else:
            i += 1


def documented_commands():
    for path in DOCS:
        for number, command in shell_commands(fenced_lines(path.read_text())):
            for argv in bench_argvs(command):
                yield pytest.param(argv, id=f"{path.name}:{number}")


def test_the_extraction_finds_commands_behind_comments_continuations_and_pipes():
    lines = list(enumerate(["bench run --suite games \\", "  --algos bc   # a comment", "bench report --json | jq .x",
                            "nohup bench run > run.log 2>&1 &", "ls (bench reproduce)"], 1))
    found = [argv for _, c in shell_commands(lines) for argv in bench_argvs(c)]
    assert found == [["run", "--suite", "games", "--algos", "bc"], ["report", "--json"], ["run"]]
    assert len(list(documented_commands())) > 40


@pytest.mark.parametrize("argv", list(documented_commands()))
def test_every_fenced_bench_command_in_the_docs_parses(argv):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        assert not exc.code, f"bench {' '.join(argv)}: {err.getvalue().strip().splitlines()[-1]}"


def _sub_parsers(parser) -> dict:
    return {name: p for a in parser._actions if isinstance(a, argparse._SubParsersAction)
            for name, p in a._name_parser_map.items()}


def test_every_command_and_option_named_in_the_docs_prose_exists():
    """Inline `bench ...` spans name commands and options without being whole commands (`bench run --online-steps`,
    `bench list algos|suites|tasks`): each sub-command word and each --option they name must exist."""
    wrong = []
    for path in DOCS:
        for span in re.findall(r"`(bench [^`\n]*)`", path.read_text()):
            parser, words = build_parser(), span.split()[1:]
            for word in words:
                subs = _sub_parsers(parser)
                if word in subs:
                    parser = subs[word]
                    continue
                for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", word):
                    if option not in parser._option_string_actions:
                        wrong.append(f"{path.name}: `{span}`: {parser.prog} has no option {option}")
    assert not wrong, "\n".join(wrong)


def test_docs_cli_md_is_the_parsers_current_page():
    from benchmarks.cli.docs import render

    assert (ROOT / "docs" / "cli.md").read_text() == render(), (
        "docs/cli.md is out of date with the parser: regenerate it with `python -m benchmarks.cli.docs > docs/cli.md`")


def test_the_readme_test_command_is_the_one_ci_runs_and_sets_up_the_browser():
    readme = (ROOT / "README.md").read_text()
    [line] = [ln for ln in readme.splitlines() if "python3 -m pytest" in ln and ln.lstrip().startswith("sh ")]
    command = line.split("#")[0].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci, f".ci/run does not run the README's test command: {command}"
    setup = (ROOT / "tests" / "setup.sh").read_text()
    assert "requirements-nodeps.txt" in setup and "apt-packages.txt" in setup
    assert "chromium" in (ROOT / ".ci" / "apt-packages.txt").read_text()
    assert "chromium" in line.lower(), "the README's test command names the browser the leaderboard test needs"
    r = subprocess.run(["sh", "-n", str(ROOT / "tests" / "setup.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


LINKED = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md")),
          *sorted((ROOT / "tests").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
UP = re.compile(r"(?<![\w.])((?:\.\./)+[\w./-]*\w)")  # a relative path that climbs, in prose or code


def github_anchors(text: str) -> set:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def broken_links(path: Path, text: str = None) -> list:
    """Every link of ``path`` that does not resolve to a file of the repository (or to a heading of it, for an
    #anchor), and every relative path in its text (prose or code) that climbs to no file of the repository."""
    text, bad = path.read_text() if text is None else text, []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        own = text if dest == path else None
        if ROOT not in dest.parents or not (dest.exists() or dest == path):
            bad.append(f"{path.relative_to(ROOT)}: ({target}) is not a file of the repository")
        elif anchor and dest.suffix == ".md" and anchor not in github_anchors(own or dest.read_text()):
            bad.append(f"{path.relative_to(ROOT)}: ({target}) names no heading of {dest.relative_to(ROOT)}")
    for climb in UP.findall(text):
        dest = (path.parent / climb.rstrip(".")).resolve()
        if ROOT not in dest.parents or not dest.exists():
            bad.append(f"{path.relative_to(ROOT)}: {climb} is not a file of the repository")
    return bad


def test_the_link_check_finds_missing_files_headings_and_paths_outside():
    text = ("[ok](docs/cli.md) [gone](docs/nope.md) [web](https://example.org) [top](#the-top) [bad](#nowhere) "
            "[up](../x.md) `../shared/x.md` ![img](docs/figures/fig15_xor.png) ../README.md\n# The top\n")
    found = broken_links(ROOT / "docs" / "probe.md", text)  # a page of docs/ (not written to disk)
    assert [b.split(": ", 1)[1] for b in found] == [
        "(docs/cli.md) is not a file of the repository",  # relative to docs/: docs/docs/cli.md
        "(docs/nope.md) is not a file of the repository",
        "(#nowhere) names no heading of docs/probe.md",
        "(../x.md) is not a file of the repository",
        "(docs/figures/fig15_xor.png) is not a file of the repository",
        "../x.md is not a file of the repository",
        "../shared/x.md is not a file of the repository"]
    assert github_anchors("## The paper's benchmarks\n### `bench perf`: speed\n") == {"the-papers-benchmarks",
                                                                                       "bench-perf-speed"}


def test_every_link_in_the_docs_resolves_to_a_file_of_the_repository():
    bad = [b for path in LINKED for b in broken_links(path)]
    assert not bad, "\n".join(bad)


WORDS = re.compile(r"\b(sessions?\b|issues? #?\d+|(the )?issue's)", re.IGNORECASE)
# files of the project (the machinery that records work on it is not part of it)
PROJECT = ("README.md", "ARCHITECTURE.md", "pyproject.toml", "algorithms", "analysis", "benchmarks", "docs", "tests",
           ".ci")


def test_the_projects_files_speak_of_the_project_only():
    """No session numbers, issue numbers or "the issue's" in code, docstrings, tests or docs: the project's files
    describe the project, not the history of the work on it."""
    found = []
    for name in PROJECT:
        paths = [ROOT / name] if (ROOT / name).is_file() else sorted((ROOT / name).rglob("*"))
        for p in paths:
            if not p.is_file() or p.suffix not in ("", ".py", ".md", ".toml", ".txt", ".sh", ".cfg", ".yml", ".yaml"):
                continue
            for number, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
                if WORDS.search(line) and p.name != "test_docs.py":
                    found.append(f"{p.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "\n".join(found)
