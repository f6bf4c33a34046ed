"""biogpt_fairseq: BioGPT as a fairseq plugin.

Use it as `fairseq-train --user-dir biogpt_fairseq ...`: fairseq then imports
the package, which registers the BioGPT architectures, the
`transformer_lm_prompt` model and the `language_modeling_prompt` task, and
applies the fixes of `fairseq_fixes` (safe checkpoint loading among them).
From Python: `from biogpt_fairseq import BioGPT` (see `api.py`).
"""
# Importing either `models` or `tasks` registers both: fairseq's --user-dir loader skips
# them when the package was imported first (e.g. by the Python API or a test).
from biogpt_fairseq import fairseq_fixes  # noqa: F401  (applied whenever the plugin loads)
from biogpt_fairseq.models import transformer_lm_biogpt, transformer_lm_prompt  # noqa: F401
import biogpt_fairseq.tasks  # noqa: F401,E402
from biogpt_fairseq.api import BioGPT  # noqa: F401,E402
