"""A prompt model's prompt: what it is and where it goes, for the task, its dataset, the converter,
the engines and the decoders alike.

The original release's `language_modeling_prompt` puts the prompt after the source (`source prompt
target`), or with `--prefix` before it, a separator token between the source and the target
(`prompt source <seqsep> target`). The prompt is learned (`--learned-prompt N`: virtual tokens
learned1..learnedN, `--learned-prompt-pattern` naming their stem) or manual (`--manual-prompt`: BPE'd
tokens). The pre-training dictionary gets the separator appended, then the prompt's tokens it lacks:
the original's order, which a fine-tuned checkpoint's embedding rows follow.

This module imports neither torch nor fairseq: the downstream decoders read `learned_regex` here.
"""
import re
from dataclasses import dataclass, fields
from typing import Callable, List, Optional, Sequence, Tuple

DEFAULT_STEM = "learned"
DEFAULT_SEPARATOR = "<seqsep>"


@dataclass(frozen=True)
class PromptLayout:
    """The prompt settings, named as the task's options that set them and as a checkpoint's task state
    keeps them; the original's defaults where unset."""

    learned_prompt: int = 0  # how many learned tokens
    learned_prompt_pattern: str = DEFAULT_STEM  # their names' stem
    manual_prompt: Optional[str] = None  # a hard prompt: space-separated (BPE'd) tokens
    prefix: bool = False  # the prompt before the source, the separator after it
    sep_token: str = DEFAULT_SEPARATOR

    def __post_init__(self):
        if self.manual_prompt and self.learned_prompt:
            raise ValueError("--manual-prompt and --learned-prompt cannot both be set")

    @classmethod
    def from_settings(cls, settings) -> "PromptLayout":
        """The layout of settings held as a dict (a checkpoint's task state, prompt.json), a config (a
        checkpoint's task config: all the original release's checkpoints keep) or a namespace; unset
        ones (missing or None) take the original's defaults."""
        get = settings.get if hasattr(settings, "get") else lambda key: getattr(settings, key, None)
        return cls(learned_prompt=get("learned_prompt") or 0,
                   learned_prompt_pattern=get("learned_prompt_pattern") or DEFAULT_STEM,
                   manual_prompt=get("manual_prompt") or None, prefix=bool(get("prefix")),
                   sep_token=get("sep_token") or DEFAULT_SEPARATOR)

    @classmethod
    def of_checkpoint(cls, state: dict) -> Optional["PromptLayout"]:
        """A loaded checkpoint's layout: from its task state, or (the original release's, which keep
        none) its task config; None for a language model."""
        task_cfg = state["cfg"].task
        if task_cfg.get("_name") != "language_modeling_prompt":
            return None
        task_state = state.get("task_state") or {}
        return cls.from_settings(task_state if "appended_symbols" in task_state else task_cfg)

    @property
    def prompt_tokens(self) -> Tuple[str, ...]:
        """The prompt's symbols, in order."""
        if self.manual_prompt:
            return tuple(self.manual_prompt.split())
        return tuple(f"{self.learned_prompt_pattern}{i}" for i in range(1, self.learned_prompt + 1))

    def appended_symbols(self, known: Callable[[str], bool]) -> List[str]:
        """What the task appends to a dictionary that has the symbols `known` says it has, in order:
        the separator (with `prefix`), then each prompt token it lacks, once."""
        symbols = [self.sep_token] if self.prefix else []
        for token in self.prompt_tokens:
            if token not in symbols and not known(token):
                symbols.append(token)
        return symbols

    def arrange(self, source: Sequence, prompt: Sequence, separator: Sequence) -> list:
        """The parts of a prompted source in order, for the caller to join (ids or symbols; `separator`
        holds the separator, used with `prefix`): `source prompt`, or `prompt source separator`. A
        training sequence is that then the target; generation continues it after a leading eos."""
        return [prompt, source, separator] if self.prefix else [source, prompt]

    @property
    def learned_regex(self) -> str:
        """A regular expression (source) for a run of learned tokens, each followed by a space, as they
        appear in generated text: what a decoder strips before the answer."""
        return f"(?:{re.escape(self.learned_prompt_pattern)}[0-9]+ )+"


# The task's options the layout is made of: saved in checkpoints, compared with a checkpoint's.
OPTIONS = tuple(f.name for f in fields(PromptLayout))
