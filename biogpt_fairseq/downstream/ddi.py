"""DDI Extraction 2013: drug-drug interactions (effect, mechanism, advise, int)."""
from biogpt_fairseq.downstream.base import register
from biogpt_fairseq.downstream.relation import RelationTask


@register
class DDI(RelationTask):
    name = "ddi"
    dataset = "DDI"
    raw_splits = {"train": "train.json", "valid": "valid.json", "test": "test.json"}
