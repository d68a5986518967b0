"""Methods: what a user does with a pretrained model, each composed from the layers below.

| module | what | run kind |
| --- | --- | --- |
| `finetune.py` | adapt the model to labelled data (any task, any strategy) | finetune |
| `probe.py` | frozen features + a logistic-regression head | probe |
| `distill/` | teach a smaller student with a fine-tuned teacher | distill |
| `embed.py` | pooled embeddings of a file's rows | - |
| `estimator.py` | `TextClassifier`, fine-tuning as a scikit-learn estimator | finetune |
| `config.py` | the settings schemas, composed from tasks, strategies and the engine | - |

A method that writes runs registers their loader with `@RUN_KINDS.register("kind")`.
"""
