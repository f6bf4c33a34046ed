"""Binarize a BPE'd corpus into fairseq shards for pre-training.

    python -m biogpt_fairseq.data.shards CORPUS.bpe --dict dict.txt --out data-bin --shards N

Every K-th document (--valid-every) goes to the validation set; the others
are dealt round-robin to N training shards, in one streaming pass. Each shard
is binarized by `fairseq-preprocess --only-source --srcdict` into
data-bin/shard0, data-bin/shard1, ..., so that

    fairseq-train data-bin/shard0:data-bin/shard1:...

walks one shard per epoch, as PubMed-scale corpora need. The validation set is
binarized once, into shard0 (fairseq reads validation data from the first
path). The output appears under its final name only once complete.
"""
import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from biogpt_fairseq.textio import UserError, read_lines, run_cli


def split_corpus(corpus: str, workdir: Path, shards: int, valid_every: int) -> dict:
    """Write workdir/{valid,train0,...}; return counts per output and of skipped empty lines."""
    counts = {"valid": 0, "empty_skipped": 0, **{f"train{i}": 0 for i in range(shards)}}
    with contextlib.ExitStack() as stack:
        def open_out(name):
            return stack.enter_context(open(workdir / name, "w", encoding="utf-8", newline="\n"))

        valid = open_out("valid") if valid_every else None
        train = [open_out(f"train{i}") for i in range(shards)]
        n_train = 0
        for lineno, line in read_lines(corpus):
            if not line.strip():  # an empty document would train on a bare end-of-sentence
                counts["empty_skipped"] += 1
                continue
            if valid is not None and (lineno - 1) % valid_every == 0:
                valid.write(line + "\n")
                counts["valid"] += 1
            else:
                train[n_train % shards].write(line + "\n")
                counts[f"train{n_train % shards}"] += 1
                n_train += 1
    return counts


def binarize(text_prefix: Path, split: str, dictionary: str, destdir: Path, workers: int) -> None:
    command = [
        str(Path(sys.executable).parent / "fairseq-preprocess"), "--only-source", "--srcdict", dictionary,
        f"--{split}pref", str(text_prefix), "--destdir", str(destdir), "--workers", str(workers),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"fairseq-preprocess failed on {text_prefix}:\n{result.stderr[-2000:]}")


def build_shards(corpus: str, dictionary: str, out: str, shards: int, valid_every: int, workers: int) -> dict:
    for path in (corpus, dictionary):
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such file")
    if shards < 1:
        raise UserError("--shards must be at least 1")
    partial = Path(f"{out}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "text").mkdir(parents=True)
    counts = split_corpus(corpus, partial / "text", shards, valid_every)
    if min(counts[f"train{i}"] for i in range(shards)) == 0:
        raise UserError(f"{corpus}: too few documents for {shards} shards ({counts})")
    for i in range(shards):
        binarize(partial / "text" / f"train{i}", "train", dictionary, partial / f"shard{i}", workers)
    if counts["valid"]:
        binarize(partial / "text" / "valid", "valid", dictionary, partial / "shard0", workers)
    shutil.rmtree(partial / "text")
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(partial, out)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="BPE'd corpus, one document per line")
    parser.add_argument("--dict", required=True, help="fairseq dictionary (dict.txt)")
    parser.add_argument("--out", required=True, help="output directory (holds shard0, shard1, ...)")
    parser.add_argument("--shards", type=int, default=1, help="number of training shards")
    parser.add_argument("--valid-every", type=int, default=100,
                        help="every K-th document goes to validation (0: no validation set)")
    parser.add_argument("--workers", type=int, default=1, help="fairseq-preprocess workers")
    args = parser.parse_args(argv)
    counts = build_shards(args.corpus, args.dict, args.out, args.shards, args.valid_every, args.workers)
    train = ", ".join(str(counts[f"train{i}"]) for i in range(args.shards))
    print(f"shards: {counts['valid']} validation documents, training shards of {train} documents, "
          f"{counts['empty_skipped']} empty lines skipped -> {args.out}", file=sys.stderr)
    paths = ":".join(os.path.join(args.out, f"shard{i}") for i in range(args.shards))
    print(f"shards: train with  fairseq-train {paths} ...", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
