"""DDI Extraction 2013: drug-drug interactions (advise, effect, mechanism, int)."""
from biogpt_fairseq.downstream.relations import DrugInteractionSpec
from biogpt_fairseq.downstream.spec import register


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
