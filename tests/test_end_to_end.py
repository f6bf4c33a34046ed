"""The whole chain for each of the paper's datasets on a tiny model: build, BPE, binarize, fine-tune,
fairseq-generate, decode, score, and biogpt-infer on every engine. (A module of its own: its tests are
the suite's longest, and make test's processes take a module at a time.)"""
import json
import sys

import pytest
from conftest import GENERATE, REPO, finetune, finetune_data, run_tool

from biogpt_fairseq.downstream import get_dataset
from biogpt_fairseq.downstream.infer import ORIGINAL_MAX_TOKENS
from biogpt_fairseq.downstream.infer import main as biogpt_infer
from biogpt_fairseq.engines import ENGINES


@pytest.mark.parametrize("dataset, split", [("bc5cdr", "valid"), ("ddi", "valid"), ("kd-dti", "valid"),
                                            ("pubmedqa", "valid"), ("hoc", "test")])
def test_tiny_end_to_end_per_dataset(dataset, split, tiny_corpus, tiny_pretrained, tmp_path, tmp_path_factory,
                                     data):
    """build -> BPE -> binarize -> fine-tune -> fairseq-generate -> decode -> score, with the settings
    the data directory and the checkpoint carry; files stay aligned."""
    built = finetune_data(dataset, tiny_corpus, tmp_path_factory, data)  # (shared with other modules' tests)
    data_bin = built / "data-bin"
    n = len((built / "raw" / f"{split}.x").read_text(encoding="utf-8").split("\n")) - 1
    assert n == len((built / "raw" / f"{split}.y").read_text(encoding="utf-8").split("\n")) - 1
    assert (data_bin / "bpecodes").read_bytes() == (tiny_corpus / "bpecodes").read_bytes()
    if get_dataset(dataset).writes_ids:
        assert n == len((data_bin / f"{split}.pmid").read_text().splitlines())
    finetune(data_bin, tiny_pretrained, tmp_path / "ckpt", "--learned-prompt", 1 if dataset == "hoc" else 9,
             "--max-update", 2, "--disable-validation")
    generated = run_tool("fairseq-generate", data_bin, *GENERATE, "--path", tmp_path / "ckpt/checkpoint_last.pt",
                         "--gen-subset", split, "--max-len-a", 1, "--max-len-b", 6,
                         "--max-tokens", ORIGINAL_MAX_TOKENS).stdout.decode()  # (the original's batches)
    (tmp_path / "gen.out").write_text(generated)
    assert sum(line.startswith("H-") for line in generated.splitlines()) == n  # one hypothesis per input
    run_tool(sys.executable, REPO / "bin/postprocess_rel.py", tmp_path / "gen.out", "--data-bin", data_bin,
             "--split", split)
    rows = [json.loads(line) for line in (tmp_path / "gen.out.extracted.jsonl").read_text().splitlines()]
    assert len(rows) == n
    if get_dataset(dataset).writes_ids:
        assert [r["pmid"] for r in rows] == (data_bin / f"{split}.pmid").read_text().splitlines()
    result = run_tool(sys.executable, REPO / "bin/evaluate.py", tmp_path / "gen.out.extracted.jsonl",
                      "--data-bin", data_bin, "--split", split)
    figures = json.loads(result.stdout)
    assert figures["dataset"] == dataset and get_dataset(dataset).headline(figures)[0] in figures
    # biogpt-infer on each engine: the same generated lines (fp32 greedy), so the same decoding and scores.
    # (Its command line in this process: a process of its own would import torch, fairseq and the engine
    # anew for each of the module's 15 runs; tests/test_extract.py runs the installed command.)
    outputs = {}
    for engine in ENGINES:
        out = tmp_path / f"infer-{engine}"
        assert biogpt_infer([str(a) for a in (tmp_path / "ckpt", "--data-bin", data_bin, "--split", split,
                                              "--checkpoint", "checkpoint_last.pt", "--max-new-tokens", 6,
                                              "--engine", engine, "--out", out)]) == 0
        scores = json.loads((out / "generate_checkpoint_last.pt.scores.json").read_text())
        outputs[engine] = ((out / "generate_checkpoint_last.pt").read_text(), {k: v for k, v in scores.items()
                                                                             if k != "checkpoint"})
    assert len(outputs["fairseq"][0].splitlines()) == n
    assert outputs["ctranslate2"] == outputs["fairseq"] and outputs["openvino"] == outputs["fairseq"]
