"""The original release's scorers, reimplemented: the same figures under the same names.

- `hard_match`: DDI's and KD-DTI's `hard_match_evaluation.py` (sample-averaged and
  ontology-level precision, recall and F1 over normalised names);
- `cid_relations`: the BioCreative V CDR evaluator (`bc5cdr_eval.jar`, relation CID, PubTator);
- `accuracy`: PubMedQA's `accuracy_score`;
- `label_micro_f1`: HoC's micro F1 over a fixed label set (`MultiLabelBinarizer` + `f1_score`).
"""
import json
import math
import re
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Sequence, Set, Tuple

from biogpt_fairseq.textio import UserError, read_lines

# --- DDI and KD-DTI --------------------------------------------------------------------------------

_ROMAN = {"0": "0", "1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI", "7": "VII", "8": "VIII",
          "9": "IX"}


def normalize_name(s: str) -> str:
    """A final digit as a roman numeral ('type 2' = 'type II'), '-type' dropped, then only [a-zA-Z0-9]."""
    s = s.strip()
    if len(s) > 2 and s[-1].isnumeric() and not s[-2].isnumeric() and s[-1] in _ROMAN:
        s = s[:-1] + _ROMAN[s[-1]]
    s = s.replace("-type", "")
    return re.sub("[^a-zA-Z0-9]+", "", s)


def _bracketed(s: str) -> bool:
    return "(" in s and s[-1] == ")"


def _body(s: str) -> str:
    """'aaa (bb)' -> 'aaa', normalised."""
    s = s.strip()
    return normalize_name(s[:s.rfind("(")].strip()) if _bracketed(s) else normalize_name(s)


def _abbreviation(s: str) -> str:
    """'aaa (bb)' -> 'bb', normalised."""
    s = s.strip()
    return normalize_name(s[s.rfind("(") + 1:-1].strip()) if _bracketed(s) else normalize_name(s)


def _mapped(items: set, name) -> set:
    """Names (or each part of triples) through `name`, as a set."""
    if items and isinstance(next(iter(items)), tuple):
        return {tuple(name(part) for part in item) for item in items}
    return {name(item) for item in items}


def _acc(pred: set, gold: set) -> float:
    return int(pred == gold) if not gold else len(pred & gold) / len(pred | gold)


def _precision(pred: set, gold: set) -> float:
    return int(pred == gold) if not pred else len(pred & gold) / len(pred)


def _recall(pred: set, gold: set) -> float:
    return int(pred == gold) if not gold else len(pred & gold) / len(gold)


def _normed(metric, pred: set, gold: set) -> float:
    """A match of the bracketed abbreviation or of the name without it counts."""
    return max(metric(_mapped(pred, _abbreviation), _mapped(gold, _abbreviation)),
               metric(_mapped(pred, _body), _mapped(gold, _body)))


def _f1(p: float, r: float) -> float:
    return 0 if p + r == 0 else 2.0 * p * r / (p + r)


def _squeezed(value: str) -> str:
    return value.strip().lower().replace(" ", "")


def _triple_sets(triples) -> Dict[str, set]:
    """The original's sets of a document's triples ((head, tail, relation) each), squeezed: drugs "d",
    targets "t", interactions "i" and the triples themselves "", filled in the original's order."""
    sets = {"": set(), "d": set(), "t": set(), "i": set()}
    for head, tail, relation in triples:
        d, t, i = _squeezed(head), _squeezed(tail), _squeezed(relation)
        sets["d"].add(d), sets["t"].add(t), sets["i"].add(i), sets[""].add((d, t, i))
    return sets


# A document's figures, which the scorer averages over the documents.
SAMPLE_FIGURES = ("acc d", "acc t", "acc i", "tp p", "tp r", "tp micro f1")


def hard_match_documents(predictions: List[dict], golden: Dict[str, List[Tuple[str, str, str]]]) -> Iterator[dict]:
    """The original scorer's pass over the documents: for each prediction row whose document the gold
    has, its predicted and gold sets and its figures of SAMPLE_FIGURES. A row whose first triple's head is 'failed' (the original's marker of an unparsed line)
    predicts nothing."""
    for row in predictions:
        triples = row["triples"]
        predicted = [] if not triples or triples[0]["head"] == "failed" else \
            [(t["head"], t["tail"], t["relation"]) for t in triples]
        if row["pmid"] not in golden:
            continue
        pred, gold = _triple_sets(predicted), _triple_sets(golden[row["pmid"]])
        p, r = _normed(_precision, pred[""], gold[""]), _normed(_recall, pred[""], gold[""])
        yield {"pmid": row["pmid"], "pred": pred, "gold": gold, "tp p": p, "tp r": r, "tp micro f1": _f1(p, r),
               **{f"acc {part}": _normed(_acc, pred[part], gold[part]) for part in "dti"}}


def hard_match(predictions: List[dict], golden: Dict[str, List[Tuple[str, str, str]]], gold_path) -> dict:
    """DDI's and KD-DTI's scorer on decoded rows ({"pmid", "triples": [{head, relation, tail}]}) against
    the gold (head, tail, relation) triples of each document id. Rows for documents the gold lacks
    are counted as missing and skipped."""
    documents = list(hard_match_documents(predictions, golden))
    n = len(documents)
    if n == 0:
        raise UserError(f"no prediction is for a document of {gold_path} (do the predictions and --pmids belong "
                        "to this split?)")
    average = {key: sum(doc[key] for doc in documents) / n for key in SAMPLE_FIGURES}
    figures = {"num sample": n, "missing": len(predictions) - n,
               "num_gold tp": sum(len(doc["gold"][""]) for doc in documents),
               "num_pred": sum(len(doc["pred"][""]) for doc in documents),
               **average, "tp macro f1": _f1(average["tp p"], average["tp r"])}
    for part in ("d", "t", "i", ""):  # the ontology level: every document's sets pooled
        pred = {item for doc in documents for item in doc["pred"][part]}
        gold = {item for doc in documents for item in doc["gold"][part]}
        if part:
            figures[f"f1 {part}"] = _f1(_normed(_precision, pred, gold), _normed(_recall, pred, gold))
        else:
            figures["all p"], figures["all r"] = _normed(_precision, pred, gold), _normed(_recall, pred, gold)
    figures["onto f1"] = _f1(figures["all p"], figures["all r"])
    return figures


def hard_match_results(predictions: List[dict], golden: Dict[str, List[Tuple[str, str, str]]],
                       records: Dict[str, dict]) -> str:
    """The file the original scorer writes beside its report (`*.eval_res.json`): for each scored
    document its id, title (null where the record has none), abstract, and per part [figure,
    predicted, gold], the sets listed as Python lists them; json.dump with indent 2, as the original.
    The sets are filled in the original's order, so their order is the original's under the same
    interpreter and PYTHONHASHSEED (Python orders a set of strings by their salted hashes)."""
    results = [{"pmid": doc["pmid"], "title": records[doc["pmid"]].get("title"),
                "abstract": records[doc["pmid"]]["abstract"],
                **{f"{part}_pred_gold": [doc[f"acc {part}"], list(doc["pred"][part]), list(doc["gold"][part])]
                   for part in "dti"},
                "all_pred_gold": [doc["tp micro f1"], list(doc["pred"][""]), list(doc["gold"][""])]}
               for doc in hard_match_documents(predictions, golden)]
    return json.dumps(results, indent=2)


def eval_results_path(predictions_path: str) -> str:
    """Where the original scorer writes its results: the predictions' path up to its last '.json', then
    '.eval_res.json' (x.extracted.json -> x.extracted.eval_res.json). For a path without '.json' the
    original drops the last character; here the whole path is kept."""
    end = predictions_path.rfind(".json")
    return (predictions_path if end < 0 else predictions_path[:end]) + ".eval_res.json"


def hard_match_report(f: dict) -> str:
    """The figures as the original script prints them."""
    return (f"num sample {f['num sample']} missing {f['missing']} num_gold tp {f['num_gold tp']} num_pred {f['num_pred']}\n"
            f"Sample: acc d: {f['acc d']:.4f}\tt:{f['acc t']:.4f}\ti: {f['acc i']:.4f}\n"
            f"tp p: {f['tp p']:.4f}\ttp r: {f['tp r']:.4f}\ttp micro f1: {f['tp micro f1']:.4f}\t"
            f"tp macro f1: {f['tp macro f1']:.4f} \n"
            f"Ontology: f1 d: {f['f1 d']:.4f}\tt:{f['f1 t']:.4f}\ti: {f['f1 i']:.4f}\t \n"
            f"all p: {f['all p']:.4f}\tall r: {f['all r']:.4f}\tonto f1: {f['onto f1']:.4f}")


# --- PubMedQA and HoC ------------------------------------------------------------------------------

def last_field_of_lines(path: Path) -> List[str]:
    """The gold labels as the original scorers read a tsv: the last tab-separated field of every
    line that is not blank."""
    labels = []
    for _, line in read_lines(str(path)):
        line = line.strip()
        if line:
            labels.append(line.split("\t")[-1])
    return labels


def aligned(predictions: List[dict], gold: list, gold_path, key: str) -> list:
    if len(predictions) != len(gold):
        raise UserError(f"{len(predictions)} predictions for {len(gold)} gold lines in {gold_path}")
    return [p[key] for p in predictions]


def accuracy(predicted: Sequence, gold: Sequence) -> float:
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


def label_micro_f1(predicted: Iterable[Iterable[str]], gold: Iterable[Iterable[str]], classes: Set[str]) -> dict:
    """Micro F1 over the `classes` of each row's label set; other labels are ignored.

    Computed as the original's pinned scikit-learn (1.2.1) computes it, 2PR / (P + R): newer releases
    compute 2tp / (2tp + fp + fn), which prints another last digit for some counts (274 / 0 / 4947:
    0.09972702456778888 against 0.0997270245677889)."""
    tp = fp = fn = 0
    for p, g in zip(predicted, gold):
        p, g = set(p) & classes, set(g) & classes
        tp, fp, fn = tp + len(p & g), fp + len(p - g), fn + len(g - p)
    if tp == 0:
        return {"micro f1": 0.0, "tp": tp, "fp": fp, "fn": fn}
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {"micro f1": 2 * precision * recall / (precision + recall), "tp": tp, "fp": fp, "fn": fn}


# --- BC5CDR: the BioCreative V CDR evaluator -------------------------------------------------------

_JAVA_WHITESPACE = "".join(map(chr, range(0x21)))  # what Java's String.trim() removes
_TITLE_OR_ABSTRACT = ("|t|", "|T|", "|a|", "|A|")


def _java_id(value: str) -> str:
    """The evaluator's id normalisation: '' and '-1' become 'null', an id without a prefix gets 'MESH:'."""
    if value in ("", "-1"):
        return "null"
    return value if ":" in value else "MESH:" + value


def read_cid_relations(path: Path) -> Set[Tuple[str, str, str]]:
    """{(pmid, chemical, disease)} from the CID lines of a PubTator file, read as the evaluator does:
    lines trimmed as Java trims, title/abstract lines and mention lines skipped, the score field
    ignored, ids normalised."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    relations = set()
    for lineno, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        line = line.strip(_JAVA_WHITESPACE)
        if not line or any(marker in line for marker in _TITLE_OR_ABSTRACT):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise UserError(f"{path}:{lineno}: neither a title, abstract, mention nor relation line")
        if fields[1].isascii() and fields[1].isdigit() and fields[2:3] and fields[2].isascii() and fields[2].isdigit():
            continue  # a mention: start and end offsets
        if fields[1] == "CID":
            if len(fields) < 4:
                raise UserError(f"{path}:{lineno}: a CID line needs PMID, CID, chemical and disease")
            relations.add((fields[0], _java_id(fields[2]), _java_id(fields[3])))
    return relations


def cid_relations(predicted: Iterable[Tuple[str, str, str]], gold_path: Path) -> dict:
    """The evaluator's relation figures: predictions for documents without a gold CID relation are
    dropped; TP, FP and FN over the (pmid, chemical, disease) sets; 0/0 is NaN, as is F when TP is 0."""
    gold = read_cid_relations(gold_path)
    documents = {pmid for pmid, _, _ in gold}
    predicted = {(pmid, _java_id(chemical), _java_id(disease)) for pmid, chemical, disease in predicted}
    predicted = {relation for relation in predicted if relation[0] in documents}
    tp, fp, fn = len(predicted & gold), len(predicted - gold), len(gold - predicted)
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f_score = 2.0 * precision * recall / (precision + recall) if tp else math.nan
    return {"TP": tp, "FP": fp, "FN": fn, "Precision": precision, "Recall": recall, "F-score": f_score}


def cid_report(figures: dict) -> str:
    """The figures as the evaluator prints them (Java's Double.toString)."""
    return "\n".join([f"TP: {figures['TP']}", f"FP: {figures['FP']}", f"FN: {figures['FN']}"] +
                     [f"{name}: {java_double(figures[name])}" for name in ("Precision", "Recall", "F-score")])


def java_double(x: float) -> str:
    """Java's Double.toString: the shortest digits that read back as `x`, as a plain decimal from
    1e-3 to 1e7 and in computerized scientific notation outside."""
    if math.isnan(x):
        return "NaN"
    if x == 0:
        return "0.0"
    digits, point = _shortest_digits(abs(x))
    sign = "-" if x < 0 else ""
    if 1e-3 <= abs(x) < 1e7:
        if point > 0:
            whole, fraction = digits[:point].ljust(point, "0"), digits[point:]
        else:
            whole, fraction = "0", "0" * -point + digits
        return f"{sign}{whole}.{fraction or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point - 1}"


def _shortest_digits(x: float) -> Tuple[str, int]:
    """(significant digits, position of the decimal point) of repr(x), Python's shortest round trip."""
    from decimal import Decimal

    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    text = "".join(map(str, digits))
    return text, len(text) + exponent
