"""biogpt_fairseq: BioGPT as a fairseq plugin.

Use it as `fairseq-train --user-dir biogpt_fairseq ...`: fairseq then imports
`models` and `tasks`, which load `plugin.py`, the one module that registers
the BioGPT architectures, the `transformer_lm_prompt` model, the
`language_modeling_prompt` task and the criterion. From Python:
`from biogpt_fairseq import BioGPT` (see `api.py`), which does the same.

The stages have their packages: `data/` (PubMed to binarized shards),
`models/`, `tasks/`, `criterions/` (the fairseq plugin), `runtime/` (decoding,
oneDNN, safe loading, the process-wide patches), `downstream/` (the paper's
datasets: build, decode, score, infer), `tools/` (averaging, conversion, demo).
The package itself imports nothing heavy, so the data tools start without
loading fairseq.
"""


def __getattr__(name):
    if name == "BioGPT":
        from biogpt_fairseq.api import BioGPT

        return BioGPT
    raise AttributeError(f"module 'biogpt_fairseq' has no attribute {name!r}")
