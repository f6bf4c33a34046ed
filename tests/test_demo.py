"""The demo: test documents never reach pre-training; a short run produces every artifact."""
import json

import pytest
from conftest import run_tool

from biogpt_fairseq.runtime.safe_checkpoint import load
from biogpt_fairseq.textio import UserError
from biogpt_fairseq.tools.demo import _normalized, build_task_corpus, loss_curves, main


def test_no_test_document_in_the_pretraining_corpus(data, tmp_path):
    counts = build_task_corpus(data, tmp_path)
    docs = [_normalized(d) for d in (tmp_path / "task_train_docs.txt").read_text(encoding="utf-8").splitlines()]
    assert len(docs) == counts["kept"] > 2000
    # every test abstract and PubMedQA test context (read here without the specs the demo reads them with)
    test_texts = set()
    for name in ["BC5CDR", "DDI", "KD-DTI"]:
        for doc in json.loads((data / name / "raw/test.json").read_text()).values():
            test_texts.add(_normalized(doc["abstract"]))
    for line in (data / "PubMedQA/raw/test.tsv").read_text().splitlines():
        test_texts.add(_normalized(line.split("\t")[0].split(" context: ", 1)[1].rsplit(" answer: ", 1)[0]))
    lengths = {len(t) for t in test_texts}
    assert not [d for d in docs if any(d[-n:] in test_texts for n in lengths)]  # no corpus text ends with one
    # the PMIDs handed to the PubMed converter cover the BC5CDR and KD-DTI test sets
    pmids = set((tmp_path / "test.pmids").read_text().split())
    assert set(json.loads((data / "BC5CDR/raw/test.json").read_text())) <= pmids
    assert set(json.loads((data / "KD-DTI/raw/test.json").read_text())) <= pmids


@pytest.mark.fast
def test_loss_curves_read_fairseq_hydra_log(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "[2026-11-24 23:54:25,468][train_inner][INFO] - epoch 001:     40 / 275 loss=10.33, ppl=1286.87, "
        "wps=4395.7, num_updates=40, lr=0.0008\n"
        "[2026-11-24 23:54:32,660][valid][INFO] - epoch 001 | valid on 'valid' subset | loss 10.264 | "
        "ppl 1229.97 | num_updates 50\n"
    )
    assert loss_curves(log) == {"train_inner": [(40, 10.33)], "valid": [(50, 10.264)]}


@pytest.mark.fast
def test_an_override_that_is_not_key_value_is_refused(tmp_path):
    with pytest.raises(UserError, match="--override 'model.decoder_layers': give KEY=VALUE"):
        main(["--data", str(tmp_path), "--override", "model.decoder_layers"])


def test_short_demo_run_end_to_end(data, tmp_path):
    out = tmp_path / "demo"
    # (the suite's tiny shape, one fine-tuning task, one epoch: the suite's time; every shard is read in
    # test_pretraining)
    shape = ["--override", "model.decoder_layers=2", "--override", "model.decoder_embed_dim=64",
             "--override", "model.decoder_ffn_embed_dim=128", "--override", "model.decoder_attention_heads=2"]
    result = run_tool("biogpt_fairseq.tools.demo", "--data", data, "--out", out, "--updates", 60, "--merges", 500,
                      "--finetune-tasks", "pubmedqa", "--finetune-epochs", 1, *shape)
    stdout = result.stdout.decode()
    for model in (out / "checkpoints/checkpoint_best.pt", out / "finetune/pubmedqa/checkpoints/checkpoint1.pt"):
        cfg = load(model)["cfg"]["model"]  # the overrides reached both trainings
        assert (cfg["decoder_layers"], cfg["decoder_embed_dim"], cfg["decoder_ffn_embed_dim"]) == (2, 64, 128)
    assert "loaded" in stdout and "shard0/train" in stdout and "num_updates=60" in stdout  # fairseq's own output
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    generations = (out / "generations.txt").read_text(encoding="utf-8").splitlines()
    assert [g.split("\t")[0] for g in generations] == ["Bicalutamide", "Janus kinase 3", "COVID-19 is",
                                                        "The treatment of type 2 diabetes"]
    assert all(len(g.split("\t")[1]) > len(g.split("\t")[0]) for g in generations)
    curves = loss_curves(out / "train.log")
    assert curves["valid"] and curves["train_inner"][-1][1] < curves["train_inner"][0][1]
    assert f"{out / 'loss.png'}" in stdout and "Artifacts:" in stdout
    # the fine-tuning half, the original's inference chain: a line and a prediction for every test question,
    # scored, beside the baseline and the paper
    generated = out / "finetune/pubmedqa/generate/generate_checkpoint_avg.pt"
    lines = generated.with_name(generated.name + ".detok").read_text(encoding="utf-8").splitlines()
    predictions = generated.with_name(generated.name + ".detok.extracted.jsonl").read_text().splitlines()
    assert len(lines) == len(predictions) == 500 and all(" learned9 " in line or line.endswith(" learned9")
                                                           for line in lines)
    scores = json.loads(generated.with_name(generated.name + ".scores.json").read_text())
    assert scores["dataset"] == "pubmedqa" and scores["n"] == 500
    table = (out / "results.md").read_text()
    assert f"| pubmedqa | accuracy | {100 * scores['accuracy']:.2f} |" in table
    assert "55.20 (majority class ('yes'))" in table and "accuracy 78.2" in table
