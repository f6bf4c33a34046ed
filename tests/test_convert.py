"""fairseq <-> Hugging Face: the same model, numerically; lossless round trips; both shapes."""
import json

import pytest
import torch
from conftest import REPO, build_lm, run_tool, task_abstracts
from fairseq import options
from fairseq.data import Dictionary
from safetensors.torch import load_file
from transformers import BioGptConfig, BioGptForCausalLM, BioGptTokenizer

import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
from biogpt_fairseq import BioGPT
from biogpt_fairseq.models.hf_conversion import fairseq_model_flags, fairseq_state_dict, hf_config, hf_state_dict
from biogpt_fairseq.runtime.safe_checkpoint import load as safe_load
from biogpt_fairseq.data.tokenize import tokenize_lines


@pytest.fixture(scope="module")
def converted(tiny_pretrained, tiny_corpus, tmp_path_factory):
    """tiny_pretrained -> HF -> fairseq, through the command line."""
    out = tmp_path_factory.mktemp("converted")
    run_tool("biogpt_fairseq.tools.convert", "to-hf", tiny_pretrained, "--data", tiny_corpus,
             "--bpe-codes", tiny_corpus / "bpecodes", "--out", out / "hf")
    run_tool("biogpt_fairseq.tools.convert", "from-hf", out / "hf", "--out", out / "fairseq")
    return out


def long_token_sequence(model: BioGPT, data, length):
    """Real abstracts, tokenized by our pipeline and concatenated to `length` tokens (eos first, as BioGPT reads)."""
    ids = [model.engine.hub.task.dictionary.eos()]
    for text in task_abstracts(data, limit_per_split=20):
        ids += model.engine.hub.encode(text).tolist()
        if len(ids) >= length:
            return torch.tensor([ids[:length]])
    raise AssertionError("not enough text")


def test_hf_directory_loads_offline_and_tokenizes_like_fairseq(converted, tiny_corpus, tiny_pretrained, data):
    hf_dir = converted / "hf"
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"} <= \
        {p.name for p in hf_dir.iterdir()}
    tokenizer = BioGptTokenizer.from_pretrained(hf_dir)
    ours = BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)
    for text in task_abstracts(data, limit_per_split=10):
        # HF: </s> then the tokens; fairseq's encode: the tokens then </s>
        assert tokenizer(text).input_ids[1:] == ours.engine.hub.encode(text).tolist()[:-1]


def test_logits_agree_on_real_abstracts_up_to_the_last_position(converted, tiny_pretrained, tiny_corpus, data):
    ours = BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)
    hf = BioGptForCausalLM.from_pretrained(converted / "hf").eval()
    positions = ours.engine.hub.models[0].max_positions()
    assert positions == hf.config.max_position_embeddings == 512
    for length in (17, positions):  # a short input and one using every position
        tokens = long_token_sequence(ours, data, length)
        with torch.no_grad():
            difference = (ours.engine.hub.models[0](tokens)[0] - hf(tokens).logits).abs().max().item()
        assert difference < 1e-4


def test_random_tiny_model_with_the_released_vocabulary_agrees(data):
    torch.manual_seed(0)
    dictionary = Dictionary.load(str(data / "biogpt/dict.txt"))
    model, args = build_lm("transformer_lm_biogpt_tiny", dictionary, decoder_layers=2, decoder_embed_dim=32,
                                decoder_ffn_embed_dim=64, decoder_attention_heads=2, max_target_positions=64)
    model.eval()
    hf = BioGptForCausalLM(hf_config(vars(args), vocab_size=len(dictionary))).eval()
    hf.load_state_dict(hf_state_dict(model.state_dict()), strict=True)
    tokens = torch.randint(4, len(dictionary), (3, 64))
    tokens[:, 0] = dictionary.eos()
    with torch.no_grad():
        assert (model(tokens)[0] - hf(tokens).logits).abs().max().item() < 1e-4


def test_greedy_generation_gives_identical_token_ids(converted, tiny_pretrained, tiny_corpus):
    ours = BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)
    hf = BioGptForCausalLM.from_pretrained(converted / "hf").eval()
    for prompt in ["Bicalutamide", "Janus kinase 3 is", "COVID-19 is a disease of"]:
        prefix = ours.engine.hub.encode(prompt)[:-1]
        # 32 new tokens, eos banned until then in both (fairseq's min_len counts the prefix)
        with torch.no_grad():
            fairseq_ids = ours.engine.hub.generate([ours.engine.hub.encode(prompt)], beam=1, max_len_a=1, max_len_b=32,
                                            min_len=len(prefix) + 32)[0][0]["tokens"][len(prefix):len(prefix) + 32]
            hf_ids = hf.generate(torch.cat([torch.tensor([2]), prefix])[None], do_sample=False, num_beams=1,
                                 max_new_tokens=32, min_new_tokens=32)[0, len(prefix) + 1:]
        assert len(hf_ids) == 32 and fairseq_ids.tolist() == hf_ids.tolist()


def test_fairseq_hf_fairseq_is_bit_identical(converted, tiny_pretrained):
    original = safe_load(tiny_pretrained)["model"]
    back = safe_load(converted / "fairseq" / "checkpoint.pt")["model"]
    assert original.keys() == back.keys()
    assert all(torch.equal(original[k], back[k]) and original[k].dtype == back[k].dtype for k in original)


def test_hf_fairseq_hf_is_bit_identical(converted, tmp_path):
    run_tool("biogpt_fairseq.tools.convert", "to-hf", converted / "fairseq" / "checkpoint.pt", "--data",
             converted / "fairseq", "--bpe-codes", converted / "fairseq" / "bpecodes", "--out", tmp_path / "hf")
    first, second = (load_file(d / "model.safetensors") for d in (converted / "hf", tmp_path / "hf"))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    for name in ("vocab.json", "merges.txt"):
        assert (converted / "hf" / name).read_text() == (tmp_path / "hf" / name).read_text()


def test_converted_bpecodes_tokenize_as_the_original(converted, tiny_corpus, data):
    """HF keeps no merge counts; fastBPE ranks codes by file order, so the codes written back are equivalent."""
    texts = task_abstracts(data, limit_per_split=30)
    assert list(tokenize_lines(texts, bpe_codes=str(converted / "fairseq" / "bpecodes"))) == \
        list(tokenize_lines(texts, bpe_codes=str(tiny_corpus / "bpecodes")))


def test_converted_back_checkpoint_runs_in_fairseq_generate(converted, tiny_corpus, tmp_path):
    result = run_tool("fairseq-interactive", converted / "fairseq", "--user-dir", REPO / "biogpt_fairseq",
                      "--task", "language_modeling", "--path", converted / "fairseq" / "checkpoint.pt", "--beam", 2,
                      "--max-len-b", 8, "--cpu", "--tokenizer", "moses", "--bpe", "fastbpe",
                      "--bpe-codes", converted / "fairseq" / "bpecodes", stdin=b"Bicalutamide is\n")
    assert any(line.startswith("H-0") for line in result.stdout.decode().splitlines())


def test_prompt_model_round_trip_and_prompt_note(tiny_prompt_model, pubmedqa_data, tiny_corpus, tmp_path):
    run_tool("biogpt_fairseq.tools.convert", "to-hf", tiny_prompt_model, "--data", pubmedqa_data / "data-bin",
             "--bpe-codes", tiny_corpus / "bpecodes", "--out", tmp_path / "hf")
    note = json.loads((tmp_path / "hf" / "prompt.json").read_text())
    vocab = json.loads((tmp_path / "hf" / "vocab.json").read_text())
    assert note["learned_prompt"] == 9
    assert note["prompt_token_ids"] == [vocab[f"learned{i}</w>"] for i in range(1, 10)] == \
        list(range(len(vocab) - 9, len(vocab)))
    run_tool("biogpt_fairseq.tools.convert", "from-hf", tmp_path / "hf", "--out", tmp_path / "back")
    original, back = safe_load(tiny_prompt_model), safe_load(tmp_path / "back" / "checkpoint.pt")
    assert all(torch.equal(original["model"][k], back["model"][k]) for k in original["model"])
    assert back["cfg"]["task"]["_name"] == "language_modeling_prompt" and back["task_state"]["learned_prompt"] == 9
    assert back["task_state"]["appended_symbols"] == [f"learned{i}" for i in range(1, 10)]
    # HF with the prompt appended as the note says == fairseq's prompted forward pass
    ours = BioGPT.from_pretrained(tmp_path / "back")
    hf = BioGptForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tokenizer = BioGptTokenizer.from_pretrained(tmp_path / "hf")
    source = "question: is aspirin useful? context: aspirin reduced pain in 40 of 50 patients."
    hf_ids = torch.tensor([tokenizer(source).input_ids + note["prompt_token_ids"]])
    fairseq_ids = ours.engine.hub.task.build_dataset_for_inference([ours.engine.hub.encode(source)], [len(ours.engine.hub.encode(source))])[0]["prefix"]
    fairseq_ids = fairseq_ids[None]
    assert hf_ids.tolist() == fairseq_ids.tolist()
    with torch.no_grad():
        assert (ours.engine.hub.models[0](fairseq_ids)[0] - hf(hf_ids).logits).abs().max().item() < 1e-4


@pytest.mark.parametrize("arch, dict_dir, hf_shape", [
    ("transformer_lm_biogpt", "biogpt", {}),
    ("transformer_lm_biogpt_large", "biogpt-large",
     dict(hidden_size=1600, num_hidden_layers=48, num_attention_heads=25, intermediate_size=6400,
          max_position_embeddings=2048)),
])
def test_full_shapes_map_parameter_for_parameter(data, arch, dict_dir, hf_shape):
    """BioGPT and BioGPT-Large, built on the meta device: every tensor has its counterpart of the same shape,
    the config maps to the published HF config, and the HF config maps back to the same fairseq shape."""
    dictionary = Dictionary.load(str(data / dict_dir / "dict.txt"))
    with torch.device("meta"):
        model, args = build_lm(arch, dictionary)
        config = hf_config(vars(args), vocab_size=len(dictionary))
        hf = BioGptForCausalLM(config)
    published = BioGptConfig(vocab_size=len(dictionary), **hf_shape)
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "vocab_size", "scale_embedding", "hidden_act"):
        assert getattr(config, key) == getattr(published, key), key
    mapped = {k: v.shape for k, v in hf_state_dict(model.state_dict()).items()}
    assert mapped == {k: v.shape for k, v in hf.state_dict().items()}
    assert {k: v.shape for k, v in fairseq_state_dict(hf.state_dict()).items()} == \
        {k: v.shape for k, v in model.state_dict().items()}
    parser = options.get_training_parser(default_task="language_modeling")
    back = options.parse_args_and_arch(parser, ["/data", "--task", "language_modeling", "--arch",
                                                "transformer_lm_biogpt", *fairseq_model_flags(config)])
    for key in ("decoder_layers", "decoder_embed_dim", "decoder_attention_heads", "decoder_ffn_embed_dim",
                "max_target_positions"):
        assert getattr(back, key) == getattr(args, key), key


def test_refuses_what_hf_biogpt_cannot_express(tiny_pretrained, tiny_corpus, tmp_path):
    from biogpt_fairseq.textio import UserError

    with pytest.raises(UserError, match="decoder_normalize_before"):
        hf_config({"decoder_normalize_before": False, "decoder_embed_dim": 64}, vocab_size=10)
    (tmp_path / "dict.txt").write_text("a 1\nb 1\n")
    result = run_tool("biogpt_fairseq.tools.convert", "to-hf", tiny_pretrained, "--data", tmp_path,
                      "--bpe-codes", tiny_corpus / "bpecodes", "--out", tmp_path / "hf", check=False)
    assert result.returncode == 2 and "not this model's vocabulary" in result.stderr.decode()
    assert not (tmp_path / "hf" / "model.safetensors").exists()


def test_a_prompt_model_trained_without_its_language_pair_converts(custom_model, tmp_path):
    """A hydra-trained prompt model (its task read the language pair off the data directory, so the
    checkpoint names none): the conversion finds dict.x.txt as the task does."""
    data_bin, checkpoints, _ = custom_model
    state = torch.load(checkpoints / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["cfg"]["task"].get("source_lang") is None and not (data_bin / "dict.txt").exists()
    run_tool("biogpt_fairseq.tools.convert", "to-hf", checkpoints / "checkpoint_last.pt", "--data", data_bin,
             "--out", tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["vocab_size"] == \
        state["model"]["decoder.embed_tokens.weight"].shape[0]
