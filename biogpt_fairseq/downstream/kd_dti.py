"""KD-DTI: drug-target interactions (inhibitor, antagonist, agonist, ...).

The 12k-document train split is not in the data mirror: fine-tune on valid.
"""
from biogpt_fairseq.downstream.base import RelationTemplate, register
from biogpt_fairseq.downstream.relation import RelationTask


@register
class KDDTI(RelationTask):
    name = "kd-dti"
    dataset = "KD-DTI"
    raw_splits = {"valid": "valid.json", "test": "test.json"}
    template = RelationTemplate("the interaction between {head} and {tail} is {relation}", greedy_head=False)

    def gold_triples(self, record, text):
        return [(t["drug"], t["interaction"], t["target"]) for t in record["triples"]]
