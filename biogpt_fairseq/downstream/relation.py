"""Relation extraction as generation: triples verbalized with a template, parsed back."""
import copy
import json
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from biogpt_fairseq.downstream.base import (
    Context, Example, RelationTemplate, TaskSpec, document_coverage, micro_prf, sort_by_appearance,
    split_triples_sentence,
)
from biogpt_fairseq.textio import UserError


def load_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: invalid JSON: {err}") from None


class RelationTask(TaskSpec):
    """Triples (head, relation, tail) <-> 'T1; T2; ...; Tn.' with one template sentence per triple."""

    output_key = "triples"
    # Target sentence forms (the paper's ablation): "rel-is", the default, and "is-of".
    forms = {
        "rel-is": RelationTemplate("the interaction between {head} and {tail} is {relation}"),
        "is-of": RelationTemplate("{head} is the {relation} of {tail}", shortest=["relation"]),
    }
    template = forms["rel-is"]
    relation_name = ""  # the relation of a template without a {relation} slot
    lowercase_source = False

    def with_form(self, form: str) -> "RelationTask":
        if form not in self.forms:
            raise UserError(f"{self.name} has no target form {form!r} (it has {', '.join(self.forms)})")
        variant = copy.copy(self)
        variant.template = self.forms[form]
        return variant

    def document_text(self, record: dict) -> str:
        return " ".join(filter(None, [record.get("title", "").strip(), record["abstract"].strip()]))

    def gold_triples(self, record: dict, text: str) -> List[Tuple[str, str, str]]:
        """(head, relation, tail) of a record; DDI and KD-DTI list them as drug, interaction, target."""
        return [(t["drug"], t["interaction"], t["target"]) for t in record["triples"]]

    def read_examples(self, path: Path) -> Iterator[Example]:
        for doc_id, record in load_json(path).items():
            try:
                text = self.document_text(record)
                triples = sort_by_appearance(self.gold_triples(record, text), text, key=lambda t: t[0])
            except KeyError as err:
                raise UserError(f"{path}: record {doc_id!r} has no {err.args[0]!r}") from None
            yield Example(doc_id, self.source_text(text), self.verbalize(triples) if triples else "", triples)

    def source_text(self, document: str) -> str:
        return document.lower() if self.lowercase_source else document

    def verbalize(self, triples) -> str:
        return "; ".join(self.template.render(head=h, relation=r, tail=t) for h, r, t in triples) + "."

    def decode(self, sentence: str, context: Optional[Context] = None):
        segments = split_triples_sentence(sentence)
        triples = []
        for segment in segments:
            slots = self.template.parse(segment, context)
            if slots is not None:
                triples.append((slots["head"], slots.get("relation", self.relation_name), slots["tail"]))
        return bool(segments) and len(triples) == len(segments), triples

    @staticmethod
    def normalize(triple) -> Tuple[str, str, str]:
        return tuple(" ".join(str(part).lower().split()) for part in triple)

    def evaluate(self, predictions: List[dict], gold_path: Path, **options) -> dict:
        """Micro P/R/F1 of hard-matched (head, relation, tail) per document, names lower-cased."""
        gold = {e.id: {self.normalize(t) for t in e.gold} for e in self.read_examples(Path(gold_path))}
        predicted: Dict[str, set] = {}
        for prediction in predictions:
            triples = {self.normalize((t["head"], t["relation"], t["tail"])) for t in prediction["triples"]}
            predicted.setdefault(prediction["pmid"], set()).update(triples)
        return {**micro_prf(predicted, gold), **document_coverage(predicted, gold, gold_path)}
