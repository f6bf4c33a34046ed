"""Mining throughput: `biogpt-extract` over several PubMed XML files in one process against the same
job on a local Ray instance (1 and 2 workers), and what Ray itself costs on a small job.

    .venv/bin/python bench/mining.py --model CHECKPOINT --data-bin DIR [--data ../shared/data]
                                     [--files 4] [--max-new-tokens 32] [--rounds 1]

The PubMed XML excerpt is split into --files gzipped files of whole citations (in a temporary
directory). Each run is the command a user types, timed from start to exit (imports, model loading,
Ray's start included); abstracts per second and new tokens per second are the whole job's, the new
tokens counted by the engines (the manifest's per-file figures). Every Ray run's outputs are checked
byte for byte against the single-process run's. The small job: one file of 16 citations, where
the difference between the two is Ray's start, its actors' start and its scheduling.
"""
import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXTRACT = Path(sys.executable).parent / "biogpt-extract"


def split_pubmed(source: Path, out: Path, files: int, limit: int = 0) -> list:
    """The excerpt's citations (the first `limit`, or all) in `files` gzipped files of about equal size."""
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        text = handle.read()
    starts = [match.start() for match in re.finditer("<MedlineCitation ", text)]
    ends = starts[1:] + [text.index("</MedlineCitationSet>")]
    citations = [text[s:e] for s, e in zip(starts, ends)][:limit or None]
    per_file, paths = -(-len(citations) // files), []
    for number in range(files):
        path = out / f"pubmed{number:02d}.xml.gz"
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text[:starts[0]] + "".join(citations[number * per_file:(number + 1) * per_file])
                         + "</MedlineCitationSet>\n")
        paths.append(path)
    return paths


def mine(args, inputs, out: Path, *options) -> dict:
    """One timed run of the command: wall seconds, documents, new tokens."""
    command = [str(EXTRACT), args.model, *map(str, inputs), "--out", f"{out}/", "--data-bin", args.data_bin,
               "--max-new-tokens", str(args.max_new_tokens), "--no-progress", *options]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    files = json.loads((out / "manifest.json").read_text())["files"].values()
    return {"seconds": seconds, "documents": sum(f["documents"] for f in files),
            "new_tokens": sum(f["new_tokens"] for f in files)}


def outputs(out: Path) -> dict:
    return {path.name: path.read_bytes() for path in out.iterdir() if path.name != "manifest.json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a fine-tuned checkpoint")
    parser.add_argument("--data-bin", required=True, help="its dictionary and BPE codes")
    parser.add_argument("--data", default=os.environ.get("BIOGPT_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--files", type=int, default=4, help="files the excerpt is split into")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each setting, interleaved (the median)")
    args = parser.parse_args()
    cores = os.cpu_count()
    settings = {"single process": [], "Ray, 1 worker": ["--ray", "--workers", "1"],
                f"Ray, {min(2, cores)} workers": ["--ray", "--workers", str(min(2, cores))]}
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        (temp / "in").mkdir()
        (temp / "small").mkdir()
        inputs = split_pubmed(Path(args.data) / "pubmed" / "medline16n0902.xml.gz", temp / "in", args.files)
        small = split_pubmed(Path(args.data) / "pubmed" / "medline16n0902.xml.gz", temp / "small", 1, limit=16)
        runs = {name: [] for name in settings}
        overhead = {"single process": [], "Ray": []}
        for round_ in range(args.rounds):
            for name, options in settings.items():
                out = temp / f"out{round_}-{name.replace(' ', '_').replace(',', '')}"
                runs[name].append(mine(args, inputs, out, *options))
                if outputs(out) != outputs(temp / f"out{round_}-single_process"):
                    sys.exit(f"{name}: outputs differ from the single-process run's")
                print(f"{name}: {runs[name][-1]}", file=sys.stderr, flush=True)
            for name, options in (("single process", []), ("Ray", ["--ray", "--workers", "1"])):
                out = temp / f"small{round_}-{name.replace(' ', '_')}"
                overhead[name].append(mine(args, small, out, *options)["seconds"])
    print(f"{len(inputs)} files, {runs['single process'][0]['documents']} abstracts, "
          f"{runs['single process'][0]['new_tokens']} new tokens; {cores} cores; median of {args.rounds}")
    print("| run | wall s | abstracts/s | new tokens/s | vs single process |\n|---|---|---|---|---|")
    single = statistics.median(r["seconds"] for r in runs["single process"])
    for name, measured in runs.items():
        seconds = statistics.median(r["seconds"] for r in measured)
        print(f"| {name} | {seconds:.1f} | {measured[0]['documents'] / seconds:.2f} | "
              f"{measured[0]['new_tokens'] / seconds:.1f} | {single / seconds:.2f}x |")
    small_single, small_ray = (statistics.median(overhead[n]) for n in ("single process", "Ray"))
    print(f"small job (16 abstracts): single process {small_single:.1f} s, Ray (1 worker) {small_ray:.1f} s: "
          f"Ray's own cost {small_ray - small_single:.1f} s")


if __name__ == "__main__":
    main()
