"""Generated sentences to triples, answers or labels.

    biogpt-postprocess [DATASET] HYPOTHESES --data-bin DIR [--split test] [--out OUT.jsonl]
                       [--decoder original|robust] [--original-out FILE]
    bin/postprocess_rel.py ... (the same)

HYPOTHESES is fairseq-generate's output (put back in input order, each
hypothesis joined to its prompted source as the original's inference writes a
line) or plain text with one detokenized line per example, as the original's
`generate_*.detok` file. The data directory's manifest names the dataset, its
variant, the ids of the split and the raw data (BC5CDR's entity maps); without
`--data-bin`, give DATASET and, for relation datasets, `--pmids`.

Writes one JSON object per hypothesis, in order: id, pmid (where the dataset
has ids), whether the line parsed, the decoded value and the line. The
original decoder (default) is the release's postprocess; `--decoder robust` is
ours (docs/fidelity.md: "Differences from the original"). Unparsed lines are kept,
marked and counted. The decoded values are also written as the original's
postprocess writes them, to its file name (HYPOTHESES.extracted.PubTator for
BC5CDR, .json for DDI and KD-DTI, .txt for PubMedQA and HoC), which its scorers
read; and stdout gets what it prints (a `Failed:id:N, line:...` line for each
line that failed, then `failed = F, total = T`).
"""
import argparse
import functools
import re
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from biogpt_fairseq.downstream import DATASETS, DECODERS, resolve
from biogpt_fairseq.downstream import manifest as manifest_file
from biogpt_fairseq.downstream.spec import DEFAULT_LAYOUT, add_spec_options, spec_options, strip_final_period
from biogpt_fairseq.tasks.prompt_layout import DEFAULT_STEM, PromptLayout
from biogpt_fairseq.textio import UserError, atomic_output, json_line, read_lines, run_cli

GENERATE_LINE = re.compile(r"^([SHDTP])-(\d+)\t(.*)$")


@functools.lru_cache(maxsize=1)
def _moses_detokenizer():
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang="en")


# What perl's detokenizer.perl prints as it is: a line that looks like an XML tag (`<unk> ... <unk>`
# too) and a line of whitespace (perl's \s: Python's but the separators U+001C to U+001F).
_PERL_UNTOUCHED = re.compile(r"<.+>|[^\S\x1c-\x1f]*")
# perl splits words on spaces alone and keeps other whitespace (tabs, no-break spaces) inside its
# word; sacremoses splits on any whitespace. Each other whitespace character stands in as a
# private-use one for the length of the call.
_KEPT_WHITESPACE = {ord(c): 0xF0000 + ord(c) for c in map(chr, range(0x3001)) if c.isspace() and c != " "}
_RESTORED_WHITESPACE = {kept: original for original, kept in _KEPT_WHITESPACE.items()}


def detokenize(tokens: str) -> str:
    """BPE removed as the original's `sed 's/@@ //g'`, then Moses' detokenizer as the original's
    `detokenizer.perl -l en -a` runs it."""
    text = tokens.replace("@@ ", "")
    if _PERL_UNTOUCHED.fullmatch(text):
        return text
    words = text.translate(_KEPT_WHITESPACE).split(" ")
    return _moses_detokenizer().detokenize([w for w in words if w]).translate(_RESTORED_WHITESPACE)


def read_hypotheses(path: str) -> Tuple[List[str], Optional[List[str]]]:
    """(lines as the original's inference writes them, prompted sources or None).

    From fairseq-generate output, a line is the prompted source (S-) and the continuation (D-,
    detokenized), which is what the original's inference writes: the whole sequence, then
    BPE removal and detokenization. Plain text is one line per example.
    """
    lines = [line for _, line in read_lines(path, allow_nul=True)]  # (the original reads a NUL as a character)
    generate = {}
    for line in lines:
        match = GENERATE_LINE.match(line)
        if match:
            generate.setdefault(match.group(1), {})[int(match.group(2))] = match.group(3)
    if "H" not in generate:
        return lines, None
    n = max(generate["H"]) + 1
    missing = sorted(set(range(n)) - set(generate["H"]))
    if missing:
        raise UserError(f"{path}: no hypothesis for sample(s) {missing[:10]} of 0..{n - 1}")
    sources = [generate.get("S", {}).get(i, "") for i in range(n)]
    continuations = [generate["H"][i].split("\t", 1)[-1] for i in range(n)]
    if any("@@ " in s for s in sources + continuations) or "D" not in generate:
        # fairseq-generate ran without BPE and tokenizer: these are tokens.
        lines = [detokenize(f"{s} {c}") for s, c in zip(sources, continuations)]
        sources = [detokenize(s) for s in sources]
    else:
        lines = [f"{s} {generate['D'][i].split(chr(9), 1)[-1]}".strip() for i, s in enumerate(sources)]
    return lines, sources


def aligned_file(path: Optional[str], n: int, what: str, hypotheses_path: str) -> Optional[List[str]]:
    if path is None:
        return None
    values = [line for _, line in read_lines(path)]
    if len(values) != n:
        raise UserError(f"{path}: {len(values)} lines, but {hypotheses_path} has {n} hypotheses ({what} must align)")
    return values


def decode_all(spec, lines: List[str], pmids=None, sources=None, resources=None, decoder="original",
               variant="default", layout: PromptLayout = DEFAULT_LAYOUT) -> List[dict]:
    """One decoded row per line, of a model whose prompt is `layout`."""
    if decoder not in DECODERS:
        raise UserError(f"unknown decoder {decoder!r}: choose from {', '.join(DECODERS)}")
    rows = []
    for i, line in enumerate(lines):
        row = {"id": i}
        if pmids is not None:
            row["pmid"] = pmids[i].strip()
        document = resources.for_document(row["pmid"]) if resources is not None else None
        decoded = spec.decode(line, decoder, document, sources[i] if sources else "", variant, layout)
        row.update({"parsed": decoded.parsed, spec.kind: decoded.value})
        if decoded.text is not None:
            row["text"] = decoded.text
        row["hypothesis"] = line
        rows.append(row)
    return rows


def original_printout(rows: List[dict]) -> str:
    """What the original's postprocess prints: each line that failed, then the counts."""
    failed = [f"Failed:id:{r['id'] + 1}, line:{strip_final_period(r['hypothesis'])}\n" for r in rows if not r["parsed"]]
    return "".join(failed) + f"failed = {len(failed)}, total = {len(rows)}\n"


def resolve_dataset(dataset: Optional[str], data_bin: Optional[str]):
    """(spec, manifest or None): the dataset named on the command line must be the manifest's."""
    manifest = manifest_file.read(Path(data_bin)) if data_bin else None
    if manifest is not None:
        manifest_file.agree("dataset", dataset, manifest["dataset"], Path(data_bin) / manifest_file.NAME)
        dataset = manifest["dataset"]
    if dataset is None:
        raise UserError("name the dataset, or give --data-bin (whose manifest names it)")
    return (manifest_file.spec(manifest) if manifest else resolve(dataset)), manifest


def dataset_and_file(positional: List[str], what: str) -> Tuple[Optional[str], str]:
    """[DATASET] FILE."""
    if len(positional) == 2:
        return positional[0], positional[1]
    if len(positional) == 1:
        return None, positional[0]
    raise UserError(f"expected [DATASET] {what}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("positional", nargs="+", metavar="[DATASET] HYPOTHESES",
                        help=f"dataset ({', '.join(sorted(DATASETS))} or a definition file; default: the --data-bin manifest's) and "
                             "fairseq-generate output or one hypothesis line per example")
    parser.add_argument("--data-bin", help="the fine-tuning data directory (its manifest, ids and raw data)")
    parser.add_argument("--split", default="test", help="the split the hypotheses are of (default: test)")
    parser.add_argument("--out", help="decoded JSON lines (default: HYPOTHESES.extracted.jsonl)")
    parser.add_argument("--decoder", default="original", choices=DECODERS,
                        help="'original': the release's postprocess (default); 'robust': ours")
    parser.add_argument("--pmids", help="ids aligned with the hypotheses (default: the data directory's SPLIT.pmid)")
    parser.add_argument("--source", help="robust decoder: source documents aligned with the hypotheses "
                                         "(default: fairseq's S- lines, or the data directory's text)")
    add_spec_options(parser, "decoding_options")
    parser.add_argument("--original-out", help="the original postprocess's file of the decoded values (default: "
                                               "HYPOTHESES.extracted.PubTator, .json or .txt, as the original names it)")
    parser.add_argument("--variant", "--form", help="the target form the model was trained on (default: the manifest's)")
    parser.add_argument("--learned-prompt-pattern", default=DEFAULT_STEM,
                        help="the stem of the model's learned prompt tokens, as its task's option of that name: "
                             "what the decoders strip (default: learned, the original's)")
    parser.add_argument("--data", help="the data mirror, if it moved since the data were built")
    args = parser.parse_args(argv)
    dataset, hypotheses_path = dataset_and_file(args.positional, "HYPOTHESES")
    spec, manifest = resolve_dataset(dataset, args.data_bin)
    variant = args.variant or "default"
    if manifest is not None:
        manifest_file.agree("--variant", args.variant, manifest["variant"], Path(args.data_bin) / manifest_file.NAME)
        variant = manifest["variant"]
    lines, sources = read_hypotheses(hypotheses_path)
    pmids_path = args.pmids
    if pmids_path is None and spec.writes_ids and args.data_bin:
        pmids_path = str(Path(args.data_bin) / f"{args.split}.pmid")
    if spec.writes_ids and pmids_path is None:
        raise UserError(f"{spec.name} predictions need the split's ids: give --data-bin or --pmids")
    pmids = aligned_file(pmids_path, len(lines), "ids", hypotheses_path)
    source_path = args.source
    if source_path is None and args.decoder == "robust" and sources is None and manifest and manifest.get("text"):
        source_path = str(Path(manifest["text"]) / f"{args.split}.x")
    sources = aligned_file(source_path, len(lines), "sources", hypotheses_path) or sources
    raw_dir = manifest_file.raw_dir(manifest, args.data) if manifest and spec.decoding_reads_raw_data else None
    resources = spec.decoding_resources(raw_dir, args.split, args.decoder,
                                        **spec_options(spec, "decoding_options", args))
    rows = decode_all(spec, lines, pmids, sources, resources, args.decoder, variant,
                      PromptLayout(learned_prompt_pattern=args.learned_prompt_pattern))
    out = args.out or f"{hypotheses_path}.extracted.jsonl"
    original_out = args.original_out or f"{hypotheses_path}.extracted.{spec.original_extension}"
    with atomic_output(out) as handle:
        handle.writelines(json_line(r) for r in rows)
    with atomic_output(original_out) as handle:
        handle.writelines(spec.original_lines(rows))
    failed = sum(not r["parsed"] for r in rows)
    sys.stdout.write(original_printout(rows))
    print(f"postprocess {spec.name} ({args.decoder} decoder): failed = {failed}, total = {len(rows)} (kept, marked)"
          f"{spec.decoding_summary(rows)} -> {out}, {original_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
