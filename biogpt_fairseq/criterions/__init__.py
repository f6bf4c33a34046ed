from biogpt_fairseq.criterions import chunked_cross_entropy  # noqa: F401  (registers the criterion)
