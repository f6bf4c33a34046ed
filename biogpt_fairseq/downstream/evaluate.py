"""Score decoded predictions as the original evaluators do.

    bin/evaluate.py TASK --pred OUT.jsonl --gold GOLD [--variant original|hallmarks]

GOLD: bc5cdr, the official PubTator file (CDR_TestSet.PubTator.txt); ddi and
kd-dti, the split's raw JSON; pubmedqa and hoc, the split's tsv. Prints one
JSON object of metrics.
"""
import argparse
import json
import sys
from pathlib import Path

from biogpt_fairseq.downstream import TASKS, get_task
from biogpt_fairseq.textio import UserError, read_lines, run_cli


def read_predictions(path: str, key: str) -> list:
    predictions = []
    for lineno, line in read_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{lineno}: invalid JSON: {err.msg}") from None
        for field in ("pmid", key):
            if field not in record:
                raise UserError(f"{path}:{lineno}: no {field!r} (was it decoded for another task?)")
        predictions.append(record)
    return predictions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS), help="downstream task")
    parser.add_argument("--pred", required=True, help="postprocess_rel.py output (JSON lines)")
    parser.add_argument("--gold", required=True, help="gold file (see above)")
    parser.add_argument("--variant", default="original", choices=["original", "hallmarks"],
                        help="hoc: 'original' counts `empty` as a class (the original's definition); "
                             "'hallmarks' scores the 10 hallmarks only")
    args = parser.parse_args(argv)
    task = get_task(args.task)
    if not Path(args.gold).is_file():
        raise UserError(f"{args.gold}: no such file")
    metrics = task.evaluate(read_predictions(args.pred, task.output_key), Path(args.gold), variant=args.variant)
    print(json.dumps({"task": args.task, **metrics}))
    if metrics.get("n_documents_without_prediction"):
        print(f"evaluate: {metrics['n_documents_without_prediction']} of the {metrics['n_documents']} documents with "
              f"gold relations in {args.gold} have no prediction in {args.pred} (scored as predicting nothing)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
