"""Tiny random BioGPT models made in memory, in Hugging Face's manner: no data mirror, no training.

`tiny_hf_model` writes a Hugging Face BioGPT directory (a small vocabulary of letters and a few merges,
random weights, and for a prompt model the `prompt.json` that `biogpt-convert to-hf` writes), which
every engine loads as it loads a converted fine-tuned checkpoint.
"""
import json
import string
from pathlib import Path

import torch

LETTERS = string.ascii_lowercase + string.digits
PUNCTUATION = [".", ",", "(", ")", "-", ";", ":", "..."]
MERGES = [("t", "h"), ("th", "e</w>"), ("i", "n"), ("in", "g</w>"), ("a", "n"), ("an", "d</w>"), ("e", "r")]
WORDS = ["the", "of", "and", "in", "with", "to", "a", "patients", "drug", "induced", "cancer", "cell"]


def vocabulary(prompt_symbols=()) -> dict:
    """HF vocab.json: the specials, each letter inside and at the end of a word, the merges' results,
    punctuation, then the prompt's symbols (appended last, as the prompt task appends them)."""
    tokens = ["<s>", "<pad>", "</s>", "<unk>"]
    tokens += [c for c in LETTERS] + [c + "</w>" for c in LETTERS]
    tokens += ["".join(m) for m in MERGES if "".join(m) not in tokens]
    tokens += [p + "</w>" for p in PUNCTUATION]
    tokens += [s + "</w>" for s in prompt_symbols]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def tiny_hf_model(out: Path, prompt: int = 0, layers: int = 2, width: int = 32, positions: int = 96,
                  seed: int = 0, std: float = 0.5) -> Path:
    """A tiny random BioGPT as a Hugging Face directory; with `prompt`, a prompt model with that many
    learned tokens (learned1..N) after the source, sources cut at 24 tokens."""
    from transformers import BioGptConfig, BioGptForCausalLM, BioGptTokenizer

    learned = [f"learned{i}" for i in range(1, prompt + 1)]
    vocab = vocabulary(learned)
    config = BioGptConfig(vocab_size=len(vocab), hidden_size=width, num_hidden_layers=layers,
                          num_attention_heads=2, intermediate_size=2 * width, max_position_embeddings=positions,
                          hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                          scale_embedding=True, tie_word_embeddings=True, layer_norm_eps=1e-5,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2)
    torch.manual_seed(seed)
    model = BioGptForCausalLM(config)
    with torch.no_grad():  # peaked distributions: greedy choices that float rounding cannot flip
        for name, parameter in model.named_parameters():
            if parameter.dim() > 1:
                parameter.normal_(0, std)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES))
    BioGptTokenizer(str(out / "vocab.json"), str(out / "merges.txt")).save_pretrained(out)
    if prompt:
        (out / "prompt.json").write_text(json.dumps({
            "learned_prompt": prompt, "learned_prompt_pattern": "learned", "prefix": False, "sep_token": "<seqsep>",
            "max_source_positions": 24, "max_target_positions": positions, "appended_symbols": learned,
            "prompt": learned}))
    return out


SENTENCES = ["the drug induced cancer in patients", "patients with cell cancer and the drug",
             "a b c d e f g h", "thing and thing", "induced", "cell of the patients with a drug, induced (in) the "
             "cancer; and the cell of patients - the drug"]
