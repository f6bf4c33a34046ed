"""Source, soft prompt and target as one language-modelling sequence."""
import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils


class PromptedPairDataset(FairseqDataset):
    """Items are `[eos] source prompt target` (target ending with eos) for training, and
    `[eos] source prompt` as the prefix that generation continues.

    The leading eos matches pre-training, where every document follows an eos,
    and generation, which starts from eos. Training sequences fit in
    `max_positions`: the source gives way to the target (which is cut only if
    it cannot fit even after an empty source). The generation prefix does not
    depend on the gold target: its source is cut at `max_source_positions`.
    With `prefix=True` the prompt goes before the source.
    """

    def __init__(self, src, tgt, dictionary, prompt: torch.Tensor, max_source_positions: int,
                 max_positions: int, prefix: bool = False, loss_on_target_only: bool = True, shuffle: bool = True):
        self.src, self.tgt, self.dictionary = src, tgt, dictionary
        self.prompt = prompt.long()
        self.prefix, self.loss_on_target_only, self.shuffle = prefix, loss_on_target_only, shuffle
        self.pad, self.eos = dictionary.pad(), dictionary.eos()
        room = max_positions - len(self.prompt)  # the model reads source + prompt + target tokens
        if room < 1:
            raise ValueError(f"a prompt of {len(self.prompt)} tokens leaves no room in {max_positions} positions")
        source_sizes = np.asarray(src.sizes) - 1  # without the source's eos
        self.prefix_source_sizes = np.minimum(source_sizes, min(max_source_positions, room - 1))
        self.tgt_sizes = np.minimum(np.asarray(tgt.sizes), room) if tgt is not None else np.zeros(len(src), np.int64)
        self.src_sizes = np.clip(np.minimum(source_sizes, np.minimum(max_source_positions, room - self.tgt_sizes)), 0, None)
        self.sizes = self.src_sizes + len(self.prompt) + self.tgt_sizes

    def _with_prompt(self, source):
        body = torch.cat([self.prompt, source]) if self.prefix else torch.cat([source, self.prompt])
        return torch.cat([body.new([self.eos]), body])

    def __getitem__(self, index):
        source = self.src[index][:-1]
        prefix = self._with_prompt(source[: self.prefix_source_sizes[index]])
        if self.tgt is None:  # inference: the input is the prefix to continue
            return {"id": index, "input": prefix, "labels": prefix[1:], "prefix": prefix, "target": source.new([])}
        target = self.tgt[index][: self.tgt_sizes[index]]
        sequence = torch.cat([self._with_prompt(source[: self.src_sizes[index]]), target])
        labels = sequence[1:].clone()
        if self.loss_on_target_only:
            labels[: len(sequence) - 1 - len(target)] = self.pad  # the criterion ignores padding
        return {"id": index, "input": sequence[:-1], "labels": labels, "prefix": prefix, "target": self.tgt[index]}

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

    def size(self, index):
        return int(self.sizes[index])

    def ordered_indices(self):
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(self.sizes[order], kind="mergesort")]

    @property
    def supports_prefetch(self):
        return False
