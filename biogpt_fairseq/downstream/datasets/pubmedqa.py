"""PubMedQA (PQA-L): yes / no / maybe.

The mirror holds the original release's first-commit files, whose sources end
with the long answer (`question: ... context: ... answer: ...`): the setting
the original later called reasoning-free, in which the paper's 78.2 was
obtained. `reasoning-required` builds the same sources without ` answer: ...`.
"""
from collections import Counter

from biogpt_fairseq.downstream.answers import LONG_ANSWER, AnswerSpec
from biogpt_fairseq.downstream.scoring import accuracy, aligned, last_field_of_lines
from biogpt_fairseq.downstream.spec import Example, read_tsv, register, with_final_period
from biogpt_fairseq.textio import UserError

ANSWERS = ("yes", "no", "maybe")


@register
class PubMedQA(AnswerSpec):
    name = "pubmedqa"
    folder = "PubMedQA"
    raw_files = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
    gold_files = raw_files
    writes_ids = False
    variants = {"reasoning-free": "the source ends with the long answer (the original release's data, the paper's 78.2)",
                "reasoning-required": "the source without the long answer"}
    answers = ANSWERS
    paper_result = "accuracy 78.2"

    def examples(self, raw_dir, split, variant="default"):
        variant = self.check_variant("reasoning-free" if variant == "default" else variant)
        path = self.raw_path(raw_dir, split)
        for lineno, source, label in read_tsv(path):
            if variant == "reasoning-required":
                if LONG_ANSWER not in source:
                    raise UserError(f"{path}:{lineno}: no {LONG_ANSWER.strip()!r} in the source to leave out")
                source = source.rsplit(LONG_ANSWER, 1)[0]
            # As the original's first release: lower-cased, ending with a period.
            yield Example(str(lineno), with_final_period(source.lower()), f"{self.phrase} {label.lower()}.",
                          label.lower())

    def documents(self, raw_dir, split):
        for lineno, source, _ in read_tsv(self.raw_path(raw_dir, split)):
            yield f"{split}:{lineno}", source.split(" context: ", 1)[-1].rsplit(LONG_ANSWER, 1)[0]

    def score(self, predictions, gold_path):
        gold = last_field_of_lines(gold_path)
        predicted = aligned(predictions, gold, gold_path, "answer")
        return {"accuracy": accuracy(predicted, gold), "n": len(gold),
                "failed": sum(p is None for p in predicted)}

    def trivial_baseline(self, raw_dir, split):
        majority = Counter(label.lower() for _, _, label in read_tsv(self.raw_path(raw_dir, "train"))).most_common(1)[0][0]
        n = sum(1 for _ in read_tsv(self.raw_path(raw_dir, split)))
        return f"majority class ({majority!r})", [{"answer": majority}] * n
