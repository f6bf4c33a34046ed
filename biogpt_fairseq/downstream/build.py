"""Raw downstream data to line-aligned source/target text.

    python -m biogpt_fairseq.downstream.build TASK --data DATA_MIRROR --out DIR [--splits ...]

writes DIR/{split}.x (source), DIR/{split}.y (target) and DIR/{split}.pmid
(the record's PMID or id), aligned line by line. As in the original release,
documents without any gold triple are left out (DDI has such documents), and
so are records without text; they are counted and reported, never silently
lost.
"""
import argparse
import sys
from pathlib import Path

from biogpt_fairseq.downstream import TASKS, get_task
from biogpt_fairseq.textio import UserError, atomic_output, run_cli


def one_line(text: str, what: str) -> str:
    """Text as one line: a newline inside a record would shift every later line of the split."""
    return " ".join(text.split()) if what != "id" else text.strip()


def build_split(task, raw_dir: Path, split: str, out: Path) -> dict:
    counts = {"written": 0, "skipped_no_gold": 0, "skipped_no_text": 0}
    with atomic_output(str(out / f"{split}.x")) as x, atomic_output(str(out / f"{split}.y")) as y, \
            atomic_output(str(out / f"{split}.pmid")) as ids:
        for example in task.examples(raw_dir, split):
            if not example.target:
                counts["skipped_no_gold"] += 1
                continue
            if not example.source.strip():  # e.g. a record with an empty abstract: nothing to read
                counts["skipped_no_text"] += 1
                continue
            x.write(one_line(example.source, "source") + "\n")
            y.write(one_line(example.target, "target") + "\n")
            ids.write(one_line(example.id, "id") + "\n")
            counts["written"] += 1
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS), help="downstream task")
    parser.add_argument("--data", required=True, help="the data mirror (holds BC5CDR/raw, DDI/raw, ...)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--splits", nargs="+", help="splits to build (default: all of the task's)")
    parser.add_argument("--form", help="relation tasks: target sentence form, 'rel-is' (default) or 'is-of' (ddi, kd-dti)")
    args = parser.parse_args(argv)
    task = get_task(args.task, args.form)
    raw_dir = Path(args.data) / task.dataset / "raw"
    if not raw_dir.is_dir():
        raise UserError(f"{raw_dir}: no such directory (is --data the data mirror?)")
    for split in args.splits or list(task.raw_splits):
        counts = build_split(task, raw_dir, split, Path(args.out))
        print(f"build {args.task} {split}: {counts['written']} examples, "
              f"{counts['skipped_no_gold']} documents without gold and {counts['skipped_no_text']} without text "
              f"skipped -> {args.out}/{split}.{{x,y,pmid}}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
