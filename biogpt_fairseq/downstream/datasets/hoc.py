"""Hallmarks of Cancer (sentence level, multi-label).

As in the original: trained on all of train.tsv and validated on valid.tsv,
which the release made byte-identical to test.tsv (validation only logs a
loss: the recipe scores checkpoint_last.pt).
"""
import re

from biogpt_fairseq.downstream.relations import strip_prompt_residue
from biogpt_fairseq.downstream.scoring import aligned, label_micro_f1, last_field_of_lines
from biogpt_fairseq.downstream.spec import (
    Decoded, DatasetSpec, Example, read_tsv, register, strip_final_period, strip_prompt_prefix, with_final_period,
)

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
class HoC(DatasetSpec):
    name = "hoc"
    folder = "HoC"
    kind = "labels"
    raw_files = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
    gold_files = raw_files
    writes_ids = False
    inference_checkpoint = "last"
    pretraining_split = None  # sentences, not documents
    paper_result = "micro F1 85.12"
    phrase = "the type of this document is"
    separator = LABEL_SEPARATOR

    def examples(self, raw_dir, split, variant="default"):
        self.check_variant(variant)
        for lineno, source, labels in read_tsv(self.raw_path(raw_dir, split)):
            yield Example(str(lineno), with_final_period(source), f"{self.phrase} {labels}.", split_labels(labels))

    def documents(self, raw_dir, split):
        for lineno, source, _ in read_tsv(self.raw_path(raw_dir, split)):
            yield f"{split}:{lineno}", source

    def constraint_text(self, variant="default"):
        return f"{self.phrase} {' '.join(HALLMARKS)} {NONE_LABEL} {LABEL_SEPARATOR} ."

    def api_source(self, sentence: str) -> str:
        return with_final_period(sentence.strip())

    def decode(self, line, decoder="original", resources=None, source="", variant="default"):
        if decoder == "original":
            match = re.search(f"{self.phrase}(.*)", strip_prompt_prefix(strip_final_period(line), self.prompt_prefixes))
            if not match:
                return Decoded(False, [])
            text = match.group(1).strip()
            return Decoded(True, self.split_labels(text), text)
        match = re.search(rf"{self.phrase} (.+?)[\s.]*$", strip_prompt_residue(line).lower())
        if not match:
            return Decoded(False, [])
        labels = [label for label in self.split_labels(match.group(1)) if label]
        return Decoded(True, labels, f" {self.separator} ".join(labels))

    original_extension = "txt"

    def original_lines(self, predictions):
        """The answer's text a row, as read (its labels not yet split), or "failed"."""
        for row in predictions:
            yield (row["text"] if row["parsed"] else "failed") + "\n"

    def original_row(self, line):
        """The line's labels, as the original's scorer splits them ("failed" is no known label)."""
        return {"labels": self.split_labels(line.strip())}

    def split_labels(self, text: str):
        return split_labels(text)

    def score(self, predictions, gold_path, classes="original", **options):
        """Micro F1 over the ten hallmarks and `empty` (the original's 11 classes); with
        classes='hallmarks', over the ten hallmarks only."""
        allowed = set(HALLMARKS) | ({NONE_LABEL} if classes == "original" else set())
        gold = [split_labels(labels) for labels in last_field_of_lines(gold_path)]
        return {**label_micro_f1(aligned(predictions, gold, gold_path, "labels"), gold, allowed), "classes": classes}

    def trivial_baseline(self, raw_dir, split):
        n = sum(1 for _ in read_tsv(self.raw_path(raw_dir, split)))
        return f"every sentence {NONE_LABEL!r}", [{"labels": [NONE_LABEL]}] * n

    def headline(self, figures):
        return "micro f1", figures["micro f1"]
