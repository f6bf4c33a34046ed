"""The language_modeling_prompt task and transformer_lm_prompt model on real fairseq runs."""
import json

import numpy as np
import pytest
import torch
from conftest import REPO, finetune, run_tool
from fairseq.data import Dictionary, ListDataset

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
from biogpt_fairseq.tasks.prompt_dataset import PromptedPairDataset


def _dictionary():
    d = Dictionary()
    for word in "a b c d e ... learned1 learned2 <seqsep>".split():
        d.add_symbol(word)
    return d


def _pairs(d, sources, targets):
    def dataset(lines):
        tensors = [d.encode_line(line, add_if_not_exist=False).long() for line in lines]
        return ListDataset(tensors, np.array([len(t) for t in tensors]))
    return dataset(sources), dataset(targets)


def _words(d, tokens):
    return [d[i] for i in tokens]


@pytest.mark.parametrize("prefix", [False, True])
def test_sequence_truncation_and_sizes_as_the_original(prefix):
    """The original's dataset: the source cut to max_source_positions with its last kept token made
    '...'; the target to max_positions - max_source - prompt (- 1 with the separator), its last two
    '...' and eos; sizes are source + target as capped (the prompt not counted); the loss on the
    whole sequence, the input that sequence behind an eos."""
    d = _dictionary()
    src, tgt = _pairs(d, ["a b c d e", "a"], ["d e d e d e", "e"])
    prompt = torch.LongTensor([d.index("learned1"), d.index("learned2")])
    ds = PromptedPairDataset(src, tgt, d, prompt, max_source_positions=3, max_positions=10, prefix=prefix,
                             separator=d.index("<seqsep>") if prefix else None)
    room = 10 - 3 - 2 - int(prefix)  # the target's
    assert ds.max_target_length == room
    item = ds[0]
    source = ["a", "b", "..."]
    body = ["learned1", "learned2", *source, "<seqsep>"] if prefix else [*source, "learned1", "learned2"]
    target = ["d", "e", "...", "</s>"] if prefix else ["d", "e", "d", "...", "</s>"]
    assert _words(d, item["labels"]) == body + target  # the loss on every token
    assert _words(d, item["input"]) == ["</s>"] + body + target[:-1]
    assert _words(d, item["prefix"]) == ["</s>"] + body
    assert ds.sizes.tolist() == [3 + room, 1 + 2]  # (source 5 -> 3) + (target 7 -> room); 1 + 2
    batch = ds.collater([ds[0], ds[1]])
    assert batch["ntokens"] == len(item["labels"]) + len(ds[1]["labels"])
    on_target = PromptedPairDataset(src, tgt, d, prompt, 3, 10, prefix=prefix, loss_on_target_only=True,
                                    separator=d.index("<seqsep>") if prefix else None)
    labels = on_target[0]["labels"].tolist()
    assert labels[:len(body)] == [d.pad()] * len(body) and _words(d, labels[len(body):]) == target


def test_inference_items_are_the_prompted_source():
    d = _dictionary()
    src, _ = _pairs(d, ["a b c d e", "a"], ["e", "e"])
    ds = PromptedPairDataset(src, None, d, torch.LongTensor([d.index("learned1")]), max_source_positions=4,
                             max_positions=10, shuffle=False)
    assert _words(d, ds[0]["prefix"]) == ["</s>", "a", "b", "c", "...", "learned1"]
    assert ds.sizes.tolist() == [4 + 1, 1 + 1]  # the source as cut, and the eos the original counts as target
    assert ds.ordered_indices().tolist() == [1, 0]


def test_a_prompt_leaving_no_room_for_the_target_is_refused():
    d = _dictionary()
    src, tgt = _pairs(d, ["a"], ["e"])
    with pytest.raises(ValueError, match="leave 1 of 10 positions for the target"):
        PromptedPairDataset(src, tgt, d, torch.LongTensor([d.index("learned1")] * 2), 7, 10)


def test_learned_prompt_is_appended_trained_and_the_rest_keeps_its_indices(pubmedqa_data, tiny_pretrained, tmp_path):
    finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--learned-prompt", 9, "--max-update", 4,
             "--save-interval-updates", 2, "--keep-interval-updates", 5, "--disable-validation")
    pretrained = torch.load(tiny_pretrained, map_location="cpu", weights_only=False)["model"]
    first = torch.load(tmp_path / "checkpoint_1_2.pt", map_location="cpu", weights_only=False)
    last = torch.load(tmp_path / "checkpoint_1_4.pt", map_location="cpu", weights_only=False)
    n_pre = pretrained["decoder.embed_tokens.weight"].shape[0]
    dictionary = Dictionary.load(str(pubmedqa_data / "data-bin" / "dict.x.txt"))
    pre_words = [dictionary[i] for i in range(len(dictionary))]
    assert len(pre_words) == n_pre
    embeddings = last["model"]["decoder.embed_tokens.weight"]
    assert embeddings.shape[0] == n_pre + 9
    assert last["cfg"]["task"]["learned_prompt"] == 9
    # prompt rows trained: they move between updates 2 and 4
    moved = (embeddings[n_pre:] - first["model"]["decoder.embed_tokens.weight"][n_pre:]).abs().sum(dim=1)
    assert (moved > 0).all()
    # the pre-trained rows started from the checkpoint (fine-tuned a little, not re-initialised)
    drift = (embeddings[:n_pre] - pretrained["decoder.embed_tokens.weight"]).abs().max()
    assert 0 < drift < 0.05


def test_manual_prompt_and_a_bad_one(pubmedqa_data, tiny_pretrained, tmp_path):
    result = finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--manual-prompt", "of the",
                      "--max-update", 1, "--disable-validation")
    assert "num_updates=1" in result.stderr.decode().replace(" ", "") + result.stdout.decode().replace(" ", "")
    result = finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path / "bad", "--manual-prompt", "zzzqqq",
                      "--max-update", 1, check=False)
    assert result.returncode != 0 and "prompt tokens not in the dictionary: ['zzzqqq']" in result.stderr.decode()


@pytest.mark.parametrize("task, split, gold, metric", [
    ("bc5cdr", "valid", "BC5CDR/raw/CDR_DevelopmentSet.PubTator.txt", "f1"),
    ("ddi", "valid", "DDI/raw/valid.json", "f1"),
    ("kd-dti", "valid", None, "f1"),
    ("pubmedqa", "valid", "PubMedQA/raw/valid.tsv", "accuracy"),
    ("hoc", "valid", None, "micro_f1"),
])
def test_tiny_end_to_end_per_task(task, split, gold, metric, tiny_corpus, tiny_pretrained, tmp_path, data):
    """build -> BPE -> binarize -> fine-tune -> fairseq-generate -> decode -> score; files stay aligned."""
    import sys

    run_tool(REPO / "preprocess" / "finetune.sh", task, tmp_path, "--data", data,
             "--bpe-codes", tiny_corpus / "bpecodes", "--dict", tiny_corpus / "dict.txt")
    data_bin = tmp_path / "data-bin"
    n = len((tmp_path / "raw" / f"{split}.x").read_text(encoding="utf-8").splitlines())
    assert n == len((tmp_path / "raw" / f"{split}.y").read_text(encoding="utf-8").splitlines())
    assert n == len((data_bin / f"{split}.pmid").read_text().splitlines())
    finetune(data_bin, tiny_pretrained, tmp_path / "ckpt", "--learned-prompt", 9, "--max-update", 2,
             "--disable-validation")
    generated = run_tool(
        "fairseq-generate", data_bin, "--user-dir", REPO / "biogpt_fairseq", "--task", "language_modeling_prompt",
        "--source-lang", "x", "--target-lang", "y", "--learned-prompt", 9, "--path", tmp_path / "ckpt/checkpoint_last.pt",
        "--gen-subset", split, "--beam", 1, "--max-len-a", 1, "--max-len-b", 6, "--batch-size", 32, "--cpu",
        "--max-source-positions", 400, "--tokens-per-sample", 512, "--tokenizer", "moses", "--bpe", "fastbpe",
        "--bpe-codes", tiny_corpus / "bpecodes").stdout.decode()
    (tmp_path / "gen.out").write_text(generated)
    assert sum(line.startswith("H-") for line in generated.splitlines()) == n  # one hypothesis per input
    extra = ["--entities", data / f"BC5CDR/raw/{split}.json"] if task == "bc5cdr" else []
    run_tool(sys.executable, REPO / "bin/postprocess_rel.py", task, tmp_path / "gen.out", "--out", tmp_path / "pred.jsonl",
             "--pmids", data_bin / f"{split}.pmid", *extra)
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert [r["pmid"] for r in rows] == (data_bin / f"{split}.pmid").read_text().splitlines()
    if gold:  # (KD-DTI's and HoC's validation sets are carved from train files: scored in test_downstream)
        metrics = json.loads(run_tool(sys.executable, REPO / "bin/evaluate.py", task, "--pred", tmp_path / "pred.jsonl",
                                      "--gold", data / gold).stdout)
        assert 0 <= metrics[metric] <= 100


def test_average_checkpoints_of_the_last_epochs(pubmedqa_data, tiny_pretrained, tmp_path):
    finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--learned-prompt", 9, "--max-epoch", 3,
             "--disable-validation", "--batch-size", 150)
    epochs = sorted(tmp_path.glob("checkpoint[0-9].pt"))
    assert [p.name for p in epochs] == ["checkpoint1.pt", "checkpoint2.pt", "checkpoint3.pt"]
    result = run_tool("biogpt_fairseq.tools.average_checkpoints", "--inputs", tmp_path, "--num-epoch-checkpoints", 2,
                      "--output", tmp_path / "avg.pt")
    assert "averaged checkpoint2.pt, checkpoint3.pt" in result.stderr.decode()
    states = [torch.load(tmp_path / n, map_location="cpu", weights_only=False) for n in ["checkpoint2.pt", "checkpoint3.pt", "avg.pt"]]
    key = "decoder.layers.0.fc1.weight"
    assert torch.allclose(states[2]["model"][key], (states[0]["model"][key] + states[1]["model"][key]) / 2, atol=1e-7)
    assert states[2]["cfg"]["task"]["learned_prompt"] == 9


def test_fairseq_interactive_continues_source_and_prompt(pubmedqa_data, tiny_pretrained, tiny_corpus, tmp_path):
    finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--learned-prompt", 9, "--max-update", 1,
             "--disable-validation")
    questions = [line.split("\t")[0] for line in (pubmedqa_data / "raw/test.x").read_text().splitlines()[:3]]
    result = run_tool(
        "fairseq-interactive", pubmedqa_data / "data-bin", "--user-dir", REPO / "biogpt_fairseq",
        "--task", "language_modeling_prompt", "--source-lang", "x", "--target-lang", "y", "--learned-prompt", 9,
        "--path", tmp_path / "checkpoint_last.pt", "--beam", 1, "--max-len-a", 1, "--max-len-b", 5, "--cpu",
        "--max-source-positions", 400, "--tokens-per-sample", 512, "--buffer-size", 2, "--batch-size", 2,
        "--tokenizer", "moses", "--bpe", "fastbpe", "--bpe-codes", tiny_corpus / "bpecodes",
        stdin="\n".join(questions).encode() + b"\n")
    lines = result.stdout.decode().splitlines()
    hypotheses = [line.split("\t") for line in lines if line.startswith("H-")]
    assert [h[0] for h in hypotheses] == ["H-0", "H-1", "H-2"]
    # only the continuation: at most the 5 new tokens (plus eos), never the source again
    assert all(len(h[2].split()) <= 6 and "question" not in h[2] for h in hypotheses)
    sources = [line.split("\t")[1] for line in lines if line.startswith("S-")]
    assert all(s.endswith("learned1 learned2 learned3 learned4 learned5 learned6 learned7 learned8 learned9")
               for s in sources)
