"""Learn a BioGPT-style vocabulary: fastBPE codes, then a fairseq dictionary.

    python -m biogpt_fairseq.data.vocab learn-bpe CORPUS.tok --merges 40000 -o bpecodes
    python -m biogpt_fairseq.data.vocab build-dict CORPUS.bpe -o dict.txt

learn-bpe runs fastBPE's own learner on Moses-tokenized text (the paper:
40k merges on PubMed gave 42,384 types); build-dict counts the BPE'd corpus
with `fairseq-preprocess --dict-only`, so the dictionary is exactly what
fairseq itself would build.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from biogpt_fairseq.textio import UserError, atomic_output, read_lines, run_cli


def fastbpe_binary() -> str:
    """fastBPE's command-line tool, built by `make install` next to the interpreter."""
    beside = Path(sys.executable).parent / "fast"
    found = str(beside) if beside.exists() else shutil.which("fast")
    if not found:
        raise UserError("fastBPE's 'fast' tool not found: run `make install` (it builds .venv/bin/fast)")
    return found


def learn_bpe(corpus: str, merges: int, out: str) -> int:
    """Write up to `merges` codes learned on `corpus` to `out`; return how many were learned."""
    # fastBPE crashes on a corpus without words: check first, naming the file.
    if not any(line.strip() for _, line in read_lines(corpus)):
        raise UserError(f"{corpus}: no words to learn BPE codes from")
    learner = subprocess.run(
        [fastbpe_binary(), "learnbpe", str(merges), corpus], capture_output=True, text=True, encoding="utf-8"
    )
    if learner.returncode != 0:
        raise UserError(f"fastBPE learnbpe failed on {corpus}: {learner.stderr.strip()[-500:]}")
    learned = 0
    with atomic_output(out) as handle:
        for line in learner.stdout.splitlines():
            # Once no pair is left, fastBPE pads its output with bogus zero-count merges.
            if line.endswith(" 0"):
                break
            handle.write(line + "\n")
            learned += 1
    return learned


def build_dict(bpe_corpus: str, out: str, workers: int = 1) -> int:
    """Build the fairseq dictionary of `bpe_corpus` into `out`; return its number of entries."""
    if not os.path.exists(bpe_corpus):
        raise UserError(f"{bpe_corpus}: no such file")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "fairseq-preprocess"), "--only-source", "--dict-only",
             "--trainpref", bpe_corpus, "--destdir", tmp, "--workers", str(workers)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise UserError(f"fairseq-preprocess --dict-only failed on {bpe_corpus}:\n{result.stderr[-2000:]}")
        with atomic_output(out) as handle, open(os.path.join(tmp, "dict.txt"), encoding="utf-8") as built:
            shutil.copyfileobj(built, handle)
    with open(out, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    learn = commands.add_parser("learn-bpe", help="learn fastBPE codes on Moses-tokenized text")
    learn.add_argument("corpus", help="Moses-tokenized text (python -m biogpt_fairseq.data.tokenize without --bpe-codes)")
    learn.add_argument("--merges", type=int, default=40000, help="number of merges (BioGPT: 40000)")
    learn.add_argument("-o", "--output", required=True, help="codes file to write")
    build = commands.add_parser("build-dict", help="build the fairseq dictionary of a BPE'd corpus")
    build.add_argument("corpus", help="BPE'd text")
    build.add_argument("-o", "--output", required=True, help="dict.txt to write")
    build.add_argument("--workers", type=int, default=1, help="fairseq-preprocess workers")
    args = parser.parse_args(argv)
    if args.command == "learn-bpe":
        learned = learn_bpe(args.corpus, args.merges, args.output)
        note = "" if learned == args.merges else f" (asked for {args.merges}: the corpus has no more pairs)"
        print(f"vocab: learned {learned} BPE merges{note} -> {args.output}", file=sys.stderr)
    else:
        size = build_dict(args.corpus, args.output, args.workers)
        print(f"vocab: dictionary of {size} types (+4 specials) -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
