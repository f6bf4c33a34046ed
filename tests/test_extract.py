"""A dataset of your own, from files to scores, and extraction from new documents: every input and output
format, read back by the bioc package; a killed extraction resumes, complete and in order."""
import json
import os
import signal
import subprocess
import sys
import time

import bioc
import bioc.biocjson
import bioc.biocxml
import bioc.pubtator
import pytest
from conftest import BIN, NEW_LABELS, REPO, run_tool

from biogpt_fairseq.textio import UserError

def test_a_custom_dataset_from_files_to_scores(custom_model):
    data_bin, checkpoints, root = custom_model
    manifest = json.loads((data_bin / "manifest.json").read_text())
    assert manifest["dataset"] == "drug-interactions"
    assert sorted(manifest["definition"]["labels"]) == sorted(NEW_LABELS.values())  # the train split's
    # the checkpoint keeps the definition, without where the files were: all decoding needs
    import torch

    state = torch.load(checkpoints / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    definition = state["task_state"]["definition"]
    assert definition == {k: v for k, v in manifest["definition"].items() if k not in ("files", "root")}
    y = (root / "built" / "raw" / "test.y").read_text().splitlines()
    assert y[0].startswith("the interaction between myfortic and magnesium is pharmacokinetic change; ")
    # the original's inference chain on the model, scored on the custom gold
    run_tool(BIN / "biogpt-infer", checkpoints, "--data-bin", data_bin, "--checkpoint", "checkpoint_last.pt",
             "--max-new-tokens", 8, "--cpu")
    scores = json.loads((checkpoints / "generate_checkpoint_last.pt.scores.json").read_text())
    generated = (checkpoints / "generate_checkpoint_last.pt").read_text(encoding="utf-8").splitlines()
    assert len(generated) == 191 and not any("@@ " in line for line in generated)  # BPE removed, as the original
    assert scores["dataset"] == "drug-interactions" and scores["num sample"] == 191 and scores["num_gold tp"] == 941
    # the decoder and scorer on the gold targets: every triple read back
    (root / "gold.txt").write_text("\n".join(y) + "\n")
    run_tool(sys.executable, REPO / "bin" / "postprocess_rel.py", root / "gold.txt", "--data-bin", data_bin)
    rows = [json.loads(line) for line in (root / "gold.txt.extracted.jsonl").read_text().splitlines()]
    assert [r["pmid"] for r in rows] == (root / "built" / "raw" / "test.pmid").read_text().split()
    result = run_tool(sys.executable, REPO / "bin" / "evaluate.py", root / "gold.txt.extracted.jsonl",
                      "--data-bin", data_bin)
    figures = json.loads(result.stdout)
    assert (figures["tp micro f1"], figures["onto f1"], figures["num_pred"]) == (1.0, 1.0, 941)
    # predictions for part of the documents: the others are named as uncovered
    (root / "part.jsonl").write_text("".join(line + "\n" for line in
                                             (root / "gold.txt.extracted.jsonl").read_text().splitlines()[:150]))
    result = run_tool(sys.executable, REPO / "bin" / "evaluate.py", root / "part.jsonl", "--data-bin", data_bin)
    assert "41 of the 191 documents with gold relations" in result.stderr.decode()


def extract(checkpoints, data_bin, source, out, *options, check=True):
    """biogpt-extract, as a user runs it."""
    return run_tool(BIN / "biogpt-extract", checkpoints / "checkpoint_last.pt", source, "--out", out,
                    "--data-bin", data_bin, "--max-new-tokens", 6, "--no-progress", *options, check=check)


@pytest.fixture(scope="module")
def extractor(custom_model):
    """What biogpt-extract runs, loaded once: the model and its dataset's spec."""
    from biogpt_fairseq import BioGPT
    from biogpt_fairseq.downstream.extraction import Extractor

    data_bin, checkpoints, _ = custom_model
    return Extractor(BioGPT.from_pretrained(checkpoints / "checkpoint_last.pt", data=str(data_bin)),
                     max_new_tokens=6, batch_docs=64)


def test_extraction_from_each_input_format_to_each_output_format(custom_model, extractor, data, tmp_path):
    from biogpt_fairseq.downstream.extraction import extract_file

    data_bin, checkpoints, root = custom_model
    pubtator = (data / "BC5CDR" / "raw" / "CDR_TestSet.PubTator.txt").read_text(encoding="utf-8").split("\n\n")
    (tmp_path / "in.pubtator").write_text("\n\n".join(pubtator[:40]) + "\n")
    ids = [block.split("|", 1)[0] for block in pubtator[:40]]
    result = extract(checkpoints, data_bin, tmp_path / "in.pubtator", tmp_path / "out.jsonl")
    assert "extract drug-interactions: 40 documents" in result.stderr.decode()
    for fmt in ("pubtator", "xml", "json"):
        extract_file(extractor, str(tmp_path / "in.pubtator"), str(tmp_path / f"out.{fmt}"), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ids and [r["index"] for r in rows] == list(range(40))
    assert all(r["status"] == "ok" and r["generated"] for r in rows)
    read = bioc.pubtator.load(open(tmp_path / "out.pubtator", encoding="utf-8"))
    assert [d.pmid for d in read] == ids
    original = bioc.pubtator.load(open(tmp_path / "in.pubtator", encoding="utf-8"))
    assert [(d.title, d.abstract) for d in read] == [(d.title, d.abstract) for d in original]
    for name, module in (("xml", bioc.biocxml), ("json", bioc.biocjson)):
        with open(tmp_path / f"out.{name}", encoding="utf-8") as handle:
            collection = module.load(handle)
        assert [d.id for d in collection.documents] == ids
        assert [d.passages[1].offset for d in collection.documents] == [len(d.title) + 1 for d in original]
        assert all(d.infons["status"] == "ok" for d in collection.documents)
    # PubMed XML, plain text (ids: line numbers), BioC in: the same order and ids out
    counts = extract_file(extractor, str(data / "pubmed" / "medline16n0902.xml.gz"), str(tmp_path / "pubmed.jsonl"),
                          progress=False)
    pubmed = [json.loads(line) for line in (tmp_path / "pubmed.jsonl").read_text().splitlines()]
    assert len(pubmed) == counts["documents"] == 604 and all(r["id"].isdigit() for r in pubmed)
    assert counts["ok"] == 604  # every citation has at least a title
    (tmp_path / "plain.txt").write_text("Aspirin and warfarin.\n\nHeparin alone.\n")
    counts = extract_file(extractor, str(tmp_path / "plain.txt"), str(tmp_path / "plain.xml"), progress=False)
    assert (counts["documents"], counts["ok"], counts["no text"]) == (3, 2, 1)
    with open(tmp_path / "plain.xml", encoding="utf-8") as handle:
        plain = bioc.biocxml.load(handle)
    assert [(d.id, d.infons["status"]) for d in plain.documents] == [("1", "ok"), ("2", "no text"), ("3", "ok")]
    extract_file(extractor, str(tmp_path / "out.xml"), str(tmp_path / "again.jsonl"), progress=False)
    again = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert [r["id"] for r in again] == ids and [r["generated"] for r in again] == [r["generated"] for r in rows]


def test_bad_records_keep_their_place_and_bad_files_stop_with_their_position(custom_model, extractor, tmp_path):
    from biogpt_fairseq.downstream.extraction import extract_file

    data_bin, checkpoints, _ = custom_model
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Aspirin."}\n{broken\n{"id": "c", "title": "T", '
                                       '"abstract": ""}\n{"id": "d", "note": "no text"}\n')
    extract_file(extractor, str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in rows] == [("a", "ok"), ("2", "unreadable"), ("c", "ok"),
                                                      ("d", "unreadable")]
    assert rows[1]["error"].startswith(f"{tmp_path / 'in.jsonl'}:2: invalid JSON")
    (tmp_path / "bad.xml").write_text('<?xml version="1.0"?>\n<collection><source>x</source>\n<document><id>1</id>\n'
                                      '<passage><offset>0</offset><text>a</text></passage>\n</collection>\n')
    with pytest.raises(UserError, match=f"^{tmp_path / 'bad.xml'}:5:"):
        extract_file(extractor, str(tmp_path / "bad.xml"), str(tmp_path / "bad.jsonl"), progress=False)
    assert not (tmp_path / "bad.jsonl").exists()
    result = extract(checkpoints, data_bin, tmp_path / "in.jsonl", tmp_path / "out.txt", check=False)
    assert result.returncode == 2 and "give --format" in result.stderr.decode()


def journal_rows(path):
    try:
        return path.read_bytes().count(b"\n") - 1
    except FileNotFoundError:
        return 0


def test_a_killed_extraction_resumes_complete_in_order_and_redoes_nothing(custom_model, data, tmp_path):
    data_bin, checkpoints, _ = custom_model
    abstracts = []
    for name in ("BC5CDR/raw/train.json", "BC5CDR/raw/valid.json", "BC5CDR/raw/test.json", "KD-DTI/raw/valid.json",
                 "KD-DTI/raw/test.json"):
        for doc_id, record in json.loads((data / name).read_text()).items():
            abstracts.append({"id": f"{name.split('/')[0]}-{doc_id}", "title": record["title"],
                              "abstract": record["abstract"]})
    abstracts = abstracts[:2000]
    source = tmp_path / "abstracts.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in abstracts))
    out, journal = tmp_path / "triples.jsonl", tmp_path / "triples.jsonl.partial.jsonl"
    command = [str(BIN / "biogpt-extract"), str(checkpoints / "checkpoint_last.pt"), str(source), "--out", str(out),
               "--data-bin", str(data_bin), "--max-new-tokens", "6", "--batch-docs", "100", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while journal_rows(journal) < 600 and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = journal_rows(journal)
    assert 600 <= killed_at < 2000 and not out.exists()  # killed midway: no output that looks complete
    with open(journal, "ab") as handle:
        handle.write(b'{"id": "torn')  # as a kill in the middle of a write leaves it
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = int(result.stderr.split("resuming ")[1].split(": ")[1].split(" documents")[0])
    assert resumed == killed_at // 100 * 100 and resumed >= 600
    assert f"({2000 - resumed} in this run" in result.stderr  # nothing before the resume point redone
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [a["id"] for a in abstracts] and [r["index"] for r in rows] == list(range(2000))
    assert not journal.exists()
    # the chunks around the resume point, extracted in one run: the same results
    window = tmp_path / "window.jsonl"
    window.write_text("".join(json.dumps(a) + "\n" for a in abstracts[resumed - 100:resumed + 100]))
    subprocess.run([*command[:2], str(window), "--out", str(tmp_path / "window_out.jsonl"), *command[5:]], check=True,
                   capture_output=True)
    window_rows = [json.loads(line) for line in (tmp_path / "window_out.jsonl").read_text().splitlines()]
    assert [(r["id"], r["generated"], r["triples"]) for r in window_rows] == \
           [(r["id"], r["generated"], r["triples"]) for r in rows[resumed - 100:resumed + 100]]
    # a journal of other settings is not resumed
    journal.write_text(json.dumps({"journal": 1, "input": str(source), "batch_docs": 10}) + "\n")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "was made with other settings (" in result.stderr and \
        "batch_docs: 10 before, 100 now" in result.stderr


def test_the_api_streams_documents_and_renders_formats(extractor):
    model = extractor.model
    read = []

    def documents():
        for number in range(1000):
            read.append(number)
            yield {"id": f"d{number}", "text": "Aspirin increases the effect of warfarin."}

    results = model.extract(documents(), batch_docs=8, max_new_tokens=4)
    first = [next(results) for _ in range(3)]
    assert [r["id"] for r in first] == ["d0", "d1", "d2"] and len(read) == 8  # one chunk read, not the input
    assert model.spec().name == "drug-interactions"
    assert type(model.engine.hub.tokenizer).__name__ == "EnglishMosesTokenizer"  # the task's hook, not the hub's stock Moses
    pubtator = model.extract_relations(["Aspirin increases the effect of warfarin."], format="pubtator",
                                       max_new_tokens=4)
    assert bioc.pubtator.loads(pubtator)[0].title == "Aspirin increases the effect of warfarin."
    xml = model.extract_relations([{"id": "x1", "title": "Aspirin", "abstract": "Warfarin."}], format="bioc-xml",
                                  max_new_tokens=4)
    assert bioc.biocxml.loads(xml).documents[0].id == "x1"
    with pytest.raises(UserError, match="not a labels dataset"):
        model.classify("text")
