"""The alternative a user would pick: Hugging Face Trainer, set up as its docs show.

Shared by the fine-tuning benchmarks so every comparison uses the same, typical setup:
AutoModelForSequenceClassification + tokenised dataset + DataCollatorWithPadding (dynamic
padding, random batches), default precision (fp32 on CPU), no length grouping.
"""

from __future__ import annotations

import time

import numpy as np


class ListDataset:
    def __init__(self, encodings: dict, labels):
        self.encodings, self.labels = encodings, list(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {k: v[i] for k, v in self.encodings.items()}
        item["labels"] = int(self.labels[i])
        return item


def hf_trainer_text_classification(model_path, train_texts, train_labels, eval_texts, eval_labels, *, num_labels,
                                   epochs, batch_size, lr, max_length, seed, weight_decay=0.01, warmup_ratio=0.1,
                                   out_dir="/tmp/hf_trainer_bench") -> dict:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)
    t0 = time.perf_counter()
    train = ListDataset(tok(list(train_texts), truncation=True, max_length=max_length), train_labels)
    evals = ListDataset(tok(list(eval_texts), truncation=True, max_length=max_length), eval_labels)
    args = TrainingArguments(output_dir=out_dir, per_device_train_batch_size=batch_size,
                             per_device_eval_batch_size=64, learning_rate=lr, num_train_epochs=epochs,
                             weight_decay=weight_decay, lr_scheduler_type="linear",
                             # transformers 5 dropped warmup_ratio; a float warmup_steps < 1 is the fraction
                             warmup_steps=warmup_ratio,
                             eval_strategy="no", save_strategy="no", report_to="none", seed=seed,
                             logging_steps=200, use_cpu=not torch.cuda.is_available(), disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tok))
    t1 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t1
    pred = trainer.predict(evals).predictions.argmax(-1)
    return {"train_seconds": train_s, "seconds_per_epoch": train_s / epochs,
            "samples_per_s": len(train) * epochs / train_s, "setup_seconds": t1 - t0,
            "validation_accuracy": float((pred == np.asarray(eval_labels)).mean())}
