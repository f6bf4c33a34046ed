"""Hallmarks of Cancer (sentence level, multi-label).

As in the original: trained on all of train.tsv and validated on valid.tsv,
which the release made byte-identical to test.tsv (validation only logs a
loss: the recipe scores checkpoint_last.pt).
"""
from biogpt_fairseq.downstream.labels import LabelSpec
from biogpt_fairseq.downstream.scoring import aligned, label_micro_f1, last_field_of_lines
from biogpt_fairseq.downstream.spec import Example, SpecOption, read_tsv, register, with_final_period

HALLMARKS = (
    "activating invasion and metastasis", "avoiding immune destruction", "cellular energetics",
    "enabling replicative immortality", "evading growth suppressors", "genomic instability and mutation",
    "inducing angiogenesis", "resisting cell death", "sustaining proliferative signaling",
    "tumor promoting inflammation",
)
NONE_LABEL = "empty"
LABEL_SEPARATOR = "|"


def split_labels(text: str):
    return [label.strip() for label in text.split(LABEL_SEPARATOR)]


@register
class HoC(LabelSpec):
    name = "hoc"
    folder = "HoC"
    raw_files = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
    gold_files = raw_files
    writes_ids = False
    inference_checkpoint = "last"
    pretraining_split = None  # sentences, not documents
    paper_result = "micro F1 85.12"
    lowercase = False  # sentences as written
    separator = LABEL_SEPARATOR
    labels = HALLMARKS + (NONE_LABEL,)
    scorer_options = (SpecOption("--classes", "'original' scores the ten hallmarks and `empty` (the original's 11 "
                                              "classes); 'hallmarks' the ten hallmarks only",
                                 default="original", choices=("original", "hallmarks")),)

    def examples(self, raw_dir, split, variant="default"):
        self.check_variant(variant)
        for lineno, source, labels in read_tsv(self.raw_path(raw_dir, split)):
            yield Example(str(lineno), with_final_period(source), f"{self.phrase} {labels}.", split_labels(labels))

    def documents(self, raw_dir, split):
        for lineno, source, _ in read_tsv(self.raw_path(raw_dir, split)):
            yield f"{split}:{lineno}", source

    def score(self, predictions, gold_path, classes="original"):
        """Micro F1 over the ten hallmarks and `empty` (the original's 11 classes); with
        classes='hallmarks', over the ten hallmarks only."""
        allowed = set(HALLMARKS) | ({NONE_LABEL} if classes == "original" else set())
        gold = [split_labels(labels) for labels in last_field_of_lines(gold_path)]
        return {**label_micro_f1(aligned(predictions, gold, gold_path, "labels"), gold, allowed), "classes": classes}

    def trivial_baseline(self, raw_dir, split):
        n = sum(1 for _ in read_tsv(self.raw_path(raw_dir, split)))
        return f"every sentence {NONE_LABEL!r}", [{"labels": [NONE_LABEL]}] * n
