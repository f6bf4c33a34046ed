"""Faster incremental decoding for fairseq's SequenceGenerator, with the same outputs.

fairseq-generate, fairseq-interactive, the hub and the Python API all decode through
`SequenceGenerator`, which feeds a forced prefix (the prompt of a language model, the
source and soft prompt of a fine-tuned model) through the decoder one token per step.
Installed when the plugin loads, this changes three things for a single fairseq
decoder-only model (anything else decodes exactly as before):

- **Prefill.** At step 0 the part of the prefix that every sentence of the batch has
  runs through the decoder in one causal pass, once per sentence rather than once per
  beam, filling the attention caches. The forced steps then read their scores from that
  pass instead of running the decoder. The generator's loop is untouched, so the search,
  its scores and its random draws go as before.
- **Output projection** on CPU goes through oneDNN, with the vocabulary matrix packed for
  it once per search: 3 to 7x faster than the MKL product of torch's `linear` for the few
  rows of a decoding step, 1.6x for the prefill's many. With 8 or more rows per step
  (batches, wide beams) the layers' linear maps go through oneDNN as well.
- **Cache reordering** is skipped when it would move nothing.

Scores agree with the one-token-at-a-time path to float rounding (the same sums in
another order); tests/test_prefill.py checks that the generated tokens are identical.
"""
import torch
from fairseq import sequence_generator
from fairseq.models.transformer import TransformerDecoderBase
from torch import Tensor

from biogpt_fairseq.runtime import onednn

# The prefill's logits are made this many floats (32 MB, about what stays in cache) at a time,
# however long the prefix.
PREFILL_CHUNK_FLOATS = 1 << 23
# From this many rows per step oneDNN's product beats MKL's for the layers' small matrices too.
ONEDNN_LAYERS_MIN_ROWS = 8

_StockEnsembleModel = sequence_generator.EnsembleModel
_stock_generate = sequence_generator.SequenceGenerator._generate


class PrefillingEnsembleModel(_StockEnsembleModel):
    """fairseq's EnsembleModel, prefilling the forced prefix of a single decoder-only model."""

    enabled = True  # `stock_decoding()` turns it off, for comparisons

    def __init__(self, models):
        super().__init__(models)
        self.prefix = None  # (sentences, shared length): the tokens every sentence is forced to
        self._caching_modules = None
        self._onednn_linears = []

    def applies(self) -> bool:
        decoder = getattr(self.single_model, "decoder", None)
        return (self.enabled and self.models_size == 1 and not self.has_encoder() and self.has_incremental
                and isinstance(decoder, TransformerDecoderBase) and decoder.adaptive_softmax is None)

    def start(self, prefix, bos: int, beam_size: int, pad: int, eos: int) -> None:
        """Before a search: the leading columns of `prefix` that force a token (not eos) in every sentence."""
        self.prefix = None
        if prefix is None or not self.applies():
            return
        forced = prefix.ne(pad) & prefix.ne(eos)
        shared = int(forced.all(dim=0).long().cumprod(dim=0).sum())
        if shared >= 1:
            self.prefix, self.bos, self.eos, self.beam_size = prefix[:, :shared], bos, eos, beam_size
            self.inside_prefix = True
            decoder = self.single_model.decoder
            self.packed = _packed_for_onednn(decoder.output_projection)
            if self.packed is not None and prefix.size(0) * beam_size >= ONEDNN_LAYERS_MIN_ROWS:
                self._onednn_linears = [m for m in decoder.layers.modules() if isinstance(m, torch.nn.Linear)]
                for linear in self._onednn_linears:
                    linear.forward = _OneDNNLinear(linear)

    def finish(self) -> None:
        """After a search: the layers' own linear maps back."""
        for linear in self._onednn_linears:
            del linear.forward
        self._onednn_linears = []
        self.prefix = None

    def forward_decoder(self, tokens, encoder_outs, incremental_states, temperature: float = 1.0):
        if self.prefix is None:
            return super().forward_decoder(tokens, encoder_outs, incremental_states, temperature)
        step = tokens.size(1) - 1
        if step == 0:
            self._prefill(incremental_states[0], temperature)
        if step < self.prefix.size(1):
            return self._forced_step(step), None
        self.inside_prefix = False
        return self._next_token(tokens, incremental_states[0], temperature), None

    def _prefill(self, incremental_state, temperature: float) -> None:
        """bos + the shared prefix less its last token, through the decoder once per sentence."""
        sentences, length = self.prefix.shape
        inputs = torch.cat([self.prefix.new_full((sentences, 1), self.bos), self.prefix[:, :-1]], dim=1)
        decoder = self.single_model.decoder
        # The decoder makes its causal pass; each attention layer is handed the cache to fill.
        hooks = [layer.self_attn.register_forward_pre_hook(_filling(incremental_state), with_kwargs=True)
                 for layer in decoder.layers]
        try:
            features, _ = decoder(inputs, features_only=True)
        finally:
            for hook in hooks:
                hook.remove()
        # A forced step only needs the forced token's log-probability (the generator sets the
        # others to -inf), and eos' where the length limit ends the hypothesis there: each is
        # its logit less the log of the normaliser, with no vocabulary-wide output.
        features = features.reshape(sentences * length, -1)
        wanted = torch.stack([self.prefix.reshape(-1), torch.full_like(self.prefix.reshape(-1), self.eos)], dim=1)
        rows = max(1, PREFILL_CHUNK_FLOATS // decoder.output_projection.weight.size(0))
        scores = []
        for start in range(0, features.size(0), rows):
            logits = self._project(features[start:start + rows]).div_(temperature).float()
            scores.append(logits.gather(1, wanted[start:start + rows]) - logits.logsumexp(dim=1, keepdim=True))
        self.prefix_scores = torch.cat(scores).view(sentences, length, 2)
        self.vocabulary_size = decoder.output_projection.weight.size(0)
        self.row_sentence = torch.arange(sentences, device=inputs.device).repeat_interleave(self.beam_size)
        if self.beam_size > 1:  # every beam of a sentence starts from the same cache
            self._reorder_caches(incremental_state, self.row_sentence)

    def _forced_step(self, step: int) -> Tensor:
        scores = self.prefix_scores[self.row_sentence, step]
        lprobs = scores.new_full((self.row_sentence.numel(), self.vocabulary_size), float("-inf"))
        lprobs.scatter_(1, self.prefix[self.row_sentence, step].unsqueeze(1), scores[:, :1])
        lprobs[:, self.eos] = scores[:, 1]
        return lprobs

    def _next_token(self, tokens, incremental_state, temperature: float) -> Tensor:
        features, extra = self.single_model.decoder(tokens, incremental_state=incremental_state, features_only=True)
        logits = self._project(features[:, -1, :]).unsqueeze(1).div_(temperature)
        return self.single_model.get_normalized_probs((logits, extra), log_probs=True, sample=None)[:, -1, :]

    def _project(self, features: Tensor) -> Tensor:
        """The decoder's output layer, for (rows, dim) features."""
        decoder = self.single_model.decoder
        if self.packed is None or features.dtype != torch.float32:
            return decoder.output_layer(features)
        return onednn.linear(features, self.packed, decoder.output_projection.bias)

    def reorder_incremental_state(self, incremental_states, new_order):
        if self.prefix is None:
            return super().reorder_incremental_state(incremental_states, new_order)
        moved = self.row_sentence[new_order]
        if self.inside_prefix:  # the caches hold the shared prefix only: the same for every beam
            unchanged = torch.equal(moved, self.row_sentence)
        else:
            unchanged = torch.equal(new_order, torch.arange(self.row_sentence.numel(), device=new_order.device))
        self.row_sentence = moved
        if not unchanged:
            self._reorder_caches(incremental_states[0], new_order)

    def _reorder_caches(self, incremental_state, new_order) -> None:
        if self._caching_modules is None:  # fairseq looks for them among all modules at every step
            decoder = self.single_model.decoder
            self._caching_modules = [m for m in decoder.modules() if hasattr(m, "reorder_incremental_state")]
        for module in self._caching_modules:
            result = module.reorder_incremental_state(incremental_state, new_order)
            if result is not None:
                incremental_state = result


def _filling(incremental_state):
    def hand_over_the_cache(module, args, kwargs):
        kwargs["incremental_state"] = incremental_state
        return args, kwargs
    return hand_over_the_cache


class _OneDNNLinear:
    """A linear layer's forward on its weight packed for oneDNN (for the length of a search)."""

    def __init__(self, linear):
        self.packed, self.bias = _packed_for_onednn(linear), linear.bias

    def __call__(self, x):
        return onednn.linear(x, self.packed, self.bias)


def _packed_for_onednn(linear):
    """A linear layer's matrix in oneDNN's layout, where that backend applies (fp32 on CPU)."""
    if torch.is_grad_enabled() or not onednn.applies(linear.weight):
        return None
    return onednn.pack(linear.weight)


def _generate_with_prefill(self, sample, prefix_tokens=None, constraints=None, bos_token=None):
    prefilling = isinstance(self.model, PrefillingEnsembleModel)
    if prefilling:
        self.model.start(prefix_tokens, self.eos if bos_token is None else bos_token, self.beam_size,
                         self.pad, self.eos)
    try:
        return _stock_generate(self, sample, prefix_tokens=prefix_tokens, constraints=constraints,
                               bos_token=bos_token)
    finally:
        if prefilling:
            self.model.finish()


class stock_decoding:
    """`with stock_decoding():` decodes one token per step exactly as fairseq does (for comparisons)."""

    def __enter__(self):
        PrefillingEnsembleModel.enabled = False

    def __exit__(self, *exc_info):
        PrefillingEnsembleModel.enabled = True


sequence_generator.EnsembleModel = PrefillingEnsembleModel
sequence_generator.SequenceGenerator._generate = _generate_with_prefill
