"""BioGPT's sequence generator: fairseq's, faster on a forced prefix, with the same outputs.

`BioGPTSequenceGenerator` is what the `language_modeling_prompt` task's
`build_generator` makes (so fairseq-generate, fairseq-interactive, the hub and
the API use it) and what the API asks for with a BioGPT language model; any
other model decodes with fairseq's own generator. It changes, for a single
fairseq decoder-only model:

- **Prefill.** At step 0 the part of the prefix that every sentence of the batch has
  runs through the layers in one causal pass, once per sentence rather than once per
  beam, filling the attention caches. The forced steps then read their scores from that
  pass instead of running the decoder. The generator's loop is untouched, so the search,
  its scores and its random draws go as before.
- **The decoding cache** (`DecodingCache`) runs the layers for the prefill and then for each step's
  new token, on keys and values allocated once per search for its length limit, where fairseq
  concatenates each step's keys and values onto copies of the cache: fairseq's operations in its
  order, less its per-step bookkeeping. A decoder of another shape runs fairseq's own forward.
- **Linear maps** on CPU go through oneDNN: the output projection always, the layers' (in the
  decoding cache) with 8 or more rows a step (batches, wide beams) or where the matrices are too
  large for the CPU's caches (BioGPT's 24 x 1024 and up). On the project's AMD machines oneDNN
  streams a matrix from memory 1.5 to 4x faster than the MKL product of torch's `linear` for a
  decoding step's few rows, and 1.6x for the prefill's many (on an Intel Xeon 1.3x at 5 rows);
  on small matrices (the tiny model's) its 0.08 ms a call loses to MKL below 8 rows. It reads
  them packed in its layout, packed once for the model's life and reused by every later search (repacked if a
  weight changes): at 24 x 1024 a step's packed matrices stream at 37 to 38 GB/s against 26 to 27
  as they are, at 1 and at 5 rows, the plain streaming read 39 (`bench/products.py`, 2026-12-02).
  Packing costs 1.5 to 2.3 s and a copy of those matrices (1.39 GB at 24 x 1024) beside the model,
  so it is done once, not per search. For steps of one row (greedy decoding of one sentence) the
  faster kernel differs between machines (oneDNN packed 1.4x faster than as they are on one AMD
  machine, 0.86x on another; MKL 1.1 to 1.2x faster than either on an Intel one), so the first search
  times the three on the model's matrices (0.18 to 0.41 s on the Xeon) and such steps use the fastest.
  The layers' modules are never changed: the cache calls oneDNN with their matrices in place of
  their forward.
- **Cache reordering** is skipped when it would move nothing.
- **Length limits** that leave no room after the forced prefix are an error, not a crash.
- **N-gram blocking** (`--no-repeat-ngram-size`) bans on CPU what it bans on GPU, and never
  a forced prefix token.

Scores agree with the one-token-at-a-time path to float rounding (the same sums in
another order); tests/test_sequence_generator.py checks that the generated tokens are
identical to fairseq's `SequenceGenerator`.
"""
import time
import weakref

import torch
from fairseq.models.transformer import TransformerDecoderBase
from fairseq.ngram_repeat_block import NGramRepeatBlock
from fairseq.sequence_generator import EnsembleModel, SequenceGenerator
from torch import Tensor

from biogpt_fairseq.runtime import onednn

# The prefill's logits are made this many floats (32 MB, about what stays in cache) at a time,
# however long the prefix.
PREFILL_CHUNK_FLOATS = 1 << 23
# From this many rows a step the layers' small matrices are faster on oneDNN than on MKL.
ONEDNN_LAYERS_MIN_ROWS = 8
# A matrix of this many elements (4 MB) or more streams from memory faster on oneDNN at any row count.
ONEDNN_LARGE_MATRIX = 1 << 20
# oneDNN's layout is packed for products of about this many rows; at 24 x 1024, packed for 2 or for
# 16 streamed alike at 1, 5 and 16 rows (bench/products.py).
PACKED_FOR_ROWS = 16


class PrefillingEnsembleModel(EnsembleModel):
    """fairseq's EnsembleModel, prefilling the forced prefix of a single decoder-only model."""

    def __init__(self, models):
        super().__init__(models)
        self.prefix = None  # (sentences, shared length): the tokens every sentence is forced to
        self._caching_modules = None

    def applies(self) -> bool:
        decoder = getattr(self.single_model, "decoder", None)
        return (self.models_size == 1 and not self.has_encoder() and self.has_incremental
                and isinstance(decoder, TransformerDecoderBase) and decoder.adaptive_softmax is None)

    def start(self, prefix, bos: int, beam_size: int, pad: int, eos: int, length_limit: int) -> None:
        """Before a search: the leading columns of `prefix` that force a token (not eos) in every
        sentence; `length_limit`, the most tokens a hypothesis can hold."""
        self.prefix, self.cache = None, None
        if prefix is None or not self.applies():
            return
        forced = prefix.ne(pad) & prefix.ne(eos)
        shared = int(forced.all(dim=0).long().cumprod(dim=0).sum())
        if shared >= 1:
            self.prefix, self.bos, self.eos, self.beam_size = prefix[:, :shared], bos, eos, beam_size
            self.inside_prefix = True
            decoder = self.single_model.decoder
            projection = decoder.output_projection
            self.packed = _packed(projection) if _onednn_applies(projection) else None
            cached, onednn_layers = DecodingCache.applies(decoder), False
            if cached:
                rows = prefix.size(0) * beam_size
                linears = [m for layer in decoder.layers for m in _LayerProducts.linears(layer)]
                onednn_layers = all(type(m) is torch.nn.Linear and _onednn_applies(m) for m in linears) and (
                    rows >= ONEDNN_LAYERS_MIN_ROWS or min(m.weight.numel() for m in linears) >= ONEDNN_LARGE_MATRIX)
            self.one_row = PACKED if self.packed is None else _one_row_kernel(
                decoder, [projection] + (linears if onednn_layers else []))
            if cached:
                self.cache = DecodingCache(decoder, rows, length_limit, onednn_layers, self.one_row)

    def finish(self) -> None:
        """After a search: its caches freed."""
        self.prefix, self.cache = None, None

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
        if self.cache is not None:  # (one row a sentence: its beams spread from it below)
            features = self.cache.forward(inputs)
        else:  # the decoder makes its causal pass; each attention layer is handed the cache to fill
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
        decoder = self.single_model.decoder
        if self.cache is not None:
            features, extra = self.cache.forward(tokens), {"attn": [None], "inner_states": None}
        else:
            features, extra = decoder(tokens, incremental_state=incremental_state, features_only=True)
        logits = self._project(features[:, -1, :]).unsqueeze(1).div_(temperature)
        return self.single_model.get_normalized_probs((logits, extra), log_probs=True, sample=None)[:, -1, :]

    def _project(self, features: Tensor) -> Tensor:
        """The decoder's output layer, for (rows, dim) features."""
        decoder = self.single_model.decoder
        one_row = self.one_row if features.size(0) == 1 else PACKED
        if self.packed is None or features.dtype != torch.float32 or one_row == MKL:
            return decoder.output_layer(features)
        projection = decoder.output_projection
        return onednn.linear(features, projection.weight if one_row == AS_IS else self.packed, projection.bias)

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
        if self.cache is not None:
            self.cache.reorder(new_order)
            return
        if self._caching_modules is None:  # fairseq looks for them among all modules at every step
            decoder = self.single_model.decoder
            self._caching_modules = [m for m in decoder.modules() if hasattr(m, "reorder_incremental_state")]
        for module in self._caching_modules:
            result = module.reorder_incremental_state(incremental_state, new_order)
            if result is not None:
                incremental_state = result


class DecodingCache:
    """The decoder's layers over a search's new positions (the prefill's many, then one a step), on keys
    and values kept in buffers of the search's length limit: fairseq's operations, in its order, without
    its per-step bookkeeping and copies of the cache. Each layer's products are `_LayerProducts`."""

    def __init__(self, decoder, rows: int, capacity: int, onednn_layers: bool, one_row: str):
        """Buffers for up to `rows` rows (sentences x beam) of `capacity` positions."""
        attention = decoder.layers[0].self_attn
        self.decoder, self.capacity, self.rows, self.length = decoder, capacity, 0, 0
        self.heads, self.head_dim = attention.num_heads, attention.head_dim
        weight = decoder.embed_tokens.weight
        self.keys, self.values = ([weight.new_empty(rows * self.heads, capacity, self.head_dim) for _ in decoder.layers]
                                  for _ in range(2))
        self.layers = [_LayerProducts(layer, onednn_layers, one_row) for layer in decoder.layers]

    @staticmethod
    def applies(decoder) -> bool:
        """A decoder-only pre-LayerNorm Transformer of fairseq's, with nothing this loop leaves out."""
        if decoder.training or decoder.cross_self_attention or decoder.project_in_dim is not None or \
                decoder.layernorm_embedding is not None or decoder.quant_noise is not None:
            return False
        for layer in decoder.layers:
            attention = layer.self_attn
            if not (layer.normalize_before and layer.encoder_attn is None and not layer.cross_self_attention
                    and layer.c_attn is None and layer.attn_ln is None and layer.ffn_layernorm is None
                    and layer.w_resid is None and attention.self_attention and attention.bias_k is None
                    and not attention.add_zero_attn and not attention.onnx_trace):
                return False
        return not any(getattr(m, "apply_during_inference", False) for m in decoder.modules())

    def forward(self, tokens: Tensor) -> Tensor:
        """Features (rows, new, dim) of the `new` positions of `tokens` (rows, length) past the cached ones:
        the prefill's prefix (no padding, as the generator forces it), or a step's last token."""
        decoder, t, (rows, length) = self.decoder, self.length, tokens.shape
        new = length - t
        if new < 1 or length > self.capacity or (t > 0 and rows != self.rows):
            raise RuntimeError(f"decoding cache of {self.rows} rows and {t} positions (of {self.capacity}) for "
                               f"tokens of {tokens.shape}")
        self.rows = rows
        x = decoder.embed_scale * decoder.embed_tokens(tokens[:, t:])
        if decoder.embed_positions is not None:  # (fairseq's step: only the last position, as its own steps do)
            x += decoder.embed_positions(tokens, incremental_state={} if new == 1 else None)[:, -new:]
        x = x.transpose(0, 1).reshape(new * rows, -1)  # rows in time-major order, as fairseq's layers hold them
        heads, head_dim, capacity = self.heads, self.head_dim, self.capacity
        future = None
        if new > 1:  # fairseq's causal mask: a position sees itself and those before it
            future = torch.triu(x.new_full((new, t + new), float("-inf")), t + 1)
        for layer, products, keys, values in zip(decoder.layers, self.layers, self.keys, self.values):
            keys, values = (b[:rows * heads].view(rows, heads, capacity, head_dim) for b in (keys, values))
            residual, x = x, layer.self_attn_layer_norm(x)
            attention = layer.self_attn
            q = products(attention.q_proj, x) * attention.scaling
            k, v = products(attention.k_proj, x), products(attention.v_proj, x)
            keys[:, :, t:t + new] = k.view(new, rows, heads, head_dim).permute(1, 2, 0, 3)
            values[:, :, t:t + new] = v.view(new, rows, heads, head_dim).permute(1, 2, 0, 3)
            q = q.view(new, rows, heads, head_dim).permute(1, 2, 0, 3).reshape(rows * heads, new, head_dim)
            weights = torch.bmm(q, keys[:, :, :t + new].reshape(rows * heads, t + new, head_dim).transpose(1, 2))
            if future is not None:
                weights += future
            probabilities = torch.nn.functional.softmax(weights, dim=-1, dtype=torch.float32).type_as(weights)
            attended = torch.bmm(probabilities, values[:, :, :t + new].reshape(rows * heads, t + new, head_dim))
            attended = attended.view(rows, heads, new, head_dim).permute(2, 0, 1, 3).reshape(new * rows, -1)
            x = residual + products(attention.out_proj, attended)
            residual, x = x, layer.final_layer_norm(x)
            x = residual + products(layer.fc2, layer.activation_fn(products(layer.fc1, x)))
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        if decoder.project_out_dim is not None:
            x = decoder.project_out_dim(x)
        self.length = length
        return x.view(new, rows, -1).transpose(0, 1)

    def reorder(self, new_order: Tensor) -> None:
        """The rows' caches in `new_order` (beams reordered or spread from their sentence, finished sentences
        dropped)."""
        rows, t = new_order.numel(), self.length
        for buffer in self.keys + self.values:
            old = buffer[:self.rows * self.heads].view(self.rows, self.heads, self.capacity, self.head_dim)
            selected = old[:, :, :t].index_select(0, new_order)
            buffer[:rows * self.heads].view(rows, self.heads, self.capacity, self.head_dim)[:, :, :t] = selected
        self.rows = rows


class _LayerProducts:
    """A layer's matrix products in the decoding cache: on oneDNN (fp32 on CPU) from matrices packed once
    for the model; otherwise (other dtypes, int8 weights, GPUs, the small matrices of a few rows) the
    layer's own modules."""

    @staticmethod
    def linears(layer) -> tuple:
        attention = layer.self_attn
        return attention.q_proj, attention.k_proj, attention.v_proj, attention.out_proj, layer.fc1, layer.fc2

    def __init__(self, layer, onednn_layer: bool, one_row: str):
        self.packed = {linear: (_packed(linear), linear.bias) for linear in self.linears(layer)} if onednn_layer \
            else None
        self.one_row = one_row

    def __call__(self, linear, x: Tensor) -> Tensor:
        """`linear`(x)."""
        one_row = self.one_row if x.size(0) == 1 else PACKED
        if self.packed is None or one_row == MKL:
            return linear(x)
        packed, bias = self.packed[linear]
        return onednn.linear(x, linear.weight if one_row == AS_IS else packed, bias)


def _filling(incremental_state):
    def hand_over_the_cache(module, args, kwargs):
        kwargs["incremental_state"] = incremental_state
        return args, kwargs
    return hand_over_the_cache


# Each linear layer's packed matrix, kept while the layer lives, with the weight it was packed from
# (its storage and version: an optimizer step or a load into it makes them differ).
_PACKED = weakref.WeakKeyDictionary()


def _packed(linear) -> Tensor:
    """A linear layer's matrix packed for oneDNN, once for the layer's life and again when its weight changes."""
    weight = linear.weight
    packed_from = (weight.data_ptr(), weight._version, tuple(weight.shape))
    if linear not in _PACKED or _PACKED[linear][0] != packed_from:
        _PACKED.pop(linear, None)  # (the old copy freed before the new one is made)
        _PACKED[linear] = packed_from, onednn.pack(weight, PACKED_FOR_ROWS)
    return _PACKED[linear][1]


# Which kernel multiplies one row by a matrix fastest differs between the machines of this project. At 24 x 1024
# (bench/products.py, 2026-12-02 and -03): oneDNN's packed matrices streamed 1.4x faster than as they are on a
# Zen 5 machine, 0.88x on a Zen 4 one; on an Intel Xeon torch's own product (MKL) streamed 1.1 to 1.2x faster than
# either, where on the AMD machines it was the slowest. So the generator times the three on the model's own
# matrices once, over this many bytes (far more than a CPU's caches), and steps of one row use the fastest.
ONE_ROW_TIMED_BYTES = 256 << 20
PACKED, AS_IS, MKL = "oneDNN, packed", "oneDNN, as it is", "MKL"
_ONE_ROW_KERNEL = weakref.WeakKeyDictionary()  # decoder -> the kernel of its steps of one row


def _one_row_kernel(decoder, linears) -> str:
    """The kernel that multiplies one row by these linear layers' matrices fastest (PACKED, AS_IS or MKL: the
    fastest by the median of 5 interleaved rounds over their first ONE_ROW_TIMED_BYTES, where it beats PACKED by
    more than 5%), once per decoder."""
    if decoder not in _ONE_ROW_KERNEL:
        timed, size = [], 0
        for linear in linears:
            if size >= ONE_ROW_TIMED_BYTES:
                break
            timed.append(linear)
            size += linear.weight.numel() * linear.weight.element_size()
        rows = {width: torch.ones(1, width) for width in {linear.weight.size(1) for linear in timed}}  # (no random draw)
        products = {PACKED: lambda linear, row: onednn.linear(row, _packed(linear)),
                    AS_IS: lambda linear, row: onednn.linear(row, linear.weight),
                    MKL: lambda linear, row: torch.nn.functional.linear(row, linear.weight)}

        def seconds(kernel: str) -> float:
            start = time.perf_counter()
            for linear in timed:
                products[kernel](linear, rows[linear.weight.size(1)])
            return time.perf_counter() - start

        for kernel in products:  # (oneDNN makes its kernels on first use)
            seconds(kernel)
        rounds = [{kernel: seconds(kernel) for kernel in products} for _ in range(5)]
        median = {kernel: sorted(r[kernel] for r in rounds)[2] for kernel in products}
        fastest = min(median, key=median.get)
        _ONE_ROW_KERNEL[decoder] = fastest if median[fastest] < 0.95 * median[PACKED] else PACKED
    return _ONE_ROW_KERNEL[decoder]


def _onednn_applies(linear) -> bool:
    return not torch.is_grad_enabled() and onednn.applies(linear.weight)


class LengthLimitError(ValueError):
    """A length limit that leaves no room for a new token after the forced prefix."""


class PrefixAwareNGramBlock(NGramRepeatBlock):
    """fairseq's n-gram blocking, fixed for a generator with a forced prefix.

    SequenceGenerator passes its whole preallocated token buffer; the CPU path compared against
    the buffer's last n-1 entries, which are padding, so --no-repeat-ngram-size never banned
    anything on CPU (the CUDA kernel indexes by `step` and was unaffected). And a forced prefix
    token that repeats an n-gram of the prefix was banned too: that beam's score became -inf
    and the search ended in an assertion. The prefix is given, not generated.
    """

    forced = None  # (step, rows, their log-probabilities): what the ban must leave alone this step

    def forward(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
        lprobs = super().forward(tokens, lprobs, bsz, beam_size, step)
        if self.forced is not None and self.forced[0] == step:
            lprobs[self.forced[1]] = self.forced[2]
        self.forced = None
        return lprobs

    def _no_repeat_ngram(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
        return super()._no_repeat_ngram(tokens[:, : step + 1], lprobs, bsz, beam_size, step)


class AllowedTokens:
    """The original release's constrained decoding: each generated token is one of its sentence's
    prompted source tokens or of the allowed text (whose encoding ends with eos, so sentences
    can end). A `prefix_allowed_tokens_fn` for fairseq's PrefixConstrainedBeamSearch."""

    def __init__(self, allowed_text: Tensor, pad: int):
        self.text, self.pad = set(allowed_text.tolist()), pad
        self.allowed = {}

    def start(self, ids: Tensor, prefixes: Tensor) -> None:
        """Before a batch: its sentences' ids (what the generator names them by) and prompted sources."""
        self.allowed = {i: sorted((set(p.tolist()) | self.text) - {self.pad}) for i, p in zip(ids.tolist(), prefixes)}

    def __call__(self, sentence: int, tokens: Tensor):
        return self.allowed[int(sentence)]


class BioGPTSequenceGenerator(SequenceGenerator):
    """fairseq's SequenceGenerator with prefilled decoding, checked length limits and fixed n-gram
    blocking (see the module's docstring)."""

    def __init__(self, models, tgt_dict, **kwargs):
        super().__init__(models if isinstance(models, EnsembleModel) else PrefillingEnsembleModel(models),
                         tgt_dict, **kwargs)
        if self.repeat_ngram_blocker is not None:
            self.repeat_ngram_blocker = PrefixAwareNGramBlock(self.repeat_ngram_blocker.no_repeat_ngram_size)

    def _generate(self, sample, prefix_tokens=None, constraints=None, bos_token=None):
        self._check_length(sample, prefix_tokens)
        prefilling = isinstance(self.model, PrefillingEnsembleModel)
        if prefilling:
            self.model.start(prefix_tokens, self.eos if bos_token is None else bos_token, self.beam_size,
                             self.pad, self.eos, self._length_limit(sample) + 2)
        try:
            return super()._generate(sample, prefix_tokens=prefix_tokens, constraints=constraints,
                                     bos_token=bos_token)
        finally:
            if prefilling:
                self.model.finish()

    def _length_limit(self, sample) -> int:
        """The most tokens a hypothesis gets (fairseq's `max_len` in `_generate`)."""
        src_tokens = sample["net_input"]["src_tokens"]
        if self.match_source_len:
            return int(src_tokens.ne(self.pad).sum(dim=1).max())
        return min(int(self.max_len_a * src_tokens.size(1) + self.max_len_b), self.max_len - 1)

    def _check_length(self, sample, prefix_tokens) -> None:
        """fairseq's limit counts the whole sequence, the forced prefix included: max_len_a times the
        (padded) source length plus max_len_b, within the model's positions."""
        if prefix_tokens is None or self.match_source_len:
            return
        src_len = sample["net_input"]["src_tokens"].size(1)
        max_len = self._length_limit(sample)
        longest = int(prefix_tokens.ne(self.pad).sum(dim=1).max())
        if longest >= max_len:
            raise LengthLimitError(
                f"the length limit, {max_len} tokens (max_len_a {self.max_len_a:g} x {src_len} + max_len_b "
                f"{self.max_len_b}, within the model's {self.max_len} positions), leaves no room after a forced "
                f"prefix (prompted source) of {longest} tokens: the limit counts the whole sequence, as the "
                "original's inference does (max_len_a 0, max_len_b 1024); for N new tokens use "
                "--max-len-a 1 --max-len-b N")

    def _prefix_tokens(self, step: int, lprobs, scores, tokens, prefix_tokens, beam_size: int):
        lprobs, tokens, scores = super()._prefix_tokens(step, lprobs, scores, tokens, prefix_tokens, beam_size)
        if self.repeat_ngram_blocker is not None:  # what the ban, next in this step, must leave alone
            forced_rows = prefix_tokens[:, step].ne(self.pad).repeat_interleave(beam_size)
            self.repeat_ngram_blocker.forced = (step, forced_rows, lprobs[forced_rows].clone())
        return lprobs, tokens, scores
