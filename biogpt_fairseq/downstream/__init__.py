"""Downstream tasks of the BioGPT paper: one small spec per dataset, one pipeline for all.

A spec (see `base.TaskSpec`) says how a raw record becomes source/target text,
how a generated sentence decodes back into triples or labels, and how
predictions are scored. `build`, `postprocess` and `evaluate` serve every
spec; adding a dataset is one module here, registered with `@register`.
"""
from biogpt_fairseq.downstream.base import TASKS, get_task  # noqa: F401
from biogpt_fairseq.downstream import bc5cdr, ddi, hoc, kd_dti, pubmedqa  # noqa: F401  (register the specs)
