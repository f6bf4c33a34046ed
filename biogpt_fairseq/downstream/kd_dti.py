"""KD-DTI: drug-target interactions (inhibitor, antagonist, agonist, ...).

The 12k-document train split is not in the data mirror: here the model
fine-tunes on the released valid split (every 10th document held out for
validation) and is evaluated on test.
"""
from biogpt_fairseq.downstream.base import RelationTemplate, register
from biogpt_fairseq.downstream.relation import RelationTask


@register
class KDDTI(RelationTask):
    name = "kd-dti"
    dataset = "KD-DTI"
    raw_splits = {"train": "valid.json", "valid": "valid.json", "test": "test.json"}
    carve_valid_from_train = True
    forms = {
        "rel-is": RelationTemplate("the interaction between {head} and {tail} is {relation}", shortest=["head"]),
        "is-of": RelationTemplate("{head} is the {relation} of {tail}", shortest=["head", "relation"]),
    }
    template = forms["rel-is"]
