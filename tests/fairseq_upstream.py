"""Do fairseq's own unit tests pass as well with the plugin loaded as without it?

Runs upstream fairseq's tests (facebookresearch/fairseq's tests/, at the
release the installed fork is based on, v0.12.2) against the *installed*
fairseq twice, each in a fresh process: once plain, once with
`import biogpt_fairseq.plugin` done first (the plugin's registrations and its
process-wide patches, runtime/fairseq_patches.py). Every test's outcome is
read from pytest's JUnit XML; the script prints the counts of both runs and
every test that passes in one run but not in the other.

    .venv/bin/python tests/fairseq_upstream.py FAIRSEQ [TEST ...] [-- PYTEST_ARG ...]

FAIRSEQ   a fairseq checkout, or its tests/ directory; for example
              git -C FAIRSEQ_GIT archive v0.12.2 tests | tar x -C DIR
TEST      test files or ids, relative to tests/ (`test_binaries.py::TestTranslation`);
          default: DEFAULT_TESTS below (generation, scoring, checkpoints, data
          and a few runs of the command-line tools: about 8 minutes in all on 2 cores)
PYTEST_ARG  passed to both runs (`-- -k "not fp16"`, `-- -x`)
--out DIR   keep both runs' logs and XML there (default: a temporary directory)

The tests directory is copied into an otherwise empty directory, which is
where both runs start: `import tests.utils` works and `import fairseq` is the
installed fork, never a source tree beside the tests. The environment is
passed unchanged, so BIOGPT_FAIRSEQ_PATCHES=0 compares registrations alone.
Tests that fail in both runs (no CUDA, optional packages, the fork's newer
torch/hydra) are not regressions.

Exit status: 0 when no test passes plain and fails (errors, is skipped or is
missing) with the plugin loaded, 1 otherwise.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

DEFAULT_TESTS = [
    # generation and scoring
    "test_sequence_generator.py", "test_sequence_scorer.py", "test_constraints.py",
    "test_lm_context_window.py",
    # checkpoints and training state
    "test_checkpoint_utils.py", "test_train.py", "test_file_io.py", "test_valid_subset_checks.py",
    # data
    "test_iterators.py", "test_data_utils.py", "test_dataset.py", "test_dictionary.py",
    "test_binarizer.py", "test_token_block_dataset.py", "test_concat_dataset.py",
    "test_multi_corpus_dataset.py", "test_resampling_dataset.py", "test_backtranslation_dataset.py",
    "test_noising.py", "test_utils.py", "test_metrics.py",
    # the command-line tools (fairseq-train, -generate, -eval-lm): checkpoints saved,
    # copied, resumed and loaded. The rest of test_binaries.py (translation, masked LM
    # and the other LM architectures: about a minute a test on 2 cores) is left out.
    "test_binaries.py::TestLanguageModeling::test_transformer_lm",
    "test_binaries.py::TestLanguageModeling::test_fconv_lm",
    "test_binaries.py::TestTranslation::test_generation",
    "test_binaries.py::TestStories", "test_binaries.py::TestOptimizers",
    "test_reproducibility.py",
]
PYTEST_ARGS = ["-p", "no:cacheprovider", "--continue-on-collection-errors", "-q", "-rfE"]
RUNNER = """import sys, pytest
if sys.argv.pop(1) == "plugin":
    import biogpt_fairseq.plugin
sys.exit(pytest.main(sys.argv[1:]))"""
WORST_FIRST = ["error", "failed", "skipped", "passed"]
JUNIT_TAGS = {"error": "error", "failure": "failed", "skipped": "skipped"}


def node_id(case) -> str:
    """pytest's id of a JUnit XML testcase (classname `tests.test_x.TestY`, name `test_z`)."""
    parts = (case.get("classname") or case.get("name")).split(".")
    module = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts) - 1)
    names = parts[module + 1:] + ([case.get("name")] if case.get("classname") else [])
    return "::".join(["/".join(parts[:module + 1]) + ".py", *names])


def outcomes(junit_xml: Path) -> dict:
    """{test id: (outcome, message)} from pytest's JUnit XML; a test reported twice
    (a failure, then an error in teardown) keeps its worst outcome."""
    results = {}
    if not junit_xml.exists():
        return results
    for case in ET.parse(junit_xml).iter("testcase"):
        test = node_id(case)
        found = [(JUNIT_TAGS[c.tag], c.get("message", "")) for c in case if c.tag in JUNIT_TAGS]
        outcome = min(found + [results.get(test, ("passed", ""))], key=lambda o: WORST_FIRST.index(o[0]))
        results[test] = outcome
    return results


def run(mode: str, root: Path, tests: list, pytest_args: list, out: Path) -> dict:
    xml = out / f"{mode}.xml"
    command = [sys.executable, "-c", RUNNER, mode, *PYTEST_ARGS, f"--junitxml={xml}", *pytest_args, *tests]
    start = time.time()
    with open(out / f"{mode}.log", "w") as log:
        code = subprocess.call(command, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    summary = (out / f"{mode}.log").read_text().strip().splitlines()[-1:]
    print(f"{mode:>6}: pytest exit {code} in {time.time() - start:.0f}s: {''.join(summary)}")
    return outcomes(xml)


def report(title: str, tests: list, plain: dict, plugin: dict) -> None:
    print(f"\n{title}: {len(tests)}")
    for test in tests:
        before, after = plain.get(test, ("missing", "")), plugin.get(test, ("missing", ""))
        message = (after if after[0] != "passed" else before)[1].split("\n")[0]
        print(f"  {test}: {before[0]} without the plugin, {after[0]} with it")
        if message:
            print(f"    {message[:300]}")


def main() -> int:
    argv = sys.argv[1:]
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fairseq", type=Path, help="a fairseq checkout or its tests/ directory")
    parser.add_argument("tests", nargs="*", default=DEFAULT_TESTS, help="test files or ids under tests/")
    parser.add_argument("--out", type=Path, help="keep the logs and JUnit XML of both runs here")
    args = parser.parse_args(argv)

    tests_dir = args.fairseq / "tests" if (args.fairseq / "tests").is_dir() else args.fairseq
    if not (tests_dir / "utils.py").exists():
        parser.error(f"{tests_dir} is not fairseq's tests directory (no utils.py)")
    tests = [t if t.startswith("tests/") else f"tests/{t}" for t in args.tests]

    with tempfile.TemporaryDirectory(prefix="fairseq_upstream_") as tmp:
        root, out = Path(tmp), args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(tests_dir, root / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        plain = run("plain", root, tests, pytest_args, out)
        plugin = run("plugin", root, tests, pytest_args, out)

    print(f"\n{'':>9}" + "".join(f"{o:>9}" for o in reversed(WORST_FIRST)))
    for mode, results in (("plain", plain), ("plugin", plugin)):
        counts = Counter(outcome for outcome, _ in results.values())
        print(f"{mode:>9}" + "".join(f"{counts[o]:>9}" for o in reversed(WORST_FIRST)))

    regressions = [t for t in plain if plain[t][0] == "passed" and plugin.get(t, ("missing",))[0] != "passed"]
    gains = [t for t in plugin if plugin[t][0] == "passed" and plain.get(t, ("missing",))[0] != "passed"]
    report("Pass without the plugin, not with it (regressions)", regressions, plain, plugin)
    report("Pass with the plugin, not without it", gains, plain, plugin)
    failing = [t for t in plain if {plain[t][0], plugin.get(t, ("",))[0]} <= {"failed", "error"}]
    report("Fail in both runs", failing, plain, plugin)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
