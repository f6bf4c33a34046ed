"""Relation extraction as generation: triples verbalized with a template, parsed back.

The original decoder is the release's `postprocess.py`: strip the prompt, split
the line into sentences, and match each with a greedy regex (a name containing
' and ' is cut at the last ' and '). The robust decoder tries every split of a
sentence and keeps the one whose names the source document (or an entity map)
contains, and finds the answer after prompt residue anywhere in the line.
"""
import functools
import itertools
import json
import re
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

from biogpt_fairseq.downstream.spec import (
    DEFAULT_LAYOUT, Decoded, DatasetSpec, strip_final_period, strip_prompt_prefix,
)
from biogpt_fairseq.tasks.prompt_layout import PromptLayout
from biogpt_fairseq.textio import UserError


def load_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise UserError(f"{path}: invalid JSON: {err}") from None


def title_and_abstract(record: dict) -> str:
    """The original's document text: the title, a '. ' unless the title ends with a non-word
    character (then a space), and the abstract."""
    title = record["title"]
    return title + (" " if re.search(r"\W$", title) else ". ") + record["abstract"]


class RelationTemplate:
    """A sentence template such as 'the interaction between {head} and {tail} is {relation}'.

    `regex` and `groups` are the original release's: its greedy regex for the template and the
    slot each group fills. `parse` is the robust parser: it enumerates every way the template's
    literal parts can split a sentence and takes the split with the most names the context finds
    plausible; ties go to the original's greedy split, except for the slots named in `shortest`
    (KD-DTI's drug names never contain ' and ', unlike the protein names after them; relation
    labels are short where names contain ' of ').
    """

    SLOT = re.compile(r"\{(\w+)\}")

    def __init__(self, template: str, regex: str, groups: Sequence[str], shortest: Sequence[str] = ()):
        self.template, self.regex, self.groups = template, re.compile(regex), tuple(groups)
        self.shortest = set(shortest)
        self.literals = self.SLOT.split(template)[0::2]
        self.slots = self.SLOT.findall(template)

    def render(self, **values) -> str:
        return self.template.format(**values)

    def match_original(self, sentence: str) -> Optional[Dict[str, str]]:
        match = self.regex.match(sentence)
        return None if match is None else {slot: value.strip() for slot, value in zip(self.groups, match.groups())}

    def _splits(self, text: str, literals: Sequence[str], slots: Sequence[str]) -> Iterator[Dict[str, str]]:
        if not slots:
            if text == literals[0]:
                yield {}
            return
        if not text.startswith(literals[0]):
            return
        rest = text[len(literals[0]):]
        if len(slots) == 1:
            if literals[1]:
                if not rest.endswith(literals[1]) or len(rest) == len(literals[1]):
                    return
                value = rest[: len(rest) - len(literals[1])]
            else:
                value = rest
            if value.strip():
                yield {slots[0]: value}
            return
        ends = [m.start() for m in re.finditer(re.escape(literals[1]), rest)]
        for end in (ends if slots[0] in self.shortest else reversed(ends)):
            if end == 0:
                continue
            for tail in self._splits(rest[end:], literals[1:], slots[1:]):
                yield {slots[0]: rest[:end], **tail}

    # A degenerate generation ("... and ... and ...") has splits quadratic in its length and more:
    # the first ones (the greedy split first) are enough to choose from, and a segment far longer
    # than any model writes is not a triple.
    MAX_CANDIDATES, MAX_SEGMENT_CHARS = 1000, 10_000

    def parse(self, segment: str, plausible) -> Optional[Dict[str, str]]:
        if len(segment) > self.MAX_SEGMENT_CHARS:
            return None
        splits = itertools.islice(self._splits(segment.strip(), self.literals, self.slots), self.MAX_CANDIDATES)
        candidates = [{k: v.strip() for k, v in c.items()} for c in splits]
        if not candidates:
            return None
        return max(candidates, key=lambda c: sum(plausible(slot, value)  # max keeps the first of ties
                                                 for slot, value in c.items() if slot != "relation"))


@functools.lru_cache(maxsize=None)
def prompt_residue(stem: str) -> Tuple[re.Pattern, re.Pattern]:
    """(a learned prompt token named with `stem`; the prompt residue the robust decoder removes: such
    tokens anywhere, the original's hard prompts in front)."""
    token = rf"\b{re.escape(stem)}\d+\b"
    hard_prompts = r"^\s*(in conclusion ,?|we can conclude that|we have that)\s*"
    return re.compile(token, re.I), re.compile(f"{token}|{hard_prompts}", re.I)


def strip_prompt_residue(text: str, layout: PromptLayout = DEFAULT_LAYOUT) -> str:
    """The answer of a generated line: what follows the last learned prompt token (a whole line is
    the source, the prompt and the answer), without prompt residue, on single spaces."""
    learned_token, residue = prompt_residue(layout.learned_prompt_pattern)
    last = None
    for last in learned_token.finditer(text):
        pass
    if last is not None:
        text = text[last.end():]
    previous = None
    while previous != text:
        previous, text = text, residue.sub(" ", text)
    return " ".join(text.split())


class RelationSpec(DatasetSpec):
    """Triples (head, relation, tail) <-> 'T1; T2; ...; Tn.', one template sentence per triple."""

    kind = "triples"
    sentence_separator = "; "  # what the original's postprocess splits a line on
    forms: Dict[str, RelationTemplate] = {}  # target form -> template; the first is the default
    relation_name = ""  # the relation of a template without a {relation} slot

    @property
    def variants(self):
        return {form: f"targets in the {form!r} form" for form in self.forms}

    def template(self, variant: str) -> RelationTemplate:
        return self.forms[self.check_variant(self.default_variant if variant == "default" else variant)]

    @property
    def default_variant(self) -> str:
        return next(iter(self.forms))

    def constraint_text(self, variant: str = "default") -> str:
        return " ".join(self.template(variant).literals + [self.sentence_separator, "."])

    def api_source(self, document: str) -> str:
        """A document (title and abstract) as the original's data have it: lower-cased."""
        return self.cased(document)

    original_extension = "json"

    def original_lines(self, predictions):
        """The original's converter: one JSON object a row, its triples as subject, relation, object; a
        row that failed as one triple of "failed"."""
        for row in predictions:
            triples = [(t["head"], t["relation"], t["tail"]) for t in row["triples"]] or [("failed",) * 3]
            yield json.dumps({"triple_list_gold": [], "triple_list_pred": [
                {"subject": h, "relation": r, "object": t} for h, r, t in triples], "new": [], "lack": [],
                "id": [0]}) + "\n"

    def original_row(self, line):
        triples = json.loads(line)["triple_list_pred"]  # the "failed" marker kept: the scorer knows it
        return {"triples": [{"head": t["subject"], "relation": t["relation"], "tail": t["object"]} for t in triples]}

    def verbalize(self, triples, variant: str) -> str:
        """The original's target: one sentence per triple, joined by '; ', ending with '.'."""
        template = self.template(variant)
        return "; ".join(template.render(head=h, relation=r, tail=t) for h, r, t in triples) + "."

    def decode(self, line: str, decoder: str = "original", resources=None, source: str = "",
               variant: str = "default", layout: PromptLayout = DEFAULT_LAYOUT) -> Decoded:
        template = self.template(variant)
        if decoder == "original":
            text = strip_prompt_prefix(strip_final_period(line), self.prompt_prefixes(layout))
            triples = []
            for sentence in re.split(self.sentence_separator, text):
                slots = template.match_original(self.prepare_sentence(sentence))
                if slots is not None:
                    triples.append(self.triple(slots, resources))
            return Decoded(bool(triples), triples)
        text = strip_prompt_residue(line, layout).strip()
        text = text[:-1] if text.endswith(".") else text
        segments = [s for s in (p.strip() for p in text.split(self.sentence_separator.strip())) if s]
        resources = self.robust_resources(resources)
        plausible = self.plausibility(source, resources)
        triples = []
        for segment in segments:
            slots = template.parse(segment, plausible)
            if slots is not None:
                triples.append(self.triple(slots, resources, robust=True))
        return Decoded(bool(segments) and len(triples) == len(segments), triples)

    def prepare_sentence(self, sentence: str) -> str:
        """What the original's regex is matched against (DDI and KD-DTI: the sentence as split)."""
        return sentence

    def robust_resources(self, resources):
        """A document's resources as the robust decoder looks names up in them (once per line)."""
        return resources

    def triple(self, slots: Dict[str, str], resources, robust: bool = False) -> dict:
        return {"head": slots["head"], "relation": slots.get("relation", self.relation_name), "tail": slots["tail"]}

    def plausibility(self, source: str, resources):
        lowered = source.lower()
        return lambda slot, value: bool(lowered) and value.lower() in lowered
