"""Generated sentences to triples, answers or labels.

    bin/postprocess_rel.py TASK HYPOTHESES --out OUT.jsonl [--pmids FILE] [--source FILE]
                           [--entities FILE] [--pubtator OUT.PubTator]

HYPOTHESES is fairseq-generate's output (its H-/D- lines, put back in input
order; BPE removed and Moses-detokenized where fairseq did not) or plain text
with one detokenized hypothesis per line. Writes one JSON object per
hypothesis, in order: id, pmid, the decoded value, whether the line parsed,
and the hypothesis. Unparseable lines are kept, marked and counted.
"""
import argparse
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from biogpt_fairseq.downstream import TASKS, get_task
from biogpt_fairseq.downstream.base import Context
from biogpt_fairseq.downstream.bc5cdr import BC5CDR
from biogpt_fairseq.textio import UserError, atomic_output, read_lines, run_cli

GENERATE_LINE = re.compile(r"^([SHDTP])-(\d+)\t(.*)$")


def read_hypotheses(path: str) -> Tuple[List[str], Optional[List[str]]]:
    """(hypotheses, sources or None) from fairseq-generate output or plain text."""
    lines = [line for _, line in read_lines(path)]
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
    # H-i<TAB>score<TAB>tokens; D-i is the same detokenized, when fairseq had a --tokenizer/--bpe.
    if "D" in generate:
        hypotheses = [generate["D"][i].split("\t", 1)[-1] for i in range(n)]
    else:
        from sacremoses import MosesDetokenizer

        detok = MosesDetokenizer(lang="en")
        hypotheses = [detok.detokenize(generate["H"][i].split("\t", 1)[-1].replace("@@ ", "").split()) for i in range(n)]
    sources = [generate["S"].get(i, "") for i in range(n)] if "S" in generate else None
    return hypotheses, sources


def aligned(path: Optional[str], n: int, what: str, hypotheses_path: str) -> Optional[List[str]]:
    if path is None:
        return None
    values = [line for _, line in read_lines(path)]
    if len(values) != n:
        raise UserError(f"{path}: {len(values)} lines, but {hypotheses_path} has {n} hypotheses ({what} must align)")
    return values


def decode_all(task_name: str, hypotheses: List[str], pmids=None, sources=None, entities=None,
               form=None) -> List[dict]:
    """One decoded row per hypothesis; `entities` (bc5cdr) as from BC5CDR.load_entities."""
    task = get_task(task_name, form)
    if entities and "*" not in entities and not pmids:
        raise UserError("per-document --entities need --pmids to know each hypothesis' document")
    records = []
    for i, hypothesis in enumerate(hypotheses):
        pmid = pmids[i] if pmids else str(i)
        name2id = BC5CDR.entities_for(entities, pmid) if entities else None
        known = {slot: set(names) for slot, names in name2id.items()} if name2id else None
        parsed, value = task.decode(hypothesis, Context(source=sources[i] if sources else "", known=known))
        if task.output_key == "triples":
            value = [dict(zip(("head", "relation", "tail"), t)) for t in value]
            for triple in value if name2id else []:
                triple["head_id"] = _mesh_id(name2id["head"], triple["head"])
                triple["tail_id"] = _mesh_id(name2id["tail"], triple["tail"])
        records.append({"id": i, "pmid": pmid, "parsed": parsed, task.output_key: value, "hypothesis": hypothesis})
    return records


def json_line(record: dict) -> str:
    """One JSON line, readable text kept, with U+2028/U+2029 escaped: tools that split lines on
    them (Python's str.splitlines, JavaScript) would otherwise cut the record in two."""
    return json.dumps(record, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def _mesh_id(name2id: Dict[str, str], name: str) -> Optional[str]:
    entity_id = name2id.get(name.lower())
    return None if entity_id in (None, "-1") else entity_id


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS), help="downstream task")
    parser.add_argument("hypotheses", help="fairseq-generate output, or one hypothesis per line")
    parser.add_argument("--out", required=True, help="decoded JSON lines")
    parser.add_argument("--pmids", help="ids aligned with the hypotheses (the split's .pmid file)")
    parser.add_argument("--source", help="source documents aligned with the hypotheses (the split's .x), "
                                         "to resolve names containing ' and ' (default: fairseq's S- lines)")
    parser.add_argument("--entities", help="bc5cdr: names to MeSH ids, from the split's raw JSON (per document: "
                                           "exact) or its *.entities.json (one map per split, as the original)")
    parser.add_argument("--pubtator", help="bc5cdr: also write CID relations in PubTator format here")
    parser.add_argument("--form", help="relation tasks: the target form the model was trained on (see build --form)")
    args = parser.parse_args(argv)
    if (args.entities or args.pubtator) and args.task != "bc5cdr":
        raise UserError("--entities and --pubtator are for bc5cdr")
    if args.pubtator and not args.entities:
        raise UserError("--pubtator needs --entities (names are mapped to MeSH ids)")
    hypotheses, sources = read_hypotheses(args.hypotheses)
    pmids = aligned(args.pmids, len(hypotheses), "ids", args.hypotheses)
    sources = aligned(args.source, len(hypotheses), "sources", args.hypotheses) or sources
    entities = BC5CDR.load_entities(Path(args.entities)) if args.entities else None
    records = decode_all(args.task, hypotheses, pmids, sources, entities, args.form)
    with atomic_output(args.out) as out:
        out.writelines(json_line(r) for r in records)
    unparsed = sum(not r["parsed"] for r in records)
    summary = f"postprocess {args.task}: {len(records)} hypotheses, {len(records) - unparsed} parsed, {unparsed} unparsed (kept, marked)"
    if args.pubtator:
        with atomic_output(args.pubtator) as out:
            mapped = unmapped = 0
            for r in records:
                for t in r["triples"]:
                    if t["head_id"] and t["tail_id"]:
                        out.write(f"{r['pmid']}\tCID\t{t['head_id']}\t{t['tail_id']}\t1.0\n")
                        mapped += 1
                    else:
                        unmapped += 1
        summary += f"; {mapped} CID relations written, {unmapped} with a name not in {args.entities} left out"
    print(summary + f" -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
