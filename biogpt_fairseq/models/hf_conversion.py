"""Conversion between fairseq's BioGPT checkpoints and Hugging Face's `BioGptForCausalLM`, beside the
models it converts (the command is `biogpt-convert`, tools/convert.py).

`to_hf` writes config.json, model.safetensors, vocab.json, merges.txt and the
tokenizer config, which `BioGptForCausalLM.from_pretrained(OUT_DIR)` and
`BioGptTokenizer.from_pretrained(OUT_DIR)` load offline. A fine-tuned prompt
model's learned tokens (learned1..N) become vocabulary entries, and prompt.json
says how to build the prompt. `from_hf` writes checkpoint.pt, dict.txt and
bpecodes, which `fairseq-generate --user-dir biogpt_fairseq` and
`biogpt_fairseq.BioGPT` load. Both directions are lossless for the weights:
fairseq -> HF -> fairseq gives back the same tensors, bit for bit.

The two systems are the same network: fairseq's pre-LayerNorm transformer_lm
with learned positions offset by padding_idx + 1 = 2, scaled and tied
embeddings, and HF's BioGpt, whose position table has the same offset of 2.
Only the parameter names differ ("decoder." vs "biogpt.").
"""
import json
from pathlib import Path
from typing import Dict, List

import torch

from biogpt_fairseq.tasks.prompt_layout import PromptLayout
from biogpt_fairseq.textio import UserError, atomic_output, read_json, read_lines

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # fairseq's and HF's ids 0..3
FAIRSEQ_PREFIX, HF_PREFIX = "decoder.", "biogpt."
OUTPUT_PROJECTION = "output_projection.weight"
# fairseq's TransformerDecoder records its state-dict version here; HF has no such entry.
FAIRSEQ_VERSION_KEY, FAIRSEQ_VERSION = "decoder.version", torch.Tensor([3])
# Options of fairseq's transformer_lm that HF's BioGpt cannot express: (option, value BioGPT needs).
REQUIRED_SHAPE = [("decoder_normalize_before", True), ("decoder_learned_pos", True), ("layernorm_embedding", False),
                  ("no_decoder_final_norm", False), ("adaptive_softmax_cutoff", None), ("activation_fn", "gelu"),
                  ("quant_noise_pq", 0), ("character_embeddings", False), ("adaptive_input", False)]
PROMPT_NOTE = "prompt.json"


# --- vocabulary -------------------------------------------------------------------------------

def hf_vocab(symbols: List[str]) -> Dict[str, int]:
    """fairseq dictionary symbols (index order) -> HF vocab.json.

    fastBPE marks a piece that continues the word with a trailing "@@"; HF's
    BPE marks the piece that ends it with "</w>".
    """
    if tuple(symbols[:4]) != SPECIALS:
        raise UserError(f"the dictionary does not start with fairseq's specials {SPECIALS}")
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for index, symbol in enumerate(symbols[4:], 4):
        token = symbol[:-2] if symbol.endswith("@@") else symbol + "</w>"
        if token in vocab:
            raise UserError(f"dictionary symbols {symbols[vocab[token]]!r} and {symbol!r} map to the same HF token")
        vocab[token] = index
    return vocab


def fairseq_symbols(vocab: Dict[str, int], path="vocab.json") -> List[str]:
    """HF vocab.json -> fairseq dictionary symbols in index order (the inverse of hf_vocab)."""
    by_id = sorted((i, t) for t, i in vocab.items())
    if [i for i, _ in by_id] != list(range(len(by_id))):
        raise UserError(f"{path}: token ids are not 0..{len(by_id) - 1}")
    if tuple(t for _, t in by_id[:4]) != SPECIALS:
        raise UserError(f"{path}: ids 0..3 must be {SPECIALS}")
    return list(SPECIALS) + [t[:-4] if t.endswith("</w>") else t + "@@" for _, t in by_id[4:]]


def read_dict_symbols(path: Path) -> List[str]:
    """Symbols of a fairseq dict.txt, after fairseq's four specials, as `Dictionary.load` indexes them."""
    symbols = list(SPECIALS)
    for lineno, line in read_lines(str(path)):
        fields = line.rstrip().split(" ")
        if fields[-1] == "#fairseq:overwrite":
            fields = fields[:-1]
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise UserError(f"{path}:{lineno}: not a fairseq dictionary line ('SYMBOL COUNT')")
        symbols.append(fields[0])
    return symbols


def merges_from_bpecodes(path: Path) -> List[str]:
    """fastBPE codes ('LEFT RIGHT COUNT', applied in file order) -> HF merges ('LEFT RIGHT')."""
    merges = []
    for lineno, line in read_lines(str(path)):
        fields = line.split(" ")
        if len(fields) != 3:
            raise UserError(f"{path}:{lineno}: not a fastBPE codes line ('LEFT RIGHT COUNT')")
        merges.append(f"{fields[0]} {fields[1]}")
    return merges


def bpecodes_from_merges(path: Path) -> List[str]:
    """HF merges.txt -> fastBPE codes. fastBPE ranks codes by their order in the file and ignores
    the count column, which HF does not keep: it is written as 0."""
    codes = []
    for lineno, line in read_lines(str(path)):
        if not line.strip() or line.startswith("#version"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise UserError(f"{path}:{lineno}: not a merges line ('LEFT RIGHT')")
        codes.append(f"{fields[0]} {fields[1]} 0")
    return codes


# --- weights and configuration ----------------------------------------------------------------

def hf_state_dict(fairseq_state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """fairseq transformer_lm parameters -> BioGptForCausalLM parameters (the same tensors)."""
    state = {}
    for key, tensor in fairseq_state.items():
        if key == FAIRSEQ_VERSION_KEY:
            continue
        if not key.startswith(FAIRSEQ_PREFIX):
            raise UserError(f"unexpected parameter {key!r}: not a fairseq transformer_lm decoder")
        name = key[len(FAIRSEQ_PREFIX):]
        state[name if name == OUTPUT_PROJECTION else HF_PREFIX + name] = tensor
    return state


def fairseq_state_dict(hf_state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The inverse of hf_state_dict, with fairseq's version entry."""
    state = {}
    for key, tensor in hf_state.items():
        if key == OUTPUT_PROJECTION:
            state[FAIRSEQ_PREFIX + key] = tensor
        elif key.startswith(HF_PREFIX):
            state[FAIRSEQ_PREFIX + key[len(HF_PREFIX):]] = tensor
        else:
            raise UserError(f"unexpected parameter {key!r}: not a BioGptForCausalLM")
    state[FAIRSEQ_VERSION_KEY] = FAIRSEQ_VERSION.clone()
    return state


def check_biogpt_shape(model_cfg):
    """Refuse a fairseq transformer_lm that is not BioGPT's network (what HF's BioGpt and the engines'
    conversions express); return a getter of the config's options."""
    get = (lambda k, d=None: model_cfg.get(k, d)) if hasattr(model_cfg, "get") else \
        (lambda k, d=None: getattr(model_cfg, k, d))
    if not get("share_decoder_input_output_embed", True):
        raise UserError("the model's output projection is not tied to its embeddings, as BioGPT's are")
    for option, needed in REQUIRED_SHAPE:
        value = get(option, needed)
        if (value or None) != (needed or None):  # None, False, 0 and an empty list all mean "off"
            raise UserError(f"the model has {option}={value!r}; BioGPT's network has {needed!r}")
    width = get("decoder_embed_dim")
    if get("decoder_input_dim", width) != width or get("decoder_output_dim", width) != width:
        raise UserError("the model projects its input or output to another width: BioGPT's does not")
    return get


def hf_config(model_cfg, vocab_size: int):
    """A `transformers.BioGptConfig` for a fairseq transformer_lm model config."""
    from transformers import BioGptConfig

    get = check_biogpt_shape(model_cfg)
    width = get("decoder_embed_dim")
    return BioGptConfig(
        vocab_size=vocab_size, hidden_size=width, num_hidden_layers=get("decoder_layers"),
        num_attention_heads=get("decoder_attention_heads"), intermediate_size=get("decoder_ffn_embed_dim"),
        max_position_embeddings=get("max_target_positions"), hidden_act="gelu",
        hidden_dropout_prob=get("dropout", 0.1), attention_probs_dropout_prob=get("attention_dropout", 0.0),
        activation_dropout=get("activation_dropout", 0.0), layerdrop=get("decoder_layerdrop", 0.0),
        scale_embedding=not get("no_scale_embedding", False),
        tie_word_embeddings=True,
        layer_norm_eps=1e-5,  # fairseq's LayerNorm (HF's BioGpt layers use nn.LayerNorm's 1e-5 too)
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )


def fairseq_model_flags(config) -> List[str]:
    """fairseq command-line flags for the shape of a `BioGptConfig`."""
    if config.hidden_act != "gelu":
        raise UserError(f"hidden_act={config.hidden_act!r}: fairseq's BioGPT uses gelu")
    flags = ["--decoder-layers", config.num_hidden_layers, "--decoder-embed-dim", config.hidden_size,
             "--decoder-ffn-embed-dim", config.intermediate_size,
             "--decoder-attention-heads", config.num_attention_heads,
             "--max-target-positions", config.max_position_embeddings,
             "--dropout", config.hidden_dropout_prob, "--attention-dropout", config.attention_probs_dropout_prob,
             "--activation-dropout", config.activation_dropout, "--decoder-layerdrop", config.layerdrop]
    if not config.tie_word_embeddings:
        raise UserError("the model's output projection is not tied to its embeddings, as BioGPT's is")
    if not config.scale_embedding:
        flags.append("--no-scale-embedding")
    return [str(f) for f in flags]


# --- to-hf ------------------------------------------------------------------------------------

def to_hf(checkpoint: Path, data: Path, bpe_codes: Path, out: Path) -> Path:
    """Write a Hugging Face model directory for a fairseq checkpoint; return `out`."""
    from fairseq import checkpoint_utils
    from transformers import BioGptForCausalLM, BioGptTokenizer

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
    from biogpt_fairseq.tasks.language_modeling_prompt import dictionary_file

    if not Path(checkpoint).is_file():
        raise UserError(f"{checkpoint}: no such checkpoint")
    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))
    cfg = state["cfg"]
    try:
        dict_path = Path(data) if Path(data).is_file() else Path(dictionary_file(str(data), cfg.task.get("source_lang")))
    except FileNotFoundError as err:
        raise UserError(str(err)) from None
    symbols = read_dict_symbols(dict_path)
    prompt = prompt_settings(state, symbols)
    symbols += prompt.get("appended_symbols", [])  # the task appends them to the dictionary; so does the vocabulary
    weights = hf_state_dict(state["model"])
    rows = weights["biogpt.embed_tokens.weight"].size(0)
    if rows != len(symbols):
        appended = len(prompt.get("appended_symbols", []))
        raise UserError(f"{dict_path} has {len(symbols) - 4 - appended} symbols (+4 specials"
                        f"{f' +{appended} prompt tokens' if appended else ''} = {len(symbols)}), but {checkpoint}'s "
                        f"embeddings have {rows} rows: not this model's vocabulary")
    config = hf_config(cfg.model, vocab_size=rows)
    model = BioGptForCausalLM(config)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise UserError(f"{checkpoint}: its parameters do not map onto HF's BioGpt: {err}") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)  # config.json, model.safetensors
    vocab = hf_vocab(symbols)
    with atomic_output(str(out / "vocab.json")) as handle:
        json.dump(vocab, handle, ensure_ascii=False, indent=1)
    with atomic_output(str(out / "merges.txt")) as handle:
        handle.writelines(m + "\n" for m in merges_from_bpecodes(Path(bpe_codes)))
    BioGptTokenizer(str(out / "vocab.json"), str(out / "merges.txt")).save_pretrained(out)
    if prompt:
        note = {**prompt, "prompt_token_ids": [vocab[t + "</w>"] for t in prompt["prompt"]],
                "how": "input_ids = tokenizer(source).input_ids (</s> then the source's tokens) + prompt_token_ids, "
                       "then generate; the answer is the continuation. With prefix=true the prompt ids come right "
                       "after the leading </s>, before the source, and the separator token's id after the source. "
                       "Tokenizing the text 'learned1' does not give these ids: append them."}
        with atomic_output(str(out / PROMPT_NOTE)) as handle:
            json.dump(note, handle, indent=1)
    return out


def prompt_settings(state: dict, base_symbols: List[str]) -> dict:
    """A prompt model's settings: its task state, or (a checkpoint of the original release) its
    task config, with the symbols the task appends to `base_symbols`, its data's dictionary; {} for
    a language model."""
    layout = PromptLayout.of_checkpoint(state)
    if layout is None:
        return {}
    settings = dict(state.get("task_state") or {})
    if "appended_symbols" not in settings:  # the original release's: the layout of its task config
        task_cfg = state["cfg"].task
        settings = {"learned_prompt": task_cfg.get("learned_prompt"),
                    "learned_prompt_pattern": layout.learned_prompt_pattern, "prefix": layout.prefix,
                    "sep_token": layout.sep_token, "max_source_positions": task_cfg.get("max_source_positions"),
                    "appended_symbols": layout.appended_symbols(known=set(base_symbols).__contains__)}
    settings["prompt"] = list(layout.prompt_tokens)
    return settings


# --- from-hf ----------------------------------------------------------------------------------

def from_hf(hf_dir: Path, out: Path) -> Path:
    """Write checkpoint.pt, dict.txt and bpecodes for a Hugging Face BioGPT directory; return `out`."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from omegaconf import OmegaConf
    from transformers import BioGptConfig, BioGptForCausalLM

    import biogpt_fairseq.plugin  # noqa: F401  (registers the plugin)
    from biogpt_fairseq.tasks.language_modeling_prompt import STATE_KEYS

    hf_dir = Path(hf_dir)
    for name in ("config.json", "vocab.json", "merges.txt"):
        if not (hf_dir / name).is_file():
            raise UserError(f"{hf_dir / name}: no such file (not a Hugging Face BioGPT directory)")
    config = BioGptConfig.from_pretrained(hf_dir)
    model = BioGptForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32)
    try:
        vocab = json.loads((hf_dir / "vocab.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{hf_dir / 'vocab.json'}: invalid JSON: {err}") from None
    symbols = fairseq_symbols(vocab, hf_dir / "vocab.json")
    if len(symbols) != config.vocab_size:
        raise UserError(f"{hf_dir}: vocab.json has {len(symbols)} tokens, the model {config.vocab_size}")
    prompt = read_json(hf_dir / PROMPT_NOTE) if (hf_dir / PROMPT_NOTE).is_file() else None

    task = ["--task", "language_modeling"]
    arch = "transformer_lm_biogpt"
    task_state = {}
    if prompt:  # the task appends the prompt's symbols to dict.txt again when it loads
        appended = prompt["appended_symbols"]
        if symbols[len(symbols) - len(appended):] != appended:
            raise UserError(f"{hf_dir / PROMPT_NOTE}: the vocabulary does not end with the prompt's symbols {appended}")
        symbols = symbols[:len(symbols) - len(appended)]
        task = ["--task", "language_modeling_prompt", "--source-lang", "x", "--target-lang", "y"]
        task_state = {key: prompt.get(key) for key in STATE_KEYS}
        arch = "transformer_lm_prompt_biogpt"
    parser = options.get_training_parser(default_task=task[1])
    args = options.parse_args_and_arch(parser, [".", *task, "--arch", arch, "--user-dir",
                                                str(Path(__file__).parents[1]), *fairseq_model_flags(config),
                                                "--tokens-per-sample", str(config.max_position_embeddings)])
    cfg = OmegaConf.to_container(convert_namespace_to_omegaconf(args), resolve=True, enum_to_str=True)
    cfg["common"]["user_dir"] = None  # the plugin is loaded by whoever reads the checkpoint
    state = {"args": None, "cfg": cfg, "model": fairseq_state_dict(model.state_dict()),
             # no training state, in the shape fairseq's loader expects of a checkpoint
             "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": None,
                                    "lr_scheduler_state": {}, "num_updates": 0}],
             "extra_state": {}, "last_optimizer_state": None, "task_state": task_state}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(str(out / "dict.txt")) as handle:  # HF keeps no counts
        handle.writelines(f"{s} 0\n" for s in symbols[4:])
    with atomic_output(str(out / "bpecodes")) as handle:
        handle.writelines(c + "\n" for c in bpecodes_from_merges(hf_dir / "merges.txt"))
    with atomic_output(str(out / "checkpoint.pt"), "wb") as handle:
        torch.save(state, handle)
    return out
