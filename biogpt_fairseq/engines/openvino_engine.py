"""The OpenVINO engine: optimum-intel's `OVModelForCausalLM` on an export of the Hugging Face conversion.

The fairseq checkpoint is converted as `biogpt-convert to-hf` does (HF's BioGpt is the same network),
then exported by optimum-intel, its linear maps' weights compressed by NNCF for int8 and int4. fp32
computes and caches in fp32 and bf16 in bf16 (`CPU_SETTINGS`); int8 and int4 run OpenVINO's int8
products and 8-bit cache.

Batches are left-padded (HF's BioGpt counts positions from the attention mask, so padding moves
no position); greedy decoding bans padding, as fairseq's generator does. Beam search asks for the
`beam` best hypotheses. With fairseq's ranking the search is fairseq's: it stops once `beam` hypotheses
have ended (HF's default searches on for longer ones, which fairseq's ranking by the whole sequence's
mean then prefers) and forces eos at the limit, and the hypotheses are ranked by the search's own
log-probabilities and the prompted source's, from the search's first forward (no forward of their own).
torch's share of a generation, the search's work on the logits, runs on one thread (`torch_on_one_thread`).
"""
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import torch
from optimum.intel import OVModelForCausalLM
from transformers import LogitsProcessor, LogitsProcessorList

from biogpt_fairseq.engines.base import Checkpoint, Engine, converted_dir, converting

# dtype -> OpenVINO's CPU settings. Its defaults would compute in bf16 on CPUs with AMX or AVX-512 BF16 and
# keep the attention's keys and values in u8 whatever the precision; int8 and int4 keep that u8 cache and their
# products' inputs quantized to int8 in groups of 32 (OpenVINO's defaults, with which their quality was measured).
CPU_SETTINGS = {"fp32": {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"},
                "bf16": {"INFERENCE_PRECISION_HINT": "bf16", "KV_CACHE_PRECISION": "bf16"},
                "int8": {"INFERENCE_PRECISION_HINT": "f32"},
                "int4": {"INFERENCE_PRECISION_HINT": "f32"}}
WEIGHT_BITS = {"int8": 8, "int4": 4}


def convert(checkpoint: Checkpoint, out: Path, dtype: str = "fp32") -> Path:
    """Write optimum-intel's OpenVINO directory for a fairseq BioGPT checkpoint (weights compressed to
    int8 or int4 for those dtypes)."""
    from optimum.intel import OVWeightQuantizationConfig

    from biogpt_fairseq.models.hf_conversion import to_hf

    cfg = checkpoint.state["cfg"]
    # (the exporter logs its whole traced graph at DEBUG, where fairseq's hydra leaves the root logger, and
    # an error of a first tracing attempt that it recovers from)
    logging.getLogger("openvino").setLevel(logging.CRITICAL)
    logging.getLogger("nncf").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="biogpt-to-openvino-") as hf_dir:
        to_hf(checkpoint.path, Path(cfg.task.data), Path(cfg.bpe.bpe_codes), Path(hf_dir))
        quantization = None
        if dtype in WEIGHT_BITS:  # int8 per output channel; int4 in NNCF's groups of 128 (smaller where a width is)
            quantization = OVWeightQuantizationConfig(bits=WEIGHT_BITS[dtype], sym=dtype == "int4",
                                                      group_size=-1 if dtype == "int8" else 128, ratio=1.0,
                                                      group_size_fallback="adjust")
        model = OVModelForCausalLM.from_pretrained(hf_dir, export=True, compile=False, load_in_8bit=False,
                                                   quantization_config=quantization)
        with converting(out) as partial:
            model.save_pretrained(partial)
    return out


class PadBanned(LogitsProcessor):
    """Padding banned, as fairseq's generator bans it; greedy, each step's log-probability of its pick kept:
    what `output_scores` gives, without keeping every step's scores over the vocabulary (which cost int4
    greedy at batch 1 3% of its speed)."""

    def __init__(self, pad: int, keep_steps: bool):
        self.pad, self.keep_steps, self.steps = pad, keep_steps, []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores[:, self.pad] = -float("inf")  # (HF passes a copy of the logits, or beam search's log-softmax)
        if self.keep_steps:  # (greedy picks the largest)
            self.steps.append(scores.max(-1).values - scores.logsumexp(-1))
        return scores


class FinalEos(LogitsProcessor):
    """fairseq's last step at the length limit: every live hypothesis ends with eos, whose log-probability
    its score counts."""

    def __init__(self, eos: int, length: int):
        self.eos, self.length = eos, length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.size(1) == self.length:
            eos = scores[:, self.eos].clone()
            scores.fill_(-float("inf"))
            scores[:, self.eos] = eos
        return scores


def prompt_log_probs(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each left-padded row's summed log-probability of its tokens after the first, from the logits at
    every position; a row that repeats the one before it (a beam's copies of a prompt) is scored once."""
    sums = torch.zeros(len(ids))
    for row in range(len(ids)):
        if row and torch.equal(ids[row], ids[row - 1]):
            sums[row] = sums[row - 1]
            continue
        start = ids.size(1) - int(mask[row].sum())
        steps = logits[row, start:-1].float()
        sums[row] = (steps.gather(-1, ids[row, start + 1:, None])[:, 0] - steps.logsumexp(-1)).sum()
    return sums


class PromptScoringModel(OVModelForCausalLM):
    """optimum-intel's model that, with `score_prompts` set, keeps each row's log-probability of its prompt
    from a generation's first forward, for which OpenVINO returns the logits at every position: what
    fairseq's ranking adds to a hypothesis's own, without a forward of its own."""
    score_prompts = False
    prompt_log_probs: Optional[torch.Tensor] = None

    def forward(self, input_ids, attention_mask=None, past_key_values=None, position_ids=None, token_type_ids=None,
                **kwargs):
        output = super().forward(input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                                 position_ids=position_ids, token_type_ids=token_type_ids, **kwargs)
        if self.score_prompts and past_key_values is None:  # (the prompt's forward)
            self.prompt_log_probs = prompt_log_probs(output.logits, input_ids, attention_mask)
        return output


@contextlib.contextmanager
def torch_on_one_thread():
    """torch's own work in a generation (the search's steps on the logits) on one thread."""
    # torch's idle workers, still waiting for work after each step, took cores from OpenVINO's: greedy at
    # batch 1 ran 1.10x to 1.14x faster without them (bench/RESULTS.md)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class OpenVINOEngine(Engine):
    name = "openvino"
    DTYPES_RUN = {"cpu": {"fp32": "fp32", "bf16": "bf16", "int8": "int8", "int4": "int4"}}

    def __init__(self, checkpoint: Checkpoint, dtype: str = "fp32", device: Optional[str] = None,
                 max_tokens: Optional[int] = None, batch_size: Optional[int] = None, threads: Optional[int] = None,
                 beam_ranking: str = "fairseq"):
        super().__init__(checkpoint, dtype, device or "cpu", max_tokens, batch_size, beam_ranking)
        self.model_dir = converted_dir(checkpoint, self.name, self.dtype)
        if not self.model_dir.is_dir():
            convert(checkpoint, self.model_dir, self.dtype)
        config = {**CPU_SETTINGS[self.dtype], "NUM_STREAMS": "1",
                  "INFERENCE_NUM_THREADS": str(threads or torch.get_num_threads())}
        self.model = PromptScoringModel.from_pretrained(self.model_dir, ov_config=config, device="CPU")

    @classmethod
    def precisions(cls, device_type: str) -> Dict[str, str]:
        import openvino

        precisions = super().precisions(device_type)
        if precisions and "BF16" not in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            precisions = {**precisions, "bf16": "fp32"}
        return precisions

    @property
    def fairseq_search(self) -> bool:
        """With fairseq's ranking the beam search ends as fairseq's: once `beam` hypotheses have ended
        (HF's default searches on for longer ones, which the ranking by the whole sequence's mean then
        prefers), and at the limit with eos forced (`FinalEos`)."""
        return self.beam_ranking == "fairseq"

    def _padded(self, sequences: List[List[int]]):
        width = max(len(s) for s in sequences)
        pad = self.dictionary.pad()
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences])
        return ids, mask

    def _hypotheses(self, prefixes: List[List[int]], beam: int, new_tokens: int) -> List[List[tuple]]:
        eos, pad = self.dictionary.eos(), self.dictionary.pad()
        ids, mask = self._padded(prefixes)
        fairseq_search = beam > 1 and self.fairseq_search
        banned = PadBanned(pad, keep_steps=beam == 1)
        processors = [banned] + ([FinalEos(eos, ids.size(1) + new_tokens)] if fairseq_search else [])
        self.model.score_prompts = fairseq_search
        with torch_on_one_thread():
            output = self.model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens + fairseq_search, min_new_tokens=0,
                num_beams=beam, num_return_sequences=beam, do_sample=False, eos_token_id=eos, pad_token_id=pad,
                length_penalty=1.0, logits_processor=LogitsProcessorList(processors), early_stopping=fairseq_search,
                output_scores=beam > 1, return_dict_in_generate=beam > 1)
        generated = (output.sequences if beam > 1 else output)[:, ids.size(1):]
        if beam > 1:  # HF's score: the generated tokens' mean log-probability
            scores = output.sequences_scores.tolist()
        else:  # greedy: the mean log-probability of the generated tokens
            steps = torch.stack(banned.steps, 1)
        hypotheses = []
        for row, tokens in enumerate(generated.tolist()):
            tokens = tokens[:tokens.index(eos) + 1] if eos in tokens else tokens
            if fairseq_search:  # the whole sequence's log-probability: the prompt's, the tokens' and their final
                # eos's (the search's own); a forced eos dropped
                total = self.model.prompt_log_probs[row].item() + scores[row] * len(tokens)
                hypotheses.append((tokens[:new_tokens], total))
            else:
                hypotheses.append((tokens, scores[row] if beam > 1 else steps[row, :len(tokens)].mean().item()))
        return [hypotheses[i * beam:(i + 1) * beam] for i in range(len(prefixes))]

    def _fairseq_means(self, prefix: List[int], hypotheses: List[tuple]) -> List[float]:
        # (the whole sequence's log-probability from fairseq's search, `_hypotheses`: no forward of its own)
        eos = self.dictionary.eos()
        return [total / (len(prefix) - 1 + len(ids) + (ids[-1:] != [eos])) for ids, total in hypotheses]
