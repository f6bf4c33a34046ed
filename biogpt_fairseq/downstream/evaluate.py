"""Score decoded predictions with the original release's scorers.

    biogpt-evaluate [DATASET] PREDICTIONS [--data-bin DIR] [--split test] [--gold FILE]
    bin/evaluate.py ... (the same)

PREDICTIONS: biogpt-postprocess output (JSON lines; for bc5cdr also a PubTator
file of CID lines, as the original writes). GOLD (default: the split's, from
the data directory's manifest): bc5cdr, the official PubTator file; ddi and
kd-dti, the split's raw JSON; pubmedqa and hoc, the split's tsv.

Prints one JSON object of the original's figures under its names and on its
scale (fractions: the paper's percentages divided by 100; NaN as null) on
stdout, and the report as the original prints it on stderr.
"""
import argparse
import json
import math
import sys
from pathlib import Path

from biogpt_fairseq.downstream import DATASETS
from biogpt_fairseq.downstream import manifest as manifest_file
from biogpt_fairseq.downstream.postprocess import dataset_and_file, resolve_dataset
from biogpt_fairseq.downstream.scoring import cid_relations, read_cid_relations
from biogpt_fairseq.textio import UserError, read_lines, run_cli


def is_pubtator(path: str) -> bool:
    """Predictions as the original's BC5CDR postprocess writes them (CID lines), not JSON lines."""
    first = next((line for _, line in read_lines(path) if line.strip()), "")
    return bool(first) and not first.lstrip().startswith("{")


def read_predictions(path: str, spec) -> list:
    rows = []
    for lineno, line in read_lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{lineno}: invalid JSON: {err.msg}") from None
        for field in (["pmid"] if spec.writes_ids else []) + [spec.kind]:
            if field not in row:
                raise UserError(f"{path}:{lineno}: no {field!r} (was it decoded for another dataset?)")
        rows.append(row)
    return rows


def report_coverage(spec, predicted: set, gold: Path, predictions_path: str) -> None:
    """What the original's scorers pass over in silence: predictions for documents the gold does not
    have (counted as missing, or dropped) and gold documents without a prediction (left out)."""
    with_gold = spec.gold_documents(gold)
    if with_gold is None:
        return
    unknown, uncovered = predicted - with_gold, with_gold - predicted
    if unknown:
        print(f"evaluate: {len(unknown)} predicted document(s) without a gold relation in {gold} (e.g. "
              f"{', '.join(sorted(unknown)[:3])}): predictions of another split, or misaligned ids? The "
              "original's scorer counts them as missing, or drops them", file=sys.stderr)
    if uncovered:
        print(f"evaluate: {len(uncovered)} of the {len(with_gold)} documents with gold relations in {gold} have no "
              f"prediction in {predictions_path}: the original's scorer leaves them out", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("positional", nargs="*", metavar="[DATASET] PREDICTIONS",
                        help=f"dataset ({', '.join(sorted(DATASETS))} or a definition file; default: the --data-bin manifest's) and "
                             "the decoded predictions")
    parser.add_argument("--pred", help="the predictions (instead of the positional PREDICTIONS)")
    parser.add_argument("--data-bin", help="the fine-tuning data directory (its manifest names the gold files)")
    parser.add_argument("--split", default="test", help="the split the predictions are of (default: test)")
    parser.add_argument("--gold", help="the gold file (default: the split's, from the manifest)")
    parser.add_argument("--classes", default="original", choices=["original", "hallmarks"],
                        help="hoc: 'original' scores the ten hallmarks and `empty` (the original's 11 classes); "
                             "'hallmarks' the ten hallmarks only")
    parser.add_argument("--data", help="the data mirror, if it moved since the data were built")
    args = parser.parse_args(argv)
    dataset, predictions_path = dataset_and_file(args.positional + ([args.pred] if args.pred else []), "PREDICTIONS")
    spec, manifest = resolve_dataset(dataset, args.data_bin)
    gold = args.gold
    if gold is None:
        if manifest is None:
            raise UserError("give --gold, or --data-bin (whose manifest says where the gold files are)")
        if args.split not in spec.gold_files:
            raise UserError(f"{spec.name} has no gold file for split {args.split!r}")
        gold = manifest_file.raw_dir(manifest, args.data) / spec.gold_files[args.split]
    if not Path(gold).is_file():
        raise UserError(f"{gold}: no such file")
    if spec.name == "bc5cdr" and is_pubtator(predictions_path):
        relations = read_cid_relations(Path(predictions_path))
        figures, predicted = cid_relations(relations, Path(gold)), {pmid for pmid, _, _ in relations}
    else:
        predictions = read_predictions(predictions_path, spec)
        figures, predicted = spec.score(predictions, Path(gold), classes=args.classes), {p.get("pmid") for p in predictions}
    report_coverage(spec, predicted, Path(gold), predictions_path)
    print(spec.report(figures), file=sys.stderr)
    print(json.dumps({"dataset": spec.name, **{k: None if isinstance(v, float) and math.isnan(v) else v
                                                for k, v in figures.items()}}))
    return 0


if __name__ == "__main__":
    run_cli(main)
