"""biogpt_fairseq: BioGPT as a fairseq plugin.

Use it as `fairseq-train --user-dir biogpt_fairseq ...`: fairseq then imports
`models` and `tasks`, which register the BioGPT architectures, the
`transformer_lm_prompt` model and the `language_modeling_prompt` task, and
apply `fairseq_fixes` (safe checkpoint loading among them). From Python:
`from biogpt_fairseq import BioGPT` (see `api.py`), which does the same.

The package itself imports nothing heavy, so the data tools (`python -m
biogpt_fairseq.data.pubmed`, `.tokenize`, `bin/postprocess_rel.py`, ...) start
without loading fairseq.
"""


def __getattr__(name):
    if name == "BioGPT":
        from biogpt_fairseq.api import BioGPT

        return BioGPT
    raise AttributeError(f"module 'biogpt_fairseq' has no attribute {name!r}")
