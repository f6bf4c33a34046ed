"""Pre-training data at scale: PubMed XML through preprocess/pretrain.sh (convert, Moses + BPE with the
released vocabulary, sharded fairseq-preprocess), 1x and 16x, for time per token and peak memory.

    .venv/bin/python bench/binarization.py [--replicate 16] [--workers 2] [--shards 4]

The 16x corpus is the MEDLINE excerpt given 16 times. Peak memory is the largest process of the
pipeline's (ru_maxrss of the children).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(xml: Path, copies: int, data: Path, out: Path, workers: int, shards: int) -> dict:
    """Run the pipeline in a fresh child and report its time, tokens and the peak RSS of its processes."""
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    command = [sys.executable, "-c", script, str(REPO / "preprocess" / "pretrain.sh"), str(out), *[str(xml)] * copies,
               "--bpe-codes", str(data / "biogpt" / "bpecodes"), "--dict", str(data / "biogpt" / "dict.txt"),
               "--workers", str(workers), "--shards", str(shards)]
    start = time.perf_counter()
    peak_kb = int(subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1])
    elapsed = time.perf_counter() - start
    tokens = sum(len(line.split()) + 1 for line in open(out / "corpus.bpe", encoding="utf-8"))
    return {"seconds": elapsed, "tokens": tokens, "us_per_token": 1e6 * elapsed / tokens, "peak_mb": peak_kb / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--replicate", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    data = Path(args.data)
    xml = data / "pubmed" / "medline16n0902.xml.gz"
    with tempfile.TemporaryDirectory() as tmp:
        for copies in (1, args.replicate):
            result = run(xml, copies, data, Path(tmp) / f"x{copies}", args.workers, args.shards)
            print(f"preprocess/pretrain.sh, {copies}x MEDLINE excerpt: {result['tokens']:,} tokens in "
                  f"{result['seconds']:.1f} s, {result['us_per_token']:.2f} us/token, peak {result['peak_mb']:.0f} MB",
                  flush=True)


if __name__ == "__main__":
    main()
