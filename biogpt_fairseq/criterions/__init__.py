# fairseq's --user-dir loader imports this package; the plugin registers everything in one place.
import biogpt_fairseq.plugin  # noqa: F401
