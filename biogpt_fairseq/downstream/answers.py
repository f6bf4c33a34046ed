"""Question answering as generation: 'PHRASE ANSWER.', one of a few answers (PubMedQA's form).

The original decoder is the release's postprocess (everything after the phrase
is the answer); the robust one takes the first of the answers after the phrase,
wherever prompt residue leaves it.
"""
import re
from typing import Sequence

from biogpt_fairseq.downstream.relations import strip_prompt_residue
from biogpt_fairseq.downstream.spec import (
    DEFAULT_LAYOUT, Decoded, DatasetSpec, strip_final_period, strip_prompt_prefix, with_final_period,
)

LONG_ANSWER = " answer: "


class AnswerSpec(DatasetSpec):
    """A question, its context (and long answer) -> 'PHRASE ANSWER.'. Subclasses set the answers and say
    how records are read and scored."""

    kind = "answer"
    phrase = "the answer to the question given the context is"  # PubMedQA's
    answers: Sequence[str] = ()

    def api_source(self, question: str, context: str, long_answer: str = "") -> str:
        """A question and its context (and long answer) as the model reads them."""
        source = f"question: {question.strip()} context: {context.strip()}"
        return with_final_period(self.cased(source + (LONG_ANSWER + long_answer.strip() if long_answer else "")))

    def constraint_text(self, variant: str = "default") -> str:
        return f"{self.phrase} {' '.join(self.answers)} ."

    def decode(self, line, decoder="original", resources=None, source="", variant="default",
               layout=DEFAULT_LAYOUT):
        if decoder == "original":  # everything after the phrase is the answer
            stripped = strip_prompt_prefix(strip_final_period(line), self.prompt_prefixes(layout))
            match = re.search(f"{self.phrase}(.*)", stripped)
            return Decoded(True, match.group(1).strip()) if match else Decoded(False, None)
        by_lower = {answer.lower(): answer for answer in self.answers}
        choices = "|".join(re.escape(a) for a in sorted(by_lower, key=len, reverse=True))
        match = re.search(rf"{self.phrase}\s+({choices})(?!\w)", strip_prompt_residue(line, layout).lower())
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

    def headline(self, figures):
        return "accuracy", figures["accuracy"]
