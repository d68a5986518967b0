"""Sequence-level distillation for speech recognition (Kim & Rush, 2016; Distil-Whisper's recipe).

A teacher's per-token distributions over a 51,865-token vocabulary, for every token of a
transfer set, are too large to cache; its greedy transcripts are not. So the teacher transcribes
the transfer set once (cached, as every teacher's outputs are: `Teacher.soft_targets`), stored
as UTF-8 bytes so that a student with another tokenizer (English-only from multilingual) reads
them too; the student is trained on them by teacher forcing, and on the gold transcripts where
there are any, with `alpha` the weight of the gold:

    loss = (1 - alpha) * CE(student | teacher's transcript) + alpha * CE(student | gold transcript)

Unlabelled clips (`--unlabeled`) are transcribed by the teacher only. Whisper students only: a CTC
student's loss needs its frame lengths, which a batch of logits does not carry.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError


class SequenceDistillation:
    """The distillation hooks of `SpeechRecognition` (see `Task`'s distillation section)."""

    distils_sequences = True

    def check_distillation(self, config) -> None:
        if config.needs_live_teacher:
            raise ConfigError("invalid teacher_outputs: speech recognition distils the teacher's transcripts, which "
                              "are cached; drop --hidden-weight, --attention-weight and --teacher-outputs live")
        if getattr(config, "augment_copies", 0):
            raise ConfigError("invalid augment_copies: not available for speech recognition; pass --unlabeled CLIPS "
                              "for more transfer data (the teacher transcribes them)")

    def check_student(self) -> None:
        if self.recognizer is None or self.recognizer.kind != "whisper":
            raise ConfigError("invalid student: speech recognition distils into a Whisper model; fine-tune a CTC "
                              "model directly")

    def soft_targets(self, dataset, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The teacher's transcript of each clip as UTF-8 byte values (rows [bytes, 1])."""
        texts = self.transcripts(dataset, outputs)
        data = [np.frombuffer(t.encode("utf-8"), dtype=np.uint8) for t in texts]
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in data], dtype=np.int64)]).astype(np.int64)
        rows = np.concatenate(data) if data else np.zeros(0, np.uint8)
        return rows.astype(np.float32).reshape(-1, 1), offsets

    def add_soft_targets(self, batch: dict, dataset, indices, rows: np.ndarray, offsets: np.ndarray) -> dict:
        """Rows to learn: every clip with the teacher's transcript, then the transcribed ones with
        their gold transcript (`gold` marks them); the audio inputs repeated to match."""
        import torch

        self.check_student()
        indices = np.asarray(indices)
        teacher_texts = [bytes(np.asarray(rows[offsets[i]:offsets[i + 1], 0]).astype(np.uint8)).decode(
            "utf-8", errors="replace") for i in indices]
        teacher_ids = self.recognizer.encode_texts(teacher_texts, [""] * len(indices), self._target_limit(),
                                                   truncate=True)
        gold = [k for k, i in enumerate(indices) if dataset.targets is not None and dataset.targets[i] is not None]
        gold_ids = [dataset.targets[indices[k]] for k in gold]
        features = batch["input_features"]
        out = {"input_features": torch.cat([features, features[gold]]) if gold else features,
               "gold": torch.tensor([False] * len(indices) + [True] * len(gold)),
               "seconds": torch.cat([batch["seconds"], batch["seconds"][gold]]) if gold else batch["seconds"]}
        batch.clear()  # the caller keeps its batch object: replaced in place
        batch.update(self.recognizer.targets(out, teacher_ids + gold_ids))
        return batch

    def sequence_distillation_loss(self, logits, batch: dict, config):
        import torch.nn.functional as F

        labels = batch["labels"]
        logits = logits.float()
        per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                                    reduction="none", label_smoothing=getattr(config, "label_smoothing", 0.0))
        per_token = per_token.view(labels.shape)
        counted = (labels != -100).sum(1).clamp(min=1)
        per_row = per_token.sum(1) / counted
        gold = batch["gold"].to(per_row.device)
        loss = (1 - config.alpha) * per_row[~gold].mean()
        if bool(gold.any()) and config.alpha > 0:
            loss = loss + config.alpha * per_row[gold].mean()
        return loss

    def concat(self, parts):
        from ...audio.chunks import SpeechDataset

        owner, clips = [], 0
        for part in parts:
            owner.append(part.owner + clips)
            clips += part.clips
        targets = [t for p in parts for t in (p.targets if p.targets is not None else [None] * p.clips)]
        texts = [t for p in parts for t in (p.texts if p.texts is not None else [""] * p.clips)]
        return SpeechDataset([w for p in parts for w in p.waves], np.concatenate(owner), targets, texts,
                             [n for p in parts for n in p.names], parts[0].sample_rate)
