"""Your own dataset from files, no code: relations, document labels or question answering.

A small definition file (YAML or JSON) names the files and says how records
become the paper's prompt/answer sentences:

    name: drug-gene            # how the manifest, checkpoints and reports name it
    kind: relations            # relations | labels | qa
    files: {train: train.jsonl, valid: valid.jsonl, test: test.jsonl}   # relative to this file
    template: rel-is           # rel-is | is-of | svo | a sentence with {head}, {tail} (and {relation})

and optionally `format` (jsonl, pubtator, bioc-xml, bioc-json; default: from
each file), `labels` (the label set; default: those of the train split),
`lowercase` (default true, as the paper's datasets), and for PubTator and BioC
`names` (an argument's name from its annotation's `text` or its `identifier`),
`identifier_key`, `relation_key`, `roles`, `types`; `order` (`file`, or
`head-position`: the original DDI/KD-DTI sort); for labels `none_label` and
`label_separator`. `DEFINITION_KEYS` says what each means.

Everything else is the machinery of the paper's datasets: the build writes the
same .x/.y/.pmid files and a manifest that carries this definition (resolved),
fine-tuning saves it in the checkpoint, and postprocess, evaluate, infer,
extraction and the API rebuild the spec from there. The relation scorer is
DDI's and KD-DTI's, the label scorer HoC's micro F1, the answer scorer
PubMedQA's accuracy, all on the custom gold.
"""
import json
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from biogpt_fairseq.downstream.answers import AnswerSpec
from biogpt_fairseq.downstream.datasets.bc5cdr import longest_mention_per_id
from biogpt_fairseq.downstream.datasets.kd_dti import relation_verb
from biogpt_fairseq.downstream.formats import Document, detect_format, read_documents
from biogpt_fairseq.downstream.labels import LabelSpec
from biogpt_fairseq.downstream.relations import RelationSpec, RelationTemplate
from biogpt_fairseq.downstream.scoring import accuracy, hard_match, hard_match_report, label_micro_f1
from biogpt_fairseq.downstream.spec import DATASETS, Example, Problem, with_final_period
from biogpt_fairseq.textio import UserError, open_binary, read_json

KINDS = ("relations", "labels", "qa")
FILE_FORMATS = ("jsonl", "pubtator", "bioc-xml", "bioc-json")
SPLITS = ("train", "valid", "test")

DEFINITION_KEYS = {  # key -> what it says (kinds it applies to)
    "name": "the dataset's name (required)",
    "kind": "relations, labels or qa (required)",
    "files": "split -> file, relative to the definition (train required)",
    "format": "jsonl, pubtator, bioc-xml or bioc-json (default: from each file)",
    "template": "relations: rel-is, is-of, svo or a sentence with {head}, {tail} (and {relation}); labels: a "
                "sentence ending with {labels}; qa: one ending with {answer}",
    "relation": "relations: the relation of a template without {relation}",
    "labels": "the label set: relation types, document labels or answers (default: the train split's)",
    "lowercase": "lower-case sources and targets, as the paper's datasets (default: true)",
    "names": "pubtator, bioc: an argument's name is its annotation's 'text' (default; by an identifier: its "
             "longest mention, as the original BC5CDR) or its 'identifier'",
    "identifier_key": "bioc: the annotation infon holding its identifier (default: identifier)",
    "relation_key": "bioc: the relation infon holding its type (default: type)",
    "roles": "bioc: [head role, tail role] of a relation's nodes or identifier infons (default: the first node "
             "is the head, the second the tail)",
    "types": "[head type, tail type]: the annotations heads and tails are named from, and the entity types "
             "extraction writes (default: any; Entity)",
    "order": "relations: 'file' (default) or 'head-position' (the original DDI/KD-DTI sort: by where the head, "
             "as written, is found in the lower-cased text)",
    "none_label": "labels: the label of a document without any (default: such documents are left out)",
    "label_separator": "labels: between labels in the target (default: '|', as HoC)",
}

RELATION_TEMPLATES = {  # the paper's target forms (its ablation on KD-DTI)
    "rel-is": "the interaction between {head} and {tail} is {relation}",
    "is-of": "{head} is the {relation} of {tail}",
    "svo": "{head} {relation} {tail}",
}
LABELS_TEMPLATE = LabelSpec.phrase + " {labels}"  # HoC's
QA_TEMPLATE = AnswerSpec.phrase + " {answer}"  # PubMedQA's


# --- the definition file --------------------------------------------------------------------------

def read_definition(path: Path) -> dict:
    """The definition file, checked and resolved: file paths absolute, defaults filled in."""
    path = Path(path)
    if path.suffix == ".json":
        return resolve_definition(read_json(path), path)
    import yaml

    with open_binary(str(path)) as stream:
        data = stream.read()
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: invalid UTF-8 at byte {err.start}") from None
    except Exception as err:  # yaml's errors carry the line; a nesting bomb is a RecursionError
        raise UserError(f"{path}: not a valid YAML file: {err}") from None
    return resolve_definition(raw, path)


def resolve_definition(raw, path: Path) -> dict:
    def bad(message):
        raise UserError(f"{path}: {message}")

    if not isinstance(raw, dict):
        bad("expected a mapping of settings")
    unknown = sorted(set(raw) - set(DEFINITION_KEYS))
    if unknown:
        bad(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(DEFINITION_KEYS)})")
    for key in ("name", "kind", "files"):
        if key not in raw:
            bad(f"no {key!r}: {DEFINITION_KEYS[key]}")
    for key in set(raw) - {"files", "labels", "roles", "types"}:
        if isinstance(raw[key], (list, dict)):  # (written out, a YAML alias bomb would not end)
            bad(f"{key}: one value, not a {'list' if isinstance(raw[key], list) else 'mapping'}")
    name, kind = str(raw["name"]), raw["kind"]
    if name in DATASETS:
        bad(f"name {name!r} is one of the paper's datasets: choose another")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        bad(f"name {name!r}: letters, digits, '_', '.' and '-' only")
    if kind not in KINDS:
        bad(f"kind {kind!r}: choose from {', '.join(KINDS)}")
    files = raw["files"]
    if not isinstance(files, dict) or "train" not in files or set(files) - set(SPLITS) or \
            not all(isinstance(file, str) for file in files.values()):
        bad(f"'files' maps splits ({', '.join(SPLITS)}; train required) to files")
    root = path.resolve().parent
    resolved_files = {}
    for split in SPLITS:
        if split in files:
            file = (root / str(files[split])).resolve()
            if not file.is_file():
                bad(f"files.{split}: {file}: no such file")
            resolved_files[split] = str(file)
    fmt = raw.get("format")
    if fmt is not None and fmt not in FILE_FORMATS:
        bad(f"format {fmt!r}: choose from {', '.join(FILE_FORMATS)}")
    if kind == "qa" and fmt not in (None, "jsonl"):
        bad("a qa dataset is read from JSON lines (question, text, answer)")
    definition = {
        "name": name, "kind": kind, "files": resolved_files, "format": fmt, "root": str(root),
        "template": raw.get("template", {"relations": "rel-is", "labels": LABELS_TEMPLATE, "qa": QA_TEMPLATE}[kind]),
        "relation": raw.get("relation"), "labels": raw.get("labels"), "lowercase": bool(raw.get("lowercase", True)),
        "names": raw.get("names", "text"), "identifier_key": raw.get("identifier_key", "identifier"),
        "relation_key": raw.get("relation_key", "type"), "roles": raw.get("roles"), "types": raw.get("types"),
        "order": raw.get("order", "file"), "none_label": raw.get("none_label"),
        "label_separator": raw.get("label_separator", "|"),
    }
    if definition["names"] not in ("text", "identifier"):
        bad(f"names {definition['names']!r}: 'text' or 'identifier'")
    if definition["order"] not in ("file", "head-position"):
        bad(f"order {definition['order']!r}: 'file' or 'head-position'")
    for key in ("roles", "types"):
        value = definition[key]
        if value is not None and not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            bad(f"{key}: a list of two strings, [head, tail]")
    if definition["labels"] is not None:
        labels = definition["labels"]
        if not (isinstance(labels, list) and labels and all(isinstance(l, (str, int, float, bool)) for l in labels)):
            bad("labels: a list of labels")
        definition["labels"] = [str(l).lower() if definition["lowercase"] else str(l) for l in labels]
    spec = CUSTOM_SPECS[kind](definition, where=str(path))  # checks the template
    return spec.definition


def spec_from_definition(definition: dict):
    """The spec a manifest's or checkpoint's definition describes (rebuilt, not re-read from files)."""
    return CUSTOM_SPECS[definition["kind"]](definition, where="the definition")


# --- shared by the three kinds --------------------------------------------------------------------

class FileDataset:
    """What the three custom kinds share: files per split, a definition, records read by formats."""

    writes_ids = True  # the records' ids, kept through build, generation and extraction
    pretraining_split = None
    paper_result = ""

    def _setup(self, definition: dict):
        self.definition = dict(definition)
        self.name = definition["name"]
        self.raw_files = dict(definition.get("files") or {})
        self.gold_files = dict(self.raw_files)
        self.lowercase = definition["lowercase"]

    def raw_path(self, raw_dir, split):
        if split not in self.raw_files:
            raise UserError(f"{self.name} has no {split!r} split (it has {', '.join(self.raw_files)})")
        return Path(self.raw_files[split])

    def documents_of(self, path) -> Iterator[Document]:
        path = str(path)
        fmt = self.definition["format"] or detect_format(path)
        if fmt not in FILE_FORMATS:
            raise UserError(f"{path}: read as {fmt}; a dataset file is jsonl, pubtator, bioc-xml or bioc-json "
                            "(set 'format')")
        first_seen = {}
        for document in read_documents(path, fmt):
            if document.error is None and document.id in first_seen:
                document.error = f"id {document.id!r} again (first at {first_seen[document.id]}): ids must be unique"
            first_seen.setdefault(document.id, document.where)
            yield document

    def documents(self, raw_dir, split):
        for document in self.documents_of(self.raw_path(raw_dir, split)):
            if document.error is None:
                yield document.id, document.content

    def records(self, path) -> Iterator[Tuple[Document, object, List[Problem]]]:
        """(document, its gold or None, problems) of each record of a file."""
        raise NotImplementedError

    def labels_of(self, gold) -> List[str]:
        """The labels a record's gold holds."""
        raise NotImplementedError

    def train_labels(self) -> List[str]:
        """The label set by default: the labels of the train split, in order of first appearance."""
        seen = {}
        for _, gold, _ in self.records(self.raw_files["train"], filter_labels=False):
            for label in self.labels_of(gold):
                seen.setdefault(label, None)
        if not seen:
            raise UserError(f"{self.raw_files['train']}: no label in the train split to take the label set from")
        return list(seen)

    def gold_by_id(self, path) -> Dict[str, object]:
        gold = {}
        for document, value, _ in self.records(path):
            if value:
                gold[document.id] = value
        return gold

    def gold_documents(self, gold_path):
        return set(self.gold_by_id(gold_path))

    def scored_pairs(self, predictions: List[dict], gold_path, key: str):
        """(predicted, gold) for every prediction of a gold document, matched by id; predictions of
        other documents are counted (the report of evaluate names them)."""
        gold = self.gold_by_id(gold_path)
        pairs = [(row[key], gold[row["pmid"]]) for row in predictions if row["pmid"] in gold]
        if not pairs:
            raise UserError(f"no prediction is for a document of {gold_path} (do the predictions and ids belong to it?)")
        return pairs, len(predictions) - len(pairs)


def _unreadable(document: Document) -> Problem:
    return Problem(document.where, "unreadable record (left out)", document.error)


# --- relations ------------------------------------------------------------------------------------

def template_from(text: str, relation_slot: bool) -> RelationTemplate:
    """A template sentence and the original's style of greedy regex for it (each slot '(.*)')."""
    pieces = RelationTemplate.SLOT.split(text)
    regex = "".join(re.escape(piece) if i % 2 == 0 else "(.*)" for i, piece in enumerate(pieces))
    groups = pieces[1::2]
    return RelationTemplate(text, regex, groups, shortest=["relation"] if relation_slot else ())


class VerbTemplate(RelationTemplate):
    """The svo form, '{head} VERB {tail}': the relation written as a verb (`relation_verb`), read
    back by finding one of the label set's verbs (the longest, leftmost first). Labels that share a
    verb (the original's 'other' and 'other/unknown') read back as the first of them."""

    def __init__(self, labels: Sequence[str]):
        super().__init__("{head} {relation} {tail}", r"(.*) (.*) (.*)", ("head", "relation", "tail"))
        self.verbs = {}
        for label in labels:
            self.verbs.setdefault(relation_verb(label), label)
        self.literals = [" ".join(self.verbs)]  # the words constrained decoding allows

    def render(self, head, relation, tail) -> str:
        return f"{head} {relation_verb(relation)} {tail}"

    def _candidates(self, sentence: str):
        for verb in sorted(self.verbs, key=len, reverse=True):
            for match in re.finditer(rf" {re.escape(verb)} ", sentence):
                head, tail = sentence[:match.start()].strip(), sentence[match.end():].strip()
                if head and tail:
                    yield {"head": head, "relation": self.verbs[verb], "tail": tail}

    def match_original(self, sentence):
        return next(self._candidates(sentence), None)

    def parse(self, segment, plausible):
        candidates = list(self._candidates(segment.strip()))
        if not candidates:
            return None
        return max(candidates, key=lambda c: plausible("head", c["head"]) + plausible("tail", c["tail"]))


class CustomRelations(FileDataset, RelationSpec):
    kind = "triples"

    def __init__(self, definition: dict, where: str):
        self._setup(definition)
        template = definition["template"]
        if template == "svo" or template in RELATION_TEMPLATES:
            form, text = template, RELATION_TEMPLATES[template]
        else:
            form, text = "custom", str(template)
        slots = RelationTemplate.SLOT.findall(text)
        if sorted(slots) not in (["head", "tail"], ["head", "relation", "tail"]):
            raise UserError(f"{where}: template {text!r} needs {{head}} and {{tail}} (and {{relation}}) once each")
        if "relation" not in slots and not definition.get("relation"):
            raise UserError(f"{where}: template {text!r} has no {{relation}}: give 'relation' (its one relation)")
        if "relation" not in slots:
            relation = self.cased(str(definition["relation"]))
            if definition["labels"] not in (None, [relation]):
                raise UserError(f"{where}: a template without {{relation}} has one label, {relation!r}")
            self.definition["labels"] = [relation]
        self.relation_name = self.definition["relation"] = self.cased(str(definition.get("relation") or ""))
        if self.definition["labels"] is None:
            self.definition["labels"] = self.train_labels()
        self.labels = self.definition["labels"]
        self.forms = {form: VerbTemplate(self.labels) if form == "svo" else template_from(text, "relation" in slots)}
        self.entity_types = tuple(definition["types"] or ("Entity", "Entity"))

    def labels_of(self, triples):
        return [relation for _, relation, _ in triples or []]

    # reading
    def records(self, path, filter_labels=True):
        for document in self.documents_of(path):
            problems = []
            if document.error is not None:
                yield document, None, [_unreadable(document)]
                continue
            try:
                triples = self._triples(document, problems)
            except (KeyError, TypeError, AttributeError, ValueError) as err:
                yield document, None, [Problem(document.where, "unreadable record (left out)",
                                               f"relations: {err}")]
                continue
            if filter_labels:
                kept = []
                for head, relation, tail in triples:
                    if relation in self.labels:
                        kept.append((head, relation, tail))
                    else:
                        problems.append(Problem(document.where, "relation outside the label set (left out)",
                                                f"{relation!r} ({head!r}, {tail!r})"))
                triples = kept
            lowered = document.content.lower()
            for head, _, tail in triples:
                for name in (head, tail):
                    if name.lower() not in lowered:
                        problems.append(Problem(document.where, "relation name not found in the text (kept)", repr(name)))
            yield document, triples, problems

    def _triples(self, document: Document, problems: List[Problem]) -> List[Tuple[str, str, str]]:
        """The record's (head, relation, tail), names as written, in the definition's order, then cased."""
        d = self.definition
        if document.record:
            relations = document.record.get("relations") or []
            if not isinstance(relations, list):
                raise ValueError("'relations' is not a list")
            if any(isinstance(r.get(key), (list, dict)) for r in relations for key in ("head", "relation", "tail")):
                raise ValueError("a relation's head, relation and tail are names, not lists or objects")
            triples = [(str(r["head"]), str(r.get("relation", self.relation_name)), str(r["tail"])) for r in relations]
        else:
            triples = []
            names = self._names(document)
            for relation in document.relations:
                relation_type = relation.infons.get(d["relation_key"], relation.infons.get("type"))
                if relation_type is None:
                    relation_type = self.relation_name or None
                arguments = self._arguments(relation)
                if relation_type is None or arguments is None:
                    problems.append(Problem(document.where, "relation without a type or two arguments (left out)",
                                            json.dumps(relation.infons)))
                    continue
                resolved = [names(slot, by_identifier, reference) for slot, (by_identifier, reference)
                            in zip(("head", "tail"), arguments)]
                if None in resolved:
                    problems.append(Problem(document.where, "relation argument without an annotation (left out)",
                                            f"{relation_type} {arguments[0][1]} {arguments[1][1]}"))
                    continue
                triples.append((resolved[0], relation_type, resolved[1]))
        if d["order"] == "head-position":
            # as the original: the head as written, looked up in the lower-cased text (-1 sorts first)
            text = document.content.lower()
            triples = sorted(triples, key=lambda t: text.find(t[0]))
        return [(self.cased(h), self.cased(r), self.cased(t)) for h, r, t in triples]

    def _arguments(self, relation) -> Optional[List[Tuple[bool, str]]]:
        """(by identifier, reference) of the head and the tail."""
        roles = self.definition["roles"]
        if relation.nodes:
            if roles:
                by_role = {role: ref for role, ref in relation.nodes}
                if not all(role in by_role for role in roles):
                    return None
                return [(relation.by_identifier, by_role[role]) for role in roles]
            if len(relation.nodes) < 2:
                return None
            return [(relation.by_identifier, ref) for _, ref in relation.nodes[:2]]
        if roles and all(role in relation.infons for role in roles):  # BC5CDR's BioC: ids in infons
            return [(True, relation.infons[role]) for role in roles]
        return None

    def _names(self, document: Document):
        """(slot, by identifier, reference) -> the argument's name, or None."""
        d = self.definition
        types = d["types"]
        annotations = {m.ref: m for m in document.mentions if m.ref}

        def identifier(mention):
            return mention.identifier if not mention.infons else mention.infons.get(d["identifier_key"], "")

        def named(mention):
            # A composite mention ('ID1|ID2') whose parts are not named names its first id, as in the
            # original BC5CDR data.
            return identifier(mention).split("|")[0]

        longest = {}  # slot -> identifier -> its longest mention, as the original BC5CDR build names entities
        for slot, index in (("head", 0), ("tail", 1)):
            mention2id = {}
            for mention in document.mentions:
                if types is None or mention.type == types[index]:
                    mention2id[self.cased(mention.text)] = named(mention)
            longest[slot] = longest_mention_per_id(mention2id)

        def name(slot, by_identifier, reference):
            if by_identifier:
                return reference if d["names"] == "identifier" else longest[slot].get(reference)
            annotation = annotations.get(reference)
            if annotation is None:
                return None
            return (identifier(annotation) or None) if d["names"] == "identifier" else annotation.text
        return name

    def examples(self, raw_dir, split, variant="default"):
        self.template(variant)
        for document, triples, problems in self.records(self.raw_path(raw_dir, split)):
            yield from problems
            if triples is None:
                continue
            yield Example(document.id, self.cased(document.content).strip(),
                          self.verbalize(triples, variant) if triples else "", triples)

    def score(self, predictions, gold_path):
        gold = {doc_id: [(h, t, r) for h, r, t in triples] for doc_id, triples in self.gold_by_id(gold_path).items()}
        return hard_match(predictions, gold, gold_path)

    def headline(self, figures):
        return "tp micro f1", figures["tp micro f1"]

    def report(self, figures):
        return hard_match_report(figures)

    def trivial_baseline(self, raw_dir, split):
        """The train split's most frequent triple in every document."""
        counts = Counter(t for _, triples, _ in self.records(self.raw_path(raw_dir, "train")) for t in triples or [])
        (head, relation, tail), _ = counts.most_common(1)[0]
        rows = [{"pmid": document.id, "triples": [{"head": head, "relation": relation, "tail": tail}]}
                for document, triples, _ in self.records(self.raw_path(raw_dir, split)) if triples]
        return "the most frequent train triple", rows


# --- document labels ------------------------------------------------------------------------------

def phrase_of(template: str, slot: str, where: str) -> str:
    if not (isinstance(template, str) and template.endswith("{" + slot + "}") and template.count("{") == 1):
        raise UserError(f"{where}: template {template!r} must end with {{{slot}}} (its one slot)")
    return template[: -len(slot) - 2].strip()


class CustomLabels(FileDataset, LabelSpec):
    inference_checkpoint = "last"  # as HoC's (biogpt-infer: checkpoint_last.pt), what custom labels have always used

    def __init__(self, definition: dict, where: str):
        self._setup(definition)
        self.phrase = phrase_of(definition["template"], "labels", where)
        self.separator = definition["label_separator"]
        self.none_label = self.cased(definition["none_label"]) if definition["none_label"] else None
        if self.definition["labels"] is None:
            self.definition["labels"] = self.train_labels()
        self.labels = self.definition["labels"]
        if self.none_label and self.none_label not in self.labels:
            self.labels = self.definition["labels"] = self.labels + [self.none_label]
        self.variants = {"default": f"targets '{self.phrase} LABEL{self.separator}LABEL.'"}

    def labels_of(self, labels):
        return labels or []

    def records(self, path, filter_labels=True):
        for document in self.documents_of(path):
            if document.error is not None:
                yield document, None, [_unreadable(document)]
                continue
            raw = document.record.get("labels") if document.record else document.infons.get("labels")
            if isinstance(raw, str):
                raw = raw.split(self.separator)
            if raw is None or not isinstance(raw, list):
                yield document, None, [Problem(document.where, "unreadable record (left out)",
                                               "no 'labels' (a list, or a string of labels)")]
                continue
            labels, problems = [], []
            for label in (self.cased(str(l).strip()) for l in raw):
                if not label or label in labels:
                    continue
                if filter_labels and label not in self.labels:
                    problems.append(Problem(document.where, "label outside the label set (left out)", repr(label)))
                else:
                    labels.append(label)
            if not labels and self.none_label:
                labels = [self.none_label]
            yield document, labels, problems

    def examples(self, raw_dir, split, variant="default"):
        self.check_variant(variant)
        for document, labels, problems in self.records(self.raw_path(raw_dir, split)):
            yield from problems
            if labels is None:
                continue
            target = f"{self.phrase} {self.separator.join(labels)}." if labels else ""
            yield Example(document.id, with_final_period(self.cased(document.content).strip()), target, labels)

    def score(self, predictions, gold_path):
        pairs, missing = self.scored_pairs(predictions, gold_path, "labels")
        figures = label_micro_f1([p for p, _ in pairs], [g for _, g in pairs], set(self.labels))
        return {**figures, "n": len(pairs), "missing": missing}

    def trivial_baseline(self, raw_dir, split):
        counts = Counter(l for _, labels, _ in self.records(self.raw_path(raw_dir, "train")) for l in labels or [])
        majority = counts.most_common(1)[0][0]
        rows = [{"pmid": document.id, "labels": [majority]}
                for document, labels, _ in self.records(self.raw_path(raw_dir, split)) if labels]
        return f"every document {majority!r}", rows


# --- question answering ---------------------------------------------------------------------------

class CustomQA(FileDataset, AnswerSpec):
    def __init__(self, definition: dict, where: str):
        self._setup(definition)
        self.phrase = phrase_of(definition["template"], "answer", where)
        if self.definition["labels"] is None:
            self.definition["labels"] = self.train_labels()
        self.answers = tuple(self.definition["labels"])
        self.variants = {"default": f"targets '{self.phrase} ANSWER.'"}

    def labels_of(self, answer):
        return [answer] if answer else []

    def records(self, path, filter_labels=True):
        for document in self.documents_of(path):
            if document.error is not None:
                yield document, None, [_unreadable(document)]
                continue
            question, answer = document.record.get("question"), document.record.get("answer")
            if not isinstance(question, str) or not isinstance(answer, (str, int, float, bool)):
                yield document, None, [Problem(document.where, "unreadable record (left out)",
                                               "a qa record needs 'question' and 'answer'")]
                continue
            answer = self.cased(str(answer).strip())
            if filter_labels and answer not in self.answers:
                yield document, None, [Problem(document.where, "answer outside the label set (left out)", repr(answer))]
                continue
            yield document, answer, []

    def examples(self, raw_dir, split, variant="default"):
        self.check_variant(variant)
        for document, answer, problems in self.records(self.raw_path(raw_dir, split)):
            yield from problems
            if answer is None:
                continue
            source = self.api_source(document.record["question"], document.content,
                                     str(document.record.get("long_answer") or ""))
            yield Example(document.id, source, f"{self.phrase} {answer}.", answer)

    def documents(self, raw_dir, split):
        for document, _, _ in self.records(self.raw_path(raw_dir, split), filter_labels=False):
            if document.error is None:
                yield document.id, document.content

    def score(self, predictions, gold_path):
        pairs, missing = self.scored_pairs(predictions, gold_path, "answer")
        return {"accuracy": accuracy([p for p, _ in pairs], [g for _, g in pairs]), "n": len(pairs),
                "failed": sum(p is None for p, _ in pairs), "missing": missing}

    def trivial_baseline(self, raw_dir, split):
        counts = Counter(a for _, a, _ in self.records(self.raw_path(raw_dir, "train")) if a)
        majority = counts.most_common(1)[0][0]
        rows = [{"pmid": document.id, "answer": majority}
                for document, answer, _ in self.records(self.raw_path(raw_dir, split)) if answer]
        return f"majority answer ({majority!r})", rows


CUSTOM_SPECS = {"relations": CustomRelations, "labels": CustomLabels, "qa": CustomQA}
