"""The language_modeling_prompt task and transformer_lm_prompt model on real fairseq runs."""
import json
import re
import sys

import numpy as np
import pytest
import torch
from conftest import GENERATE, REPO, TINY_MODEL, finetune, finetune_data, run_tool
from fairseq.data import Dictionary, ListDataset

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
from biogpt_fairseq.tasks.prompt_dataset import PromptedPairDataset
from biogpt_fairseq.tasks.prompt_layout import PromptLayout


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


@pytest.mark.fast
@pytest.mark.parametrize("prefix", [False, True])
def test_sequence_truncation_and_sizes_as_the_original(prefix):
    """The original's dataset: the source cut to max_source_positions with its last kept token made
    '...'; the target to max_positions - max_source - prompt (- 1 with the separator), its last two
    '...' and eos; sizes are source + target as capped (the prompt not counted); the loss on the
    whole sequence, the input that sequence behind an eos."""
    d = _dictionary()
    src, tgt = _pairs(d, ["a b c d e", "a"], ["d e d e d e", "e"])
    prompt = torch.LongTensor([d.index("learned1"), d.index("learned2")])
    layout = PromptLayout(learned_prompt=2, prefix=prefix)
    ds = PromptedPairDataset(src, tgt, d, prompt, max_source_positions=3, max_positions=10, layout=layout)
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
    on_target = PromptedPairDataset(src, tgt, d, prompt, 3, 10, layout=layout, loss_on_target_only=True)
    labels = on_target[0]["labels"].tolist()
    assert labels[:len(body)] == [d.pad()] * len(body) and _words(d, labels[len(body):]) == target


@pytest.mark.fast
def test_inference_items_are_the_prompted_source():
    d = _dictionary()
    src, _ = _pairs(d, ["a b c d e", "a"], ["e", "e"])
    ds = PromptedPairDataset(src, None, d, torch.LongTensor([d.index("learned1")]), max_source_positions=4,
                             max_positions=10, shuffle=False)
    assert _words(d, ds[0]["prefix"]) == ["</s>", "a", "b", "c", "...", "learned1"]
    assert ds.sizes.tolist() == [4 + 1, 1 + 1]  # the source as cut, and the eos the original counts as target
    assert ds.ordered_indices().tolist() == [1, 0]


@pytest.mark.fast
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


def test_manual_prompt_tokens_missing_from_the_dictionary_are_appended_as_the_original_does(
        pubmedqa_data, tiny_pretrained, tmp_path):
    finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--manual-prompt", "of the zzzqqq", "--max-update", 1,
             "--disable-validation")
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["task_state"]["appended_symbols"] == ["zzzqqq"]
    n_dict = len(Dictionary.load(str(pubmedqa_data / "data-bin" / "dict.x.txt")))
    assert state["model"]["decoder.embed_tokens.weight"].shape[0] == n_dict + 1


def test_prefix_appends_the_separator_then_the_prompt(pubmedqa_data, tiny_pretrained, tmp_path):
    finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--learned-prompt", 2, "--prefix",
             "--max-update", 1, "--disable-validation")
    state = torch.load(tmp_path / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["task_state"]["appended_symbols"] == ["<seqsep>", "learned1", "learned2"]


def test_the_checkpoint_carries_the_prompt_settings_to_generation(pubmedqa_data, tiny_prompt_model, tmp_path):
    """fairseq-generate takes the prompt and the limits from the checkpoint; a contradicting command
    line is an error naming both values, as is a limit that leaves no room after the prefix."""
    def generate(*extra, check=True):
        return run_tool("fairseq-generate", pubmedqa_data / "data-bin", *GENERATE, "--path", tiny_prompt_model,
                        "--gen-subset", "valid", "--max-len-a", 1, "--max-len-b", 3, *extra, check=check)
    sources = [line for line in generate().stdout.decode().splitlines() if line.startswith("S-")]
    assert len(sources) == 50 and all(s.endswith(" learned8 learned9") for s in sources)
    for extra, message in [(["--learned-prompt", 5], "learned_prompt: command line 5, checkpoint 9"),
                           (["--max-source-positions", 100], "max_source_positions: command line 100, checkpoint 400"),
                           (["--max-len-a", 0], "leaves no room after a forced prefix")]:
        result = generate(*extra, check=False)
        assert result.returncode != 0 and message in result.stderr.decode(), extra
    # the same settings, given again, are fine
    generate("--learned-prompt", 9, "--max-source-positions", 400)
    # so are the data directory's own BPE codes; other codes are an error
    generate("--bpe", "fastbpe", "--bpe-codes", pubmedqa_data / "data-bin" / "bpecodes")
    other = tmp_path / "bpecodes"
    other.write_text("t h 10\n")
    result = generate("--bpe", "fastbpe", "--bpe-codes", other, check=False)
    assert result.returncode != 0 and "differs from the codes the data were made with" in result.stderr.decode()


def test_an_original_train_sh_runs_verbatim(tiny_corpus, tiny_pretrained, tmp_path, tmp_path_factory, data):
    """RE-BC5CDR/train.sh's flags as they are (paths changed, --cpu, a tiny model's shape, 2 updates):
    no --source-lang/--target-lang, the separator of a prompt task read off the data directory."""
    data_bin = finetune_data("bc5cdr", tiny_corpus, tmp_path_factory, data) / "data-bin"
    save_dir = tmp_path / "checkpoints" / "RE-BC5CDR-BioGPT"
    original = f"""fairseq-train {data_bin} --save-dir {save_dir} --user-dir {REPO / 'biogpt_fairseq'}
        --finetune-from-model {tiny_pretrained} --task language_modeling_prompt --arch transformer_lm_prompt_biogpt
        --share-decoder-input-output-embed --decoder-learned-pos --optimizer adam --adam-betas (0.9,0.98)
        --weight-decay 0.01 --clip-norm 0.0 --lr 1e-5 --lr-scheduler inverse_sqrt --warmup-updates 100
        --warmup-init-lr 1e-07 --tokens-per-sample 1024 --max-source-positions 640 --max-target-positions 1024
        --max-tokens 1024 --update-freq 32 --skip-invalid-size-inputs-valid-test --max-epoch 100
        --keep-last-epochs 5 --learned-prompt 9""".split()
    tiny = [*TINY_MODEL, "--max-target-positions", 512, "--tokens-per-sample", 512, "--max-source-positions", 400]
    result = run_tool(*original, *tiny, "--cpu", "--max-update", 2, "--num-workers", 0, "--log-format", "simple")
    assert "num_updates 2" in result.stderr.decode() + result.stdout.decode()
    state = torch.load(save_dir / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["task_state"]["dataset"] == "bc5cdr" and state["task_state"]["learned_prompt"] == 9
    assert state["model"]["decoder.embed_tokens.weight"].shape[0] == len(Dictionary.load(
        str(data_bin / "dict.x.txt"))) + 9


def test_average_checkpoints_of_the_last_epochs(pubmedqa_data, tiny_pretrained, tmp_path):
    # (epochs of the 50 validation questions: the averaging, not the data, is under test)
    finetune(pubmedqa_data / "data-bin", tiny_pretrained, tmp_path, "--learned-prompt", 9, "--max-epoch", 3,
             "--disable-validation", "--train-subset", "valid", "--batch-size", 25)
    epochs = sorted(tmp_path.glob("checkpoint[0-9].pt"))
    assert [p.name for p in epochs] == ["checkpoint1.pt", "checkpoint2.pt", "checkpoint3.pt"]
    result = run_tool("biogpt_fairseq.tools.average_checkpoints", "--inputs", tmp_path, "--num-epoch-checkpoints", 2,
                      "--output", tmp_path / "avg.pt")
    assert "averaged checkpoint2.pt, checkpoint3.pt" in result.stderr.decode()
    states = [torch.load(tmp_path / n, map_location="cpu", weights_only=False) for n in ["checkpoint2.pt", "checkpoint3.pt", "avg.pt"]]
    key = "decoder.layers.0.fc1.weight"
    assert torch.allclose(states[2]["model"][key], (states[0]["model"][key] + states[1]["model"][key]) / 2, atol=1e-7)
    assert states[2]["task_state"] == states[1]["task_state"] and states[2]["task_state"]["learned_prompt"] == 9
    kept, newest = (s["last_optimizer_state"]["state"] for s in (states[2], states[1]))  # the original keeps the newest's
    assert kept.keys() == newest.keys() and all(torch.equal(kept[i]["exp_avg"], newest[i]["exp_avg"]) for i in kept)
    # three: the bits of fairseq's script, which sums newest first in fp32 (a float64 mean differs in the last bit)
    run_tool("biogpt_fairseq.tools.average_checkpoints", "--inputs", tmp_path, "--num-epoch-checkpoints", 3,
             "--output", tmp_path / "avg3.pt", "--no-optimizer-state")
    c1, c2, c3 = (torch.load(tmp_path / f"checkpoint{i}.pt", map_location="cpu", weights_only=False)["model"] for i in (1, 2, 3))
    averaged = torch.load(tmp_path / "avg3.pt", map_location="cpu", weights_only=False)
    assert all(torch.equal(averaged["model"][k], (c3[k] + c2[k] + c1[k]) / 3) for k in c3)
    float64_mean = ((c3[key].double() + c2[key].double() + c1[key].double()) / 3).float()
    assert not torch.equal(averaged["model"][key], float64_mean)
    assert averaged["last_optimizer_state"] is None and \
        (tmp_path / "avg3.pt").stat().st_size < (tmp_path / "avg.pt").stat().st_size / 2


def test_fairseq_interactive_continues_source_and_prompt(pubmedqa_data, tiny_prompt_model):
    questions = (pubmedqa_data / "raw/test.x").read_text(encoding="utf-8").split("\n")[:3]
    result = run_tool("fairseq-interactive", pubmedqa_data / "data-bin", *GENERATE, "--path", tiny_prompt_model,
                      "--max-len-a", 1, "--max-len-b", 5, "--buffer-size", 2, "--batch-size", 2,
                      stdin="\n".join(questions).encode() + b"\n")
    lines = result.stdout.decode().splitlines()
    hypotheses = [line.split("\t") for line in lines if line.startswith("H-")]
    assert [h[0] for h in hypotheses] == ["H-0", "H-1", "H-2"]
    # only the continuation: at most the 5 new tokens (plus eos), never the source again
    assert all(len(h[2].split()) <= 6 and "question" not in h[2] for h in hypotheses)
    sources = [line.split("\t")[1] for line in lines if line.startswith("S-")]
    assert all(s.endswith("learned1 learned2 learned3 learned4 learned5 learned6 learned7 learned8 learned9")
               for s in sources)


def test_the_plugin_imports_nothing_of_downstream():
    """What `fairseq-train --user-dir biogpt_fairseq` loads (fairseq's --user-dir loader, in a fresh
    process) is the plugin alone: downstream/ uses the plugin, never the reverse, so no dataset spec
    and no module named in $BIOGPT_DATASETS is imported (this one does not exist)."""
    probe = ("import sys; from argparse import Namespace; from fairseq import utils; "
             f"utils.import_user_module(Namespace(user_dir={str(REPO / 'biogpt_fairseq')!r})); "
             "from fairseq.tasks import TASK_REGISTRY; assert 'language_modeling_prompt' in TASK_REGISTRY; "
             "print(sorted(m for m in sys.modules if m.startswith('biogpt_fairseq.downstream')))")
    result = run_tool(sys.executable, "-c", probe, env={"BIOGPT_DATASETS": "no_such_dataset_module"})
    assert result.stdout.decode().strip() == "[]"


def test_the_prompt_layout_reads_without_fairseq():
    """The downstream decoders read a model's learned tokens' pattern off its layout: importing it
    (in a fresh process) loads neither fairseq nor torch."""
    probe = ("import sys; from biogpt_fairseq.tasks.prompt_layout import PromptLayout; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fairseq', 'torch')))")
    assert run_tool(sys.executable, "-c", probe).stdout.decode().strip() == "[]"


def test_the_prompt_layout_appends_as_the_original_and_finds_its_learned_tokens():
    """The separator first, then the prompt tokens the dictionary lacks, once; the learned tokens of
    any stem as the original's `(learned[0-9]+ )+` finds them for its stem."""
    manual = PromptLayout(manual_prompt="we have that <seqsep> we x", prefix=True)
    assert manual.appended_symbols(known={"we", "have", "that"}.__contains__) == ["<seqsep>", "x"]
    assert manual.prompt_tokens == ("we", "have", "that", "<seqsep>", "we", "x")
    assert manual.arrange(["s"], ["p"], ["|"]) == [["p"], ["s"], ["|"]]
    learned = PromptLayout.from_settings({"learned_prompt": 2, "learned_prompt_pattern": None, "prefix": None})
    assert learned == PromptLayout(learned_prompt=2) and learned.appended_symbols(known=lambda t: False) == \
        ["learned1", "learned2"]
    assert learned.arrange(["s"], ["p"], []) == [["s"], ["p"]]
    line = "a b learned1 learned12 the answer learned3 is yes"
    assert re.split(learned.learned_regex, line)[-1] == re.split("(learned[0-9]+ )+", line)[-1] == "is yes"
    other = PromptLayout(learned_prompt=2, learned_prompt_pattern="v.")
    assert re.split(other.learned_regex, "a v.1 v.2 yes vx1 no")[-1] == "yes vx1 no"
    with pytest.raises(ValueError, match="cannot both be set"):
        PromptLayout(learned_prompt=1, manual_prompt="x")
