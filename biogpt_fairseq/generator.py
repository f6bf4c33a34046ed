"""A loaded BioGPT without its datasets: what the API and the downstream tools (inference, extraction,
mining) both load, so neither needs the other.

Generation runs on an engine (`biogpt_fairseq.engines`: fairseq's generator by
default, the original's; CTranslate2 or OpenVINO by name), batched, with
outputs in input order.
"""
import warnings
from typing import List, Optional, Sequence, Union

import torch

from biogpt_fairseq.engines import engine_class
from biogpt_fairseq.engines.base import Engine, load_checkpoint
from biogpt_fairseq.tasks.prompt_layout import PromptLayout
from biogpt_fairseq.textio import UserError

ON_OVERFLOW = ("truncate", "error")
ORIGINAL_DECODING = {"beam": 1, "max_len_a": 0, "max_len_b": 1024}  # the original's inference.py


class InputTooLongError(UserError):
    """An input has more tokens than the model's positions leave room for (with on_overflow='error')."""


class Generator:
    """A checkpoint on a generation engine (pre-trained, or fine-tuned with a prompt): texts encoded and fitted
    to its positions, generated in input order; a prompt model's sources completed as the original's
    inference writes them. It knows no dataset: `api.BioGPT` adds the datasets' task methods."""

    def __init__(self, engine: Engine, on_overflow: str = "truncate", _keep=None):
        if on_overflow not in ON_OVERFLOW:
            raise ValueError(f"on_overflow must be one of {ON_OVERFLOW}, not {on_overflow!r}")
        self.engine = engine
        self.on_overflow = on_overflow
        self.is_prompt_model = engine.is_prompt_model
        self.dataset = engine.settings.get("dataset")
        self.checkpoint = engine.checkpoint
        self.generated_tokens = 0  # tokens generated since loading (extraction's progress counts them)
        self._keep = _keep  # a converted Hugging Face model's temporary directory lives as long as we do

    @classmethod
    def from_pretrained(cls, path, checkpoint_file: Optional[str] = None, data: Optional[str] = None,
                        bpe_codes: Optional[str] = None, batch_size: Optional[int] = None,
                        on_overflow: str = "truncate", dtype: str = "fp32", engine: str = "fairseq",
                        device: Optional[str] = None, threads: Optional[int] = None,
                        max_tokens: Optional[int] = None, beam_ranking: str = "fairseq") -> "Generator":
        """Load a fairseq checkpoint (a .pt file or a directory holding one) or a Hugging Face directory.

        `data` is the directory with the model's dictionary and BPE codes (a fine-tuning data-bin
        carries both), `bpe_codes` the codes if elsewhere; both default to the checkpoint's
        directory. `on_overflow` says what an input longer than the model's positions gets:
        'truncate' (with a warning) or 'error'. `engine` runs the network: 'fairseq' (the original's),
        'ctranslate2' or 'openvino' (converted on first use, kept beside the checkpoint). `dtype` is the
        precision generation runs in: 'fp32' (the original's), 'bf16', 'fp16' (CUDA), 'int8' (int8
        weights of the linear maps, `engines.DTYPES`) or 'int4' (OpenVINO); docs/fidelity.md's differences from the original.
        `device` is 'cpu' or 'cuda' (default: cuda where there is one), `threads` the CPU threads,
        `max_tokens` a batch's token budget (else `batch_size` sentences a batch, 16 by default).
        `beam_ranking` picks among another engine's beam hypotheses: 'fairseq' (the original's pick; on
        CTranslate2 at the cost of one more forward over them) or 'engine' (the engine's own pick;
        docs/fidelity.md).
        """
        kind = engine_class(engine)
        keep = []
        checkpoint = load_checkpoint(path, checkpoint_file, data, bpe_codes, keep=keep)
        loaded = kind(checkpoint, dtype=dtype, device=device, max_tokens=max_tokens, batch_size=batch_size,
                      threads=threads, beam_ranking=beam_ranking)
        return cls(loaded, on_overflow=on_overflow, _keep=keep)

    def to(self, device) -> "Generator":
        self.engine.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.engine.device

    @property
    def dtype(self) -> str:
        """The precision generation runs in ('fp32', 'bf16', 'fp16', 'int8' or 'int4')."""
        return self.engine.dtype

    @property
    def settings(self) -> dict:
        """What the checkpoint says of its prompt and dataset (the task's state); {} for a language model."""
        return self.engine.settings

    @property
    def layout(self) -> PromptLayout:
        """The prompt's layout (the original's defaults for a language model): what the decoders strip."""
        return PromptLayout.from_settings(self.settings)

    @property
    def max_source_positions(self) -> Optional[int]:
        """The source tokens a prompt model reads; longer sources are cut, as in fine-tuning."""
        return self.engine.max_source_positions

    # --- generation ---------------------------------------------------------------------------

    def _encode(self, texts: Sequence[str]) -> List[torch.Tensor]:
        tokens = []
        for i, text in enumerate(texts):
            try:
                tokens.append(self.engine.encode(text))
            except UserError as err:
                raise UserError(f"input {i} {err}") from None
        return tokens

    def _fit(self, tokens: List[torch.Tensor], max_len: Optional[int]) -> List[torch.Tensor]:
        """Inputs (each ending with eos) that fit: a prompt model's sources are cut at the task's
        max_source_positions by its dataset (the last kept token made '...', as in fine-tuning);
        a language model keeps the end of its text, room left for `max_len` new tokens."""
        positions = self.engine.max_positions
        if self.is_prompt_model:
            room = self.max_source_positions
            what = "the task's max_source_positions"
        else:
            room = positions - 1 - max_len
            what = f"the room the model's positions leave with max_len={max_len}"
        if room < 1:
            raise UserError(f"max_len={max_len} leaves no room for the input in {positions} positions")
        too_long = [i for i, t in enumerate(tokens) if len(t) - 1 > room]
        if not too_long:
            return tokens
        first = too_long[0]
        message = (f"{len(too_long)} input(s) longer than the {room} tokens of {what} (input {first}: "
                   f"{len(tokens[first]) - 1} tokens{', ...' if len(too_long) > 1 else ''})")
        if self.on_overflow == "error":
            raise InputTooLongError(message)
        warnings.warn(f"{message}: the {'first' if self.is_prompt_model else 'last'} {room} tokens of each are used",
                      stacklevel=3)
        if self.is_prompt_model:
            return tokens
        return [torch.cat([t[len(t) - 1 - room:-1], t[-1:]]) if len(t) - 1 > room else t for t in tokens]

    def generate(self, texts: Union[str, Sequence[str]], beam: int = 5, max_len: int = 64, sampling: bool = False,
                 **options) -> Union[str, List[str]]:
        """The continuation of each text: at most `max_len` new tokens, detokenized.

        Beam search by default; `sampling=True` samples (with fairseq's `sampling_topk`,
        `sampling_topp`, `temperature`). Other fairseq generation options pass through to the
        fairseq engine (e.g. `no_repeat_ngram_size=3`, `lenpen`, `min_len`). A single string gives
        a string.
        """
        if isinstance(texts, str):
            return self.generate([texts], beam=beam, max_len=max_len, sampling=sampling, **options)[0]
        if sampling:
            options["sampling"] = True
        tokens = self._fit(self._encode(texts), max_len)
        completions = self._generate(tokens, beam=beam, max_new_tokens=max_len, **options)
        return [self.engine.decode(c.tokens) for c in completions]

    def _generate(self, tokens: List[torch.Tensor], **search) -> list:
        completions = self.engine.generate(tokens, **search)
        self.generated_tokens += sum(len(c.tokens) for c in completions)
        return completions

    # --- a prompt model: the original's whole sequences ---------------------------------------

    def complete(self, sources: Sequence[str], beam: int = ORIGINAL_DECODING["beam"], **options) -> List[str]:
        """What the original's inference writes for each source of a prompt model: the whole sequence
        (source, prompt, generated answer) decoded, greedily and within the model's positions by
        default."""
        if not self.is_prompt_model:
            raise UserError("complete() is for a fine-tuned (prompt) model")
        return self.complete_tokens(self._fit(self._encode(sources), None), beam=beam, **options)

    def complete_tokens(self, tokens: List[torch.Tensor], beam: int = ORIGINAL_DECODING["beam"], bpe: bool = True,
                        max_new_tokens: Optional[int] = None, **options) -> List[str]:
        """`complete` for sources already encoded (each ending with eos); with bpe=False the lines
        are left as tokens, as the original's inference writes them before BPE removal; with
        `max_new_tokens`, at most that many tokens are generated (not the original's limit)."""
        settings = {**ORIGINAL_DECODING, **options, "beam": beam}
        completions = self._generate(tokens, max_new_tokens=max_new_tokens, **settings)
        sequences = [torch.cat([c.prefix, c.tokens]) for c in completions]
        return [self.engine.decode(s) if bpe else self.engine.string(s) for s in sequences]
