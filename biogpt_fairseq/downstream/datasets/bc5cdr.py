"""BC5CDR: chemical-induced disease (CID) relations, scored by the BioCreative V evaluator's rules."""
from pathlib import Path
from typing import Dict, Tuple

from biogpt_fairseq.downstream.relations import RelationSpec, RelationTemplate, load_json, title_and_abstract
from biogpt_fairseq.downstream.scoring import cid_relations, cid_report, read_cid_relations
from biogpt_fairseq.downstream.spec import Example, SpecOption, register
from biogpt_fairseq.textio import UserError, read_lines

UNMAPPED = "-1"  # what the original writes for a name its entity map does not have


def longest_mention_per_id(mention2id: Dict[str, str]) -> Dict[str, str]:
    """id -> its longest mention (the first of equally long ones), as the original names entities
    in targets."""
    id2mention: Dict[str, str] = {}
    for mention, entity_id in mention2id.items():
        if entity_id not in id2mention or len(mention) > len(id2mention[entity_id]):
            id2mention[entity_id] = mention
    return id2mention


def is_pubtator(path: str) -> bool:
    """Predictions as the original's BC5CDR postprocess writes them (CID lines), not JSON lines."""
    first = next((line for _, line in read_lines(path) if line.strip()), "")
    return bool(first) and not first.lstrip().startswith("{")


def _normalized(name: str) -> str:
    return " ".join(name.lower().split())


class EntityMaps:
    """Generated names -> MeSH ids: one map for the split (the original's *.entities.json), or one
    per document (from the split's raw JSON: exact where the split's map is not, since the same
    mention can mean different ids in different documents)."""

    def __init__(self, path: Path):
        entities = load_json(path)
        self.path = path
        if isinstance(entities, dict) and {"chemical2id", "disease2id"} <= set(entities):
            self.split = {"head": entities["chemical2id"], "tail": entities["disease2id"]}
            self.documents = None
            return
        try:
            self.split = None
            self.documents = {pmid: {"head": r["chemical2id"], "tail": r["disease2id"]} for pmid, r in entities.items()}
        except (KeyError, TypeError, AttributeError):
            raise UserError(f"{path}: neither an *.entities.json (chemical2id, disease2id) nor a BC5CDR split "
                            "(records with chemical2id, disease2id)") from None

    def for_document(self, pmid: str) -> Dict[str, Dict[str, str]]:
        if self.split is not None:
            return self.split
        if pmid not in self.documents:
            raise UserError(f"PMID {pmid!r} is not in {self.path} (do the ids and the entity file belong to the same split?)")
        return self.documents[pmid]


@register
class BC5CDR(RelationSpec):
    name = "bc5cdr"
    folder = "BC5CDR"
    raw_files = {"train": "train.json", "valid": "valid.json", "test": "test.json"}
    gold_files = {"train": "CDR_TrainingSet.PubTator.txt", "valid": "CDR_DevelopmentSet.PubTator.txt",
                  "test": "CDR_TestSet.PubTator.txt"}
    entity_files = {split: f"{split}.entities.json" for split in raw_files}
    sentence_separator = ";"
    hard_prompts = ("in conclusion ,", "we can conclude that", "we have that")
    forms = {"rel-is": RelationTemplate("the relation between {head} and {tail} exists",
                                        r"the relation between (.*) and (.*) exists", ("head", "tail"))}
    relation_name = "CID"
    paper_result = "F1 44.98"

    def examples(self, raw_dir, split, variant="default"):
        self.template(variant)
        path = self.raw_path(raw_dir, split)
        for pmid, record in load_json(path).items():
            try:
                text = title_and_abstract(record).lower()
                gold = []
                if record["relations"]:
                    chemicals = longest_mention_per_id(record["chemical2id"])
                    diseases = longest_mention_per_id(record["disease2id"])
                    gold = [(chemicals[r["chemical"]], "CID", diseases[r["disease"]]) for r in record["relations"]]
            except (KeyError, TypeError, AttributeError) as err:
                raise UserError(f"{path}: record {pmid!r} has no {err.args[0] if err.args else 'valid field'!r}") from None
            yield Example(pmid, text, self.verbalize(gold, variant) if gold else "", gold)

    def documents(self, raw_dir, split):
        for pmid, record in load_json(self.raw_path(raw_dir, split)).items():
            yield pmid, title_and_abstract(record)

    decoding_reads_raw_data = True
    decoding_options = (SpecOption("--entities", "names to MeSH ids; the split's *.entities.json (one map, the "
                                                 "original's) or its raw JSON (one map per document)"),)

    def decoding_resources(self, raw_dir, split, decoder="original", entities=None):
        """The original maps names through the split's *.entities.json; the robust decoder through
        each document's own map in the split's raw JSON."""
        if entities is None:
            if raw_dir is None:
                raise UserError("bc5cdr maps names to MeSH ids: give --data-bin or --entities")
            entities = Path(raw_dir) / (self.entity_files[split] if decoder == "original" else self.raw_files[split])
        return EntityMaps(Path(entities))

    def decoding_summary(self, rows):
        relations = sum(len(r["triples"]) for r in rows)
        unmapped = sum(UNMAPPED in (t["head_id"], t["tail_id"]) for r in rows for t in r["triples"])
        return f"; {relations} CID relations, {unmapped} with a name the entity map lacks (id {UNMAPPED})"

    def prepare_sentence(self, sentence):
        return sentence.strip()

    def triple(self, slots, resources, robust=False):
        triple = super().triple(slots, resources)
        if resources is not None:
            for slot, key in (("head", "head_id"), ("tail", "tail_id")):
                if robust:  # names as the model writes them: any case and spacing (robust_resources)
                    triple[key] = resources[slot].get(_normalized(slots[slot]), UNMAPPED)
                else:
                    triple[key] = resources[slot].get(slots[slot], UNMAPPED)
        return triple

    def robust_resources(self, resources):
        if resources is None:
            return None
        return {slot: {_normalized(mention): entity_id for mention, entity_id in mention2id.items()}
                for slot, mention2id in resources.items()}

    def plausibility(self, source, resources):
        if resources is None:
            return super().plausibility(source, resources)
        return lambda slot, value: _normalized(value) in resources[slot]

    def score(self, predictions, gold_path):
        relations = []
        for row in predictions:
            for triple in row["triples"]:
                if "head_id" not in triple:
                    raise UserError("bc5cdr predictions carry no MeSH ids: decode them with an entity map")
                relations.append((row["pmid"], triple["head_id"], triple["tail_id"]))
        return cid_relations(relations, Path(gold_path))

    def score_original_file(self, path, gold_path):
        """The original postprocess's CID lines, which carry their PMIDs, scored as the BioCreative
        evaluator scores them."""
        if not is_pubtator(path):
            return None
        relations = read_cid_relations(Path(path))
        return cid_relations(relations, Path(gold_path)), {pmid for pmid, _, _ in relations}

    def gold_documents(self, gold_path):
        return {pmid for pmid, _, _ in read_cid_relations(Path(gold_path))}

    def headline(self, figures) -> Tuple[str, float]:
        return "F-score", figures["F-score"]

    def report(self, figures) -> str:
        return cid_report(figures)

    scorer_names_the_file = False  # the BioCreative evaluator prints its figures alone

    def trivial_baseline(self, raw_dir, split):
        """Every chemical-disease pair the gold entity annotations of a document allow."""
        rows = []
        for pmid, record in load_json(self.raw_path(raw_dir, split)).items():
            chemicals = sorted({c for c in record["chemical2id"].values() if c != UNMAPPED})
            diseases = sorted({d for d in record["disease2id"].values() if d != UNMAPPED})
            rows.append({"pmid": pmid, "triples": [{"head_id": c, "tail_id": d} for c in chemicals for d in diseases]})
        return "all co-occurring chemical-disease pairs (gold entities)", rows

    original_extension = "PubTator"

    def original_lines(self, predictions):
        """The original's prediction file: one CID line per decoded relation, in order."""
        for row in predictions:
            for t in row["triples"]:
                yield f"{row['pmid']}\tCID\t{t['head_id']}\t{t['tail_id']}\t1.0\n"
