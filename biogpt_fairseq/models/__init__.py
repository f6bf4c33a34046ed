from biogpt_fairseq import fairseq_fixes  # noqa: F401  (applied whenever the plugin loads)
from biogpt_fairseq.models import transformer_lm_biogpt  # noqa: F401  (registers the architectures)
