"""biogpt_fairseq: BioGPT as a fairseq --user-dir plugin.

`make install` is the supported install: fairseq-fixed and fastBPE must be
built with --no-build-isolation against the torch/numpy/cython below, which a
plain dependency list cannot express.
"""
from pathlib import Path

from setuptools import find_packages, setup

from biogpt_fairseq.cli import COMMANDS  # (the package imports nothing heavy)

requirements = [
    line.split("#")[0].strip()
    for line in Path(__file__).with_name("requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip() and not line.startswith("cython")
]

setup(
    name="biogpt_fairseq",
    version="0.1.0",
    description="BioGPT (Luo et al. 2022) as a fairseq extension: architectures, "
    "PubMed pre-training pipeline, prompted fine-tuning",
    packages=find_packages(include=["biogpt_fairseq", "biogpt_fairseq.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    include_package_data=True,
    entry_points={"console_scripts": [
        f"{script} = biogpt_fairseq.cli:{function}" for script, function in COMMANDS.items()
    ]},
)
