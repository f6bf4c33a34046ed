"""Dataset specs: building, the two decoders, the scorers' rules on hand-made cases, the CLIs; the generic
pipeline asks the specs, and the layers import one way."""
import ast
import json
import math
import sys

import pytest
from conftest import REPO, run_tool

from biogpt_fairseq.downstream import DATASETS, DECODERS, get_dataset, only_dataset_of_kind
from biogpt_fairseq.downstream.answers import AnswerSpec
from biogpt_fairseq.downstream.build import build
from biogpt_fairseq.downstream.postprocess import decode_all, detokenize
from biogpt_fairseq.downstream.scoring import cid_relations, cid_report, hard_match, java_double, label_micro_f1
from biogpt_fairseq.tasks.prompt_layout import PromptLayout
from biogpt_fairseq.textio import UserError


def bin_tool(name, *args, check=True):
    return run_tool(sys.executable, REPO / "bin" / name, *args, check=check)


def comparable(spec, value):
    if spec.kind == "triples":
        return [tuple(" ".join(part.lower().split()) for part in
                      ((t["head"], t["relation"], t["tail"]) if isinstance(t, dict) else t)) for t in value]
    return value


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_gold_target_decodes_back_with_the_robust_decoder(data, name):
    spec = get_dataset(name)
    raw = data / spec.folder / "raw"
    original_failures = n = 0
    for split in spec.raw_files:
        resources = spec.decoding_resources(raw, split, decoder="robust")
        for example in spec.examples(raw, split):
            if not example.target:
                continue
            document = resources.for_document(example.id) if resources else None
            decoded = spec.decode(example.target, "robust", document, example.source)
            assert decoded.parsed and comparable(spec, decoded.value) == comparable(spec, example.gold), (split, example.id)
            original = spec.decode(example.target, "original", document, example.source)
            original_failures += comparable(spec, original.value) != comparable(spec, example.gold)
            n += 1
    assert n > 0
    # The original's greedy regex cuts a name containing ' and ' at its last ' and ' (measured)
    assert original_failures == {"bc5cdr": 19, "ddi": 0, "kd-dti": 4, "pubmedqa": 0, "hoc": 0}[name]


def test_build_reports_skipped_documents_and_writes_a_manifest(data, tmp_path, capfd):
    manifest = build("ddi", data, tmp_path, splits=["train"])
    assert "ddi train: 469 examples from" in capfd.readouterr().err
    assert manifest["splits"]["train"] == {"raw": "train.json", "gold": "train.json", "examples": 469,
                                           "skipped_no_gold": 195}
    assert json.loads((tmp_path / "manifest.json").read_text())["dataset"] == "ddi"


def test_kd_dti_trains_on_the_released_valid_split_without_train_json(data, tmp_path, capfd):
    manifest = build("kd-dti", data, tmp_path, splits=["train", "valid"])
    assert "(no train.json: built from valid.json)" in capfd.readouterr().err
    assert manifest["splits"]["train"]["raw"] == "valid.json"
    assert (tmp_path / "train.y").read_bytes() == (tmp_path / "valid.y").read_bytes()


def test_hoc_trains_on_all_of_train_and_validates_on_the_released_valid(data, tmp_path):
    manifest = build("hoc", data, tmp_path)
    assert [manifest["splits"][s]["examples"] for s in ("train", "valid", "test")] == [9972, 4947, 4947]
    assert not (tmp_path / "train.pmid").exists()


def test_pubmedqa_settings(data, tmp_path):
    build("pubmedqa", data, tmp_path / "free", splits=["test"])
    build("pubmedqa", data, tmp_path / "required", splits=["test"], variant="reasoning-required")
    free = (tmp_path / "free" / "test.x").read_text(encoding="utf-8").splitlines()
    required = (tmp_path / "required" / "test.x").read_text(encoding="utf-8").splitlines()
    assert all(" answer: " in line for line in free) and not any(" answer: " in line for line in required)
    assert all(line == line.lower() and line.endswith(".") for line in free + required)
    assert all(f.startswith(r[:-1]) for f, r in zip(free, required))
    assert (tmp_path / "free" / "test.y").read_bytes() == (tmp_path / "required" / "test.y").read_bytes()


@pytest.mark.fast
def test_the_two_decoders_on_names_containing_and():
    bc5cdr = get_dataset("bc5cdr")
    line = "learned1 learned2 the relation between sodium and potassium citrate and nausea and vomiting exists."
    maps = {"head": {"sodium and potassium citrate": "C1"}, "tail": {"nausea and vomiting": "D1"}}
    # The original's greedy regex splits at the last ' and ', and maps names as written
    original = bc5cdr.decode(line, "original", maps)
    assert [(t["head"], t["tail"], t["head_id"], t["tail_id"]) for t in original.value] == \
        [("sodium and potassium citrate and nausea", "vomiting", "-1", "-1")]
    robust = bc5cdr.decode(line, "robust", maps)
    assert [(t["head"], t["tail"], t["head_id"], t["tail_id"]) for t in robust.value] == \
        [("sodium and potassium citrate", "nausea and vomiting", "C1", "D1")]


@pytest.mark.fast
def test_the_original_decoders_quirks_are_kept():
    ddi, pubmedqa, hoc = get_dataset("ddi"), get_dataset("pubmedqa"), get_dataset("hoc")
    # the prompt is stripped up to its last token; without it, a hard prompt phrase is searched anywhere;
    # only the first pattern that occurs is tried
    answer = "the interaction between a and b is effect."
    assert ddi.decode(f"x learned8 learned9 {answer}").value == [{"head": "a", "relation": "effect", "tail": "b"}]
    assert ddi.decode(f"x in conclusion, y in conclusion, {answer}").value == [{"head": "a", "relation": "effect", "tail": "b"}]
    assert not ddi.decode(f"x learned9 y in conclusion, {answer}").parsed
    # case matters to the templates; the answer is everything after the phrase
    assert not pubmedqa.decode("The answer to the question given the context is yes.").parsed
    assert pubmedqa.decode("the answer to the question given the context is yes, clearly.").value == "yes, clearly"
    assert hoc.decode("the type of this document is empty..").value == ["empty."]
    # the robust decoders accept what the templates mean
    assert pubmedqa.decode("The answer to the question given the context is yes, clearly.", "robust").value == "yes"
    assert hoc.decode("learned1 the type of this document is empty..", "robust").value == ["empty"]


@pytest.mark.fast
def test_unparseable_lines_are_kept_marked_and_counted(tmp_path):
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("the interaction between aspirin and warfarin is effect.\nno relation here\n\n")
    (tmp_path / "ids").write_text("1\n2\n3\n")
    result = bin_tool("postprocess_rel.py", "ddi", hyps, "--out", tmp_path / "o.jsonl", "--pmids", tmp_path / "ids")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["parsed"] for r in rows] == [True, False, False] and rows[1]["triples"] == []
    assert rows[0]["triples"] == [{"head": "aspirin", "relation": "effect", "tail": "warfarin"}]
    assert "failed = 2, total = 3" in result.stderr.decode()


@pytest.mark.fast
def test_fairseq_generate_output_is_put_back_in_order_as_whole_lines(tmp_path):
    generate = tmp_path / "gen.out"
    generate.write_text(
        "S-1\tdoes it work? learned1 learned2\n"
        "H-1\t-0.3\tthe answer to the question given the context is no .\n"
        "D-1\t-0.3\tthe answer to the question given the context is no.\n"
        "S-0\tquestion two learned1 learned2\n"
        "H-0\t-0.2\tthe answer to the question given the context is yes .\n"
        "D-0\t-0.2\tthe answer to the question given the context is yes.\n"
        "2026-11-24 | INFO | fairseq_cli.generate | Translated 2 sentences\n"
    )
    bin_tool("postprocess_rel.py", "pubmedqa", generate, "--out", tmp_path / "o.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [(r["id"], r["answer"]) for r in rows] == [(0, "yes"), (1, "no")]
    assert rows[0]["hypothesis"] == "question two learned1 learned2 the answer to the question given the context is yes."
    # without --bpe/--tokenizer fairseq prints tokens: BPE is removed and the line detokenized
    generate.write_text("S-0\tq@@ uestion learned1\nH-0\t-0.2\tthe answer to the question given the context is ye@@ s .\n")
    bin_tool("postprocess_rel.py", "pubmedqa", generate, "--out", tmp_path / "o.jsonl")
    row = json.loads((tmp_path / "o.jsonl").read_text())
    assert row["hypothesis"] == "question learned1 the answer to the question given the context is yes." and row["parsed"]


# The original's `detokenizer.perl -l en -a` (moses-smt/mosesdecoder, run on these lines): a line that
# looks like a tag, or holds only whitespace, printed as it is; words split on spaces alone.
PERL_DETOKENIZED = [
    ("<unk> famotidine @-@ associated delirium . learned1 learned2 the relation between famotidine and <unk>",
     "<unk> famotidine @-@ associated delirium . learned1 learned2 the relation between famotidine and <unk>"),
    ("<unk> famotidine @-@ associated delirium . learned1 learned2 the relation between famotidine and delirium "
     "exists .", "<unk> famotidine-associated delirium. learned1 learned2 the relation between famotidine and "
     "delirium exists."),
    ("famotidine @-@ associated\tdelirium , a ( series ) . learned1 the type of this document is empty .",
     "famotidine-associated\tdelirium, a (series). learned1 the type of this document is empty."),
    ("a &lt; b &amp; c &quot; d &quot; e &apos;s f &apos; g . learned1 the relation between x and y exists .",
     "a < b & c \"d\" e's f 'g. learned1 the relation between x and y exists."),
    ("nbsp\xa0, here . learned1 the answer to the question given the context is no .",
     "nbsp\xa0, here. learned1 the answer to the question given the context is no."),
    ("ideo\u3000, space . learned1 x .", "ideo\u3000, space. learned1 x."),
    ("form\x0cfeed and \x0bvt . learned1 x .", "form\x0cfeed and \x0bvt. learned1 x."),
    ("crlf line .\r", "crlf line .\r"),
    ("<b> tag line </b>", "<b> tag line </b>"),
    ("   ", "   "),
    ("ca@@ ffeine . learned1 x .", "caffeine. learned1 x."),
]


@pytest.mark.fast
@pytest.mark.parametrize("tokens, perl", PERL_DETOKENIZED)
def test_detokenization_is_the_originals_perl(tokens, perl):
    assert detokenize(tokens) == perl


def test_misaligned_inputs_are_errors_naming_the_files(data, tmp_path):
    hyps, pmids = tmp_path / "hyps.txt", tmp_path / "ids.pmid"
    hyps.write_text("a\nb\n")
    pmids.write_text("1\n")
    result = bin_tool("postprocess_rel.py", "ddi", hyps, "--out", tmp_path / "o.jsonl", "--pmids", pmids, check=False)
    assert result.returncode == 2 and "ids.pmid: 1 lines, but" in result.stderr.decode() and "hyps.txt has 2" in result.stderr.decode()
    assert not (tmp_path / "o.jsonl").exists()
    result = bin_tool("postprocess_rel.py", "ddi", hyps, "--out", tmp_path / "o.jsonl", check=False)
    assert result.returncode == 2 and "ddi predictions need the split's ids" in result.stderr.decode()
    (tmp_path / "p.jsonl").write_text('{"id": 0, "answer": "yes"}\n')
    result = bin_tool("evaluate.py", "pubmedqa", tmp_path / "p.jsonl", "--gold", data / "PubMedQA/raw/test.tsv", check=False)
    assert result.returncode == 2 and "1 predictions for 500 gold lines" in result.stderr.decode()
    (tmp_path / "bad.jsonl").write_text('{"id": 0, "answer": "yes"}\n{"id": 1,\n')
    result = bin_tool("evaluate.py", "pubmedqa", tmp_path / "bad.jsonl", "--gold", data / "PubMedQA/raw/test.tsv", check=False)
    assert result.returncode == 2 and "bad.jsonl:2: invalid JSON" in result.stderr.decode()


def test_a_contradicting_dataset_or_variant_is_an_error(data, tmp_path):
    build("ddi", data, tmp_path, splits=["test"])
    (tmp_path / "h.txt").write_text("x\n" * 191)
    for args, message in [(["kd-dti", tmp_path / "h.txt"], "dataset 'kd-dti' contradicts"),
                          ([tmp_path / "h.txt", "--variant", "is-of"], "--variant 'is-of' contradicts")]:
        result = bin_tool("postprocess_rel.py", *args, "--data-bin", tmp_path, check=False)
        assert result.returncode == 2 and message in result.stderr.decode() and "which records" in result.stderr.decode()


@pytest.mark.fast
def test_hard_match_hand_computed():
    golden = {"d1": [("Aspirin", "Warfarin", "effect"), ("insulin", "PPAR-gamma type 2 (PPARG)", "agonist")],
              "d2": [("a", "b", "int")]}
    rows = [{"pmid": "d1", "triples": [{"head": "aspirin", "relation": "effect", "tail": "warfarin"},
                                       {"head": "insulin", "relation": "agonist", "tail": "PPARG"}]},
            {"pmid": "d2", "triples": [{"head": "failed", "relation": "x", "tail": "y"}]},  # the original's marker
            {"pmid": "d9", "triples": [{"head": "a", "relation": "int", "tail": "b"}]}]  # not in the gold: missing
    f = hard_match(rows, golden, "gold.json")
    # d1: names lower-cased and squeezed; 'PPARG' matches the bracketed abbreviation -> P = R = 1
    # d2: nothing predicted -> P = 0 (1 if gold were empty too), R = 0
    assert (f["num sample"], f["missing"], f["num_pred"], f["num_gold tp"]) == (2, 1, 2, 3)
    assert (f["tp p"], f["tp r"], f["tp micro f1"], f["tp macro f1"]) == (0.5, 0.5, 0.5, 0.5)
    # ontology level: 2 of 2 predicted triples right (bracket rule), 2 of 3 gold found
    assert (f["all p"], f["all r"]) == (1.0, 2 / 3)


@pytest.mark.fast
def test_the_cdr_evaluators_rules(tmp_path):
    gold = tmp_path / "gold.PubTator"
    gold.write_text("1|t|T\n1|a|A\n1\t0\t4\tx\tChemical\tC1\n1\tCID\tC1\tD1\n1\tCID\tMESH:C2\tD2\n\n"
                    "2\tCID\tC3\tD3\n\n3|t|no relations here\n")
    relations = [("1", "C1", "D1"), ("1", "MESH:C1", "D1"),  # duplicates, MESH: prefixed or not: one relation
                 ("1", "C2", "D2"), ("1", "-1", "D2"), ("1", "-1", "D2"),  # -1 is an id ('null'): one FP
                 ("2", "C3", "D4"), ("3", "C1", "D1"), ("4", "C1", "D1")]  # docs without gold CID: dropped
    f = cid_relations(relations, gold)
    assert (f["TP"], f["FP"], f["FN"]) == (2, 2, 1)
    assert cid_report(f) == ("TP: 2\nFP: 2\nFN: 1\nPrecision: 0.5\nRecall: 0.6666666666666666\n"
                             "F-score: 0.5714285714285715")
    nothing = cid_relations([], gold)
    assert math.isnan(nothing["Precision"]) and math.isnan(nothing["F-score"]) and nothing["Recall"] == 0.0
    assert [java_double(x) for x in (1.0, 0.4, 9.380863039399625e-4, 1e7, 123.0)] == \
        ["1.0", "0.4", "9.380863039399625E-4", "1.0E7", "123.0"]


@pytest.mark.fast
def test_label_micro_f1_ignores_unknown_labels():
    classes = {"a", "b", "empty"}
    f = label_micro_f1([["a", "zzz"], ["failed"], ["empty", "b"]], [["a"], ["b"], ["empty"]], classes)
    assert (f["tp"], f["fp"], f["fn"]) == (2, 1, 1) and f["micro f1"] == pytest.approx(2 / 3)


@pytest.mark.fast
def test_label_micro_f1_is_the_originals_pinned_scikit_learn():
    """scikit-learn 1.2.1 (the original's requirements.txt) prints these for 274 / 0 / 4,947 and
    3,950 / 1,932 / 1,271 (two of the recorded HoC variants); 2tp / (2tp + fp + fn), newer
    scikit-learn's form, ends ...889 and ...932."""
    def f1(tp, fp, fn):
        return label_micro_f1([["a"]] * tp + [["a"]] * fp + [[]] * fn, [["a"]] * tp + [[]] * fp + [["a"]] * fn,
                              {"a"})["micro f1"]
    assert (repr(f1(274, 0, 4947)), repr(f1(3950, 1932, 1271))) == ("0.09972702456778888", "0.7115194091686933")
    assert f1(0, 3, 4) == 0.0


def test_bc5cdr_pubtator_output_keeps_unmapped_names_as_the_original(data, tmp_path):
    hyps = tmp_path / "h.txt"
    hyps.write_text("the relation between famotidine and delirium exists; the relation between unknownium and delirium exists.\n")
    pmids = tmp_path / "ids.pmid"
    pmids.write_text("8701013\n")
    result = bin_tool("postprocess_rel.py", "bc5cdr", hyps, "--out", tmp_path / "o.jsonl", "--pmids", pmids,
                      "--entities", data / "BC5CDR/raw/test.entities.json")
    # the original's file, by the original's name
    pubtator = tmp_path / "h.txt.extracted.PubTator"
    assert pubtator.read_text() == "8701013\tCID\tD015738\tD003693\t1.0\n8701013\tCID\t-1\tD003693\t1.0\n"
    assert "2 CID relations, 1 with a name the entity map lacks" in result.stderr.decode()
    assert result.stdout.decode() == "failed = 0, total = 1\n"  # what the original prints
    # the original's PubTator predictions score directly
    result = bin_tool("evaluate.py", "bc5cdr", pubtator, "--gold", data / "BC5CDR/raw/CDR_TestSet.PubTator.txt")
    assert json.loads(result.stdout)["TP"] == 1


@pytest.mark.fast
def test_decode_all_row_format():
    line = "the type of this document is cellular energetics | inducing angiogenesis."
    rows = decode_all(get_dataset("hoc"), [line])
    # (the text as read is what the original's postprocess writes: its scorer splits it)
    assert rows == [{"id": 0, "parsed": True, "labels": ["cellular energetics", "inducing angiogenesis"],
                     "text": "cellular energetics | inducing angiogenesis", "hypothesis": line}]
    with pytest.raises(UserError, match="unknown decoder"):
        decode_all(get_dataset("hoc"), ["x"], decoder="clever")


@pytest.mark.parametrize("name, failures_measured", [("ddi", 1), ("kd-dti", 11)])
def test_is_of_variant_round_trips_all_but_its_measured_ambiguities(data, name, failures_measured):
    """'X is the inhibitor of Y' is ambiguous where names contain ' of ' and for the label 'product of'
    (10 of KD-DTI's 11: 'X is the product of of Y' splits as 'product' + 'of Y')."""
    spec = get_dataset(name)
    raw = data / spec.folder / "raw"
    failures = n = 0
    for split in spec.raw_files:
        for example in spec.examples(raw, split, "is-of"):
            if not example.target:
                continue
            n += 1
            decoded = spec.decode(example.target, "robust", None, example.source, variant="is-of")
            failures += not decoded.parsed or comparable(spec, decoded.value) != comparable(spec, example.gold)
    assert n > 700 and failures == failures_measured
    with pytest.raises(UserError, match="bc5cdr has no variant 'is-of'"):
        list(get_dataset("bc5cdr").examples(data / "BC5CDR/raw", "test", "is-of"))


@pytest.mark.parametrize("name, answer, value", [
    ("hoc", "the type of this document is empty.", ["empty"]),
    ("pubmedqa", "the answer to the question given the context is yes.", "yes"),
    ("ddi", "the interaction between aspirin and warfarin is effect.",
     [{"head": "aspirin", "relation": "effect", "tail": "warfarin"}]),
])
def test_the_decoders_strip_the_learned_tokens_the_models_layout_names(name, answer, value, tmp_path):
    """A model whose task named its learned tokens otherwise (--learned-prompt-pattern virtual) decodes as
    the original's names do by default."""
    spec, virtual = get_dataset(name), PromptLayout(learned_prompt=2, learned_prompt_pattern="virtual")
    for decoder in DECODERS:
        assert spec.decode(f"some source virtual1 virtual2 {answer}", decoder, layout=virtual).value == value
        assert spec.decode(f"some source learned1 learned2 {answer}", decoder).value == value  # the default
    if spec.kind == "triples":  # (the answer phrases are found anywhere: only a relation's sentence shows it)
        for decoder in DECODERS:
            assert not spec.decode(f"some source virtual1 virtual2 {answer}", decoder).parsed
    hyps, ids = tmp_path / "h.txt", tmp_path / "ids"
    hyps.write_text(f"some source virtual1 virtual2 {answer}\n")
    ids.write_text("1\n")
    bin_tool("postprocess_rel.py", name, hyps, "--pmids", ids, "--learned-prompt-pattern", "virtual")
    assert json.loads((tmp_path / "h.txt.extracted.jsonl").read_text())[spec.kind] == value


def test_a_model_without_its_dataset_reads_as_the_one_registered_dataset_of_its_kind(monkeypatch):
    """(The API's answer and classify on the original release's checkpoints, which name no dataset.)"""
    assert [only_dataset_of_kind(kind) for kind in ("answer", "labels", "triples")] == ["pubmedqa", "hoc", None]
    monkeypatch.setitem(DATASETS, "my-qa", type("MyQA", (AnswerSpec,), {"name": "my-qa"})())
    assert only_dataset_of_kind("answer") is None  # two: the model must say which


PACKAGE = REPO / "biogpt_fairseq"
# The generic pipeline: every downstream module but the dataset specs, the API and what it loads, the demo.
GENERIC = sorted(set((PACKAGE / "downstream").glob("*.py")) | {PACKAGE / "api.py", PACKAGE / "generator.py",
                                                              PACKAGE / "tools" / "demo.py"})


def test_the_generic_pipeline_names_no_dataset():
    """It asks the spec (hooks, the registry): no string in it is a dataset's name, bar the demo's default
    choice of what to fine-tune."""
    named = []
    for path in GENERIC:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        demo_defaults = {id(constant) for node in ast.walk(tree) if path.name == "demo.py"
                         and isinstance(node, ast.keyword) and node.arg == "default" for constant in ast.walk(node)}
        named += [f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in DATASETS and id(node) not in demo_defaults]
    assert named == []


def imports_among_modules():
    """{module: {module it imports, at module level or in a function}} among the package's modules."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in imported:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):  # (not its own package)
                    graph.setdefault(name, set()).add(target)
    return graph


def test_no_module_of_the_package_reaches_itself_and_downstream_never_the_api():
    graph = imports_among_modules()

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    assert [m for m in graph if m in reachable(m)] == []  # no module of the package reaches itself
    downstream = [m for m in graph if m.startswith("biogpt_fairseq.downstream")]
    assert downstream and [m for m in downstream if "biogpt_fairseq.api" in reachable(m)] == []
