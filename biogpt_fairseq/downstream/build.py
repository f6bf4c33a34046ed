"""A downstream dataset's raw files to line-aligned source/target text, as the original builds them.

    biogpt-build DATASET --data DATA_MIRROR --out DIR [--splits ...] [--variant NAME]
    biogpt-build DEFINITION.yaml --out DIR           (a dataset of your own files: custom.py)

writes DIR/{split}.x (source), DIR/{split}.y (target), DIR/{split}.pmid for
the datasets the original gives ids (BC5CDR, DDI, KD-DTI, and datasets of your
own files), aligned line by line, and DIR/manifest.json. The texts are the
original `rebuild_data.py`'s (with any line break inside a record made a
space, so the files stay aligned). As in the original, documents without any
gold relation are left out, counted and reported; so are records of your own
files that cannot be used (each named by file and line).
"""
import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Optional

from biogpt_fairseq.downstream import DATASETS, resolve
from biogpt_fairseq.downstream import manifest as manifest_file
from biogpt_fairseq.downstream.spec import Problem
from biogpt_fairseq.textio import UserError, atomic_output, run_cli


# What ends a line for one tool or another (Python's str.splitlines, fairseq's readers): inside a
# record, it would shift every later line of the split.
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """The text with its line breaks made spaces (and nothing else changed)."""
    return LINE_BREAKS.sub(" ", text)


SHOWN_PER_REASON = 5  # problems listed by position; the rest are counted


def build_split(spec, raw_dir: Path, split: str, out: Path, variant: str) -> dict:
    counts = {"written": 0, "skipped_no_gold": 0, "empty_source": 0}
    problems = Counter()
    sides = ["x", "y"] + (["pmid"] if spec.writes_ids else [])
    with atomic_output(str(out / f"{split}.x")) as x, atomic_output(str(out / f"{split}.y")) as y, \
            atomic_output(str(out / f"{split}.pmid")) if spec.writes_ids else open("/dev/null", "w") as ids:
        for example in spec.examples(raw_dir, split, variant):
            if isinstance(example, Problem):
                problems[example.reason] += 1
                if problems[example.reason] <= SHOWN_PER_REASON:
                    print(f"build {spec.name} {split}: {example.where}: {example.reason}: {example.detail}",
                          file=sys.stderr)
                continue
            if not example.target:
                counts["skipped_no_gold"] += 1
                continue
            counts["empty_source"] += not example.source.strip()  # kept, as the original keeps it
            x.write(one_line(example.source) + "\n")
            y.write(one_line(example.target) + "\n")
            ids.write(one_line(example.id).strip() + "\n")
            counts["written"] += 1
    counts["files"] = [f"{split}.{side}" for side in sides]
    counts["problems"] = dict(problems)
    return counts


def build(name: str, data: Optional[Path], out: Path, splits=None, variant: str = "default") -> dict:
    spec = resolve(name)
    variant = spec.check_variant(variant if variant != "default" else next(iter(spec.variants)))
    if spec.definition:
        raw_dir = Path(spec.definition["root"])
        record = {"dataset": spec.name, "variant": variant, "definition": spec.definition, "splits": {}}
    else:
        if data is None:
            raise UserError(f"{name}: give --data, the data mirror")
        data = Path(data).resolve()
        raw_dir = data / spec.folder / "raw"
        if not raw_dir.is_dir():
            raise UserError(f"{raw_dir}: no such directory (is --data the data mirror?)")
        record = {"dataset": name, "variant": variant, "data": str(data), "folder": spec.folder, "splits": {}}
    for split in splits or list(spec.raw_files):
        raw_file = spec.raw_path(raw_dir, split)
        counts = build_split(spec, raw_dir, split, Path(out), variant)
        note = "" if raw_file.name == Path(spec.raw_files[split]).name else f" (no {spec.raw_files[split]}: built from {raw_file.name})"
        problems = "".join(f", {n} {reason}" for reason, n in counts["problems"].items())
        print(f"build {spec.name} {split}: {counts['written']} examples from {raw_file}{note}, "
              f"{counts['skipped_no_gold']} documents without gold skipped"
              + (f", {counts['empty_source']} with an empty source kept" if counts["empty_source"] else "")
              + problems
              + f" -> {out}/{split}.{{{','.join(f.rsplit('.', 1)[1] for f in counts['files'])}}}", file=sys.stderr)
        record["splits"][split] = {"raw": raw_file.name, "gold": spec.gold_files.get(split),
                                   "examples": counts["written"], "skipped_no_gold": counts["skipped_no_gold"]}
        if counts["problems"]:
            record["splits"][split]["problems"] = counts["problems"]
    manifest_file.write(Path(out), record)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help=f"a paper dataset ({', '.join(sorted(DATASETS))}) or a definition file of "
                                         "your own (.yaml or .json: see docs/own-data.md)")
    parser.add_argument("--data", help="the data mirror (holds BC5CDR/raw, DDI/raw, ...), for the paper's datasets")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--splits", nargs="+", help="splits to build (default: all of the dataset's)")
    parser.add_argument("--variant", default="default",
                        help="relation datasets: the target form, 'rel-is' (the original's) or 'is-of' (ddi, kd-dti); "
                             "pubmedqa: 'reasoning-free' (the original's) or 'reasoning-required'")
    args = parser.parse_args(argv)
    build(args.dataset, args.data and Path(args.data), Path(args.out), args.splits, args.variant)
    return 0


if __name__ == "__main__":
    run_cli(main)
