"""Downstream specs: gold round trips, the decode/score CLIs at 100% on gold, hand-computed metrics."""
import json

import pytest
from conftest import REPO, run_tool

from biogpt_fairseq.downstream import TASKS
from biogpt_fairseq.downstream.base import Context, micro_prf
from biogpt_fairseq.downstream.postprocess import decode_all
from biogpt_fairseq.textio import UserError


def bin_tool(name, *args, check=True):
    import sys

    return run_tool(sys.executable, REPO / "bin" / name, *args, check=check)


def _comparable(task, value):
    return [task.normalize(t) for t in value] if task.output_key == "triples" else value


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_gold_target_of_every_split_decodes_back(data, name):
    task = TASKS[name]
    raw = data / task.dataset / "raw"
    for split in task.raw_splits:
        entities = task.load_entities(raw / task.raw_splits[split]) if name == "bc5cdr" else None
        n = 0
        for example in task.examples(raw, split):
            if not example.target:
                continue
            known = None
            if entities:
                known = {slot: set(names) for slot, names in task.entities_for(entities, example.id).items()}
            parsed, value = task.decode(example.target, Context(source=example.source, known=known))
            assert parsed and _comparable(task, value) == _comparable(task, example.gold), (split, example.id)
            n += 1
        assert n > 0


GOLD = {
    "bc5cdr": ("test", "CDR_TestSet.PubTator.txt", "f1"),
    "ddi": ("test", "test.json", "f1"),
    "kd-dti": ("test", "test.json", "f1"),
    "pubmedqa": ("test", "test.tsv", "accuracy"),
    "hoc": ("test", "test.tsv", "micro_f1"),
}


@pytest.mark.parametrize("name", sorted(GOLD))
def test_gold_targets_through_the_cli_score_100(data, tmp_path, name):
    split, gold_file, metric = GOLD[name]
    task = TASKS[name]
    run_tool("biogpt_fairseq.downstream.build", name, "--data", data, "--out", tmp_path, "--splits", split)
    x, y, ids = (tmp_path / f"{split}.{ext}" for ext in ("x", "y", "pmid"))
    n_lines = len(y.read_text(encoding="utf-8").splitlines())
    assert n_lines == len(x.read_text(encoding="utf-8").splitlines()) == len(ids.read_text().splitlines())
    extra = ["--entities", data / "BC5CDR/raw/test.json"] if name == "bc5cdr" else []
    bin_tool("postprocess_rel.py", name, y, "--out", tmp_path / "pred.jsonl", "--pmids", ids, "--source", x, *extra)
    decoded = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert len(decoded) == n_lines and all(d["parsed"] for d in decoded)
    assert [d["pmid"] for d in decoded] == ids.read_text().splitlines()
    result = bin_tool("evaluate.py", name, "--pred", tmp_path / "pred.jsonl", "--gold", data / task.dataset / "raw" / gold_file)
    metrics = json.loads(result.stdout)
    assert metrics[metric] == pytest.approx(100.0), metrics


def test_bc5cdr_split_level_entity_map_has_a_measured_ceiling(data, tmp_path):
    """The original maps names through one map per split; the same mention can mean different
    MeSH ids in different documents, so even the gold targets lose 12 of 1,066 relations."""
    run_tool("biogpt_fairseq.downstream.build", "bc5cdr", "--data", data, "--out", tmp_path, "--splits", "test")
    bin_tool("postprocess_rel.py", "bc5cdr", tmp_path / "test.y", "--out", tmp_path / "pred.jsonl",
             "--pmids", tmp_path / "test.pmid", "--entities", data / "BC5CDR/raw/test.entities.json")
    metrics = json.loads(bin_tool("evaluate.py", "bc5cdr", "--pred", tmp_path / "pred.jsonl",
                                  "--gold", data / "BC5CDR/raw/CDR_TestSet.PubTator.txt").stdout)
    assert (metrics["n_correct"], metrics["n_gold"]) == (1054, 1066)
    assert metrics["f1"] == pytest.approx(98.92, abs=0.01)


def test_builder_skips_and_reports_documents_without_gold(data, tmp_path):
    result = run_tool("biogpt_fairseq.downstream.build", "ddi", "--data", data, "--out", tmp_path, "--splits", "train")
    assert "ddi train: 469 examples, 195 documents without gold and 0 without text skipped" in result.stderr.decode()


def test_hoc_validation_is_carved_from_train_not_the_test_copy(data):
    hoc = TASKS["hoc"]
    raw = data / "HoC/raw"
    train, valid = list(hoc.examples(raw, "train")), list(hoc.examples(raw, "valid"))
    assert len(train) + len(valid) == 9972 and len(valid) == 998
    assert not {e.source for e in valid} & {e.source for e in hoc.examples(raw, "test")} - {e.source for e in train}


def test_relation_decoding_resolves_and_inside_names():
    bc5cdr = TASKS["bc5cdr"]
    sentence = "learned1 learned2 the relation between sodium and potassium citrate and nausea and vomiting exists."
    # The original's greedy regex splits at the last ' and ':
    assert bc5cdr.decode(sentence)[1] == [("sodium and potassium citrate and nausea", "CID", "vomiting")]
    known = {"head": {"sodium and potassium citrate"}, "tail": {"nausea and vomiting"}}
    assert bc5cdr.decode(sentence, Context(known=known)) == (True, [("sodium and potassium citrate", "CID", "nausea and vomiting")])


def test_unparseable_lines_are_kept_marked_and_counted(tmp_path):
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("the interaction between aspirin and warfarin is effect.\nno relation here\n\n")
    result = bin_tool("postprocess_rel.py", "ddi", hyps, "--out", tmp_path / "o.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["parsed"] for r in rows] == [True, False, False] and rows[1]["triples"] == []
    assert rows[0]["triples"] == [{"head": "aspirin", "relation": "effect", "tail": "warfarin"}]
    assert "3 hypotheses, 1 parsed, 2 unparsed" in result.stderr.decode()


def test_fairseq_generate_output_is_put_back_in_order_and_detokenized(tmp_path):
    generate = tmp_path / "gen.out"
    generate.write_text(
        "S-1\tdoes it work ?\n"
        "H-1\t-0.3\tthe answer to the question given the context is no .\n"
        "S-0\tquestion two\n"
        "H-0\t-0.2\tlearned1 learned2 the ans@@ wer to the question given the context is y@@ es .\n"
        "2026-11-24 | INFO | fairseq_cli.generate | Translated 2 sentences\n"
    )
    bin_tool("postprocess_rel.py", "pubmedqa", generate, "--out", tmp_path / "o.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [(r["id"], r["answer"]) for r in rows] == [(0, "yes"), (1, "no")]
    assert rows[0]["hypothesis"] == "learned1 learned2 the answer to the question given the context is yes."


def test_misaligned_inputs_are_errors_naming_the_files(data, tmp_path):
    hyps, pmids = tmp_path / "hyps.txt", tmp_path / "ids.pmid"
    hyps.write_text("a\nb\n")
    pmids.write_text("1\n")
    result = bin_tool("postprocess_rel.py", "ddi", hyps, "--out", tmp_path / "o.jsonl", "--pmids", pmids, check=False)
    assert result.returncode == 2 and "ids.pmid: 1 lines, but" in result.stderr.decode() and "hyps.txt has 2" in result.stderr.decode()
    assert not (tmp_path / "o.jsonl").exists()
    (tmp_path / "p.jsonl").write_text('{"id": 0, "pmid": "1", "answer": "yes"}\n')
    result = bin_tool("evaluate.py", "pubmedqa", "--pred", tmp_path / "p.jsonl", "--gold", data / "PubMedQA/raw/test.tsv", check=False)
    assert result.returncode == 2 and "1 predictions for 500 gold lines" in result.stderr.decode()
    (tmp_path / "bad.jsonl").write_text('{"id": 0, "pmid": "1", "answer": "yes"}\n{"id": 1,\n')
    result = bin_tool("evaluate.py", "pubmedqa", "--pred", tmp_path / "bad.jsonl", "--gold", data / "PubMedQA/raw/test.tsv", check=False)
    assert result.returncode == 2 and "bad.jsonl:2: invalid JSON" in result.stderr.decode()


def test_micro_prf_hand_computed():
    predicted = {"d1": {("a", "r", "b"), ("a", "r", "c")}, "d3": {("x", "r", "y")}}
    gold = {"d1": {("a", "r", "b")}, "d2": {("p", "r", "q"), ("p", "r", "s")}}
    scores = micro_prf(predicted, gold)
    # 1 correct of 3 predicted, of 3 gold: P = R = F1 = 1/3
    assert (scores["n_correct"], scores["n_predicted"], scores["n_gold"]) == (1, 3, 3)
    assert scores["precision"] == pytest.approx(100 / 3) and scores["f1"] == pytest.approx(100 / 3)


def test_bc5cdr_scores_like_the_biocreative_evaluator(tmp_path):
    gold = tmp_path / "gold.PubTator"
    gold.write_text("1|t|T\n1|a|A\n1\t0\t4\tx\tChemical\tC1\n1\tCID\tC1\tD1\n1\tCID\tC2\tD2\n\n2\tCID\tC3\tD3\n")
    pred = [{"pmid": "1", "triples": [{"head_id": "C1", "tail_id": "D1"}, {"head_id": "C1", "tail_id": "D1"},
                                      {"head_id": "C9", "tail_id": "D9"}, {"head_id": None, "tail_id": "D2"}]},
            {"pmid": "2", "triples": [{"head_id": "C3", "tail_id": "D4"}]}]
    scores = TASKS["bc5cdr"].evaluate(pred, gold)
    # predicted set {1:C1-D1, 1:C9-D9, 2:C3-D4} (duplicates count once, unmapped dropped); gold 3; correct 1
    assert (scores["n_correct"], scores["n_predicted"], scores["n_gold"]) == (1, 3, 3)
    assert scores["n_documents_without_prediction"] == 0
    assert TASKS["bc5cdr"].evaluate(pred[:1], gold)["n_documents_without_prediction"] == 1  # doc 2: counted
    with pytest.raises(UserError, match="1 document.* that .*gold.PubTator does not have .e.g. 3"):
        TASKS["bc5cdr"].evaluate(pred + [{"pmid": "3", "triples": []}], gold)


def test_pubmedqa_accuracy_and_macro_f1_hand_computed(tmp_path):
    gold = tmp_path / "g.tsv"
    gold.write_text("question: q context: c\tyes\nquestion: q context: c\tno\n"
                    "question: q context: c\tmaybe\nquestion: q context: c\tyes\n")
    pred = [{"pmid": str(i), "answer": a} for i, a in enumerate(["yes", "yes", "maybe", None])]
    scores = TASKS["pubmedqa"].evaluate(pred, gold)
    assert scores["accuracy"] == 50.0 and scores["n_unparsed"] == 1
    # yes: P 1/2 R 1/2 F 1/2; no: 0; maybe: 1 -> macro 0.5
    assert scores["macro_f1"] == pytest.approx(50.0)


def test_hoc_counts_empty_as_a_class_by_default_and_not_in_the_clean_variant(tmp_path):
    gold = tmp_path / "g.tsv"
    gold.write_text("s1\tempty\n\ns2\tinducing angiogenesis|resisting cell death\n")
    pred = [{"pmid": "1", "labels": ["empty"]}, {"pmid": "3", "labels": ["inducing angiogenesis", "cellular energetics"]}]
    original = TASKS["hoc"].evaluate(pred, gold)
    hallmarks = TASKS["hoc"].evaluate(pred, gold, variant="hallmarks")
    # original: correct {empty, angiogenesis} = 2 of 3 predicted, 3 gold -> 2/3
    assert original["micro_f1"] == pytest.approx(200 / 3)
    # hallmarks only: 1 correct of 2 predicted, 2 gold -> 1/2
    assert hallmarks["micro_f1"] == pytest.approx(50.0)


def test_bc5cdr_pubtator_output(data, tmp_path):
    hyps = tmp_path / "h.txt"
    hyps.write_text("the relation between famotidine and delirium exists; the relation between unknownium and delirium exists.\n")
    pmids = tmp_path / "ids.pmid"
    pmids.write_text("8701013\n")
    result = bin_tool("postprocess_rel.py", "bc5cdr", hyps, "--out", tmp_path / "o.jsonl", "--pmids", pmids,
                      "--entities", data / "BC5CDR/raw/test.entities.json", "--pubtator", tmp_path / "o.PubTator")
    assert (tmp_path / "o.PubTator").read_text() == "8701013\tCID\tD015738\tD003693\t1.0\n"
    assert "1 CID relations written, 1 with a name not in" in result.stderr.decode()


def test_decode_all_matches_the_cli_row_format():
    rows = decode_all("hoc", ["the type of this document is empty."])
    assert rows == [{"id": 0, "pmid": "0", "parsed": True, "labels": ["empty"],
                     "hypothesis": "the type of this document is empty."}]


@pytest.mark.parametrize("name, max_failures", [("ddi", 1), ("kd-dti", 6)])
def test_is_of_form_round_trips_all_but_its_measured_ambiguities(data, name, max_failures):
    """'X is the inhibitor of Y' is ambiguous where names contain ' of ' (and for the label
    'product of'); the paper's default form round-trips every gold document."""
    task = TASKS[name].with_form("is-of")
    raw = data / task.dataset / "raw"
    failures = n = 0
    for split in task.raw_splits:
        for example in task.examples(raw, split):
            if not example.target:
                continue
            n += 1
            parsed, value = task.decode(example.target, Context(source=example.source))
            failures += not parsed or _comparable(task, value) != _comparable(task, example.gold)
    assert n > 700 and failures <= max_failures


def test_is_of_form_through_build_and_postprocess(data, tmp_path):
    result = run_tool("biogpt_fairseq.downstream.build", "kd-dti", "--data", data, "--out", tmp_path,
                      "--splits", "test", "--form", "is-of")
    first = (tmp_path / "test.y").read_text().splitlines()[0]
    assert first.startswith("Psoralen is the inhibitor of Monoamine oxidase type A (MAO-A); ")
    bin_tool("postprocess_rel.py", "kd-dti", tmp_path / "test.y", "--out", tmp_path / "o.jsonl", "--form", "is-of",
             "--pmids", tmp_path / "test.pmid", "--source", tmp_path / "test.x")
    metrics = json.loads(bin_tool("evaluate.py", "kd-dti", "--pred", tmp_path / "o.jsonl",
                                  "--gold", data / "KD-DTI/raw/test.json").stdout)
    assert metrics["f1"] > 99.9
    result = run_tool("biogpt_fairseq.downstream.build", "bc5cdr", "--data", data, "--out", tmp_path,
                      "--form", "is-of", check=False)
    assert result.returncode == 2 and "bc5cdr has no target form 'is-of'" in result.stderr.decode()
