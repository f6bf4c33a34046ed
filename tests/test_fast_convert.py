"""biogpt-convert on tiny random models made in memory (no data mirror): Hugging Face -> fairseq -> Hugging
Face and fairseq -> Hugging Face -> fairseq are lossless, for a language model and a prompt model, and the
fairseq model computes the Hugging Face model's logits. (tests/test_convert.py does the same on the
pipeline's pre-trained model and the released vocabulary.)"""
import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_models import tiny_hf_model
from transformers import BioGptForCausalLM

from biogpt_fairseq import BioGPT
from biogpt_fairseq.runtime.safe_checkpoint import load as safe_load
from biogpt_fairseq.textio import UserError
from biogpt_fairseq.tools.convert import main as convert

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module", params=[0, 3], ids=["language-model", "prompt-model"])
def round_trips(request, tmp_path_factory):
    """A tiny HF model, its fairseq conversion, that converted back to HF and again to fairseq (by the
    command line's function, in this process)."""
    root = tmp_path_factory.mktemp("round-trips")
    hf = tiny_hf_model(root / "hf", prompt=request.param)
    convert(["from-hf", str(hf), "--out", str(root / "fairseq")])
    convert(["to-hf", str(root / "fairseq" / "checkpoint.pt"), "--out", str(root / "hf-again")])
    convert(["from-hf", str(root / "hf-again"), "--out", str(root / "fairseq-again")])
    return root


def test_hf_fairseq_hf_is_bit_identical(round_trips):
    first, second = (load_file(round_trips / d / "model.safetensors") for d in ("hf", "hf-again"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) and first[k].dtype == second[k].dtype for k in first)
    for name in ("vocab.json", "config.json"):
        written, read_back = (json.loads((round_trips / d / name).read_text()) for d in ("hf", "hf-again"))
        if name == "config.json":
            written.pop("transformers_version"), read_back.pop("transformers_version")
        assert written == read_back
    merges = [[line for line in (round_trips / d / "merges.txt").read_text().splitlines()
               if not line.startswith("#version")] for d in ("hf", "hf-again")]  # (a header HF's loader skips)
    assert merges[0] == merges[1] and len(merges[0]) == 7
    if (round_trips / "hf" / "prompt.json").is_file():
        settings = json.loads((round_trips / "hf" / "prompt.json").read_text())
        note = json.loads((round_trips / "hf-again" / "prompt.json").read_text())
        assert {k: note[k] for k in settings} == settings
        vocab = json.loads((round_trips / "hf-again" / "vocab.json").read_text())
        assert note["prompt_token_ids"] == [vocab[t + "</w>"] for t in settings["prompt"]]
    else:
        assert not (round_trips / "hf-again" / "prompt.json").exists()


def test_fairseq_hf_fairseq_is_bit_identical(round_trips):
    first, second = (safe_load(round_trips / d / "checkpoint.pt") for d in ("fairseq", "fairseq-again"))
    assert first["model"].keys() == second["model"].keys()
    assert all(torch.equal(first["model"][k], second["model"][k]) for k in first["model"])
    assert first["task_state"] == second["task_state"]
    assert first["cfg"]["task"]["_name"] == second["cfg"]["task"]["_name"] == (
        "language_modeling_prompt" if first["task_state"] else "language_modeling")
    for name in ("dict.txt", "bpecodes"):
        assert (round_trips / "fairseq" / name).read_text() == (round_trips / "fairseq-again" / name).read_text()


def test_the_fairseq_model_computes_the_hf_models_logits(round_trips):
    ours = BioGPT.from_pretrained(round_trips / "fairseq")
    hf = BioGptForCausalLM.from_pretrained(round_trips / "hf").eval()
    model = ours.engine.hub.models[0]
    assert model.max_positions() == hf.config.max_position_embeddings
    torch.manual_seed(0)
    for length in (5, model.max_positions()):  # a short input and one using every position
        tokens = torch.randint(4, hf.config.vocab_size, (2, length))
        tokens[:, 0] = ours.engine.dictionary.eos()
        with torch.no_grad():
            torch.testing.assert_close(model(tokens)[0], hf(tokens).logits, atol=1e-4, rtol=1e-5)


def test_what_is_not_a_biogpt_directory_is_refused_naming_the_file(tmp_path):
    hf = tiny_hf_model(tmp_path / "hf")
    (hf / "merges.txt").unlink()
    with pytest.raises(UserError, match="merges.txt: no such file .not a Hugging Face BioGPT directory"):
        convert(["from-hf", str(hf), "--out", str(tmp_path / "out")])
    tiny_hf_model(tmp_path / "hf")
    vocab = json.loads((hf / "vocab.json").read_text())
    (hf / "vocab.json").write_text(json.dumps({t: i for t, i in vocab.items() if i < len(vocab) - 1}))
    with pytest.raises(UserError, match=f"vocab.json has {len(vocab) - 1} tokens, the model {len(vocab)}"):
        convert(["from-hf", str(hf), "--out", str(tmp_path / "out")])
    with pytest.raises(UserError, match="no such checkpoint"):
        convert(["to-hf", str(tmp_path / "missing.pt"), "--bpe-codes", str(tmp_path / "hf" / "merges.txt"),
                 "--out", str(tmp_path / "out")])
