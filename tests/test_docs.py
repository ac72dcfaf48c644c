"""README.md and docs/*.md stay true where a test can tell.

- every relative link (and image) points to a file that exists, and every #anchor to a heading
  of that file; every repo path the text names (`benchmarks/x.md`, `toolkit/...`) exists;
- every `camkit ...` command line in a shell code block parses with camkit's own argument
  parser, names models, formats, precisions, recipes and devices that exist, and uses no
  deprecated spelling; `camkit ...` spans in the prose name no option or command that does not
  exist;
- the precision table of docs/formats.md is the registry's;
- the README stays a quickstart that links every page of docs/.

The Python example of docs/python_api.md is run by tests/test_docs_python_api.py.
Files under benchmarks/ and BENCHMARKS.md are generated records (their command lines are
history) and are not parsed here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import re
import shlex
from pathlib import Path

import pytest

from conftest import REPO
from toolkit import registry
from toolkit.cli import _options, build_parser
from toolkit.commands import command_names
from toolkit.spec import PRECISIONS

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL_LANGS = {"", "sh", "bash", "shell", "console"}

#: placeholders that stand for a value of a typed option (the rest parse as strings)
PLACEHOLDERS = {"N": "4", "K": "2", "S": "0", "X": "0.3", "DB": "0.1", "PERCENT": "5",
                "HxW": "256x256"}
#: model ids that docs create on the spot (camkit new-model my_isp), not built-ins
USER_MODELS = {"my_isp"}
#: `camkit ...` spans in prose that are values, not command lines (runtime.tool of a result,
#: the report's target label)
NOT_COMMANDS = {"camkit host proxy", "camkit roofline npu"}
#: (command, action) pairs that still parse but are deprecated: docs use the new spelling
DEPRECATED = {("profile", "run")}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _split_fences(text: str) -> tuple[str, list[tuple[str, int, list[str]]]]:
    """The text outside fenced code blocks (blocks blanked, line numbers kept) and the blocks:
    (language, first line number, lines)."""
    prose, blocks, block = [], [], None
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and block is None:
            block = (fence[1].lower(), number + 1, [])
            prose.append("")
        elif fence:
            blocks.append(block)
            block = None
            prose.append("")
        elif block is not None:
            block[2].append(line)
            prose.append("")
        else:
            prose.append(line)
    assert block is None, f"unclosed code block from line {block[1]}"
    return "\n".join(prose), blocks


def _without_code_spans(prose: str) -> str:
    return re.sub(r"`[^`]*`", "CODE", prose)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    prose, _ = _split_fences(_text(path))
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", prose, flags=re.M):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def _links(path: Path) -> list[str]:
    prose, _ = _split_fences(_text(path))
    return re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)",
                      _without_code_spans(prose))


def broken_links(path: Path) -> list[str]:
    """Relative links of ``path`` whose file (or #anchor) does not exist."""
    broken = []
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


REPO_PATH = re.compile(
    r"(?<![\w./~-])((?:docs|benchmarks|toolkit|tests|recipes|calibration)/[\w./-]*[\w/])")


def missing_repo_paths(path: Path) -> list[str]:
    """Repo paths (benchmarks/x.md, toolkit/..., ...) named anywhere in ``path`` that do not
    exist. Paths with placeholders stop at the placeholder (recipes/<model_id>/... checks
    recipes/)."""
    return sorted({p for p in REPO_PATH.findall(_text(path)) if not (REPO / p).exists()})


# -- command lines ---------------------------------------------------------------------------


def _logical_lines(lines: list[str]) -> list[str]:
    out, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _camkit_args(line: str) -> list[str] | None:
    """The arguments after ``camkit`` (or ``-m toolkit.cli``) on a shell line, comments, prompts,
    environment assignments and redirections removed; None when the line runs no camkit."""
    line = re.sub(r"(^|\s)#.*$", "", line).strip()
    line = re.sub(r"^\$\s+", "", line)
    if not line:
        return None
    try:
        tokens = shlex.split(line)
    except ValueError:
        return None
    while tokens and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]):
        tokens.pop(0)
    if tokens and tokens[0] == "camkit":
        args = tokens[1:]
    elif "toolkit.cli" in tokens and tokens.index("toolkit.cli") > 0 \
            and tokens[tokens.index("toolkit.cli") - 1] == "-m":
        args = tokens[tokens.index("toolkit.cli") + 1:]
    else:
        return None
    for i, token in enumerate(args):
        if token in {"|", "||", "&&", ";", ">", ">>", "<", "2>&1"} or re.match(r"^\d?>", token):
            return args[:i]
    return args


def _variants(args: list[str]) -> list[list[str]]:
    """``args`` with placeholders made concrete: optional [--opt X] brackets dropped, typed
    placeholders given a value, and a|b|c choices expanded to one line per choice."""
    options = []
    for token in args:
        token = token.replace("[", "").replace("]", "")
        token = PLACEHOLDERS.get(token, token)
        if not token:
            continue
        choices = token.split("|") if "|" in token and "/" not in token else [token]
        options.append(choices)
    return [list(combo) for combo in itertools.islice(itertools.product(*options), 32)]


def _parse(args: list[str]):
    """(namespace or None, error message or None)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return build_parser().parse_args(args), None
    except SystemExit as e:
        if e.code in (0, None):  # --help, --version
            return None, None
        return None, (err.getvalue().strip() or f"exit {e.code}")


def _unknown_options(args: list[str]) -> list[str]:
    """Options in ``args`` that the (sub)command they are given to does not have; this works on
    fragments too, where parsing stops at a missing argument first."""
    parser, i = build_parser(), 0
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        while i < len(args) and args[i].startswith("-"):
            i += 1
        if sub is None or i >= len(args) or args[i] not in sub.choices:
            break
        parser, i = sub.choices[args[i]], i + 1
    known = set(_options(parser))
    return [f"unknown option {a.split('=')[0]} of '{parser.prog}'" for a in args
            if a.startswith("--") and a.split("=")[0] not in known]


def _placeholder(value: str) -> bool:
    return value.upper() == value and any(c.isalpha() for c in value)


def _semantic_errors(ns) -> list[str]:
    """Names a parsed line gives that camkit does not know (the parser takes them as strings)."""
    errors = []
    known = set(registry.model_ids()) | USER_MODELS
    command = ns.command
    for attr in ("model", "target"):
        value = getattr(ns, attr, None)
        if isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", value) \
                and value not in known:
            errors.append(f"unknown model {value!r}")
    for fmt in (getattr(ns, "format", None) or "").split(","):
        if fmt and not _placeholder(fmt) and fmt not in registry.format_names():
            errors.append(f"unknown format {fmt!r}")
    for precision in (getattr(ns, "precision", None) or "").split(","):
        if precision and not _placeholder(precision) and precision not in PRECISIONS:
            errors.append(f"unknown precision {precision!r}")
    config = getattr(ns, "config", None) if command == "train" else None
    if config and not getattr(ns, "qat", False):
        if re.fullmatch(r"[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)?", config):
            model, _, variant = config.partition("/")
            if not (REPO / "recipes" / model).is_dir() or (
                    variant and not (REPO / "recipes" / model / f"{variant}.yaml").exists()):
                errors.append(f"no shipped recipe {config!r}")
        elif config.startswith("recipes/") and not (REPO / config).exists():
            errors.append(f"no recipe file {config}")
    elif config and not _placeholder(config) and config not in known:  # --qat: a model id
        errors.append(f"unknown model {config!r}")
    device = getattr(ns, "device", None)
    if isinstance(device, str) and not _placeholder(device) and not (
            REPO / "toolkit" / "profilers" / "devices" / f"{device}.toml").exists():
        errors.append(f"unknown device {device!r}")
    action = getattr(ns, f"{command.replace('-', '_')}_command", None)
    if (command, action) in DEPRECATED:
        errors.append(f"deprecated spelling 'camkit {command} {action}'")
    # artifact paths: .../<model>/<variant>/<model>-<variant>-<precision>[-tags].<suffix>
    values = [v for value in vars(ns).values()
              for v in (value if isinstance(value, list) else [value])]
    for value in values:
        for model, variant, name in re.findall(r"(?:^|/)(\w+)/(\w+)/(\1-\2-[\w.-]+)",
                                               str(value)):
            precision = name[len(model) + len(variant) + 2:].split(".")[0].split("-")[0]
            if model not in known:
                errors.append(f"artifact path of unknown model {model!r}")
            elif model in registry.model_ids() \
                    and variant not in registry.model_spec(model).variants:
                errors.append(f"artifact path of unknown variant {model}/{variant}")
            elif precision not in PRECISIONS:
                errors.append(f"artifact path with unknown precision: {name}")
    return errors


def check_command_line(line: str, strict: bool = True) -> list[str]:
    """Errors camkit's parser (and the registry) find in one `camkit ...` line; [] when it
    parses. ``strict`` (code blocks): any parse error counts; otherwise (a span in prose, often
    a fragment) only an unknown command, choice or option does."""
    args = _camkit_args(line)
    assert args is not None, f"not a camkit line: {line}"
    errors = []
    for variant in _variants(args):
        ns, error = _parse(variant)
        if error:
            if strict:
                errors.append(f"{' '.join(variant)}: {error}")
            else:
                unknown = re.search(r"invalid choice: '([^']*)'", error)
                if "unrecognized argument" in error or (unknown and not _placeholder(unknown[1])):
                    errors.append(f"{' '.join(variant)}: {error}")
                errors += [f"{' '.join(variant)}: {e}" for e in _unknown_options(variant)]
        elif ns is not None:
            errors += [f"{' '.join(variant)}: {e}" for e in _semantic_errors(ns)]
    return errors


def block_command_lines(path: Path) -> list[str]:
    """Every camkit line (continuations joined) in the shell code blocks of ``path``."""
    _, blocks = _split_fences(_text(path))
    return [" ".join(line.split()) for lang, _, lines in blocks if lang in SHELL_LANGS
            for line in _logical_lines(lines) if _camkit_args(line) is not None]


def prose_command_spans(path: Path) -> list[str]:
    """`camkit ...` spans of the prose (outside code blocks), whitespace joined."""
    prose, _ = _split_fences(_text(path))
    spans = [" ".join(s.split()) for s in re.findall(r"`(camkit [^`]+)`", prose)]
    return [s for s in spans if s not in NOT_COMMANDS]


ALL_BLOCK_LINES = [(path, line) for path in DOC_FILES for line in block_command_lines(path)]
ALL_PROSE_SPANS = [(path, span) for path in DOC_FILES for span in prose_command_spans(path)]


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(path):
    assert broken_links(path) == []


def test_links_are_checked_at_all(tmp_path):
    links = [link for path in DOC_FILES for link in _links(path)
             if not re.match(r"^[a-z][a-z0-9+.-]*:", link)]
    assert len(links) >= 60, len(links)
    assert sum("#" in link for link in links) >= 15
    (tmp_path / "other.md").write_text("# Other page\n## `camkit list`: the registry\n")
    (tmp_path / "pic.png").write_bytes(b"")
    probe = tmp_path / "probe.md"
    probe.write_text("[a](no_such_page.md) [b](other.md#no-such-heading) [c](other.md)\n"
                     "![d](pic.png) [e](#probe) [f](other.md#camkit-list-the-registry)\n"
                     "[g](https://example.org/x) `[h](in_code.md)`\n# Probe\n"
                     "```sh\n[i](in_block.md)\n```\n")
    assert broken_links(probe) == ["no_such_page.md (no such file)",
                                   "other.md#no-such-heading (no heading #no-such-heading "
                                   "in other.md)"]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_named_repo_paths_exist(path):
    assert missing_repo_paths(path) == []


@pytest.mark.parametrize("path,line", ALL_BLOCK_LINES,
                         ids=[f"{p.relative_to(REPO).as_posix()}:{line[:60]}"
                              for p, line in ALL_BLOCK_LINES])
def test_command_line_parses(path, line):
    assert check_command_line(line) == []


@pytest.mark.parametrize("path,span", ALL_PROSE_SPANS,
                         ids=[f"{p.relative_to(REPO).as_posix()}:{span[:60]}"
                              for p, span in ALL_PROSE_SPANS])
def test_prose_command_names_real_options(path, span):
    assert check_command_line(span, strict=False) == []


def test_the_command_check_is_not_vacuous():
    assert len(ALL_BLOCK_LINES) >= 40, len(ALL_BLOCK_LINES)
    assert len(ALL_PROSE_SPANS) >= 20, len(ALL_PROSE_SPANS)
    # every command, and every profile action, appears in a checked code block
    commands = {_camkit_args(line)[0] for _, line in ALL_BLOCK_LINES if _camkit_args(line)}
    assert commands >= set(command_names()), set(command_names()) - commands
    actions = {args[1] for _, line in ALL_BLOCK_LINES
               if (args := _camkit_args(line)) and args[0] == "profile" and len(args) > 1}
    assert actions >= {"host", "android", "macos", "static", "estimate", "parse", "compare"}
    # ... and the same checker fails what it should
    for wrong in ("camkit export --no-such-flag",
                  "camkit export retouch_csrnet --no-such-flag",
                  "camkit frobnicate artifacts/",
                  "camkit profile host m.json --delegate gpu",  # another action's option
                  "camkit check artifacts/ --max-images none",
                  "camkit export retouch_csrnt",                 # a model that does not exist
                  "camkit export retouch_csrnet --format onnx,tflite",
                  "camkit export retouch_csrnet --precision int8",
                  "camkit train retouch_csrnet/mobile",          # no such recipe
                  "camkit profile estimate m.json --device pixel_99",
                  "camkit profile run --on host m.json",          # deprecated spelling
                  "camkit profile host artifacts/retouch_csrnet/mobile/"
                  "retouch_csrnet-mobile-fp32.onnx.manifest.json",  # no such variant
                  "camkit new-model x --task retouch|paint"):
        assert check_command_line(wrong), wrong
    assert check_command_line("camkit export --no-such-flag", strict=False)
    assert check_command_line("camkit export", strict=False) == []  # a fragment in prose
    assert check_command_line("camkit export --help") == []
    [joined] = _logical_lines(["OMP_NUM_THREADS=1 camkit train recipes/retouch_csrnet/tiny.yaml \\",
                               "    --max-steps N   # a comment"])
    assert _camkit_args(joined) == ["train", "recipes/retouch_csrnet/tiny.yaml", "--max-steps",
                                    "N"]
    assert check_command_line(joined) == []
    assert _camkit_args("adb shell benchmark_model > run.txt 2>&1") is None
    assert _camkit_args("torchrun --nproc-per-node 2 -m toolkit.cli train x.yaml") == [
        "train", "x.yaml"]


def test_precision_table_is_the_registry():
    text = _text(REPO / "docs" / "formats.md")
    section = text.split("## Precisions", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in row.strip("|").split("|")]
            for row in section.splitlines() if row.startswith("| `")]
    header = next(row for row in section.splitlines() if row.startswith("| precision"))
    columns = [c.strip() for c in header.strip("|").split("|")][2:]
    names = {"ONNX": "onnx", "LiteRT": "litert", "Core ML": "coreml"}
    assert sorted(names[c] for c in columns) == sorted(registry.format_names())
    table = {row[0].strip("`"): row[1:] for row in rows}
    assert list(table) == list(PRECISIONS)
    for precision, (meaning, *offered) in table.items():
        assert meaning == PRECISIONS[precision], precision
        for column, cell in zip(columns, offered, strict=True):
            exports = precision in registry.format_module(names[column]).precisions
            assert cell == ("yes" if exports else "-"), (precision, column)


def test_readme_is_a_quickstart_that_links_every_page():
    text = _text(REPO / "README.md")
    assert len(text.splitlines()) <= 150, "README is the quickstart; reference goes to docs/"
    assert "make demo   # creates .venv, installs camkit with every extra, runs the demo" in text
    assert "make test   # creates .venv, installs, runs the test suite" in text
    assert "That is all a fresh clone needs" in text
    linked = {(REPO / link.partition("#")[0]).resolve() for link in _links(REPO / "README.md")}
    for page in sorted((REPO / "docs").glob("*.md")):
        assert page.resolve() in linked, f"README's Documentation list misses {page.name}"
