"""A fine-tuned model over new documents: triples, labels or answers, in the formats tools exchange.

    biogpt-extract MODEL INPUT --out OUT [--format jsonl|pubtator|bioc-xml|bioc-json]
                   [--input-format text|jsonl|pubtator|bioc-xml|bioc-json|pubmed-xml] [--data-bin DIR]
                   [--decoder original|robust] [--batch-docs 64] [--max-new-tokens N] [--beam 1] [--cpu]
                   [--engine fairseq|ctranslate2|openvino] [--dtype fp32|bf16|fp16|int8|int4]
                   [--beam-ranking fairseq|engine]
    biogpt-extract MODEL INPUT... --out DIR/ [--format F]... [--ray [ADDRESS]] [--workers N]
                   [--threads-per-worker T] [--gpus-per-worker G] [options as above]

MODEL is a fine-tuned checkpoint or its directory (its dictionary and BPE codes
beside it, or in --data-bin); the checkpoint says which dataset it was
fine-tuned on, and so how its sentences decode. INPUT is plain text (one
document per line, its line number the id), JSON lines ({"id", "text" or
"title" and "abstract"; a qa model: "question"}), PubTator, BioC XML or JSON,
or PubMed XML (.gz too); the output format follows OUT's extension unless
--format names it. Output keeps the input's ids and order: one record per
input document, also for a document without text or one that could not be
read (its status says so; they are counted on stderr).

Documents are read one at a time and generated in chunks of --batch-docs
(fairseq's batches within a chunk), so memory does not grow with the input.
Each finished chunk is appended to OUT.partial.jsonl and flushed to disk; when
every document is done, OUT is written from it (under a temporary name, then
renamed) and the journal removed. A killed run started again with the same
command resumes after its last finished chunk and redoes none before it.
Decoding is greedy by default with the original's limit (the whole sequence
within the model's positions); --max-new-tokens caps each answer.

Several inputs (or a glob, an existing directory, an --out ending in '/', or
--ray) write into a directory: one output per input and format, named after the
input, and DIR/manifest.json; the same command again skips the files finished
and redoes those whose input changed. --ray runs the job on Ray Data, locally or
on a cluster (mining.py says how).
"""
import argparse
import os
import sys
from pathlib import Path

from biogpt_fairseq.downstream import DECODERS
from biogpt_fairseq.downstream.extraction import Extractor, extract_file
from biogpt_fairseq.downstream.formats import INPUT_FORMATS, OUTPUT_FORMATS, detect_format, output_format
from biogpt_fairseq.downstream.mining import MANIFEST, Job, load_model, run_job
from biogpt_fairseq.engines import add_arguments as add_engine_arguments
from biogpt_fairseq.textio import UserError, run_cli


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a fine-tuned checkpoint, or its directory")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="the documents (plain text, JSON lines, PubTator, BioC XML/JSON, PubMed XML): "
                             "files or globs")
    parser.add_argument("--out", required=True,
                        help="the output file; a directory (one output per input and manifest.json) with several "
                             "inputs, a glob, --ray, an existing directory or a name ending in '/'")
    parser.add_argument("--format", action="append", choices=OUTPUT_FORMATS,
                        help="output format (default: from --out's extension; into a directory, jsonl); into a "
                             "directory, repeat it for several outputs per input")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, help="input format (default: from each file)")
    parser.add_argument("--data-bin", help="where the model's dictionary and BPE codes are (default: beside it)")
    parser.add_argument("--decoder", default="original", choices=DECODERS,
                        help="'original': the release's postprocess (default); 'robust': ours")
    parser.add_argument("--batch-docs", type=int, default=64, help="documents generated together (default 64)")
    parser.add_argument("--max-new-tokens", type=int, help="at most N generated tokens per document "
                                                            "(default: the original's limit)")
    parser.add_argument("--beam", type=int, default=1, help="beam size (default: 1, greedy, as the original)")
    add_engine_arguments(parser)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even where a GPU is available")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="run on Ray Data: alone, a local Ray instance on this machine's cores; 'auto' or an "
                             "address, a running cluster's")
    parser.add_argument("--workers", type=int, default=1, help="with --ray: engines generating at once (default 1)")
    parser.add_argument("--threads-per-worker", type=int,
                        help="CPU threads of each engine (default: this machine's cores / workers; on a cluster, 1)")
    parser.add_argument("--gpus-per-worker", type=float, default=0, help="with --ray: GPUs of each engine")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    args = parser.parse_args(argv)
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    job = Job(model=str(Path(args.model).resolve()), data_bin=args.data_bin and str(Path(args.data_bin).resolve()),
              engine=args.engine, dtype=args.dtype, beam_ranking=args.beam_ranking, decoder=args.decoder,
              beam=args.beam, max_new_tokens=args.max_new_tokens, batch_docs=args.batch_docs,
              formats=tuple(args.format or ["jsonl"]), input_format=args.input_format,
              device="cpu" if args.cpu else None)
    threads = args.threads_per_worker or (1 if args.ray not in (None, "local") else
                                          max(1, (os.cpu_count() or 1) // args.workers))
    if _into_directory(args):
        return _mine(job, args, threads)
    if args.ray:
        raise UserError("--ray writes a directory (one output per input, and manifest.json): give --out DIR/")
    if len(job.formats) > 1:
        raise UserError("several --format write into a directory: give --out DIR/")
    input_path = args.inputs[0]
    input_format = args.input_format or detect_format(input_path)
    output = args.format[0] if args.format else output_format(args.out)
    model = load_model(job, threads if args.threads_per_worker else None)
    extractor = Extractor(model, args.decoder, args.beam, args.max_new_tokens, args.batch_docs)
    counts = extract_file(extractor, input_path, args.out, output, input_format, job.model,
                          progress=not args.no_progress)
    others = {k: v for k, v in counts.items() if k not in ("documents", "generated", "resumed_after", "ok", "parsed",
                                                           "source_cut")}
    print(f"extract {extractor.spec.name}: {counts['documents']} documents -> {args.out}; {counts.get('ok', 0)} read by "
          f"the model ({counts['generated']} in this run; {counts['source_cut']} cut at the model's "
          f"{model.max_source_positions} source tokens), {counts.get('parsed', 0)} parsed"
          + "".join(f", {n} {status}" for status, n in others.items()), file=sys.stderr)
    return 0


def _into_directory(args) -> bool:
    """Whether --out is a directory: several inputs or a glob, --ray, an existing directory, or a trailing '/'."""
    import glob

    return (len(args.inputs) > 1 or any(glob.has_magic(p) and not os.path.exists(p) for p in args.inputs)
            or args.out.endswith(("/", os.sep)) or os.path.isdir(args.out)
            or (args.ray is not None and not Path(args.out).suffix))


def _mine(job, args, threads: int) -> int:
    """Many inputs into a directory: run the job, then say per file what it wrote, or why not."""
    files = run_job(job, args.inputs, args.out, args.ray, args.workers, threads, args.gpus_per_worker,
                    progress=not args.no_progress)
    failed = {path: entry["error"] for path, entry in files.items() if "error" in entry}
    for path, entry in files.items():
        if path not in failed:
            statuses = ", ".join(f"{n} {status}" for status, n in entry["statuses"].items())
            print(f"  {entry['documents']} documents ({statuses}) -> "
                  + ", ".join(str(Path(args.out) / name) for name in entry["outputs"].values()), file=sys.stderr)
    for path, error in failed.items():
        print(f"error: {path}: not extracted: {error}", file=sys.stderr)
    print(f"extract: {len(files) - len(failed)} of {len(files)} files done; {Path(args.out) / MANIFEST}",
          file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    run_cli(main)
