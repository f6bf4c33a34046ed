"""The plugin's registration module: everything `--user-dir biogpt_fairseq` adds to fairseq.

fairseq's `--user-dir` loader imports the modules of the package's `tasks`,
then its `models` subpackage, which imports this module, as the Python API and
the tools do. It
registers the BioGPT architectures, the `transformer_lm_prompt` model, the
`language_modeling_prompt` task and the `chunked_cross_entropy` criterion, and
installs the few process-wide fairseq patches (runtime/fairseq_patches.py).
"""
from biogpt_fairseq.runtime import fairseq_patches

fairseq_patches.apply()

from biogpt_fairseq.models import transformer_lm_biogpt, transformer_lm_prompt  # noqa: E402,F401
from biogpt_fairseq.criterions import chunked_cross_entropy  # noqa: E402,F401
from biogpt_fairseq.tasks import language_modeling_prompt  # noqa: E402,F401
