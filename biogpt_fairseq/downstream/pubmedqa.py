"""PubMedQA (PQA-L, reasoning required): yes / no / maybe."""
import re
from pathlib import Path
from typing import Iterator, List

from biogpt_fairseq.downstream.base import Example, TaskSpec, register, strip_prompt_residue
from biogpt_fairseq.textio import UserError, read_lines

ANSWERS = ("yes", "no", "maybe")


def read_tsv(path: Path, columns: int = 2) -> Iterator[tuple]:
    """(line number, fields) of the records of a tab-separated file, `columns` fields each.

    Blank lines are skipped: HoC's released valid/test files separate records with them.
    """
    for lineno, line in read_lines(str(path)):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != columns:
            raise UserError(f"{path}:{lineno}: expected {columns} tab-separated fields, found {len(fields)}")
        yield lineno, fields


@register
class PubMedQA(TaskSpec):
    name = "pubmedqa"
    dataset = "PubMedQA"
    raw_splits = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
    output_key = "answer"
    answer_pattern = re.compile(r"the answer to the question given the context is (yes|no|maybe)\b")

    def read_examples(self, path: Path) -> Iterator[Example]:
        for lineno, (question_and_context, answer) in read_tsv(path):
            if answer not in ANSWERS:
                raise UserError(f"{path}:{lineno}: answer {answer!r} is not one of {', '.join(ANSWERS)}")
            yield Example(str(lineno), question_and_context, self.verbalize(answer), answer)

    @staticmethod
    def source_for(question: str, context: str) -> str:
        """The source text of a question and its context, as in the data."""
        return f"question: {question.strip()} context: {context.strip()}"

    def verbalize(self, answer) -> str:
        return f"the answer to the question given the context is {answer}."

    def decode(self, sentence, context=None):
        match = self.answer_pattern.search(strip_prompt_residue(sentence).lower())
        return (True, match.group(1)) if match else (False, None)

    def evaluate(self, predictions: List[dict], gold_path: Path, **options) -> dict:
        """Accuracy and macro-F1 over yes/no/maybe; an unparsed prediction counts as wrong."""
        from sklearn.metrics import f1_score

        gold = [answer for _, (_, answer) in read_tsv(Path(gold_path))]
        predicted = aligned_predictions(predictions, len(gold), gold_path, key="answer")
        as_labels = [p if p in ANSWERS else "unparsed" for p in predicted]
        accuracy = sum(p == g for p, g in zip(as_labels, gold)) / len(gold)
        macro_f1 = f1_score(gold, as_labels, labels=list(ANSWERS), average="macro", zero_division=0)
        return {"accuracy": 100 * accuracy, "macro_f1": 100 * macro_f1, "n": len(gold),
                "n_unparsed": sum(p == "unparsed" for p in as_labels)}


def aligned_predictions(predictions: List[dict], n_gold: int, gold_path: Path, key: str) -> list:
    """Predictions in gold line order; a count mismatch is an error, never a silent shift."""
    if len(predictions) != n_gold:
        raise UserError(f"{len(predictions)} predictions for {n_gold} gold lines in {gold_path}")
    return [p[key] for p in predictions]
