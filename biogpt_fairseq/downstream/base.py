"""The spec interface, the relation-sentence machinery and the shared metrics."""
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from biogpt_fairseq.textio import UserError

TASKS: Dict[str, "TaskSpec"] = {}


def register(spec_class):
    """Class decorator: make a spec available by its `name`."""
    TASKS[spec_class.name] = spec_class()
    return spec_class


def get_task(name: str, form: Optional[str] = None) -> "TaskSpec":
    """The spec of `name`; for relation tasks, with its target sentences in `form` (default: the paper's)."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}: choose from {', '.join(sorted(TASKS))}")
    spec = TASKS[name]
    return spec.with_form(form) if form else spec


@dataclass(frozen=True)
class Example:
    id: str  # PMID where the dataset has one, else the record's key or line number
    source: str
    target: str
    gold: object  # triples (list of tuples) or an answer / labels


# What generation leaves before the answer: learned prompt tokens and the
# hard prompts of the original release.
PROMPT_RESIDUE = re.compile(r"\blearned\d+\b|^\s*(in conclusion ,?|we can conclude that|we have that)\s*", re.I)


def strip_prompt_residue(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, PROMPT_RESIDUE.sub(" ", text)
    return " ".join(text.split())


HELD_OUT_EVERY = 10  # a carved validation split takes every 10th record of the training file


class TaskSpec:
    """One downstream dataset. Subclasses set the class attributes and override the methods."""

    name: str = ""
    dataset: str = ""  # folder under the data mirror
    raw_splits: Dict[str, str] = {}  # split -> file under DATASET/raw/
    carve_valid_from_train = False  # valid = every 10th record of the train file, train = the rest
    output_key: str = ""  # "triples", "answer" or "labels" in decoded JSON

    def read_examples(self, path: Path) -> Iterator[Example]:
        """Every record of one raw file, in file order."""
        raise NotImplementedError

    def with_form(self, form: str) -> "TaskSpec":
        raise UserError(f"{self.name} has a single target form")

    def examples(self, raw_dir: Path, split: str) -> Iterator[Example]:
        if split not in self.raw_splits:
            raise UserError(f"{self.name} has no {split!r} split (it has {', '.join(self.raw_splits)})")
        records = self.read_examples(Path(raw_dir) / self.raw_splits[split])
        if self.carve_valid_from_train and split in ("train", "valid"):
            return (e for i, e in enumerate(records) if (i % HELD_OUT_EVERY == 0) == (split == "valid"))
        return records

    def source_text(self, document: str) -> str:
        """A document as the model reads it (e.g. lower-cased for BC5CDR)."""
        return document

    def verbalize(self, gold) -> str:
        raise NotImplementedError

    def decode(self, sentence: str, context: Optional["Context"] = None) -> Tuple[bool, object]:
        """(parsed, value) for one generated sentence."""
        raise NotImplementedError

    def evaluate(self, predictions: List[dict], gold_path: Path, **options) -> dict:
        raise NotImplementedError


@dataclass
class Context:
    """What the decoder may use to resolve an ambiguous sentence."""
    source: str = ""  # the input document
    known: Optional[Dict[str, set]] = None  # slot name -> known entity names (e.g. from *.entities.json)

    def is_plausible(self, slot: str, value: str) -> bool:
        if self.known is not None and slot in self.known:
            return value in self.known[slot]
        return bool(self.source) and value.lower() in self.source.lower()


class RelationTemplate:
    """A sentence template such as 'the interaction between {head} and {tail} is {relation}'.

    Parsing enumerates every way the literal parts can split a sentence and
    takes the split with the most entities the context finds plausible, so a
    name containing ' and ' is still recovered. Ties go to the greedy split of
    the original release's regex (each slot as long as possible, left to
    right), except for the slots named in `shortest`: KD-DTI's drug names never
    contain ' and ', unlike the protein names that follow them, and relation
    labels are short where names contain ' of '.
    """

    SLOT = re.compile(r"\{(\w+)\}")

    def __init__(self, template: str, shortest: Sequence[str] = ()):
        self.template = template
        self.shortest = set(shortest)
        self.literals = self.SLOT.split(template)[0::2]
        self.slots = self.SLOT.findall(template)

    def render(self, **values) -> str:
        return self.template.format(**values)

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

    def parse(self, segment: str, context: Optional[Context] = None) -> Optional[Dict[str, str]]:
        if len(segment) > self.MAX_SEGMENT_CHARS:
            return None
        splits = itertools.islice(self._splits(segment.strip(), self.literals, self.slots), self.MAX_CANDIDATES)
        candidates = [{k: v.strip() for k, v in c.items()} for c in splits]
        if not candidates:
            return None
        if context is None:
            return candidates[0]
        return max(candidates, key=lambda c: sum(context.is_plausible(slot, value)  # max keeps the first of ties
                                                 for slot, value in c.items() if slot != "relation"))


def split_triples_sentence(sentence: str) -> List[str]:
    """The segments of 'A; B; C.' (the final period and prompt residue removed)."""
    sentence = strip_prompt_residue(sentence).strip()
    if sentence.endswith("."):
        sentence = sentence[:-1]
    return [s for s in (p.strip() for p in sentence.split("; ")) if s]


def sort_by_appearance(items: Iterable, text: str, key: Callable) -> list:
    """Sort by the first appearance of key(item) in `text` (case-insensitive; absent first, as str.find gives -1)."""
    lowered = text.lower()
    return sorted(items, key=lambda item: lowered.find(key(item).lower()))


def precision_recall_f1(n_correct: int, n_predicted: int, n_gold: int) -> dict:
    precision = n_correct / n_predicted if n_predicted else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1,
            "n_correct": n_correct, "n_predicted": n_predicted, "n_gold": n_gold}


def micro_prf(predicted: Dict[str, set], gold: Dict[str, set]) -> dict:
    """Micro precision/recall/F1 over per-document sets (a document missing from either side is empty there)."""
    n_correct = sum(len(predicted.get(doc, set()) & triples) for doc, triples in gold.items())
    return precision_recall_f1(n_correct, sum(map(len, predicted.values())), sum(map(len, gold.values())))


def document_coverage(predicted_ids: Iterable[str], gold: Dict[str, set], gold_path, all_ids=()) -> dict:
    """Check that predictions are for the gold's documents; count the documents with gold relations
    but no prediction.

    A prediction for a document the gold does not have (neither in `gold` nor in `all_ids`) is an
    error (predictions of another split, or misaligned --pmids), never a silent false positive. A
    document with gold relations but no prediction row scores as if nothing was predicted for it,
    and is counted. (Documents without gold relations are left out of the built data, as in the
    original release.)
    """
    predicted_ids, known = set(predicted_ids), set(gold) | set(all_ids)
    unknown = sorted(predicted_ids - known)
    if unknown:
        raise UserError(f"predictions for {len(unknown)} document(s) that {gold_path} does not have "
                        f"(e.g. {', '.join(unknown[:5])}): predictions of another split, or misaligned --pmids?")
    with_gold = {doc for doc, relations in gold.items() if relations}
    return {"n_documents": len(with_gold), "n_documents_without_prediction": len(with_gold - predicted_ids)}
