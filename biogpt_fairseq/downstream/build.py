"""A downstream dataset's raw files to line-aligned source/target text, as the original builds them.

    biogpt-build DATASET --data DATA_MIRROR --out DIR [--splits ...] [--variant NAME]

writes DIR/{split}.x (source), DIR/{split}.y (target), DIR/{split}.pmid for
the datasets the original gives ids (BC5CDR, DDI, KD-DTI), aligned line by
line, and DIR/manifest.json. The texts are the original `rebuild_data.py`'s
(with any line break inside a record made a space, so the files stay aligned). As in the original, documents without any gold relation are left out,
counted and reported.
"""
import argparse
import re
import sys
from pathlib import Path

from biogpt_fairseq.downstream import DATASETS, get_dataset
from biogpt_fairseq.downstream import manifest as manifest_file
from biogpt_fairseq.textio import UserError, atomic_output, run_cli


# What ends a line for one tool or another (Python's str.splitlines, fairseq's readers): inside a
# record, it would shift every later line of the split.
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """The text with its line breaks made spaces (and nothing else changed)."""
    return LINE_BREAKS.sub(" ", text)


def build_split(spec, raw_dir: Path, split: str, out: Path, variant: str) -> dict:
    counts = {"written": 0, "skipped_no_gold": 0, "empty_source": 0}
    sides = ["x", "y"] + (["pmid"] if spec.writes_ids else [])
    with atomic_output(str(out / f"{split}.x")) as x, atomic_output(str(out / f"{split}.y")) as y, \
            atomic_output(str(out / f"{split}.pmid")) if spec.writes_ids else open("/dev/null", "w") as ids:
        for example in spec.examples(raw_dir, split, variant):
            if not example.target:
                counts["skipped_no_gold"] += 1
                continue
            counts["empty_source"] += not example.source.strip()  # kept, as the original keeps it
            x.write(one_line(example.source) + "\n")
            y.write(one_line(example.target) + "\n")
            ids.write(example.id.strip() + "\n")
            counts["written"] += 1
    counts["files"] = [f"{split}.{side}" for side in sides]
    return counts


def build(name: str, data: Path, out: Path, splits=None, variant: str = "default") -> dict:
    spec = get_dataset(name)
    variant = spec.check_variant(variant if variant != "default" else next(iter(spec.variants)))
    data = Path(data).resolve()
    raw_dir = data / spec.folder / "raw"
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: no such directory (is --data the data mirror?)")
    record = {"dataset": name, "variant": variant, "data": str(data), "folder": spec.folder, "splits": {}}
    for split in splits or list(spec.raw_files):
        raw_file = spec.raw_path(raw_dir, split)
        counts = build_split(spec, raw_dir, split, Path(out), variant)
        note = "" if raw_file.name == spec.raw_files[split] else f" (no {spec.raw_files[split]}: built from {raw_file.name})"
        print(f"build {name} {split}: {counts['written']} examples from {raw_file}{note}, "
              f"{counts['skipped_no_gold']} documents without gold skipped"
              + (f", {counts['empty_source']} with an empty source kept" if counts["empty_source"] else "")
              + f" -> {out}/{split}.{{{','.join(f.rsplit('.', 1)[1] for f in counts['files'])}}}", file=sys.stderr)
        record["splits"][split] = {"raw": raw_file.name, "gold": spec.gold_files.get(split),
                                   "examples": counts["written"], "skipped_no_gold": counts["skipped_no_gold"]}
    manifest_file.write(Path(out), record)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(DATASETS), help="downstream dataset")
    parser.add_argument("--data", required=True, help="the data mirror (holds BC5CDR/raw, DDI/raw, ...)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--splits", nargs="+", help="splits to build (default: all of the dataset's)")
    parser.add_argument("--variant", default="default",
                        help="relation datasets: the target form, 'rel-is' (the original's) or 'is-of' (ddi, kd-dti); "
                             "pubmedqa: 'reasoning-free' (the original's) or 'reasoning-required'")
    args = parser.parse_args(argv)
    build(args.dataset, Path(args.data), Path(args.out), args.splits, args.variant)
    return 0


if __name__ == "__main__":
    run_cli(main)
