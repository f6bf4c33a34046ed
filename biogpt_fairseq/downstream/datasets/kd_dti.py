"""KD-DTI: drug-target interactions (inhibitor, antagonist, agonist, ...).

The 12k-document train split is not in the data mirror. Where `train.json` is
missing, the model fine-tunes on the released valid split (and validates on it:
the original's recipe keeps the last 5 epochs whatever the validation loss) and
is scored on test; with the full release in place it trains on train.json as
the original does.
"""
from pathlib import Path

from biogpt_fairseq.downstream.datasets.ddi import DrugInteractionSpec
from biogpt_fairseq.downstream.relations import RelationTemplate, title_and_abstract
from biogpt_fairseq.downstream.spec import register


def relation_verb(relation: str) -> str:
    """A relation label as a verb, for the svo form: the rules of the original KD-DTI build."""
    special = {"product of": "is the product of", "negative modulator": "negatively modulates",
               "other/unknown": "randomly works with", "other": "randomly works with",
               "incorporation into and destabilization": "incorporates into and destabilizates",
               "cross-linking/alkylation": "cross lines / alkylates", "antibody": "is the antibody of",
               "downregulator": "downregulates", "desensitize the target": "desensitizes", "protector": "protects",
               "inhibitor": "inhibits", "weak inhibitor": "weakly inhibits", "blocker": "blocks"}
    if relation in special:
        return special[relation]
    if relation.endswith(("agonist", "antagonist")):
        return relation + "s"
    if relation.endswith(("or", "er")):
        return relation[:-2] + "es"
    if relation.endswith("tion"):
        return relation[:-3] + "es"
    if relation.endswith("ing"):
        return relation[:-3] + "s"
    return relation + "s"


@register
class KDDTI(DrugInteractionSpec):
    name = "kd-dti"
    folder = "KD-DTI"
    raw_files = {"train": "train.json", "valid": "valid.json", "test": "test.json"}
    gold_files = raw_files
    paper_result = "F1 38.42"
    forms = {
        "rel-is": RelationTemplate("the interaction between {head} and {tail} is {relation}",
                                   r"the interaction between (.*) and (.*) is (.*)", ("head", "tail", "relation"),
                                   shortest=["head"]),
        "is-of": RelationTemplate("{head} is the {relation} of {tail}", r"(.*) is the (.*) of (.*)",
                                  ("head", "relation", "tail"), shortest=["head", "relation"]),
    }

    def raw_path(self, raw_dir, split):
        path = super().raw_path(raw_dir, split)
        if split == "train" and not path.exists() and (Path(raw_dir) / "valid.json").exists():
            return Path(raw_dir) / "valid.json"
        return path

    def content(self, record):
        return title_and_abstract(record)
