"""BioGPT's sequence generator (prefilled decoding, checked length limits) generates what fairseq's does."""
import copy
import time

import pytest
import torch
from conftest import task_abstracts
from fairseq.sequence_generator import SequenceGenerator
from omegaconf import open_dict
from tiny_models import SENTENCES, tiny_hf_model

from biogpt_fairseq import BioGPT
from biogpt_fairseq.runtime import precision
from biogpt_fairseq.runtime.int8_weights import DEQUANTIZED_MIN_ROWS, Int8WeightLinear
from biogpt_fairseq.runtime.sequence_generator import (AS_IS, MKL, PACKED, BioGPTSequenceGenerator, DecodingCache,
                                                        LengthLimitError)
from biogpt_fairseq.textio import UserError

SEARCHES = {
    "greedy": dict(beam=1),
    "beam": dict(beam=5),
    # (not --no-repeat-ngram-size: fairseq's bans nothing on CPU, ours does; test_fairseq_patches.py)
    "beam, temperature, length penalty": dict(beam=3, temperature=0.7, lenpen=0.5),
    "sampling": dict(beam=2, sampling=True, sampling_topk=20),
    "min_len, unk penalty": dict(beam=2, min_len=40, unk_penalty=1.5),
    "a limit counting the prefix": dict(beam=2, max_len_a=0, max_len_b=70),
}


@pytest.fixture(scope="module")
def lm(tiny_pretrained, tiny_corpus):
    return BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus)


@pytest.fixture(scope="module")
def sentences(lm, data):
    """Real abstracts cut to 1 to 60 tokens (each ending with eos, as `encode` gives them)."""
    eos = lm.engine.hub.task.source_dictionary.eos()
    texts = task_abstracts(data, limit_per_split=2)
    lengths = [1, 7, 20, 33, 60, 45, 12, 25]
    return [torch.cat([lm.engine.hub.encode(text)[:n], torch.tensor([eos])]) for text, n in zip(texts, lengths)]


def generate(hub, sentences, generator_class, **search):
    """hub.generate with the generator class chosen: hypotheses of each sentence, in input order."""
    args = copy.deepcopy(hub.cfg.generation)
    with open_dict(args):
        for key, value in search.items():
            setattr(args, key, value)
    generator = hub.task.build_generator(hub.models, args, seq_gen_cls=generator_class)
    results = []
    for batch in hub._build_batches(sentences, skip_invalid_size_inputs=False):
        results += zip(batch["id"].tolist(), hub.task.inference_step(generator, hub.models, batch))
    return [hypos for _, hypos in sorted(results, key=lambda r: r[0])]


def both(hub, sentences, **search):
    """Hypotheses of BioGPT's generator and of fairseq's, with the same random state."""
    search = {"max_len_a": 1, "max_len_b": 16, **search}
    torch.manual_seed(0)
    fast = generate(hub, sentences, BioGPTSequenceGenerator, **search)
    torch.manual_seed(0)
    stock = generate(hub, sentences, SequenceGenerator, **search)
    return fast, stock


def assert_same_hypotheses(fast, stock):
    # fairseq keeps a hypothesis' running total in fp32 and takes differences of it for the
    # positional scores: with prefixes of hundreds of tokens (totals near -1e3, one unit in the
    # last place 6e-5) a single rounding difference shows as 1e-4.
    assert len(fast) == len(stock)
    for fast_hypos, stock_hypos in zip(fast, stock):
        assert [h["tokens"].tolist() for h in fast_hypos] == [h["tokens"].tolist() for h in stock_hypos]
        for f, s in zip(fast_hypos, stock_hypos):
            torch.testing.assert_close(f["positional_scores"], s["positional_scores"], atol=5e-4, rtol=0)
            assert abs(float(f["score"]) - float(s["score"])) < 5e-4


@pytest.mark.parametrize("name", SEARCHES)
def test_language_model_generates_the_same(lm, sentences, name):
    fast, stock = both(lm.engine.hub, sentences, **SEARCHES[name])
    assert_same_hypotheses(fast, stock)


@pytest.fixture(scope="module", params=[0, 3], ids=["language-model", "prompt-model"])
def random_model(request, tmp_path_factory):
    """A tiny random BioGPT made in memory (tests/tiny_models.py), a language model or a prompt model."""
    return BioGPT.from_pretrained(tiny_hf_model(tmp_path_factory.mktemp("tiny-hf") / "model", prompt=request.param))


@pytest.mark.fast
@pytest.mark.parametrize("name", SEARCHES)
def test_a_random_tiny_model_generates_the_same(random_model, name):
    sources = [random_model.engine.hub.encode(text) for text in SENTENCES]
    fast, stock = both(random_model.engine.hub, sources, **SEARCHES[name])
    assert_same_hypotheses(fast, stock)
    assert max(len(hypos[0]["tokens"]) for hypos in fast) > 8  # (not all stopped at once)


def test_prompt_model_generates_the_same(tiny_prompt_model, pubmedqa_data, tiny_corpus, data):
    model = BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin",
                                   bpe_codes=tiny_corpus / "bpecodes")
    sources = [model.engine.hub.encode(text[:300]) for text in task_abstracts(data, limit_per_split=3)]
    for search in (dict(beam=1), dict(beam=4)):
        fast, stock = both(model.engine.hub, sources, **search)
        assert_same_hypotheses(fast, stock)


def test_the_prefix_runs_through_the_layers_once(lm, sentences, monkeypatch):
    """One pass of the decoding cache over the prefix every sentence shares (once per sentence, not per
    beam), then one new position a step, on a cache allocated once; fairseq's decoder forward is not run."""
    decoder = lm.engine.hub.models[0].decoder
    calls, passes, caches = [], [], []

    def counted(*args, _forward=decoder.forward, **kwargs):
        calls.append(args[0].shape)
        return _forward(*args, **kwargs)

    monkeypatch.setattr(decoder, "forward", counted)
    same_length = [s[-21:] for s in sentences if len(s) > 21]  # 20 tokens + eos each
    search = dict(beam=3, max_len_a=0, max_len_b=30, min_len=30)
    generate(lm.engine.hub, same_length, SequenceGenerator, **search)
    assert len(calls) == 31  # a step for each of the 20 forced tokens, the 10 new ones and eos
    calls.clear()
    monkeypatch.setattr(DecodingCache, "forward", lambda self, tokens, _forward=DecodingCache.forward: (
        passes.append((tokens.size(0), tokens.size(1) - self.length)),
        caches.append(id(self.keys[0].untyped_storage())), _forward(self, tokens))[-1])
    generate(lm.engine.hub, same_length, BioGPTSequenceGenerator, **search)
    assert calls == [] and len(set(caches)) == 1
    assert passes == [(len(same_length), 20)] + [(3 * len(same_length), 1)] * 11  # bos + 19 forced; 10 new and eos


def test_a_decoder_the_cache_does_not_cover_decodes_with_fairseqs_forward(lm, sentences, monkeypatch):
    """A post-LayerNorm decoder (not BioGPT's shape) runs fairseq's own forward, with the prefill, and
    generates what fairseq's generator does."""
    decoder = lm.engine.hub.models[0].decoder
    for layer in decoder.layers:
        monkeypatch.setattr(layer, "normalize_before", False)
    assert not DecodingCache.applies(decoder)
    calls = []
    monkeypatch.setattr(decoder, "forward", lambda *args, _forward=decoder.forward, **kwargs: (
        calls.append(kwargs.get("incremental_state") is None), _forward(*args, **kwargs))[1])
    monkeypatch.setattr(DecodingCache, "__init__", lambda *args: pytest.fail("the cache used"))
    for search in (dict(beam=1), dict(beam=3)):
        calls.clear()
        fast, stock = both(lm.engine.hub, sentences, **search)
        assert_same_hypotheses(fast, stock)
        assert calls[0] is True  # (the prefill, then steps through fairseq's incremental state)


def test_onednn_matrices_are_packed_once_for_the_model_and_again_when_a_weight_changes(lm, sentences,
                                                                                        monkeypatch):
    """Packing copies the matrices (1.4 GB, 1.5 to 2 s at 24 x 1024): later searches reuse the copies,
    a weight changed in place (an optimizer step, a load) is packed again, and the tokens stay fairseq's."""
    from biogpt_fairseq.runtime import onednn, sequence_generator

    monkeypatch.setattr(sequence_generator, "ONEDNN_LARGE_MATRIX", 0)  # (every layer's on oneDNN)
    packed = []
    monkeypatch.setattr(onednn, "pack", lambda weight, rows, _pack=onednn.pack: (
        packed.append(weight.data_ptr()), _pack(weight, rows))[1])
    decoder = lm.engine.hub.models[0].decoder
    linears = [m for m in decoder.layers.modules() if isinstance(m, torch.nn.Linear)]
    fc1 = decoder.layers[0].fc1

    def same_tokens_as_fairseq(searched, beam):
        fast, stock = (generate(lm.engine.hub, searched, generator, beam=beam, max_len_a=1, max_len_b=8)
                       for generator in (BioGPTSequenceGenerator, SequenceGenerator))
        return [h[0]["tokens"].tolist() for h in fast] == [h[0]["tokens"].tolist() for h in stock]

    sequence_generator._PACKED.clear()
    assert same_tokens_as_fairseq(sentences[:1], 3)  # 3 rows a step
    assert sorted(packed) == sorted([m.weight.data_ptr() for m in linears] + [decoder.output_projection.weight.data_ptr()])
    packed.clear()
    assert same_tokens_as_fairseq(sentences, 2) and packed == []  # 16 rows: the same copies
    original = fc1.weight.detach().clone()
    try:
        with torch.no_grad():
            fc1.weight.mul_(1.5)
        assert same_tokens_as_fairseq(sentences[:1], 3) and packed == [fc1.weight.data_ptr()]
    finally:  # (the module's model is shared)
        with torch.no_grad():
            fc1.weight.copy_(original)


@pytest.mark.parametrize("kernel", [PACKED, AS_IS, MKL])
def test_steps_of_one_row_use_the_kernel_timed_fastest(lm, sentences, monkeypatch, kernel):
    """A step of one row multiplies by each matrix with the kernel this machine was timed to run fastest
    (oneDNN on the packed matrices, oneDNN on the weights as they are, or torch's own product, MKL; forced each
    way here); steps of more rows and the prefill read the packed ones. The tokens are fairseq's either way."""
    from biogpt_fairseq.runtime import onednn, sequence_generator

    monkeypatch.setattr(sequence_generator, "ONEDNN_LARGE_MATRIX", 0)  # (every layer's on oneDNN)
    decoder = lm.engine.hub.models[0].decoder
    monkeypatch.setitem(sequence_generator._ONE_ROW_KERNEL, decoder, kernel)
    weights = {id(m.weight) for m in decoder.modules() if isinstance(m, torch.nn.Linear)}
    reads = set()

    def recorded(name, product):
        return lambda x, weight, bias=None: (reads.add((name, x.size(0) == 1, id(weight) in weights)),
                                             product(x, weight, bias))[1]

    for beam in (1, 2):
        with monkeypatch.context() as recording:
            recording.setattr(onednn, "linear", recorded("oneDNN", onednn.linear))
            recording.setattr(torch.nn.functional, "linear", recorded("MKL", torch.nn.functional.linear))
            fast = generate(lm.engine.hub, sentences[:1], BioGPTSequenceGenerator, beam=beam, max_len_a=1, max_len_b=16)
        assert_same_hypotheses(fast, generate(lm.engine.hub, sentences[:1], SequenceGenerator, beam=beam, max_len_a=1,
                                              max_len_b=16))
    one_row = {PACKED: ("oneDNN", True, False), AS_IS: ("oneDNN", True, True), MKL: ("MKL", True, True)}[kernel]
    assert reads == {one_row, ("oneDNN", False, False)}


def test_the_fastest_kernel_for_one_row_is_timed(lm, monkeypatch):
    """The choice follows the timing: of the three kernels, the one not made slower wins."""
    from biogpt_fairseq.runtime import onednn, sequence_generator

    decoder = lm.engine.hub.models[0].decoder
    projection = decoder.output_projection
    for fastest in PACKED, AS_IS, MKL:
        def on_onednn(x, weight, bias=None, _linear=onednn.linear):
            if (AS_IS if weight is projection.weight else PACKED) != fastest:
                time.sleep(0.01)
            return _linear(x, weight, bias)

        def on_mkl(x, weight, bias=None, _linear=torch.nn.functional.linear):
            if fastest != MKL:
                time.sleep(0.01)
            return _linear(x, weight, bias)

        with monkeypatch.context() as slowed:
            slowed.setattr(onednn, "linear", on_onednn)
            slowed.setattr(torch.nn.functional, "linear", on_mkl)
            sequence_generator._ONE_ROW_KERNEL.pop(decoder, None)
            with torch.no_grad():
                assert sequence_generator._one_row_kernel(decoder, [projection]) == fastest
    sequence_generator._ONE_ROW_KERNEL.pop(decoder, None)


def test_a_length_limit_inside_the_forced_prefix_is_an_error(lm, sentences):
    """fairseq's limit counts the whole sequence; one that ends inside a prefix used to crash."""
    with pytest.raises(LengthLimitError, match=r"the length limit, 12 tokens .* leaves no room after a forced "
                                               r"prefix \(prompted source\) of 60 tokens.*--max-len-a 1 --max-len-b N"):
        generate(lm.engine.hub, sentences, BioGPTSequenceGenerator, beam=2, max_len_a=0, max_len_b=12)


def test_fairseq_generators_still_compile_with_torchscript_in_a_process_with_the_plugin(lm):
    """The plugin changes decoding through its own generator class: fairseq's stays scriptable."""
    import biogpt_fairseq.plugin  # noqa: F401

    generator = SequenceGenerator([lm.engine.hub.models[0]], lm.engine.hub.task.target_dictionary, beam_size=2,
                                  no_repeat_ngram_size=2)
    torch.jit.script(generator.repeat_ngram_blocker)
    assert type(generator.repeat_ngram_blocker).__name__ == "NGramRepeatBlock"


@pytest.fixture(scope="module", params=["bf16", "int8"])
def lm_reduced(request, tiny_pretrained, tiny_corpus):
    return BioGPT.from_pretrained(tiny_pretrained, data=tiny_corpus, dtype=request.param)


def test_reduced_precision_decoding_runs_our_generator_as_fairseq_runs_it(lm_reduced, sentences):
    """With `dtype="bf16"` the weights are bf16, with "int8" the linear maps' are int8 and the rest
    fp32; either way our generator's prefill and decoding cache generate what fairseq's own generator does."""
    model = lm_reduced.engine.hub.models[0]
    assert {p.dtype for p in model.parameters()} == {torch.float32 if lm_reduced.dtype == "int8" else torch.bfloat16}
    linears = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, Int8WeightLinear))]
    assert len(linears) == 2 * 6 + 1  # the layers' six, the output projection
    if lm_reduced.dtype == "int8":
        assert all(type(m) is Int8WeightLinear and m.weight.dtype == torch.int8 for m in linears)
    else:
        assert lm_reduced.dtype == "bf16" and all(type(m) is torch.nn.Linear for m in linears)
    for search in (dict(beam=1), dict(beam=3)):
        fast, stock = both(lm_reduced.engine.hub, sentences, **search)
        assert [h[0]["tokens"].tolist() for h in fast] == [h[0]["tokens"].tolist() for h in stock]
        for f, s in zip(fast, stock):  # bf16 rounds each product's input or output to 8 bits of mantissa
            torch.testing.assert_close(f[0]["positional_scores"], s[0]["positional_scores"], atol=0.05, rtol=0)


def test_reduced_precision_decoding_stays_close_to_fp32(lm, lm_reduced, sentences):
    """bf16 and int8 against fp32 on real abstracts: next-token log-probabilities and greedy tokens."""
    search = dict(beam=1, max_len_a=1, max_len_b=16)
    fp32, reduced = (generate(m.engine.hub, sentences, BioGPTSequenceGenerator, **search) for m in (lm, lm_reduced))
    agreeing = total = 0
    for a, b in zip(fp32, reduced):
        a, b = a[0]["tokens"].tolist(), b[0]["tokens"].tolist()
        agreeing += sum(x == y for x, y in zip(a, b))
        total += max(len(a), len(b))
    assert agreeing / total > 0.8
    with torch.no_grad():  # (a whole sentence without a cache: fairseq's attention on int8 maps too)
        tokens = sentences[4][:-1].unsqueeze(0)
        logits32 = lm.engine.hub.models[0](tokens)[0].float().log_softmax(-1)
        logits16 = lm_reduced.engine.hub.models[0](tokens)[0].float().log_softmax(-1)
    assert (logits32 - logits16).abs().max() < 0.25


@pytest.mark.fast
def test_an_int8_map_is_its_rows_rounded_to_127_steps_of_their_largest_magnitude():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 24)
    linear.weight.data[3] = 0  # (a row of zeros: no division by zero)
    quantized = Int8WeightLinear(linear)
    scales = quantized.scales.float()[:, None]
    largest = linear.weight.detach().abs().amax(dim=1, keepdim=True)
    torch.testing.assert_close(scales, largest / 127, atol=0, rtol=2 ** -8)  # (rounded to bf16)
    assert quantized.weight.abs().amax(dim=1).tolist() == [127] * 3 + [0] + [127] * 20
    dequantized = quantized.weight.float() * scales
    assert (dequantized - linear.weight).abs().le(scales * 0.5001).all()  # half a step
    x = torch.randn(2, 5, 64)
    out = quantized(x)
    assert out.dtype == torch.float32 and out.shape == (2, 5, 24)
    expected = x.bfloat16().float() @ dequantized.t() + linear.bias
    torch.testing.assert_close(out, expected.detach(), atol=1e-3, rtol=2 ** -7)  # (the kernel returns bf16)
    many = torch.randn(DEQUANTIZED_MIN_ROWS, 64)  # a prefill's rows: the weights dequantized, fp32 throughout
    torch.testing.assert_close(quantized(many), (many @ dequantized.t() + linear.bias).detach())


def test_an_int8_model_takes_no_other_dtype(lm_reduced):
    if lm_reduced.dtype == "int8":
        with pytest.raises(ValueError, match="decoding dtype 'fp32': this model's weights are already int8"):
            precision.cast(lm_reduced.engine.hub.models, "fp32")
    precision.cast(lm_reduced.engine.hub.models, lm_reduced.dtype)  # (the task casts again what the API cast)
    assert precision.of(lm_reduced.engine.hub.models[0]) == lm_reduced.dtype


def test_the_prompt_tasks_decoding_dtype_casts_the_models_for_fairseq_generate(tiny_prompt_model, pubmedqa_data,
                                                                                tiny_corpus):
    """fairseq-generate and fairseq-interactive build their generator through the task: its
    --decoding-dtype casts the models there; the API's dtype= sets the same option."""
    model = BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin",
                                   bpe_codes=tiny_corpus / "bpecodes", dtype="bf16")
    assert model.engine.hub.task.args.decoding_dtype == "bf16"
    model.engine.hub.models[0].float()
    model.engine.hub.task.build_generator(model.engine.hub.models, model.engine.hub.cfg.generation)
    assert {p.dtype for p in model.engine.hub.models[0].parameters()} == {torch.bfloat16}
    with pytest.raises(UserError, match="dtype 'fp64': choose from fp32, bf16, fp16, int8, int4"):
        BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin", dtype="fp64")
    with pytest.raises(UserError, match="the fairseq engine has no int4 on cpu"):
        BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin", dtype="int4", device="cpu")


def test_the_prompt_tasks_decoding_dtype_int8_quantizes_the_models_for_fairseq_generate(tiny_prompt_model,
                                                                                         pubmedqa_data, tiny_corpus):
    model = BioGPT.from_pretrained(tiny_prompt_model, data=pubmedqa_data / "data-bin",
                                   bpe_codes=tiny_corpus / "bpecodes")
    assert model.dtype == "fp32"
    with open_dict(model.engine.hub.task.args):
        model.engine.hub.task.args.decoding_dtype = "int8"  # (--decoding-dtype int8)
    model.engine.hub.task.build_generator(model.engine.hub.models, model.engine.hub.cfg.generation)
    assert model.dtype == "int8"
    assert all(type(m) is not torch.nn.Linear for m in model.engine.hub.models[0].modules())
