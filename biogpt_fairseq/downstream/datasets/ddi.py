"""DDI Extraction 2013: drug-drug interactions (advise, effect, mechanism, int); and the record format it
shares with KD-DTI."""
from pathlib import Path
from typing import Dict, List, Tuple

from biogpt_fairseq.downstream.relations import RelationSpec, RelationTemplate, load_json
from biogpt_fairseq.downstream.scoring import eval_results_path, hard_match, hard_match_report, hard_match_results
from biogpt_fairseq.downstream.spec import Example, register
from biogpt_fairseq.textio import UserError


class DrugInteractionSpec(RelationSpec):
    """DDI and KD-DTI: records with 'triples' [{drug, target, interaction}]."""

    forms = {
        "rel-is": RelationTemplate("the interaction between {head} and {tail} is {relation}",
                                   r"the interaction between (.*) and (.*) is (.*)", ("head", "tail", "relation")),
        "is-of": RelationTemplate("{head} is the {relation} of {tail}", r"(.*) is the (.*) of (.*)",
                                  ("head", "relation", "tail"), shortest=["relation"]),
    }

    def content(self, record: dict) -> str:
        raise NotImplementedError

    def examples(self, raw_dir, split, variant="default"):
        path = self.raw_path(raw_dir, split)
        for doc_id, record in load_json(path).items():
            try:
                text = self.content(record).lower()
                triples = record["triples"] or []
                # The original sorts by where the drug first appears, looking the name up as written in
                # the lower-cased text: a name with a capital letter is not found (-1) and sorts first.
                triples = sorted(triples, key=lambda t: text.find(t["drug"]))
                gold = [(t["drug"].lower(), t["interaction"].lower(), t["target"].lower()) for t in triples]
            except (KeyError, TypeError, AttributeError) as err:
                raise UserError(f"{path}: record {doc_id!r} has no {err.args[0] if err.args else 'valid field'!r}") from None
            yield Example(doc_id, text, self.verbalize(gold, variant) if gold else "", gold)

    def documents(self, raw_dir, split):
        for doc_id, record in load_json(self.raw_path(raw_dir, split)).items():
            yield doc_id, self.content(record)

    @staticmethod
    def gold_triples(records: dict) -> Dict[str, List[Tuple[str, str, str]]]:
        return {doc_id: [(t["drug"], t["target"], t["interaction"]) for t in record.get("triples") or []]
                for doc_id, record in records.items()}

    def score(self, predictions: List[dict], gold_path: Path) -> dict:
        return hard_match(predictions, self.gold_triples(load_json(gold_path)), gold_path)

    def scorer_files(self, predictions, gold_path, predictions_path):
        records = load_json(gold_path)
        return {eval_results_path(predictions_path): hard_match_results(predictions, self.gold_triples(records), records)}

    def gold_documents(self, gold_path):
        return {doc_id for doc_id, record in load_json(gold_path).items() if record.get("triples")}

    def headline(self, figures: dict) -> Tuple[str, float]:
        return "tp micro f1", figures["tp micro f1"]

    def report(self, figures: dict) -> str:
        return hard_match_report(figures)


@register
class DDI(DrugInteractionSpec):
    name = "ddi"
    folder = "DDI"
    raw_files = {"train": "train.json", "valid": "valid.json", "test": "test.json"}
    gold_files = raw_files
    paper_result = "F1 40.76"

    def content(self, record):
        """The abstract alone (DDI records have no title), on one line."""
        return record["abstract"].strip().replace("\n", " ")
