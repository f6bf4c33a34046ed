# Importing either `tasks` or `models` registers both: fairseq's --user-dir loader skips
# them when the package was imported first (e.g. by the Python API or a test).
import biogpt_fairseq.models  # noqa: F401
from biogpt_fairseq.tasks import language_modeling_prompt  # noqa: F401  (registers the task)
