"""Load: 1,000 real abstracts, one longer than the model's positions, through the Python API and
fairseq-interactive: every output, in input order, in bounded memory."""
import json
import re
import sys

import pytest
from conftest import BIN, REPO, run_tool, task_abstracts

from biogpt_fairseq import BioGPT

N = 1000
LONG = 500  # the index of the abstract longer than the model's 512 positions


@pytest.fixture(scope="module")
def abstracts(data):
    texts = task_abstracts(data)[:N]
    texts[LONG] = " ".join(texts[:12])  # several thousand tokens
    return texts


# Run in a process of its own: a pytest process' earlier tests (make test's workers run several modules)
# leave its allocator in a state of their own, which moved this peak by tens of MB from run to run.
API_RUN = """
import json, resource, sys, warnings
from biogpt_fairseq import BioGPT

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

checkpoint, data, path = sys.argv[1:]
abstracts = json.load(open(path))
model = BioGPT.from_pretrained(checkpoint, data=data, batch_size=64)
model.generate(abstracts[:64], beam=1, max_len=2)  # warm: the peak below is the batch loop's own
before = peak_mb()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    outputs = model.generate(abstracts, beam=1, max_len=2)
growth = peak_mb() - before
print(json.dumps({"growth": growth, "outputs": outputs,
                  "warnings": [str(w.message) for w in caught if issubclass(w.category, UserWarning)]}))
"""


def test_api_thousand_abstracts_in_order_in_bounded_memory(abstracts, tiny_pretrained, tiny_corpus, tmp_path):
    (tmp_path / "abstracts.json").write_text(json.dumps(abstracts))
    run = json.loads(run_tool(sys.executable, "-c", API_RUN, tiny_pretrained, tiny_corpus,
                              tmp_path / "abstracts.json").stdout)
    outputs = run["outputs"]
    assert [w for w in run["warnings"] if re.search(r"input\(s\) longer than", w)] == run["warnings"]
    assert len(run["warnings"]) == 1  # one warning for the batch, not one per input
    assert len(outputs) == N and all(isinstance(o, str) for o in outputs)
    assert run["growth"] < 300, f"peak memory grew by {run['growth']:.0f} MB"
    model = BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus, batch_size=64)
    for i in (0, 1, LONG - 1, LONG + 1, N - 1):  # each output belongs to its own input
        assert outputs[i] == model.generate(abstracts[i], beam=1, max_len=2)


# fairseq-interactive's own peak: the resident peak of this process' only child (the pytest process' own
# children's would include every earlier test's subprocesses).
CHILDS_PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, file=sys.stderr)
"""


def test_fairseq_interactive_thousand_abstracts(abstracts, tiny_prompt_model, pubmedqa_data, tiny_corpus):
    stdin = "".join(" ".join(a.split()) + "\n" for a in abstracts).encode()
    result = run_tool(
        sys.executable, "-c", CHILDS_PEAK, BIN / "fairseq-interactive", pubmedqa_data / "data-bin", "--user-dir", REPO / "biogpt_fairseq",
        "--task", "language_modeling_prompt", "--source-lang", "x", "--target-lang", "y", "--learned-prompt", 9,
        "--path", tiny_prompt_model, "--beam", 1, "--max-len-a", 1, "--max-len-b", 2, "--cpu",
        "--max-source-positions", 400, "--tokens-per-sample", 512, "--buffer-size", 128, "--batch-size", 64,
        "--tokenizer", "moses", "--bpe", "fastbpe", "--bpe-codes", tiny_corpus / "bpecodes", stdin=stdin)
    hypotheses = [line.split("\t")[0] for line in result.stdout.decode().splitlines() if line.startswith("H-")]
    assert hypotheses == [f"H-{i}" for i in range(N)]
    assert float(result.stderr.decode().splitlines()[-1]) < 2000  # MB
