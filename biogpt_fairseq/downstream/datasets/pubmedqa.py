"""PubMedQA (PQA-L): yes / no / maybe.

The mirror holds the original release's first-commit files, whose sources end
with the long answer (`question: ... context: ... answer: ...`): the setting
the original later called reasoning-free, in which the paper's 78.2 was
obtained. `reasoning-required` builds the same sources without ` answer: ...`.
"""
import re

from biogpt_fairseq.downstream.relations import strip_prompt_residue
from biogpt_fairseq.downstream.scoring import accuracy, aligned, last_field_of_lines
from biogpt_fairseq.downstream.spec import (
    Decoded, DatasetSpec, Example, read_tsv, register, strip_final_period, strip_prompt_prefix, with_final_period,
)
from biogpt_fairseq.textio import UserError

ANSWERS = ("yes", "no", "maybe")
LONG_ANSWER = " answer: "


@register
class PubMedQA(DatasetSpec):
    name = "pubmedqa"
    folder = "PubMedQA"
    kind = "answer"
    raw_files = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
    gold_files = raw_files
    writes_ids = False
    variants = {"reasoning-free": "the source ends with the long answer (the original release's data, the paper's 78.2)",
                "reasoning-required": "the source without the long answer"}
    phrase = "the answer to the question given the context is"
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

    def constraint_text(self, variant="default"):
        return f"{self.phrase} {' '.join(self.answers)} ."

    def api_source(self, question: str, context: str, long_answer: str = "") -> str:
        """A question and its context (and long answer) as the model reads them."""
        source = f"question: {question.strip()} context: {context.strip()}"
        return with_final_period((source + (LONG_ANSWER + long_answer.strip() if long_answer else "")).lower())

    def decode(self, line, decoder="original", resources=None, source="", variant="default"):
        if decoder == "original":  # everything after the phrase is the answer
            match = re.search(f"{self.phrase}(.*)", strip_prompt_prefix(strip_final_period(line), self.prompt_prefixes))
            return Decoded(True, match.group(1).strip()) if match else Decoded(False, None)
        by_lower = {answer.lower(): answer for answer in self.answers}
        choices = "|".join(re.escape(a) for a in sorted(by_lower, key=len, reverse=True))
        match = re.search(rf"{self.phrase}\s+({choices})(?!\w)", strip_prompt_residue(line).lower())
        return Decoded(True, by_lower[match.group(1)]) if match else Decoded(False, None)

    original_extension = "txt"

    def original_lines(self, predictions):
        """The answer a row, or "failed"."""
        for row in predictions:
            yield (row["answer"] if row["parsed"] else "failed") + "\n"

    def original_row(self, line):
        """The line stripped, as the original's scorer reads it ("failed": no answer)."""
        answer = line.strip()
        return {"answer": None if answer == "failed" else answer}

    def score(self, predictions, gold_path, **options):
        gold = last_field_of_lines(gold_path)
        predicted = aligned(predictions, gold, gold_path, "answer")
        return {"accuracy": accuracy(predicted, gold), "n": len(gold),
                "failed": sum(p is None for p in predicted)}

    def trivial_baseline(self, raw_dir, split):
        from collections import Counter

        majority = Counter(label.lower() for _, _, label in read_tsv(self.raw_path(raw_dir, "train"))).most_common(1)[0][0]
        n = sum(1 for _ in read_tsv(self.raw_path(raw_dir, split)))
        return f"majority class ({majority!r})", [{"answer": majority}] * n

    def headline(self, figures):
        return "accuracy", figures["accuracy"]
