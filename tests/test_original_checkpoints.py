"""Checkpoints as the original BioGPT release wrote them (fairseq 0.12.0, torch 1.12) load everywhere."""
import argparse

import pytest
import torch
from conftest import REPO, TINY_MODEL, run_tool
from fairseq import options

from biogpt_fairseq import BioGPT
from biogpt_fairseq.models.transformer_lm_prompt import TransformerLanguageModelPrompt

TRAINING_STATE = {  # what fairseq 0.12's trainer writes beside the weights
    "criterion": {}, "task_state": {}, "last_optimizer_state": None,
    "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": "Adam",
                           "lr_scheduler_state": {"best": None}, "num_updates": 2}],
    "extra_state": {"metrics": {}, "previous_training_time": 1.0,
                    "train_iterator": {"epoch": 1, "iterations_in_epoch": 2, "shuffle": True}},
}


def release_style_checkpoint(fine_tuned: dict, form: str) -> dict:
    """Our fine-tuned weights in the layout of a checkpoint of the original release."""
    if form == "cfg":  # fairseq 0.12.0: the model's name and its architecture, as that release recorded them
        cfg = dict(fine_tuned["cfg"])
        cfg["model"] = {**cfg["model"], "_name": "transformer_lm_prompt", "arch": "transformer_lm_prompt_biogpt"}
        return {"args": None, "cfg": cfg, "model": fine_tuned["model"], **TRAINING_STATE}
    # older: every setting in an argparse Namespace, no cfg
    parser = options.get_training_parser(default_task="language_modeling_prompt")
    args = options.parse_args_and_arch(parser, [
        "/data", "--user-dir", str(REPO / "biogpt_fairseq"), "--task", "language_modeling_prompt",
        "--arch", "transformer_lm_prompt_biogpt", *map(str, TINY_MODEL), "--source-lang", "x", "--target-lang", "y",
        "--learned-prompt", "9", "--tokens-per-sample", "512", "--max-source-positions", "400", "--max-target-positions", "512",
        "--optimizer", "adam", "--lr", "1e-5"])
    assert isinstance(args, argparse.Namespace)
    return {"args": args, "model": fine_tuned["model"], **TRAINING_STATE}


@pytest.fixture(scope="module", params=["cfg", "args"])
def release_checkpoint(request, tiny_prompt_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"release_{request.param}")
    fine_tuned = torch.load(tiny_prompt_model, map_location="cpu", weights_only=False)
    torch.save(release_style_checkpoint(fine_tuned, request.param), directory / "checkpoint_avg.pt")
    return directory / "checkpoint_avg.pt"


def test_loads_in_fairseq_generate(release_checkpoint, pubmedqa_data, tiny_corpus):
    data_bin = pubmedqa_data / "data-bin"
    result = run_tool(
        "fairseq-generate", data_bin, "--user-dir", REPO / "biogpt_fairseq", "--task", "language_modeling_prompt",
        "--source-lang", "x", "--target-lang", "y", "--learned-prompt", 9, "--path", release_checkpoint,
        "--gen-subset", "valid", "--beam", 1, "--max-len-a", 1, "--max-len-b", 4, "--batch-size", 16, "--cpu",
        "--max-source-positions", 400, "--tokens-per-sample", 512)
    n = len((pubmedqa_data / "raw" / "valid.x").read_text(encoding="utf-8").split("\n")) - 1
    assert sum(line.startswith("H-") for line in result.stdout.decode().splitlines()) == n


def test_loads_through_the_hub_and_the_api(release_checkpoint, tiny_prompt_model, pubmedqa_data, tiny_corpus):
    hub = TransformerLanguageModelPrompt.from_pretrained(
        str(release_checkpoint.parent), release_checkpoint.name, str(pubmedqa_data / "data-bin"),
        tokenizer="moses", bpe="fastbpe", bpe_codes=str(tiny_corpus / "bpecodes"))
    assert hub.cfg.task.learned_prompt == 9 and len(hub.task.prompt) == 9
    ours = BioGPT.from_pretrained(release_checkpoint, data=pubmedqa_data / "data-bin",
                                  bpe_codes=tiny_corpus / "bpecodes")
    reference = BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin",
                                       bpe_codes=tiny_corpus / "bpecodes")
    question = "question: does aspirin help? context: aspirin reduced pain in 40 of 50 patients."
    assert ours.is_prompt_model
    assert ours.generate(question, beam=2, max_len=6) == reference.generate(question, beam=2, max_len=6) == \
        hub.sample(question, beam=2, max_len_a=1, max_len_b=6)


def test_another_prompt_length_than_the_checkpoints_is_an_error(release_checkpoint, pubmedqa_data):
    """A release checkpoint carries no task state: the command line's prompt must fit its vocabulary."""
    result = run_tool(
        "fairseq-generate", pubmedqa_data / "data-bin", "--user-dir", REPO / "biogpt_fairseq", "--task",
        "language_modeling_prompt", "--learned-prompt", 5, "--path", release_checkpoint, "--gen-subset", "valid",
        "--beam", 1, "--max-len-a", 1, "--max-len-b", 4, "--cpu", "--max-source-positions", 400, check=False)
    assert result.returncode != 0
    assert "a checkpoint fine-tuned with another prompt" in result.stderr.decode()
