"""BC5CDR: chemical-induced disease (CID) relations, scored like the BioCreative V evaluator."""
from pathlib import Path
from typing import Dict, List

from biogpt_fairseq.downstream.base import RelationTemplate, micro_prf, register
from biogpt_fairseq.downstream.relation import RelationTask, load_json
from biogpt_fairseq.textio import UserError, read_lines


def first_mention(entity_id: str, mention2id: Dict[str, str], text: str) -> str:
    """The mention of `entity_id` that appears first in `text` (the targets name entities as written)."""
    mentions = [m for m, i in mention2id.items() if i == entity_id]
    if not mentions:
        raise KeyError(f"mention of {entity_id}")
    lowered = text.lower()
    return min(mentions, key=lambda m: (lowered.find(m.lower()) if m.lower() in lowered else len(lowered), m)).lower()


def read_pubtator_cid(path: Path) -> Dict[str, set]:
    """{pmid: {(chemical_id, disease_id)}} from the CID lines of a PubTator file."""
    relations: Dict[str, set] = {}
    for lineno, line in read_lines(str(path)):
        fields = line.split("\t")
        if len(fields) >= 4 and fields[1] == "CID":
            relations.setdefault(fields[0], set()).add((fields[2], fields[3]))
        elif len(fields) >= 2 and fields[1] == "CID":
            raise UserError(f"{path}:{lineno}: CID line with fewer than 4 fields")
    return relations


@register
class BC5CDR(RelationTask):
    name = "bc5cdr"
    dataset = "BC5CDR"
    raw_splits = {"train": "train.json", "valid": "valid.json", "test": "test.json"}
    template = RelationTemplate("the relation between {head} and {tail} exists")
    relation_name = "CID"
    lowercase_source = True

    def gold_triples(self, record, text):
        return [(first_mention(r["chemical"], record["chemical2id"], text), "CID",
                 first_mention(r["disease"], record["disease2id"], text)) for r in record["relations"]]

    @staticmethod
    def load_entities(path: Path) -> Dict[str, Dict[str, str]]:
        """{'head': chemical name -> MeSH id, 'tail': disease name -> MeSH id} from a *.entities.json."""
        entities = load_json(path)
        if not {"chemical2id", "disease2id"} <= set(entities):
            raise UserError(f"{path}: expected the keys chemical2id and disease2id")
        return {"head": entities["chemical2id"], "tail": entities["disease2id"]}

    def evaluate(self, predictions: List[dict], gold_path: Path, **options) -> dict:
        """The BioCreative V CDR evaluator's CID figures: micro P/R/F1 of (PMID, chemical, disease) ids."""
        gold = read_pubtator_cid(Path(gold_path))
        predicted: Dict[str, set] = {}
        for prediction in predictions:
            for triple in prediction["triples"]:
                if "head_id" not in triple:
                    raise UserError("bc5cdr predictions carry no MeSH ids: decode with postprocess_rel.py --entities")
                if triple["head_id"] and triple["tail_id"]:  # unmapped names produce no CID line
                    predicted.setdefault(prediction["pmid"], set()).add((triple["head_id"], triple["tail_id"]))
        return micro_prf(predicted, gold)
