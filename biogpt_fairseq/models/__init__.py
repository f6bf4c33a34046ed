from biogpt_fairseq.models import transformer_lm_biogpt  # noqa: F401  (registers the architectures)
