"""Generation engines: one interface (`base.Engine`), several ways to run the network behind it.

Every engine takes its text side from the checkpoint's fairseq task, so all of them read and write
text alike: Moses and BPE, the dictionary, the prompt layout (the source cut at the task's
max_source_positions, then the prompt) and the original's length limit. They differ in what runs
the network:

- `fairseq` (the default): fairseq's generator, `BioGPTSequenceGenerator`; the original's engine,
  what fairseq-generate runs, and the reference the others are tested against;
- `ctranslate2`: CTranslate2's `Generator` on a converted model (CPU and CUDA);
- `openvino`: optimum-intel's `OVModelForCausalLM` on an export of the Hugging Face conversion (CPU).

A converted model is made on first use and kept beside the checkpoint under a key of the
checkpoint's content and the precision (`base.converted_dir`), so a changed checkpoint is never
served from a stale conversion; `biogpt-convert to-ctranslate2` / `to-openvino` make them explicitly.
(torch and the engines' packages are imported where used: the command-line tools list the choices
without them.)
"""
ENGINES = ("fairseq", "ctranslate2", "openvino")
# One meaning for every engine: the weights' and the activations' precision (docs/fidelity.md's differences).
DTYPES = {
    "fp32": "fp32 weights and activations (the original's)",
    "bf16": "bf16 weights and activations",
    "fp16": "fp16 weights and activations (CUDA)",
    "int8": "int8 weights of the linear maps in the engine's int8 products (CTranslate2 and OpenVINO quantize "
            "their inputs to int8 as they go, and OpenVINO caches keys and values in 8 bits); otherwise fp32",
    "int4": "int4 weights of the linear maps (OpenVINO), run as its int8",
}
# Which of an engine's beam hypotheses is returned (the fairseq engine's ranking is fairseq's either way).
BEAM_RANKINGS = {
    "fairseq": "fairseq's: the best mean log-probability of the whole sequence, prompt and a final eos included, "
               "the original's (CTranslate2 scores its hypotheses by one more forward; OpenVINO runs fairseq's search "
               "and scores them from it)",
    "engine": "the engine's own best, by its score of the generated tokens: no extra forward",
}


def add_arguments(parser) -> None:
    """The command-line options that choose an engine and how it runs (biogpt-infer, biogpt-extract)."""
    parser.add_argument("--engine", default="fairseq", choices=ENGINES,
                        help="what runs the network: fairseq (default, the original's), ctranslate2 or openvino")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES),
                        help="precision of generation: fp32 (default, the original's), bf16, fp16 (CUDA), int8 "
                             "(int8 weights of the linear maps) or int4 (OpenVINO); docs/fidelity.md's differences "
                             "from the original")
    parser.add_argument("--beam-ranking", default="fairseq", choices=list(BEAM_RANKINGS),
                        help="with --beam above 1 on ctranslate2 or openvino, which hypothesis is returned: "
                             + "; ".join(f"{name}, {what}" for name, what in BEAM_RANKINGS.items())
                             + " (default: fairseq; docs/fidelity.md)")


def engine_class(name: str):
    """The class of the engine called `name`."""
    from biogpt_fairseq.textio import UserError

    if name == "fairseq":
        from biogpt_fairseq.engines.fairseq_engine import FairseqEngine
        return FairseqEngine
    if name == "ctranslate2":
        from biogpt_fairseq.engines.ctranslate2_engine import CTranslate2Engine
        return CTranslate2Engine
    if name == "openvino":
        from biogpt_fairseq.engines.openvino_engine import OpenVINOEngine
        return OpenVINOEngine
    raise UserError(f"unknown engine {name!r}: choose from {', '.join(ENGINES)}")
