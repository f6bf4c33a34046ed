"""preprocess/pretrain.sh end to end, then real fairseq training over its shards."""
import re

from conftest import REPO, run_tool


def test_pretrain_sh_outputs_are_aligned_and_complete(tiny_corpus):
    docs = (tiny_corpus / "corpus.txt").read_text(encoding="utf-8").split("\n")
    pmids = (tiny_corpus / "corpus.pmid").read_text().split("\n")
    bpe = (tiny_corpus / "corpus.bpe").read_text(encoding="utf-8").split("\n")
    assert len(docs) == len(pmids) == len(bpe) == 529 + 1  # + the empty string after the last newline
    assert len((tiny_corpus / "bpecodes").read_text().splitlines()) == 300
    shard0, shard1 = tiny_corpus / "data-bin/shard0", tiny_corpus / "data-bin/shard1"
    for name in ["train.bin", "train.idx", "valid.bin", "valid.idx", "dict.txt"]:
        assert (shard0 / name).exists()
    assert (shard1 / "train.bin").exists() and not (shard1 / "valid.bin").exists()
    assert not (tiny_corpus / "data-bin.partial").exists()
    from fairseq.data import data_utils
    from fairseq.data import Dictionary

    dictionary = Dictionary.load(str(shard0 / "dict.txt"))
    sizes = {split: len(data_utils.load_indexed_dataset(str(path), dictionary))
             for split, path in [("valid", shard0 / "valid"), ("train0", shard0 / "train"), ("train1", shard1 / "train")]}
    assert sizes == {"valid": 53, "train0": 238, "train1": 238}  # every 10th document validates


def test_sharded_training_reads_every_shard_and_loss_goes_down(tiny_corpus, tmp_path):
    shards = f"{tiny_corpus / 'data-bin/shard0'}:{tiny_corpus / 'data-bin/shard1'}"
    result = run_tool(
        "fairseq-train", shards, "--user-dir", REPO / "biogpt_fairseq", "--task", "language_modeling",
        "--arch", "transformer_lm_biogpt_tiny", "--decoder-layers", 2, "--decoder-embed-dim", 64,
        "--decoder-ffn-embed-dim", 128, "--decoder-attention-heads", 2,
        "--tokens-per-sample", 64, "--sample-break-mode", "none", "--batch-size", 16,
        "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", 3e-3, "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", 10, "--max-epoch", 2, "--log-format", "simple", "--log-interval", 10,
        "--save-dir", tmp_path, "--no-epoch-checkpoints", "--cpu", "--num-workers", 0, "--seed", 1,
    )
    log = result.stderr.decode() + result.stdout.decode()
    assert f"loaded 238 examples from: {tiny_corpus / 'data-bin/shard0/train'}" in log
    assert f"loaded 238 examples from: {tiny_corpus / 'data-bin/shard1/train'}" in log
    losses = [float(x) for x in re.findall(r"train_inner \| epoch \d+: .*? loss=([0-9.]+)", log)]
    valid = [float(x) for x in re.findall(r"valid on 'valid' subset \| loss ([0-9.]+)", log)]
    assert len(losses) >= 4 and len(valid) == 2
    assert losses[-1] < losses[0] - 2 and valid[1] < valid[0]
    assert "end of epoch 2 " in log and (tmp_path / "checkpoint_last.pt").exists()
