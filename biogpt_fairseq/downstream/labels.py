"""Document labels as generation: 'PHRASE LABEL|LABEL.', one sentence a document (HoC's form).

The original decoder is the release's postprocess (everything after the phrase,
split at the separator); the robust one finds the phrase after prompt residue
anywhere in the line and gives labels back their label set's case.
"""
import re
from typing import List, Sequence

from biogpt_fairseq.downstream.relations import strip_prompt_residue
from biogpt_fairseq.downstream.spec import (
    DEFAULT_LAYOUT, Decoded, DatasetSpec, strip_final_period, strip_prompt_prefix, with_final_period,
)


class LabelSpec(DatasetSpec):
    """A document's labels <-> 'PHRASE L1|L2.'. Subclasses set the label set and say how records are read
    and scored."""

    kind = "labels"
    phrase = "the type of this document is"  # HoC's
    separator = "|"
    labels: Sequence[str] = ()  # the label set: the words constrained decoding allows, the case labels read back in

    def api_source(self, sentence: str) -> str:
        return with_final_period(self.cased(sentence.strip()))

    def constraint_text(self, variant: str = "default") -> str:
        return f"{self.phrase} {' '.join(self.labels)} {self.separator} ."

    def split_labels(self, text: str) -> List[str]:
        return [label.strip() for label in text.split(self.separator)]

    def decode(self, line, decoder="original", resources=None, source="", variant="default",
               layout=DEFAULT_LAYOUT):
        if decoder == "original":
            stripped = strip_prompt_prefix(strip_final_period(line), self.prompt_prefixes(layout))
            match = re.search(f"{self.phrase}(.*)", stripped)
            if not match:
                return Decoded(False, [])
            text = match.group(1).strip()
            return Decoded(True, self.split_labels(text), text)
        match = re.search(rf"{self.phrase} (.+?)[\s.]*$", strip_prompt_residue(line, layout).lower())
        if not match:
            return Decoded(False, [])
        by_lower = {label.lower(): label for label in self.labels}  # the line was read lower-cased
        labels = [by_lower.get(label, label) for label in self.split_labels(match.group(1)) if label]
        return Decoded(True, labels, f" {self.separator} ".join(labels))

    original_extension = "txt"

    def original_lines(self, predictions):
        """The answer's text a row, as read (its labels not yet split), or "failed"."""
        for row in predictions:
            yield (row["text"] if row["parsed"] else "failed") + "\n"

    def original_row(self, line):
        """The line's labels, as the original's scorer splits them ("failed" is no known label)."""
        return {"labels": self.split_labels(line.strip())}

    def headline(self, figures):
        return "micro f1", figures["micro f1"]
