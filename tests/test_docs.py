"""Every command README.md and docs/*.md show is checked against the code it names, and every link
between them resolves.

Commands come from the shell blocks of the documents and from inline code that starts with one of
the project's commands. An entry point or a script must answer `--help` and list every option the
document's command uses, so a renamed or removed flag fails here; fairseq's own commands are parsed
by fairseq's parser with the plugin's task loaded; `fairseq-hydra-train` command lines and hydra
overrides are composed as fairseq-hydra-train composes them; `make` targets must be in the Makefile
and repository paths must exist. Nothing is run beyond `--help` and parsing.
"""
import argparse
import functools
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's console scripts
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINKED = [*DOCUMENTS, REPO / "bench" / "RESULTS.md"]  # the log is linked into, and links back
CONFIG_DIR = REPO / "hydra_configs"
FAIRSEQ_PARSERS = {"fairseq-train": "get_training_parser", "fairseq-generate": "get_generation_parser",
                   "fairseq-interactive": "get_interactive_generation_parser"}
# Where a command is not the first word: wrappers that start one of ours.
LAUNCHERS = {"torchrun", "srun", "bash", "python", "python3", "pytest"}
# The project's top-level folders: a word that starts with one of them names a file of the repository.
REPO_DIRS = ("biogpt_fairseq/", "bench/", "bin/", "docs/", "hydra_configs/", "preprocess/", "tests/")
SCRIPT_DIRS = ("bench/", "bin/", "preprocess/", "tests/")  # where the scripts a user runs live
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}


@dataclass(frozen=True)
class Command:
    document: Path
    line: int
    words: tuple  # as the shell splits it, wrappers and redirections removed

    def __str__(self):
        return f"{self.document.relative_to(REPO)}:{self.line}: {' '.join(self.words)}"


def shell_lines(text):
    """(line number, line) of the shell blocks, a backslash-continued line joined into one."""
    fence, pending, start = None, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence is None or fence not in SHELL_FENCES:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending = ""


def inline_code(text):
    """(line number, span) of inline code outside fenced blocks; a span may wrap onto the next line."""
    lines, inside = [], False
    for line in text.splitlines():
        fence = line.startswith("```")
        inside ^= fence
        lines.append("" if inside or fence else line)  # blanked, so line numbers stay
    prose = "\n".join(lines)
    for match in re.finditer(r"`([^`]+)`", prose):
        if "\n\n" not in match.group(1):
            yield prose.count("\n", 0, match.start()) + 1, " ".join(match.group(1).split())


def is_command_word(word):
    return (word in ("make", "fairseq-hydra-train") or word in FAIRSEQ_PARSERS or word.startswith("biogpt-")
            or word.startswith(SCRIPT_DIRS) and word.endswith((".py", ".sh")))


def command_words(line):
    """The words of our command in a shell line, or None where the line runs none of ours."""
    line = re.sub(r"\$\(which (\S+)\)", r"\1", line)  # torchrun ... $(which fairseq-hydra-train)
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # a quote left open: prose, not a command
        return None
    for stop in (">", "|", ";", "&&", "<"):
        if stop in words:
            words = words[:words.index(stop)]
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
        words = words[1:]
    if words and words[0].startswith(".venv/bin/"):
        words[0] = words[0][len(".venv/bin/"):]
    if words[:2] and words[0] in ("python", "python3") and words[1] == "-m":
        return words if len(words) > 2 and re.fullmatch(r"biogpt_fairseq(\.\w+)+", words[2]) else None
    if words and words[0] in LAUNCHERS:
        found = next((i for i, word in enumerate(words) if is_command_word(word) or word.startswith("tests/")), None)
        return words[found:] if found is not None else None
    return words if words and is_command_word(words[0]) else None


def collect_commands():
    commands = []
    for document in DOCUMENTS:
        text = document.read_text()
        lines = [*shell_lines(text), *((n, span) for n, span in inline_code(text) if not span.startswith("..."))]
        for number, line in lines:
            words = command_words(line)
            if words:
                commands.append(Command(document, number, tuple(words)))
    return commands


def options_of(words):
    """The options a command line uses: `--flag`, `-o`, from `--flag=value` and `[--flag X]` alike."""
    found = []
    for word in words:
        word = word.strip("[]")
        if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", word):
            found.append(word.split("=", 1)[0])
    return found


@functools.lru_cache(maxsize=None)
def run_help(*argv):
    result = subprocess.run([*argv, "--help"], capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module", autouse=True)
def helps_run_side_by_side():
    """Most --help runs import torch or fairseq (seconds each): run them all at once, into run_help's
    cache; a failing one fails the test that asks for it."""
    def run_all(argvs):
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            return dict(zip(argvs, pool.map(lambda argv: run_help(*argv), argvs)))

    entry_points = [(str(command),) for command in sorted(BIN.glob("biogpt-*"))]
    scripts = sorted({(sys.executable, str(REPO / command.words[0])) for command in COMMANDS
                      if command.words[0].endswith(".py") and len(command.words) > 1
                      and (REPO / command.words[0]).is_file() and answers_help(command.words[0])}
                     | {(sys.executable, str(path)) for path in sorted((REPO / "bin").glob("*.py"))})
    helps = run_all([*entry_points, *scripts])
    subcommands = [(*argv, choice) for argv in entry_points
                   if (choices := re.search(r"\{([\w,-]+)\}", helps[argv][1]))
                   for choice in choices.group(1).split(",")]
    run_all(subcommands)


@functools.lru_cache(maxsize=None)
def help_text(*argv):
    """`--help` of a command (a subcommand's when given); it must exit 0."""
    returncode, text = run_help(*argv)
    assert returncode == 0, f"{' '.join(argv)} --help exited {returncode}:\n{text[-2000:]}"
    return text


@functools.lru_cache(maxsize=None)
def shell_script_help(path):
    """The usage a preprocess/*.sh script prints for --help."""
    text = help_text(str(REPO / path))
    assert "Usage:" in text, f"{path} --help printed no usage:\n{text[-2000:]}"
    return text


def mentioned_in(option, text):
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def assert_options_in_help(command, options, text):
    missing = [option for option in options if not mentioned_in(option, text)]
    assert not missing, f"{command}: not in --help: {missing}"


def check_entry_point(command):
    words = list(command.words)
    argv = [str(BIN / words[0])]
    if len(words) == 1:  # the command's name alone, in a table or prose: that it is installed
        assert Path(argv[0]).is_file(), f"{command}: no such command in {BIN}"
        return
    text = help_text(*argv)
    # a subcommand (biogpt-convert to-hf, biogpt-vocab learn-bpe) has its own options
    choices = re.search(r"\{([\w,-]+)\}", text)
    if choices and words[1] in choices.group(1).split(","):
        argv.append(words[1])
        text = help_text(*argv)
    assert_options_in_help(command, options_of(words[1:]), text)


def answers_help(script):
    """Only a script that answers --help is asked (bench/gpu/run.sh would run its whole GPU check, a
    test module its tests)."""
    source = (REPO / script).read_text()
    if Path(script).name.startswith("test_"):
        return False
    return "--help)" in source if script.endswith(".sh") else "argparse" in source


def check_script(command):
    words = list(command.words)
    if words[0] in ("python", "python3") and words[1] == "-m":
        assert_options_in_help(command, options_of(words[3:]), help_text(sys.executable, "-m", words[2]))
        return
    script = words[0]
    assert (REPO / script).is_file(), f"{command}: no file {script}"
    if len(words) == 1 or not answers_help(script):  # named in prose, or run by pytest: its path is the check
        return
    if script.endswith(".sh"):
        text = shell_script_help(script)
    else:
        text = help_text(sys.executable, str(REPO / script))
    assert_options_in_help(command, options_of(words[1:]), text)


def check_make(command):
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.M))
    missing = [word for word in command.words[1:] if not word.startswith("-") and word not in targets]
    assert not missing, f"{command}: no such make target {missing} (targets: {sorted(targets)})"


@functools.lru_cache(maxsize=None)
def plugin_imported():
    from fairseq import utils
    utils.import_user_module(argparse.Namespace(user_dir=str(REPO / "biogpt_fairseq")))
    # (fairseq skips a user dir whose package another test module has imported already, plugin or not)
    import biogpt_fairseq.plugin  # noqa: F401
    return True


def check_fairseq(command, monkeypatch):
    """fairseq's own parser, with the plugin's tasks, models and criteria: no option left unknown."""
    from fairseq import options
    plugin_imported()
    monkeypatch.chdir(REPO)  # --user-dir biogpt_fairseq is relative to the repository root
    words = [word.strip("[]") for word in command.words[1:] if "..." != word.strip("[]")]
    if not options_of(words):  # the command's name alone, in a table or before `...`
        assert (BIN / command.words[0]).is_file()
        return
    if words[0].startswith("-"):
        words = ["DATA", *words]  # a fragment without its data directory
    if words[-1].startswith("-"):
        words.append("1")  # a fragment naming an option without its value: a number, as most take
    if "--user-dir" not in words:
        words += ["--user-dir", "biogpt_fairseq"]
    if "--task" not in words and command.words[0] != "fairseq-train":  # a fragment about the prompt task
        words += ["--task", "language_modeling_prompt"]
    parser = getattr(options, FAIRSEQ_PARSERS[command.words[0]])()
    try:
        _, unknown = options.parse_args_and_arch(parser, input_args=words, parse_known=True)
    except SystemExit:
        pytest.fail(f"{command}: fairseq's parser refused it (an unknown choice or a missing value)")
    unknown = [word for word in unknown if word.startswith("-")]
    assert not unknown, f"{command}: fairseq does not know {unknown}"


def compose(config_name, overrides):
    """The config fairseq-hydra-train composes (fairseq's schema, our configs, the plugin's dataclasses)."""
    from fairseq.dataclass.initialize import add_defaults, hydra_init
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf
    plugin_imported()
    hydra_init(config_name)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = hydra_compose(config_name, overrides=list(overrides))
    add_defaults(cfg)
    return OmegaConf.to_container(cfg, resolve=False)


def check_hydra_train(command):
    words = [word for word in command.words[1:] if word != "..."]
    if "--config-dir" not in words:  # the command's name alone, in a table
        assert (BIN / "fairseq-hydra-train").is_file()
        return
    config_dir = words[words.index("--config-dir") + 1]
    assert (REPO / config_dir).resolve() == CONFIG_DIR, f"{command}: --config-dir is not hydra_configs"
    config_name = words[words.index("--config-name") + 1]
    overrides = [word for word in words if "=" in word and not word.startswith("-")]
    try:
        compose(config_name, overrides)
    except Exception as error:  # hydra's errors name the override: what the reader needs
        pytest.fail(f"{command}: does not compose: {type(error).__name__}: {error}")


COMMANDS = collect_commands()


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command(command, monkeypatch):
    first = command.words[0]
    if first == "make":
        check_make(command)
    elif first in FAIRSEQ_PARSERS:
        check_fairseq(command, monkeypatch)
    elif first == "fairseq-hydra-train":
        check_hydra_train(command)
    elif first.startswith("biogpt-"):
        check_entry_point(command)
    else:
        check_script(command)


def test_every_kind_of_command_is_found():
    """The extraction itself: a document change that hid the commands from it would pass silently."""
    kinds = {command.words[0] for command in COMMANDS}
    assert {"make", "fairseq-train", "fairseq-generate", "fairseq-hydra-train", "biogpt-infer", "biogpt-extract",
            "biogpt-convert", "preprocess/pretrain.sh", "preprocess/finetune.sh", "bin/postprocess_rel.py"} <= kinds


def option_mentions():
    """Inline code made of options alone (`--decoder robust`): which command they belong to is in the prose."""
    mentions = []
    for document in DOCUMENTS:
        for number, span in inline_code(document.read_text()):
            if span.startswith("--") and span != "--help":
                mentions.append((f"{document.relative_to(REPO)}:{number}", span))
    return mentions


def fairseq_unknown(parser_name, words):
    """The options of `words` fairseq's parser leaves unknown, with the prompt task and model loaded."""
    from fairseq import options
    plugin_imported()
    base = ["DATA", "--user-dir", str(REPO / "biogpt_fairseq"), "--task", "language_modeling_prompt"]
    if parser_name == "get_training_parser":
        base += ["--arch", "transformer_lm_prompt_biogpt"]
    words = [word.strip("[]") for word in words if word.strip("[]") != "..."]
    if "--user-dir" in words:  # given above: the plugin's, never the prose's example
        at = words.index("--user-dir")
        del words[at:at + 2]
    # placeholders (N, T, a missing value) as a number, which every option that takes one accepts
    words = ["1" if re.fullmatch(r"[A-Z_]+", word) else word for word in words]
    if words and words[-1].startswith("-"):
        words.append("1")
    try:
        _, unknown = options.parse_args_and_arch(getattr(options, parser_name)(), input_args=[*base, *words],
                                                 parse_known=True)
    except SystemExit:  # a value fairseq refuses: every option counts as unknown to it
        return set(options_of(words))
    return {word.split("=", 1)[0] for word in unknown if word.startswith("-")}


@functools.lru_cache(maxsize=None)
def every_help():
    """The --help of every command of ours the documents speak of: the entry points, their
    subcommands, the scripts."""
    texts = []
    for command in sorted(BIN.glob("biogpt-*")):
        text = help_text(str(command))
        texts.append(text)
        if choices := re.search(r"\{([\w,-]+)\}", text):
            texts += [help_text(str(command), choice) for choice in choices.group(1).split(",")]
    texts += [shell_script_help(f"preprocess/{path.name}") for path in sorted((REPO / "preprocess").glob("*.sh"))]
    texts += [help_text(sys.executable, str(path)) for path in sorted((REPO / "bin").glob("*.py"))]
    return "\n".join(texts)


@pytest.mark.parametrize("where, span", option_mentions(), ids=lambda x: str(x))
def test_documented_option(where, span):
    words = span.split()
    unknown = fairseq_unknown("get_training_parser", words) & fairseq_unknown("get_generation_parser", words)
    unknown = [option for option in sorted(unknown) if not mentioned_in(option, every_help())]
    if unknown:  # the install paragraph names pip's own flags
        assert_options_in_help(f"{where}: `{span}`", unknown, help_text(sys.executable, "-m", "pip", "install"))


# Hydra settings named in prose: `group=option` or `group/option` of hydra_configs/, and overrides
# `section.key=value` (composed onto a pre-training and a fine-tuning config: one of them must take it).
HYDRA_GROUPS = sorted(path.name for path in CONFIG_DIR.iterdir() if path.is_dir())


def hydra_mentions():
    mentions = []
    for document in DOCUMENTS:
        for number, span in inline_code(document.read_text()):
            words = span.split()
            if all(re.fullmatch(rf"({'|'.join(HYDRA_GROUPS)})[=/][\w-]+", word) for word in words):
                mentions.append((f"{document.relative_to(REPO)}:{number}", "group", span))
            elif all(re.fullmatch(r"\+?[a-z_]+(\.[a-z_]+)+=\S+|\+?criterion=\w+", word) for word in words):
                mentions.append((f"{document.relative_to(REPO)}:{number}", "override", span))
    return mentions


@pytest.mark.parametrize("where, kind, span", hydra_mentions(), ids=lambda x: str(x))
def test_documented_hydra_setting(where, kind, span):
    if kind == "group":
        for word in span.split():
            group, option = re.split(r"[=/]", word)
            assert (CONFIG_DIR / group / f"{option}.yaml").is_file(), f"{where}: no hydra_configs/{group}/{option}.yaml"
        return
    errors = []
    for config_name, base in (("pretrain", ["pretrain=tiny_cpu"]), ("finetune", ["finetune=tiny_cpu"])):
        try:
            compose(config_name, [*base, "task.data=DATA", *span.split()])
            return
        except Exception as error:
            errors.append(f"{config_name}: {type(error).__name__}: {error}")
    pytest.fail(f"{where}: `{span}` composes onto neither config:\n" + "\n".join(errors))


def repository_paths():
    """Words of inline code and commands that name a file or folder of the repository."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        spans = [*inline_code(text), *shell_lines(text)]
        for number, span in spans:
            for word in re.findall(r"[\w./<>*-]+", span):
                if word.startswith(REPO_DIRS) and "..." not in word:
                    found.append((f"{document.relative_to(REPO)}:{number}", word.rstrip(".,:")))
    return sorted(set(found))


@pytest.mark.parametrize("where, path", repository_paths(), ids=lambda x: str(x))
def test_documented_path_exists(where, path):
    pattern = re.sub(r"<[^>]*>", "*", path)  # hydra_configs/finetune/<dataset>.yaml: some file
    assert list(REPO.glob(pattern.rstrip("/"))), f"{where}: {path} is not in the repository"


def github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.lru_cache(maxsize=None)
def anchors(path):
    seen, result = {}, set()
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and (match := re.match(r"#{1,6} (.*)", line)):
            anchor = github_anchor(match.group(1))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            result.add(anchor if count == 0 else f"{anchor}-{count}")
    return result


def local_links():
    links = []
    for document in LINKED:
        inside = False
        for number, line in enumerate(document.read_text().splitlines(), 1):
            if line.startswith("```"):
                inside = not inside
            elif not inside:
                for target in re.findall(r"\]\(([^)\s]+)\)", line):
                    if not re.match(r"[a-z]+:", target):
                        links.append((f"{document.relative_to(REPO)}:{number}", document, target))
    return links


@pytest.mark.parametrize("where, document, target", local_links(), ids=lambda x: str(x))
def test_link_resolves(where, document, target):
    file_part, _, anchor = target.partition("#")
    path = (document.parent / file_part).resolve() if file_part else document
    assert path.exists(), f"{where}: {target}: no file {path}"
    if anchor:
        assert anchor in anchors(path), f"{where}: {target}: no heading with anchor #{anchor} in {path.name}"
