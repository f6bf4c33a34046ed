"""The paper's downstream datasets: one small spec each (`spec.py`), one pipeline for all.

`build` writes a dataset's source/target text as the original release does,
`postprocess` decodes generated lines, `evaluate` scores them with the
original's scorers, `infer` runs the original's inference chain end to end.
"""
from biogpt_fairseq.downstream.spec import DATASETS, DECODERS, get_dataset  # noqa: F401
from biogpt_fairseq.downstream import bc5cdr, ddi, hoc, kd_dti, pubmedqa  # noqa: F401,E402  (register the specs)
