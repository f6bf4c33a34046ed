# Importing either `models` or `tasks` registers both: fairseq's --user-dir loader skips
# them when the package was imported first (e.g. by the Python API or a test).
from biogpt_fairseq.runtime import fairseq_patches
from biogpt_fairseq.runtime import prefill  # noqa: F401  (applied whenever the plugin loads)
from biogpt_fairseq.models import transformer_lm_biogpt, transformer_lm_prompt  # noqa: F401
import biogpt_fairseq.criterions  # noqa: F401,E402
import biogpt_fairseq.tasks  # noqa: F401,E402
