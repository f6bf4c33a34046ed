"""The bad-input matrix: every entry point, every awkward input. Each gives a clear error naming the file
and line (exit status 2, no traceback), or a counted and reported skip; line-aligned files stay aligned."""
import gzip
import json
import sys
import warnings

import pytest
from conftest import REPO, run_tool

from biogpt_fairseq import BioGPT
from biogpt_fairseq.textio import UserError

ODD_LINES = [  # (content, what) of lines that are valid text and must each stay one line
    ("<s> aspirin </s> <unk> <pad> warfarin", "fairseq's special symbols as text"),
    ("阿司匹林 aspirin 治疗", "Chinese"),
    ("before\u2028after", "U+2028 inside a line"),
    ("before\rafter", "a carriage return inside a line"),
    ("   \t  ", "only spaces and tabs"),
    ("", "an empty line"),
]
BAD_BYTES = [(b"fine\n\xff\xfe broken\n", ":2: invalid UTF-8"), (b"fine\nnul \x00 here\n", ":2: NUL byte")]


def user_error(result, *expected):
    """A user error: exit status 2, one `error:` line naming what is wrong, no traceback."""
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr and "error: " in stderr, stderr[-2000:]
    for text in expected:
        assert text in stderr, stderr[-2000:]


def odd_text_file(tmp_path, name="odd.txt"):
    path = tmp_path / name
    path.write_bytes("".join(line + "\n" for line, _ in ODD_LINES).encode("utf-8"))
    return path


# --- biogpt_fairseq.data.tokenize ------------------------------------------------------------------------

def test_tokenize_bad_files(data, tmp_path):
    codes = data / "biogpt" / "bpecodes"
    for content, message in BAD_BYTES:
        path = tmp_path / "bad.txt"
        path.write_bytes(content)
        user_error(run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", codes, path, "-o", tmp_path / "out",
                            check=False), f"{path}{message}")
        assert not (tmp_path / "out").exists()
    user_error(run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", codes, tmp_path / "missing.txt", check=False),
               "missing.txt: no such file")
    (tmp_path / "empty.txt").write_bytes(b"")
    run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", codes, tmp_path / "empty.txt", "-o", tmp_path / "empty.out")
    assert (tmp_path / "empty.out").read_bytes() == b""


def test_tokenize_odd_lines_stay_one_line_each_and_never_become_special_symbols(data, tmp_path):
    out = tmp_path / "odd.bpe"
    run_tool("biogpt_fairseq.data.tokenize", "--bpe-codes", data / "biogpt" / "bpecodes", "--workers", 2,
             odd_text_file(tmp_path), "-o", out)
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == len(ODD_LINES)
    special, chinese, line_separator, carriage_return, blank, empty = lines
    assert "&lt; s &gt;" in special and "<s>" not in special.split()  # Moses escapes: never fairseq's <s>
    assert chinese and line_separator.split() == ["before", "after"] and carriage_return.split() == ["before", "after"]
    assert blank == "   \t  " and empty == ""  # as perl's tokenizer.perl writes a line of whitespace


# --- biogpt_fairseq.data.pubmed --------------------------------------------------------------------------

def citation(pmid, title, abstract):
    abstract_xml = f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>" if abstract is not None else ""
    return (f"<MedlineCitation><PMID>{pmid}</PMID><Article><ArticleTitle>{title}</ArticleTitle>{abstract_xml}"
            "</Article></MedlineCitation>")


@pytest.mark.fast
def test_pubmed_bad_files(tmp_path):
    cases = {"empty.xml": b"", "bad_utf8.xml": b"<MedlineCitationSet>\n<a>\xff</a>\n</MedlineCitationSet>",
             "nul.xml": b"<MedlineCitationSet>\n<a>\x00</a>\n</MedlineCitationSet>"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        result = run_tool("biogpt_fairseq.data.pubmed", tmp_path / name, "--out", tmp_path / "c.txt", check=False)
        user_error(result, f"{tmp_path / name}:", "malformed XML")
        assert not (tmp_path / "c.txt").exists() and not (tmp_path / "c.pmid").exists()
    user_error(run_tool("biogpt_fairseq.data.pubmed", tmp_path / "missing.xml", "--out", tmp_path / "c.txt", check=False),
               "missing.xml: no such file")


@pytest.mark.fast
def test_pubmed_odd_text_and_missing_abstracts_are_kept_aligned_or_counted(tmp_path):
    records = [citation(1, "Specials", "&lt;s&gt; aspirin &lt;/s&gt; &lt;unk&gt; &lt;pad&gt;"),
               citation(2, "中文", "阿司匹林 治疗"), citation(3, "Separators", "one\u2028two&#13;three\r\nfour"),
               citation(4, "No abstract", None), citation(5, "Blank abstract", " \t "),
               citation(6, "Long", "word " * 200_000)]
    xml = tmp_path / "odd.xml.gz"
    with gzip.open(xml, "wt", encoding="utf-8") as handle:
        handle.write("<MedlineCitationSet>\n" + "\n".join(records) + "\n</MedlineCitationSet>\n")
    result = run_tool("biogpt_fairseq.data.pubmed", xml, "--out", tmp_path / "c.txt")
    assert "read 6 citations, kept 4, dropped 2" in result.stderr.decode()
    texts = (tmp_path / "c.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert (tmp_path / "c.pmid").read_text().split() == ["1", "2", "3", "6"]
    assert texts[0] == "Specials <s> aspirin </s> <unk> <pad>"  # text as text: the tokenizer escapes it
    assert texts[2] == "Separators one two three four" and len(texts[3]) > 1_000_000


# --- preprocess/*.sh --------------------------------------------------------------------------------

@pytest.mark.parametrize("script", ["pretrain.sh", "finetune.sh"])
def test_preprocess_sh_usage_error(script, tmp_path):
    """A usage error prints what is wrong and the usage on stderr and exits 2; --help is not an error."""
    path = REPO / "preprocess" / script
    result = run_tool(path, "--no-such-option", check=False)
    assert result.returncode == 2 and not result.stdout
    assert f"{script}: unknown option --no-such-option" in result.stderr.decode()
    assert "Usage:" in result.stderr.decode()
    result = run_tool(path, tmp_path / "out", check=False)  # an argument short
    assert result.returncode == 2 and "Usage:" in result.stderr.decode() and not result.stdout
    result = run_tool(path, "--help")
    assert "Usage:" in result.stdout.decode() and not result.stderr


def test_pretrain_sh_bad_inputs(data, tmp_path):
    script = REPO / "preprocess" / "pretrain.sh"
    result = run_tool(script, tmp_path / "out", tmp_path / "missing.xml", check=False)
    user_error(result, "missing.xml: no such file")
    (tmp_path / "empty.xml").write_bytes(b"")
    user_error(run_tool(script, tmp_path / "out", tmp_path / "empty.xml", check=False), "empty.xml:1:1")
    assert not (tmp_path / "out" / "data-bin").exists()
    result = run_tool(script, tmp_path / "out", data / "pubmed" / "pubmed24_sample.xml.gz", "--bpe-codes",
                      tmp_path / "nocodes", "--dict", data / "biogpt" / "dict.txt", check=False)
    user_error(result, "nocodes: no such file")


def test_finetune_sh_bad_inputs(data, tmp_path):
    script = REPO / "preprocess" / "finetune.sh"
    vocabulary = ["--bpe-codes", data / "biogpt" / "bpecodes", "--dict", data / "biogpt" / "dict.txt"]
    user_error(run_tool(script, "ddi", tmp_path / "out", "--data", tmp_path / "nowhere", check=False),
               "nowhere/biogpt/bpecodes: no such file")
    user_error(run_tool(script, "ddi", tmp_path / "out", "--data", tmp_path / "nowhere", *vocabulary, check=False),
               "nowhere/DDI/raw: no such directory")
    raw = tmp_path / "mirror" / "DDI" / "raw"
    raw.mkdir(parents=True)
    (raw / "train.json").write_text(json.dumps({"7": {"triples": []}}))
    user_error(run_tool(script, "ddi", tmp_path / "out", "--data", tmp_path / "mirror", *vocabulary, check=False),
               "train.json: record '7' has no 'abstract'")
    assert not (tmp_path / "out" / "data-bin").exists()


# --- the task builders ------------------------------------------------------------------------------

@pytest.mark.fast
def test_builder_json_records(tmp_path):
    raw = tmp_path / "DDI" / "raw"
    raw.mkdir(parents=True)
    triple = {"drug": "aspirin", "target": "warfarin", "interaction": "effect"}
    records = {"1": {"abstract": "aspirin <s> and warfarin </s>.", "triples": [triple]},
               "2": {"abstract": "阿司匹林 aspirin and warfarin", "triples": [triple]},
               "3": {"abstract": "aspirin\u2028and\rwarfarin\nsplit", "triples": [triple]},
               "4": {"abstract": "  \t ", "triples": [triple]},
               "5": {"abstract": "no gold here", "triples": []}}
    (raw / "train.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    result = run_tool("biogpt_fairseq.downstream.build", "ddi", "--data", tmp_path, "--out", tmp_path / "out",
                      "--splits", "train")
    # as the original: a document without gold is left out, one without text kept; both counted
    assert "4 examples from" in result.stderr.decode() and "1 documents without gold skipped, 1 with an empty " \
        "source kept" in result.stderr.decode()
    x, y, ids = (tmp_path / "out" / f"train.{ext}" for ext in ("x", "y", "pmid"))
    assert ids.read_text().split("\n") == ["1", "2", "3", "4", ""]
    assert len(x.read_text(encoding="utf-8").split("\n")) == len(y.read_text().split("\n")) == 5
    assert x.read_text(encoding="utf-8").split("\n")[2] == "aspirin and warfarin split"  # line breaks: spaces
    for content, message in [(b'{"1": {"abstract": "x"', "invalid JSON"), (b'{"1": "\xff"}', "invalid JSON"),
                             (b"", "invalid JSON"), (b'{"1": {"abstract": "x"}}', "record '1' has no 'triples'")]:
        (raw / "train.json").write_bytes(content)
        user_error(run_tool("biogpt_fairseq.downstream.build", "ddi", "--data", tmp_path, "--out", tmp_path / "o2",
                            "--splits", "train", check=False), "train.json", message)
        assert not (tmp_path / "o2" / "train.x").exists()


@pytest.mark.fast
def test_builder_tsv_records(tmp_path):
    raw = tmp_path / "PubMedQA" / "raw"
    raw.mkdir(parents=True)
    cases = [(b"question: q context: c\tyes\nno tab here\n", "train.tsv:2: expected a tab-separated source and label"),
             (b"question: q context: c\tyes\n\xff\tno\n", "train.tsv:2: invalid UTF-8"),
             (b"question: q \x00 context: c\tyes\n", "train.tsv:1: NUL byte")]
    for content, message in cases:
        (raw / "train.tsv").write_bytes(content)
        user_error(run_tool("biogpt_fairseq.downstream.build", "pubmedqa", "--data", tmp_path, "--out",
                            tmp_path / "out", "--splits", "train", check=False), message)
    (raw / "train.tsv").write_bytes(b"")
    result = run_tool("biogpt_fairseq.downstream.build", "pubmedqa", "--data", tmp_path, "--out", tmp_path / "out",
                      "--splits", "train")
    assert "0 examples" in result.stderr.decode() and (tmp_path / "out" / "train.x").read_text() == ""


# --- bin/postprocess_rel.py -------------------------------------------------------------------------

def postprocess(*args, check=True):
    return run_tool(sys.executable, REPO / "bin" / "postprocess_rel.py", *args, check=check)


@pytest.mark.fast
def test_postprocess_keeps_every_odd_line_marked(tmp_path):
    hypotheses = odd_text_file(tmp_path, "hyp.txt")
    with open(hypotheses, "a", encoding="utf-8") as handle:
        handle.write("the interaction between aspirin and warfarin is effect. " * 20_000 + "\n")  # a 1 MB line
    n = len(ODD_LINES) + 1
    (tmp_path / "ids").write_text("".join(f"{i}\n" for i in range(n)))  # (a carriage return does not end a line)
    result = postprocess("ddi", hypotheses, "--out", tmp_path / "pred.jsonl", "--pmids", tmp_path / "ids")
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == list(range(n)) and not any(r["parsed"] for r in rows[:-1])
    assert rows[-1]["parsed"]  # the original's greedy regex takes the 1 MB line as one long triple, as it would
    assert f"failed = {n - 1}, total = {n} (kept, marked)" in result.stderr.decode()
    assert rows[2]["hypothesis"] == "before\u2028after" and rows[3]["hypothesis"] == "before\rafter"
    assert len(rows[-1]["hypothesis"]) > 1_000_000  # no sentence a model writes: kept, marked, and fast


@pytest.mark.fast
def test_postprocess_bad_files_and_misaligned_ids(tmp_path):
    (tmp_path / "hyp.txt").write_bytes(BAD_BYTES[0][0])
    user_error(postprocess("pubmedqa", tmp_path / "hyp.txt", "--out", tmp_path / "p.jsonl", check=False),
               f"hyp.txt{BAD_BYTES[0][1]}")
    # a NUL byte is a character of its line, as the original's postprocess reads it
    (tmp_path / "hyp.txt").write_bytes(b"the answer to the question given the context is n\x00o.\nfine\n")
    result = postprocess("pubmedqa", tmp_path / "hyp.txt", "--out", tmp_path / "p.jsonl")
    assert (tmp_path / "hyp.txt.extracted.txt").read_bytes() == b"n\x00o\nfailed\n"
    assert result.stdout.decode() == "Failed:id:2, line:fine\nfailed = 1, total = 2\n"
    (tmp_path / "p.jsonl").unlink()
    user_error(postprocess("pubmedqa", tmp_path / "missing.txt", "--out", tmp_path / "p.jsonl", check=False),
               "missing.txt: no such file")
    (tmp_path / "hyp.txt").write_text("a\nb\n")
    for ids in ("1\n", "1\n2\n3\n"):
        (tmp_path / "ids").write_text(ids)
        user_error(postprocess("ddi", tmp_path / "hyp.txt", "--out", tmp_path / "p.jsonl", "--pmids", tmp_path / "ids",
                               check=False), "ids:", "but", "hyp.txt has 2 hypotheses")
    assert not (tmp_path / "p.jsonl").exists()
    (tmp_path / "empty.txt").write_text("")
    postprocess("pubmedqa", tmp_path / "empty.txt", "--out", tmp_path / "p.jsonl")
    assert (tmp_path / "p.jsonl").read_text() == ""


@pytest.mark.fast
def test_postprocess_names_containing_and(tmp_path):
    (tmp_path / "hyp.txt").write_text("the interaction between tumor necrosis factor and interleukin 6 and "
                                      "aspirin is effect.\n")
    (tmp_path / "src.txt").write_text("Aspirin lowers tumor necrosis factor and interleukin 6 levels.\n")
    (tmp_path / "ids").write_text("1\n")
    for decoder in ("original", "robust"):  # the greedy regex and the split the source supports agree here
        postprocess("ddi", tmp_path / "hyp.txt", "--source", tmp_path / "src.txt", "--out", tmp_path / "p.jsonl",
                    "--pmids", tmp_path / "ids", "--decoder", decoder)
        row = json.loads((tmp_path / "p.jsonl").read_text())
        assert row["triples"] == [{"head": "tumor necrosis factor and interleukin 6", "relation": "effect",
                                   "tail": "aspirin"}], decoder


# --- bin/evaluate.py --------------------------------------------------------------------------------

def evaluate(*args, check=True):
    return run_tool(sys.executable, REPO / "bin" / "evaluate.py", *args, check=check)


def test_evaluate_more_or_fewer_predictions_than_gold(data, tmp_path):
    gold = data / "PubMedQA" / "raw" / "test.tsv"
    for n in (499, 501):
        (tmp_path / "p.jsonl").write_text("".join(json.dumps({"pmid": str(i), "answer": "yes"}) + "\n"
                                                  for i in range(n)))
        user_error(evaluate("pubmedqa", "--pred", tmp_path / "p.jsonl", "--gold", gold, check=False),
                   f"{n} predictions for 500 gold lines in {gold}")
    ddi_gold = data / "DDI" / "raw" / "test.json"
    with_gold = [k for k, v in json.loads(ddi_gold.read_text()).items() if v["triples"]]
    (tmp_path / "p.jsonl").write_text(json.dumps({"pmid": with_gold[0], "triples": []}) + "\n")
    result = evaluate("ddi", "--pred", tmp_path / "p.jsonl", "--gold", ddi_gold)
    assert f"{len(with_gold) - 1} of the {len(with_gold)} documents with gold relations" in result.stderr.decode()
    # a prediction for a document the gold does not have: reported, and counted as missing as the original does
    (tmp_path / "p.jsonl").write_text(json.dumps({"pmid": with_gold[0], "triples": []}) + "\n" +
                                      json.dumps({"pmid": "not-a-ddi-document", "triples": []}) + "\n")
    result = evaluate("ddi", "--pred", tmp_path / "p.jsonl", "--gold", ddi_gold)
    assert "1 predicted document(s) without a gold relation" in result.stderr.decode() and \
        "not-a-ddi-document" in result.stderr.decode()
    assert json.loads(result.stdout)["missing"] == 1


def test_evaluate_bad_prediction_files(data, tmp_path):
    gold = data / "PubMedQA" / "raw" / "test.tsv"
    first = b'{"pmid": "1", "answer": "yes"}\n'
    for content, message in [(first + b"{broken\n", ":2: invalid JSON"), (b'{"pmid": "1"}\n', ":1: no 'answer'"),
                             (first + b'{"pmid": "\xff"}\n', ":2: invalid UTF-8"),
                             (first + b'{"pmid": "\x00"}\n', ":2: NUL byte")]:
        (tmp_path / "p.jsonl").write_bytes(content)
        user_error(evaluate("pubmedqa", "--pred", tmp_path / "p.jsonl", "--gold", gold, check=False),
                   f"p.jsonl{message}")
    user_error(evaluate("pubmedqa", "--pred", tmp_path / "p.jsonl", "--gold", tmp_path / "nogold", check=False),
               "nogold: no such file")


# --- the Python API ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lm(tiny_pretrained, tiny_corpus):
    return BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)


def test_api_odd_inputs(lm):
    assert lm.generate([], beam=1) == []
    texts = [line for line, _ in ODD_LINES]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*longer than")  # none of these is too long
        outputs = lm.generate(texts, beam=1, max_len=3)
    assert len(outputs) == len(texts) and all(isinstance(o, str) for o in outputs)
    special = lm.engine.hub.encode(" ".join(texts[0].split())).tolist()
    assert special.count(lm.engine.hub.task.dictionary.eos()) == 1 and lm.engine.hub.task.dictionary.bos() not in special
    with pytest.raises(UserError, match="input 1 contains a NUL"):
        lm.generate(["fine", "nul \x00 here"], beam=1)
    with pytest.warns(UserWarning, match=r"1 input\(s\) longer .* \(input 0: "):
        assert lm.generate("word " * 200_000, beam=1, max_len=2)  # a 1 MB text: cut, with a warning


# --- the readers of documents (extraction, datasets of your own) and the small JSON files -------------

def deep_json(depth=100_000):
    return "[" * depth + "]" * depth


def read_all(path):
    from biogpt_fairseq.downstream.formats import read_documents

    return [(d.id, d.error) for d in read_documents(str(path))]


@pytest.mark.fast
def test_json_nested_deeper_than_the_parser_goes_is_a_clear_error_or_an_unreadable_record(tmp_path):
    from biogpt_fairseq.downstream import manifest
    from biogpt_fairseq.downstream.custom import read_definition

    bioc = tmp_path / "deep.json"
    bioc.write_text('{"source": "x", "documents": [' + deep_json() + "]}")
    with pytest.raises(UserError, match=f"^{bioc}:1: .*nested deeper than the parser allows"):
        read_all(bioc)
    (tmp_path / "d.yaml").write_text("name: deep\nkind: labels\nfiles: {train: deep.json}\n")
    result = run_tool("biogpt_fairseq.downstream.build", tmp_path / "d.yaml", "--out", tmp_path / "out", check=False)
    user_error(result, f"{bioc}:1: ")
    assert not (tmp_path / "out" / "train.x").exists()
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"id": "a", "text": "x"}\n' + deep_json() + '\n{"id": "c", "text": "y"}\n')
    assert read_all(lines) == [("a", None), ("2", "invalid JSON: nested deeper than the parser allows"), ("c", None)]
    for name, content in [("d.json", deep_json().encode()), ("u.json", b'{"name": "\xff"}'),
                          ("u.yaml", b"name: \xff\n")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UserError, match=f"^{tmp_path / name}: (invalid JSON: nested|invalid UTF-8)"):
            read_definition(tmp_path / name)
    for content in (deep_json().encode(), b'{"format": "\xff"}', b"[1]"):
        (tmp_path / "manifest.json").write_bytes(content)
        with pytest.raises(UserError, match=f"^{tmp_path / 'manifest.json'}: "):
            manifest.read(tmp_path)


@pytest.mark.fast
def test_a_definition_setting_of_one_value_given_a_list_or_mapping_is_refused(tmp_path):
    from biogpt_fairseq.downstream.custom import read_definition

    (tmp_path / "t.jsonl").write_text('{"id": "1", "text": "a b", "relations": [{"head": "a", "tail": "b"}]}\n')
    for setting in ("relation: [cid]", "files: {train: [t.jsonl]}"):
        (tmp_path / "d.yaml").write_text("name: x\nkind: relations\nfiles: {train: t.jsonl}\n"
                                         "template: the relation between {head} and {tail} exists\n" + setting + "\n")
        with pytest.raises(UserError, match=f"^{tmp_path / 'd.yaml'}: "):
            read_definition(tmp_path / "d.yaml")


@pytest.mark.fast
def test_an_undecodable_record_is_one_unreadable_record_in_every_line_reader(tmp_path):
    text = tmp_path / "in.txt"
    text.write_bytes(b"Aspirin.\nbad \xff byte\nnul \x00 byte\nHeparin.\n")
    assert read_all(text) == [("1", None), ("2", "invalid UTF-8 at byte 4 of the line"), ("3", "NUL byte in text"),
                              ("4", None)]
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b'{"id": "a", "text": "x"}\n{"id": "b", "text": "\xff"}\n{"id": "c", "text": "nul \\u0000"}\n'
                      b'{"id": "d", "text": "y"}\n')
    assert read_all(lines) == [("a", None), ("b", "invalid UTF-8 at byte 21 of the line"),
                               ("c", "NUL character in the text"), ("d", None)]
    pubtator = tmp_path / "in.pubtator"
    pubtator.write_bytes(b"1|t|T\n1|a|A\n\n2|t|T \xff\n2|a|A\n\n3|t|T\n3|a|A\n3\t0\t1\tT\xff\tChemical\tD1\n\n"
                         b"4|t|T\n4|a|A\n")
    assert read_all(pubtator) == [("1", None), ("2", f"{pubtator}:4: invalid UTF-8 at byte 6 of the line"),
                                  ("3", f"{pubtator}:9: invalid UTF-8 at byte 7 of the line"), ("4", None)]


@pytest.mark.fast
def test_building_a_dataset_leaves_out_an_undecodable_record_counted_and_placed(tmp_path):
    record = '{{"id": "{}", "text": "Aspirin and warfarin.", "relations": [{{"head": "aspirin", "relation": ' \
             '"bleeding", "tail": "warfarin"}}]}}\n'
    (tmp_path / "train.jsonl").write_bytes(record.format("a").encode() + record.format("b\xff").encode("latin-1") +
                                           record.format("c").encode())
    (tmp_path / "d.yaml").write_text("name: x\nkind: relations\nfiles: {train: train.jsonl}\n")
    result = run_tool("biogpt_fairseq.downstream.build", tmp_path / "d.yaml", "--out", tmp_path / "out")
    assert f"{tmp_path / 'train.jsonl'}:2: " in result.stderr.decode() and "invalid UTF-8" in result.stderr.decode()
    assert (tmp_path / "out" / "train.pmid").read_text().split() == ["a", "c"]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["splits"]["train"]["problems"] == {
        "unreadable record (left out)": 1}


@pytest.mark.fast
def test_pubtator_mentions_outside_their_text_or_with_unreadable_offsets_mark_their_document(tmp_path):
    pubtator = tmp_path / "in.pubtator"
    pubtator.write_text("1|t|Aspirin\n1|a|Warfarin.\n1\t0\t7\tAspirin\tChemical\tD1\n\n"
                        "2|t|Aspirin\n2|a|Warfarin.\n2\t500\t507\tAspirin\tChemical\tD1\n\n"
                        "3|t|Aspirin\n3|a|Warfarin.\n3\t0\t²\tAspirin\tChemical\tD1\n\n"
                        f"4|t|Aspirin\n4|a|Warfarin.\n4\t0\t{'9' * 5000}\tAspirin\tChemical\tD1\n", encoding="utf-8")
    assert read_all(pubtator) == [
        ("1", None), ("2", f"{pubtator}:7: a mention ending at 507, outside the document's 17 characters"),
        ("3", f"{pubtator}:11: neither a mention nor a relation line"),  # '²' is a digit, not a decimal int() reads
        ("4", f"{pubtator}:15: a mention ending at {'9' * 20}, outside the document's 17 characters")]


def test_a_gzip_member_that_ends_early_or_fails_its_check_is_refused_naming_the_file(tmp_path):
    bioc_document = {"id": "0", "infons": {}, "relations": [], "annotations": [], "passages": [
        {"offset": 0, "infons": {}, "text": "Aspirin.", "annotations": [], "relations": [], "sentences": []}]}
    contents = {
        "in.txt.gz": "".join(f"Abstract {i} about aspirin.\n" for i in range(20_000)),
        "in.jsonl.gz": "".join(json.dumps({"id": str(i), "text": f"Abstract {i}."}) + "\n" for i in range(20_000)),
        "in.pubtator.gz": "".join(f"{i}|t|Title {i}\n{i}|a|Abstract {i}.\n\n" for i in range(20_000)),
        "in.xml.gz": '<?xml version="1.0"?><collection><source>x</source><date>1</date><key>k</key>' + "".join(
            f"<document><id>{i}</id><passage><offset>0</offset><text>Abstract {i}.</text></passage></document>"
            for i in range(20_000)) + "</collection>",
        "in.json.gz": json.dumps({"documents": [{**bioc_document, "id": str(i)} for i in range(20_000)]}),
    }
    for name, content in contents.items():
        packed = gzip.compress(content.encode("utf-8"))
        assert len(read_all_packed(tmp_path / name, packed)) == 20_000
        corrupt = bytearray(packed)
        corrupt[-8] ^= 0xFF  # the CRC
        for broken in (packed[: len(packed) // 2], bytes(corrupt)):
            with pytest.raises(UserError, match=f"^{tmp_path / name}(:[0-9]+)?: cannot read: "):
                read_all_packed(tmp_path / name, broken)
    (tmp_path / "in.txt.gz").write_bytes(gzip.compress(contents["in.txt.gz"].encode())[:5000])
    user_error(run_tool("biogpt_fairseq.data.tokenize", tmp_path / "in.txt.gz", "-o", tmp_path / "out.tok",
                        check=False), f"{tmp_path / 'in.txt.gz'}:", "cannot read")
    assert not (tmp_path / "out.tok").exists()


def read_all_packed(path, packed):
    path.write_bytes(packed)
    return read_all(path)


@pytest.mark.fast
def test_an_output_where_no_folder_can_be_made_is_a_clear_error(tmp_path):
    (tmp_path / "in.txt").write_text("Aspirin.\n")
    (tmp_path / "a_file").write_text("")
    user_error(run_tool("biogpt_fairseq.data.tokenize", tmp_path / "in.txt", "-o", tmp_path / "a_file" / "out.tok",
                        check=False), f"{tmp_path / 'a_file' / 'out.tok'}: cannot write")


def test_a_prompt_json_nested_deeper_than_the_parser_goes_is_a_clear_error(tmp_path):
    from transformers import BioGptConfig, BioGptForCausalLM

    symbols = ["<s>", "<pad>", "</s>", "<unk>", "a</w>", "b</w>", "a", "b"]
    config = BioGptConfig(vocab_size=len(symbols), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=16, max_position_embeddings=16)
    BioGptForCausalLM(config).save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(symbols)}))
    (tmp_path / "hf" / "merges.txt").write_text("a b\n")
    (tmp_path / "hf" / "prompt.json").write_text(deep_json())
    user_error(run_tool("biogpt_fairseq.tools.convert", "from-hf", tmp_path / "hf", "--out", tmp_path / "out",
                        check=False), f"{tmp_path / 'hf' / 'prompt.json'}: invalid JSON: nested deeper")
    assert not (tmp_path / "out" / "checkpoint.pt").exists()


def test_evaluate_json_nested_deeper_than_the_parser_goes_is_a_clear_error(data, tmp_path):
    row = json.dumps({"pmid": "1", "triples": []}) + "\n"
    (tmp_path / "p.jsonl").write_text(row + deep_json() + "\n")
    user_error(evaluate("ddi", "--pred", tmp_path / "p.jsonl", "--gold", data / "DDI" / "raw" / "test.json",
                        check=False), f"{tmp_path / 'p.jsonl'}:2: invalid JSON: nested deeper")
    (tmp_path / "p.jsonl").write_text(row)
    (tmp_path / "gold.json").write_text(deep_json())
    user_error(evaluate("ddi", "--pred", tmp_path / "p.jsonl", "--gold", tmp_path / "gold.json", check=False),
               f"{tmp_path / 'gold.json'}: invalid JSON")


def test_a_gzip_bomb_of_one_line_or_one_value_is_read_past_or_refused_in_bounded_memory(tmp_path):
    bomb = b"a" * ((64 << 20) + 1)  # one byte more than textio.LINE_LIMIT
    lines = tmp_path / "in.jsonl.gz"
    lines.write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n' + bomb + b'\n{"id": "c", "text": "y"}\n'))
    assert read_all(lines) == [("a", None), ("2", "a line longer than 64 MiB"), ("c", None)]
    user_error(run_tool("biogpt_fairseq.data.tokenize", lines, check=False), f"{lines}:2: a line longer than 64 MiB")
    bioc = tmp_path / "in.json.gz"
    bioc.write_bytes(gzip.compress(b'{"documents": [{"id": "' + bomb + bomb[: 2 << 20] + b'"}]}'))  # (read by MiB)
    with pytest.raises(UserError, match=f"^{bioc}:1: .*a value longer than 64 MiB"):
        read_all(bioc)


@pytest.mark.fast
def test_utf16_text_is_refused_at_its_first_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes('{"id": "a", "text": "x"}\n'.encode("utf-16"))
    with pytest.raises(UserError, match=f"^{path}:1: UTF-16 text"):
        read_all(path)


@pytest.mark.fast
def test_a_utf8_byte_order_mark_is_not_part_of_the_first_document(tmp_path):
    bom = "\ufeff"
    files = {"in.txt": "Aspirin.\n", "in.jsonl": '{"id": "a", "text": "Aspirin."}\n',
             "in.pubtator": "1|t|Aspirin\n1|a|Warfarin.\n1\t0\t7\tAspirin\tChemical\tD1\n",
             "in.json": json.dumps({"documents": [{"id": "a", "infons": {}, "relations": [], "annotations": [],
                                                   "passages": [{"offset": 0, "infons": {}, "text": "Aspirin.",
                                                                 "annotations": [], "relations": [],
                                                                 "sentences": []}]}]})}
    from biogpt_fairseq.downstream.formats import read_documents

    for name, content in files.items():
        (tmp_path / name).write_text(bom + content, encoding="utf-8")
        (document,) = read_documents(str(tmp_path / name))
        assert document.error is None and bom not in document.id + document.title + document.text, name


@pytest.mark.fast
def test_a_gzip_too_short_to_tell_its_format_or_no_gzip_at_all_is_refused_naming_the_file(tmp_path):
    for name, content in (("short.jsonl.gz", gzip.compress(b'{"id": "a", "text": "x"}\n')[:20]),
                          ("plain.txt.gz", b"Aspirin, not compressed.\n")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UserError, match=f"^{tmp_path / name}: cannot read: "):
            read_all(tmp_path / name)


@pytest.mark.fast
def test_a_relation_argument_that_is_a_list_or_object_leaves_its_record_out(tmp_path):
    record = {"id": "a", "text": "Aspirin and warfarin.", "relations": [{"head": "aspirin", "tail": "warfarin"}]}
    nested = {**record, "id": "b", "relations": [{"head": [[["aspirin"]]], "tail": "warfarin"}]}
    (tmp_path / "train.jsonl").write_text(json.dumps(record) + "\n" + json.dumps(nested) + "\n")
    (tmp_path / "d.yaml").write_text("name: x\nkind: relations\nfiles: {train: train.jsonl}\nrelation: cid\n"
                                     "template: the relation between {head} and {tail} exists\n")
    result = run_tool("biogpt_fairseq.downstream.build", tmp_path / "d.yaml", "--out", tmp_path / "out")
    assert f"{tmp_path / 'train.jsonl'}:2: " in result.stderr.decode() and "not lists" in result.stderr.decode()
    assert (tmp_path / "out" / "train.pmid").read_text().split() == ["a"]
