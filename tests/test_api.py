"""The Python API: loading, batched generation in input order, length limits, the task methods."""
import shutil
import warnings

import pytest
from conftest import run_tool, task_abstracts

from biogpt_fairseq import BioGPT
from biogpt_fairseq.api import InputTooLongError
from biogpt_fairseq.downstream import get_dataset
from biogpt_fairseq.textio import UserError


@pytest.fixture(scope="module")
def lm(tiny_pretrained, tiny_corpus):
    return BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)


@pytest.fixture(scope="module")
def prompt_model(tiny_prompt_model, pubmedqa_data, tiny_corpus):
    return BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin",
                                  bpe_codes=tiny_corpus / "bpecodes")


def test_batched_generation_keeps_input_order(lm, data):
    texts = [t[:200] for t in task_abstracts(data, limit_per_split=8)]
    batched = lm.generate(texts, beam=1, max_len=6)
    assert len(batched) == len(texts)
    # each output is the one of its own input: the same as generating it alone
    assert batched == [lm.generate(t, beam=1, max_len=6) for t in texts]
    assert isinstance(lm.generate("COVID-19 is", beam=2, max_len=5), str)


def test_max_len_bounds_the_new_tokens(lm):
    for max_len in (1, 5):
        out = lm.generate(["Bicalutamide", "The treatment of type 2 diabetes is"], beam=3, max_len=max_len)
        lengths = [len(lm.engine.hub.apply_bpe(lm.engine.hub.tokenize(o)).split()) for o in out]
        assert max(lengths) == max_len and min(lengths) >= 1


def test_sampling_is_seeded_by_torch(lm):
    import torch

    torch.manual_seed(1)
    first = lm.generate(["Janus kinase 3"] * 3, beam=1, max_len=8, sampling=True, sampling_topk=20)
    torch.manual_seed(1)
    assert lm.generate(["Janus kinase 3"] * 3, beam=1, max_len=8, sampling=True, sampling_topk=20) == first


def test_input_longer_than_the_positions_is_truncated_with_a_warning_or_refused(lm, tiny_pretrained, tiny_corpus,
                                                                                data):
    long_text = " ".join(task_abstracts(data, limit_per_split=5))  # far more than 512 tokens
    with pytest.warns(UserWarning, match=r"1 input\(s\) longer than the 503 tokens .*max_len=8 \(input 1: \d+ "
                                         "tokens\): the last 503 tokens of each are used"):
        out = lm.generate(["short", long_text], beam=1, max_len=8)
    assert len(out) == 2 and all(out)
    strict = BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus, on_overflow="error")
    with pytest.raises(InputTooLongError, match="input 0: "):
        strict.generate([long_text], beam=1, max_len=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        strict.generate(["short"], beam=1, max_len=8)
    # what a language model continues is the end of its text
    cut = lm._fit([lm.engine.hub.encode(long_text)], max_len=8)[0]
    assert len(cut) == 504 and cut.tolist() == lm.engine.hub.encode(long_text).tolist()[-504:]


def test_clear_errors_for_missing_files_and_a_foreign_vocabulary(tiny_pretrained, tiny_corpus, data, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        BioGPT.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        BioGPT.from_pretrained(tmp_path)
    shutil.copy(tiny_pretrained, tmp_path / "checkpoint.pt")
    with pytest.raises(FileNotFoundError, match="BPE codes"):
        BioGPT.from_pretrained(tmp_path)
    shutil.copy(tiny_corpus / "bpecodes", tmp_path / "bpecodes")
    with pytest.raises(FileNotFoundError, match="dictionary"):
        BioGPT.from_pretrained(tmp_path)
    shutil.copy(data / "biogpt" / "dict.txt", tmp_path / "dict.txt")  # the released vocabulary, not this model's
    with pytest.raises(UserError, match="42384 types but .* was trained with"):
        BioGPT.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="on_overflow"):
        BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus, on_overflow="ignore")


def test_a_hugging_face_directory_loads_and_generates_the_same(lm, tiny_pretrained, tiny_corpus, tmp_path):
    run_tool("biogpt_fairseq.tools.convert", "to-hf", tiny_pretrained, "--data", tiny_corpus,
             "--bpe-codes", tiny_corpus / "bpecodes", "--out", tmp_path / "hf")
    from_hf = BioGPT.from_pretrained(tmp_path / "hf")
    prompts = ["Bicalutamide", "COVID-19 is"]
    assert from_hf.generate(prompts, beam=3, max_len=10) == lm.generate(prompts, beam=3, max_len=10)


def test_task_methods_run_on_a_prompt_model_of_its_dataset(prompt_model):
    assert prompt_model.is_prompt_model and prompt_model.dataset == "pubmedqa"  # from the checkpoint
    answers = prompt_model.answer(["Do statins reduce mortality?"] * 2, ["We studied 200 patients."] * 2,
                                  max_new_tokens=12)
    assert len(answers) == 2 and all(a is None or isinstance(a, str) for a in answers)
    with pytest.raises(UserError, match="fine-tuned on pubmedqa, not ddi"):
        prompt_model.extract_relations(["Naloxone reverses the effect of clonidine."], dataset="ddi")
    with pytest.raises(UserError, match="pubmedqa is not a labels dataset"):
        prompt_model.classify("Tumour cells evade apoptosis.")


def test_task_methods_decode_whole_sequences_with_the_specs(prompt_model, data, monkeypatch):
    """What the model completes goes through the same spec decoders as bin/postprocess_rel.py, the
    source built as in the data."""
    source = (data / "PubMedQA/raw/test.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")[0]
    question, rest = source[len("question: "):].split(" context: ", 1)
    context, long_answer = rest.split(" answer: ", 1)
    seen = []
    monkeypatch.setattr(prompt_model, "complete", lambda sources, **_: seen.extend(sources) or [
        s + " learned1 learned2 the answer to the question given the context is maybe." for s in sources])
    assert prompt_model.answer(question, context, long_answer) == "maybe"
    built = get_dataset("pubmedqa").api_source(question, context, long_answer)
    assert seen == [built] and built == (source.lower() if source.endswith(".") else source.lower() + ".")
    monkeypatch.setattr(prompt_model, "complete", lambda sources, **_: [
        "x learned1 the type of this document is resisting cell death|inducing angiogenesis."] * len(sources))
    monkeypatch.setattr(prompt_model, "dataset", "hoc")
    assert prompt_model.classify(["a", "b"]) == [["resisting cell death", "inducing angiogenesis"]] * 2
    spec = get_dataset("ddi")
    examples = [e for e in spec.examples(data / "DDI" / "raw", "test") if e.gold][:20]
    monkeypatch.setattr(prompt_model, "dataset", "ddi")
    monkeypatch.setattr(prompt_model, "complete", lambda sources, **_: [
        f"{s} learned1 {e.target}" for s, e in zip(sources, examples)])
    triples = prompt_model.extract_relations([e.source for e in examples])
    assert [[tuple(t) for t in ts] for ts in triples] == [list(e.gold) for e in examples]
    # a model whose task named its learned tokens otherwise: the decoders strip what its layout says
    monkeypatch.setitem(prompt_model.settings, "learned_prompt_pattern", "virtual")
    monkeypatch.setattr(prompt_model, "complete", lambda sources, **_: [
        f"{s} virtual1 virtual2 {e.target}" for s, e in zip(sources, examples)])
    triples = prompt_model.extract_relations([e.source for e in examples])
    assert [[tuple(t) for t in ts] for ts in triples] == [list(e.gold) for e in examples]
