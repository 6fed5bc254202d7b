"""The docs stay true to the program: every `lesr` command and flag they name exists in the real
parser, every relative link (and its #anchor) resolves, and the README stays a short front page.

Commands are read from code only (inline code spans and fenced blocks): that is where a reader copies
them from. In a span, `a\\|b` is a Markdown-table alternative (`--preset smoke\\|quick`); in a block a
bare `|`, `;` or `&&` ends the command (what follows is another program).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from lesr_local.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 180
README_MAX_BYTES = 14 * 1024
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
CLI_PAGE = ROOT / "docs" / "cli.md"

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LESR = re.compile(r"(?<![\w/.\-])lesr(?![\w\-.])")
SHELL_END = {"|", "||", "&&", ";", ">", "2>", ">>", "&"}
WORD = re.compile(r"[a-z][a-z0-9\-]*")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


@dataclass(frozen=True)
class Problem:
    where: str
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: `{self.text}`: {self.why}"


def code_pieces(markdown: str) -> list[tuple[str, bool]]:
    """(code, is_block) for every fenced block and every inline span outside the blocks."""
    pieces = [(m.group(2), True) for m in FENCE.finditer(markdown)]
    prose = FENCE.sub("", markdown)
    pieces += [(m.group(2), False) for m in SPAN.finditer(prose)]
    return pieces


def invocations(code: str, block: bool) -> list[list[str]]:
    """The token lists after each `lesr` in a piece of code, up to where that command ends."""
    text = code.replace("\\\n", " ")
    found = []
    for line in text.splitlines() if block else [text.replace("\n", " ")]:
        line = line.split(" #", 1)[0]
        for match in LESR.finditer(line):
            tokens = []
            for raw in line[match.end():].split():
                if raw.startswith("#") or (block and raw in SHELL_END):
                    break
                if LESR.fullmatch(raw):
                    break  # the next mention is its own command
                tokens.append(raw)
            found.append(tokens)
    return found


def _flags(token: str) -> list[str]:
    """The flags a token names: `[--a\\|--b]` -> --a, --b; `--out=F` -> --out."""
    parts = re.split(r"\\?\|", token.strip("`[](){},.:'\""))
    out = []
    for part in parts:
        part = part.strip("`[](){},.:'\"")
        if re.fullmatch(r"--[a-z0-9][a-z0-9\-]*(=.*)?", part) or part in ("-h",):
            out.append(part.split("=", 1)[0])
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: action for action in parser._actions for s in action.option_strings}


def check_invocation(tokens: list[str], parser: argparse.ArgumentParser | None = None) -> list[str]:
    """Why this `lesr ...` invocation does not exist in the parser ([] when it does). A command
    token may name alternatives (`bench llm|td3`): the flags after it must exist in one of them."""
    top = parser or build_parser()
    currents, path, why = [top], ["lesr"], []
    inherited = _options(top)  # --home, --version: accepted before the command
    walking, skip_value = True, False
    for token in tokens:
        flags = _flags(token)
        if flags:
            for flag in flags:
                action = next((a for c in currents if (a := _options(c).get(flag))), None) or inherited.get(flag)
                if action is None:
                    why.append(f"{' '.join(path)} has no option {flag}")
                elif action.nargs != 0 and "=" not in token:
                    skip_value = True  # `--home DIR history`: DIR is the value, the command follows
            continue
        if skip_value:
            skip_value = False
            continue
        commands = _subparsers(currents[0]) if len(currents) == 1 else {}
        names = re.split(r"\\?\|", token.strip("`[](){},.:'\""))
        if walking and commands and all(WORD.fullmatch(n) for n in names):
            unknown = [n for n in names if n not in commands]
            if unknown:
                why += [f"{' '.join(path)} has no command {n!r}" for n in unknown]
                break
            currents, path = [commands[n] for n in names], [*path, "|".join(names)]
            continue
        if walking and commands and not names[0].startswith("-"):
            currents = list(commands.values())  # `lesr bench KIND ... --json`: one of its commands
        walking = False  # a positional argument, a placeholder or `...`: the command is known now
    return why


def docs_problems(markdown: str, where: str, parser: argparse.ArgumentParser | None = None) -> list[Problem]:
    parser = parser or build_parser()
    problems = []
    for code, block in code_pieces(markdown):
        for tokens in invocations(code, block):
            for why in check_invocation(tokens, parser):
                problems.append(Problem(where, " ".join(["lesr", *tokens])[:120], why))
    return problems


def _slug(heading: str) -> str:
    text = re.sub(r"`|\*\*|\*|_(?=\W)|(?<=\W)_", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    prose = FENCE.sub("", markdown)
    return {_slug(h) for h in HEADING.findall(prose)} | set(HTML_ANCHOR.findall(prose))


def link_problems(page: Path) -> list[Problem]:
    markdown = page.read_text()
    prose = SPAN.sub("", FENCE.sub("", markdown))
    problems = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.\-]*:", target):
            continue  # https:, mailto:
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            problems.append(Problem(page.name, target, "no such file"))
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text()):
            problems.append(Problem(page.name, target, f"no heading or anchor #{fragment} in {dest.name}"))
    return problems


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("lesr",)):
    """(path, parser) of every command and sub-command."""
    for name, child in _subparsers(parser).items():
        yield (*path, name), child
        yield from commands(child, (*path, name))


def reference_gaps(page_text: str, parser: argparse.ArgumentParser) -> list[str]:
    """Commands without a `### `lesr ...`` section in the reference, and options missing from theirs."""
    sections = dict(re.findall(r"^### `(lesr[^`]*)`\n(.*?)(?=^### |\Z)", page_text, re.S | re.M))
    gaps = []
    for path, sub in commands(parser):
        options = [o for o in _options(sub) if o.startswith("--") and o not in ("--help", "--home")]
        name = " ".join(path)
        if name not in sections:
            gaps.append(f"no section for {name}")
            continue
        gaps += [f"{name}: {o} not listed" for o in options if not re.search(rf"`{o}[ `]", sections[name])]
    return gaps


# -- the checker itself, on strings ---------------------------------------------------------------


def test_a_made_up_flag_or_command_is_caught() -> None:
    text = ("Run `lesr run --env Hopper-v5 --made-up-flag 3`, then `lesr frobnicate`;\n"
            "```bash\nlesr bench td3 --compare sb3 --no-such-thing\n```\n`lesr bench llm|nope --json`\n")
    whys = sorted(p.why for p in docs_problems(text, "example"))
    assert whys == sorted(["lesr run has no option --made-up-flag", "lesr has no command 'frobnicate'",
                           "lesr bench td3 has no option --no-such-thing", "lesr bench has no command 'nope'"]), whys


def test_real_commands_tables_and_shell_lines_pass() -> None:
    text = ("| `lesr run --env ID [--preset smoke\\|quick\\|paper] [--prune none\\|halving]` | a run |\n"
            "`lesr render (RUN_ID [--candidate best\\|ID] \\| --env ID --random) --out FILE.mp4`\n"
            "`lesr --home DIR history --json`, `lesr models add FILE.gguf --link`, `lesr bench llm|td3 --compare sb3`\n"
            "```bash\nLESR_HOME=/tmp/b lesr history --json | jq --raw-output .  # jq's flags are not lesr's\n"
            "lesr candidate check f.py \\\n  --env Hopper-v5 --json\n```\n"
            "`lesr_local/cli.py`, lesr-local, `lesr.sqlite3` and `.venv/bin/lesr-x` are no commands.\n"
            "`lesr bench KIND ... --json` (a placeholder: the flag of any of its commands)\n")
    assert docs_problems(text, "example") == []


def test_a_flag_of_another_command_is_caught() -> None:
    # --final-steps belongs to `lesr run`, not to `lesr train`
    assert [p.why for p in docs_problems("`lesr train --env X --final-steps 3`", "x")] == [
        "lesr train has no option --final-steps"]


def test_a_broken_link_and_anchor_are_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## The `lesr run` flags\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#the-lesr-run-flags) [gone](missing.md) [bad](other.md#nowhere) "
                    "[web](https://example.org) `[in code](nowhere.md)`\n")
    assert [p.text for p in link_problems(page)] == ["missing.md", "other.md#nowhere"]


def test_a_reference_missing_a_command_or_option_is_caught() -> None:
    parser = argparse.ArgumentParser(prog="lesr")
    sub = parser.add_subparsers()
    sub.add_parser("gc").add_argument("--dry-run", action="store_true")
    sub.add_parser("history").add_argument("--json", action="store_true")
    page = "### `lesr gc`\n\n| `--dry-run` | only say |\n"
    assert reference_gaps(page, parser) == ["no section for lesr history"]
    assert reference_gaps("### `lesr gc`\n\nnothing\n### `lesr history`\n| `--json` |", parser) == [
        "lesr gc: --dry-run not listed"]


# -- the real docs --------------------------------------------------------------------------------


def test_every_command_and_flag_the_docs_name_exists() -> None:
    parser = build_parser()
    problems = [p for page in PAGES for p in docs_problems(page.read_text(), page.name, parser)]
    assert not problems, "\n".join(map(str, problems))


def test_the_docs_name_commands_at_all() -> None:
    # the check above would pass on docs that quote no command; the README quotes several
    assert len([t for code, block in code_pieces(README.read_text()) for t in invocations(code, block)]) >= 10


def test_the_cli_page_lists_every_command_and_option() -> None:
    gaps = reference_gaps(CLI_PAGE.read_text(), build_parser())
    assert not gaps, "\n".join(gaps)


def test_every_relative_link_resolves() -> None:
    problems = [p for page in PAGES for p in link_problems(page)]
    assert not problems, "\n".join(map(str, problems))


def test_readme_is_a_short_front_page() -> None:
    data = README.read_bytes()
    lines = data.count(b"\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines"
    assert len(data) <= README_MAX_BYTES, f"README.md has {len(data)} bytes"
