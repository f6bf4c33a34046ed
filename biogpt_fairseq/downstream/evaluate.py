"""Score decoded predictions with the original release's scorers.

    biogpt-evaluate [DATASET] PREDICTIONS [--data-bin DIR] [--split test] [--gold FILE] [--pmids FILE]
    bin/evaluate.py ... (the same)

PREDICTIONS: biogpt-postprocess output (JSON lines), or the original
postprocess's own file, which its scorers read (bc5cdr: CID lines; ddi and
kd-dti: its `.json`, with the ids from --data-bin or --pmids; pubmedqa and
hoc: its `.txt`). GOLD (default: the split's, from the data directory's
manifest): bc5cdr, the official PubTator file; ddi and kd-dti, the split's raw
JSON; pubmedqa and hoc, the split's tsv.

Prints one JSON object of the original's figures under its names and on its
scale (fractions: the paper's percentages divided by 100; NaN as null) on
stdout, and on stderr what the original's scorer prints (its `====File:` line,
then the report). For ddi and kd-dti it also writes the original scorer's
per-document results beside PREDICTIONS, under its name (PREDICTIONS up to its
last `.json`, then `.eval_res.json`).
"""
import argparse
import json
import math
import sys
from pathlib import Path
from typing import Optional

from biogpt_fairseq.downstream import DATASETS
from biogpt_fairseq.downstream import manifest as manifest_file
from biogpt_fairseq.downstream.postprocess import aligned_file, dataset_and_file, resolve_dataset
from biogpt_fairseq.downstream.spec import add_spec_options, spec_options
from biogpt_fairseq.textio import UserError, atomic_output, read_lines, run_cli


def read_predictions(path: str, spec, ids_path: Optional[str]) -> list:
    """The rows of biogpt-postprocess's JSON lines, or of the original postprocess's own file (DDI's and
    KD-DTI's `.json`, PubMedQA's and HoC's `.txt`: what the original's scorers read), whose rows take
    their ids from `ids_path`, as the original's scorer takes them from its third argument."""
    lines = list(read_lines(path))
    first = next((line for _, line in lines if line.strip()), "")
    try:
        head = json.loads(first)
    except (json.JSONDecodeError, RecursionError):
        head = None
    ours = isinstance(head, dict) and "triple_list_pred" not in head  # (the original's rows of triples)
    rows = []
    for lineno, line in lines:
        try:
            row = json.loads(line) if ours else spec.original_row(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{lineno}: invalid JSON: {err.msg}") from None
        except RecursionError:
            raise UserError(f"{path}:{lineno}: invalid JSON: nested deeper than the parser allows") from None
        except (KeyError, TypeError, AttributeError):
            raise UserError(f"{path}:{lineno}: neither a row of biogpt-postprocess nor of the original's "
                            f"postprocess for {spec.name}") from None
        for field in (["pmid"] if spec.writes_ids and ours else []) + [spec.kind]:
            if field not in row:
                raise UserError(f"{path}:{lineno}: no {field!r} (was it decoded for another dataset?)")
        rows.append(row)
    if spec.writes_ids and not ours:
        if ids_path is None:
            raise UserError(f"{path} is the original postprocess's file, whose rows carry no ids: give --data-bin "
                            "or --pmids (the split's ids, in order)")
        for row, pmid in zip(rows, aligned_file(ids_path, len(rows), "ids", path)):
            row["pmid"] = pmid.strip()
    return rows


def write_scorer_files(spec, predictions: list, gold: Path, predictions_path: str) -> None:
    """The files the original's scorer writes beside its report (`DatasetSpec.scorer_files`)."""
    for path, text in spec.scorer_files(predictions, gold, predictions_path).items():
        with atomic_output(path) as handle:
            handle.write(text)


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
    parser.add_argument("--pmids", help="ids aligned with the rows of the original postprocess's file (default: the "
                                        "data directory's SPLIT.pmid)")
    add_spec_options(parser, "scorer_options")
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
    options = spec_options(spec, "scorer_options", args)
    scored_as_written = spec.score_original_file(predictions_path, Path(gold), **options)
    if scored_as_written is not None:
        figures, predicted = scored_as_written
    else:
        ids = args.pmids or (str(Path(args.data_bin) / f"{args.split}.pmid") if args.data_bin else None)
        predictions = read_predictions(predictions_path, spec, ids)
        figures, predicted = spec.score(predictions, Path(gold), **options), {p.get("pmid") for p in predictions}
    report_coverage(spec, predicted, Path(gold), predictions_path)
    if scored_as_written is None:
        write_scorer_files(spec, predictions, Path(gold), predictions_path)
    sys.stderr.write(spec.scorer_printout(figures, predictions_path))
    print(json.dumps({"dataset": spec.name, **{k: None if isinstance(v, float) and math.isnan(v) else v
                                                for k, v in figures.items()}}))
    return 0


if __name__ == "__main__":
    run_cli(main)
