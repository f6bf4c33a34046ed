"""BC5CDR: chemical-induced disease (CID) relations, scored like the BioCreative V evaluator."""
from pathlib import Path
from typing import Dict, List, Tuple

from biogpt_fairseq.downstream.base import RelationTemplate, document_coverage, micro_prf, register
from biogpt_fairseq.downstream.relation import RelationTask, load_json
from biogpt_fairseq.textio import UserError, read_lines


def first_mention(entity_id: str, mention2id: Dict[str, str], text: str) -> str:
    """The mention of `entity_id` that appears first in `text` (the targets name entities as written)."""
    mentions = [m for m, i in mention2id.items() if i == entity_id]
    if not mentions:
        raise KeyError(f"mention of {entity_id}")
    lowered = text.lower()
    return min(mentions, key=lambda m: (lowered.find(m.lower()) if m.lower() in lowered else len(lowered), m)).lower()


def read_pubtator_cid(path: Path) -> Tuple[Dict[str, set], set]:
    """({pmid: {(chemical_id, disease_id)}} from the CID lines of a PubTator file, every PMID in it)."""
    relations: Dict[str, set] = {}
    pmids = set()
    for lineno, line in read_lines(str(path)):
        if "|t|" in line[:20]:  # PMID|t|title
            pmids.add(line.split("|", 1)[0])
        fields = line.split("\t")
        if len(fields) >= 4 and fields[1] == "CID":
            relations.setdefault(fields[0], set()).add((fields[2], fields[3]))
        elif len(fields) >= 2 and fields[1] == "CID":
            raise UserError(f"{path}:{lineno}: CID line with fewer than 4 fields")
    return relations, pmids | set(relations)


@register
class BC5CDR(RelationTask):
    name = "bc5cdr"
    dataset = "BC5CDR"
    raw_splits = {"train": "train.json", "valid": "valid.json", "test": "test.json"}
    template = RelationTemplate("the relation between {head} and {tail} exists")
    forms = {"rel-is": template}
    relation_name = "CID"
    lowercase_source = True

    def gold_triples(self, record, text):
        return [(first_mention(r["chemical"], record["chemical2id"], text), "CID",
                 first_mention(r["disease"], record["disease2id"], text)) for r in record["relations"]]

    @staticmethod
    def load_entities(path: Path) -> Dict[str, Dict[str, Dict[str, str]]]:
        """{pmid or '*': {'head': chemical name -> MeSH id, 'tail': disease name -> MeSH id}}.

        From a split's *.entities.json (one map for the split, key '*': what the
        original release used) or from the split's raw JSON (one map per
        document). The same mention can mean different MeSH ids in different
        documents, so the per-document maps are exact where the split's map is
        not: on the gold test targets it loses 12 of 1,066 relations (F1 98.92).
        """
        entities = load_json(path)
        if {"chemical2id", "disease2id"} <= set(entities):
            return {"*": {"head": entities["chemical2id"], "tail": entities["disease2id"]}}
        try:
            return {pmid: {"head": r["chemical2id"], "tail": r["disease2id"]} for pmid, r in entities.items()}
        except (KeyError, TypeError):
            raise UserError(f"{path}: neither an *.entities.json (chemical2id, disease2id) nor a BC5CDR split "
                            "(records with chemical2id, disease2id)") from None

    @staticmethod
    def entities_for(entities: Dict[str, Dict[str, Dict[str, str]]], pmid: str) -> Dict[str, Dict[str, str]]:
        if "*" in entities:
            return entities["*"]
        if pmid not in entities:
            raise UserError(f"PMID {pmid!r} is not in the --entities file (do --pmids and --entities belong to the same split?)")
        return entities[pmid]

    def evaluate(self, predictions: List[dict], gold_path: Path, **options) -> dict:
        """The BioCreative V CDR evaluator's CID figures: micro P/R/F1 of (PMID, chemical, disease) ids."""
        gold, gold_pmids = read_pubtator_cid(Path(gold_path))
        coverage = document_coverage((p["pmid"] for p in predictions), gold, gold_path, all_ids=gold_pmids)
        predicted: Dict[str, set] = {}
        for prediction in predictions:
            for triple in prediction["triples"]:
                if "head_id" not in triple:
                    raise UserError("bc5cdr predictions carry no MeSH ids: decode with postprocess_rel.py --entities")
                if triple["head_id"] and triple["tail_id"]:  # unmapped names produce no CID line
                    predicted.setdefault(prediction["pmid"], set()).add((triple["head_id"], triple["tail_id"]))
        return {**micro_prf(predicted, gold), **coverage}
