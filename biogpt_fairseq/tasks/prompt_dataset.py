"""Source, soft prompt and target as one language-modelling sequence, as the original release makes it."""
import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils

from biogpt_fairseq.tasks.prompt_layout import PromptLayout

ELLIPSIS = "..."  # what replaces the last kept token of a cut source or target


class PromptedPairDataset(FairseqDataset):
    """Items are the prompted source then the target, arranged by `layout` (`source prompt target`,
    or `prompt source <seqsep> target` with its `prefix`), the model's input that sequence shifted right
    behind an eos, as the original's dataset. `prompt` is the ids of the layout's prompt tokens.

    Lengths as the original counts them: a source longer than `max_source_positions` (its eos
    not counted) keeps that many tokens, the last replaced by '...'; a target longer than
    `max_positions - max_source_positions - len(prompt)` (one less with the separator) keeps
    that many, the last two '...' and eos. An example's size for batching is its source and
    target lengths so capped (the prompt not counted), so batches form as in the original.

    The loss is on the whole sequence (`loss_on_target_only=False`, the original's), or on the
    target alone. For generation, `prefix` is `eos` then the prompted source (`eos source prompt`,
    or `eos prompt source <seqsep>`): what the model continues.
    """

    def __init__(self, src, tgt, dictionary, prompt: torch.Tensor, max_source_positions: int, max_positions: int,
                 layout: PromptLayout = PromptLayout(), loss_on_target_only: bool = False, shuffle: bool = True):
        self.src, self.tgt, self.dictionary = src, tgt, dictionary
        self.prompt, self.layout = prompt.long(), layout
        if layout.prefix and layout.sep_token not in dictionary:
            raise ValueError(f"a prompt before the source needs the separator token {layout.sep_token}")
        self.separator = [dictionary.index(layout.sep_token)] if layout.prefix else []
        self.loss_on_target_only, self.shuffle = loss_on_target_only, shuffle
        self.pad, self.eos, self.ellipsis = dictionary.pad(), dictionary.eos(), dictionary.index(ELLIPSIS)
        self.max_source_length = max_source_positions
        self.max_target_length = max_positions - max_source_positions - len(self.prompt) - len(self.separator)
        if self.max_target_length < 2:
            raise ValueError(f"--max-source-positions {max_source_positions} and a prompt of {len(self.prompt)} tokens "
                             f"leave {self.max_target_length} of {max_positions} positions for the target")
        self.src_sizes = np.minimum(np.asarray(src.sizes) - 1, max_source_positions)
        tgt_sizes = np.asarray(tgt.sizes) if tgt is not None else np.ones(len(src), np.int64)  # inference: eos
        self.tgt_sizes = np.minimum(tgt_sizes, self.max_target_length)
        self.sizes = self.src_sizes + self.tgt_sizes

    def source(self, index) -> torch.Tensor:
        """The source without its eos, cut as the original cuts it."""
        source = self.src[index][:-1]
        if len(source) > self.max_source_length:
            source = source[:self.max_source_length].clone()
            source[-1] = self.ellipsis
        return source

    def target(self, index) -> torch.Tensor:
        target = self.tgt[index]
        if len(target) > self.max_target_length:
            target = target[:self.max_target_length].clone()
            target[-2], target[-1] = self.ellipsis, self.eos
        return target

    def prompted(self, source: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.layout.arrange(source, self.prompt, source.new(self.separator)))

    def __getitem__(self, index):
        prompted = self.prompted(self.source(index))
        prefix = torch.cat([prompted.new([self.eos]), prompted])
        if self.tgt is None:  # inference: the input is the prefix to continue
            return {"id": index, "input": prefix, "labels": torch.cat([prompted, prompted.new([self.eos])]),
                    "prefix": prefix, "target": prompted.new([])}
        target = self.target(index)
        sequence = torch.cat([prompted, target])
        labels = sequence.clone()
        if self.loss_on_target_only:
            labels[: len(prompted)] = self.pad  # the criterion ignores padding
        return {"id": index, "input": torch.cat([sequence.new([self.eos]), sequence[:-1]]), "labels": labels,
                "prefix": prefix, "target": self.tgt[index]}

    def __len__(self):
        return len(self.src)

    def collater(self, samples):
        if not samples:
            return {}
        inputs = data_utils.collate_tokens([s["input"] for s in samples], self.pad)
        return {
            "id": torch.LongTensor([s["id"] for s in samples]),
            "nsentences": len(samples),
            "ntokens": sum(int(s["labels"].ne(self.pad).sum()) for s in samples),
            "net_input": {"src_tokens": inputs, "src_lengths": torch.LongTensor([len(s["input"]) for s in samples])},
            "target": data_utils.collate_tokens([s["labels"] for s in samples], self.pad),
            # generation: right-padded prefixes (the generator frees a row once its prefix ends), answers
            "prefix_tokens": data_utils.collate_tokens([s["prefix"] for s in samples], self.pad),
            "target_tokens": data_utils.collate_tokens([s["target"] for s in samples], self.pad)
            if len(samples[0]["target"]) else None,
        }

    def num_tokens(self, index):
        return int(self.sizes[index])

    def num_tokens_vec(self, indices):
        return self.sizes[indices]

    def size(self, index):
        return int(self.sizes[index])

    def ordered_indices(self):
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(self.sizes[order], kind="mergesort")]

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        # fairseq-fixed 0.12.3.1's compiled batcher (built with Cython 3) drops a final partial batch
        # smaller than required_batch_size_multiple: fairseq-generate's default of 8 then silently
        # skipped up to 7 test examples. Its batches are contiguous splits of `indices`, so what is
        # missing is exactly the tail.
        batches = super().batch_by_size(indices, max_tokens, max_sentences, required_batch_size_multiple)
        covered = sum(len(batch) for batch in batches)
        if covered < len(indices):
            batches.append(np.asarray(indices[covered:]))
        return batches

    @property
    def supports_prefetch(self):
        return False
