"""Hallmarks of Cancer (sentence level, multi-label).

The released valid.tsv is byte-identical to test.tsv, so validation is carved
from train (every 10th sentence) instead.
"""
import re
from pathlib import Path
from typing import Iterator, List

from biogpt_fairseq.downstream.base import Example, TaskSpec, precision_recall_f1, register, strip_prompt_residue
from biogpt_fairseq.downstream.pubmedqa import aligned_predictions, read_tsv

HALLMARKS = (
    "activating invasion and metastasis", "avoiding immune destruction", "cellular energetics",
    "enabling replicative immortality", "evading growth suppressors", "genomic instability and mutation",
    "inducing angiogenesis", "resisting cell death", "sustaining proliferative signaling",
    "tumor promoting inflammation",
)
NONE_LABEL = "empty"
LABEL_SEPARATOR = "|"  # as in the data


@register
class HoC(TaskSpec):
    name = "hoc"
    dataset = "HoC"
    raw_splits = {"train": "train.tsv", "valid": "train.tsv", "test": "test.tsv"}
    carve_valid_from_train = True
    output_key = "labels"
    label_pattern = re.compile(r"the type of this document is (.+?)\s*\.?\s*$")

    def read_examples(self, path: Path) -> Iterator[Example]:
        for lineno, (sentence, labels) in read_tsv(path):
            gold = labels.split(LABEL_SEPARATOR)
            yield Example(str(lineno), sentence, self.verbalize(gold), gold)

    def verbalize(self, labels) -> str:
        return f"the type of this document is {LABEL_SEPARATOR.join(labels)}."

    def decode(self, sentence, context=None):
        match = self.label_pattern.search(strip_prompt_residue(sentence).lower())
        if not match:
            return False, []
        return True, [label.strip() for label in match.group(1).split(LABEL_SEPARATOR) if label.strip()]

    def evaluate(self, predictions: List[dict], gold_path: Path, variant: str = "original", **options) -> dict:
        """Micro-F1 over label sets. 'original' counts `empty` as an 11th class, as the original
        evaluation does (kept for comparability); 'hallmarks' scores the 10 hallmarks only."""
        classes = set(HALLMARKS) | ({NONE_LABEL} if variant == "original" else set())
        gold = [set(labels.split(LABEL_SEPARATOR)) & classes for _, (_, labels) in read_tsv(Path(gold_path))]
        predicted = [set(p) & classes for p in aligned_predictions(predictions, len(gold), gold_path, key="labels")]
        scores = precision_recall_f1(sum(len(p & g) for p, g in zip(predicted, gold)),
                                     sum(map(len, predicted)), sum(map(len, gold)))
        return {"variant": variant, "micro_f1": scores["f1"], **scores}
