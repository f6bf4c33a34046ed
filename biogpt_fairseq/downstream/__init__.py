"""The paper's downstream datasets: one small spec each (`spec.py`), one pipeline for all.

`build` writes a dataset's source/target text as the original release does,
`postprocess` decodes generated lines, `evaluate` scores them with the
original's scorers, `infer` runs the original's inference chain end to end.
Every module in `datasets/` is a spec and is registered on import, as is every
module named in $BIOGPT_DATASETS (comma-separated): adding a dataset is adding
one such module.
"""
import importlib
import os
import pkgutil

from biogpt_fairseq.downstream import datasets
from biogpt_fairseq.downstream.spec import DATASETS, DECODERS, get_dataset  # noqa: F401

for _module in pkgutil.iter_modules(datasets.__path__):
    importlib.import_module(f"{datasets.__name__}.{_module.name}")
for _name in filter(None, os.environ.get("BIOGPT_DATASETS", "").split(",")):
    importlib.import_module(_name.strip())
