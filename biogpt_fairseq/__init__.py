"""biogpt_fairseq: BioGPT as a fairseq plugin.

Use it as `fairseq-train --user-dir biogpt_fairseq ...`: fairseq then imports
`biogpt_fairseq.models`, which registers the BioGPT architectures. The package
itself imports nothing heavy, so the data tools (`python -m
biogpt_fairseq.pubmed`, `.tokenize`, ...) start fast.
"""
