"""lora: low-rank adapters (peft) on the attention projections; the head trains fully.

Only the adapters (r * (d_in + d_out) per adapted matrix) and the head train, so optimizer
memory and checkpoints are tiny and the encoder cannot forget. On export the adapters are
merged into the weights: the saved model is a plain Hugging Face model, no peft needed.
"""

from . import Strategy, register_strategy


@register_strategy("lora")
class LoRA(Strategy):
    def prepare(self, model):
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = self.config
        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,  # marks the classification head as modules_to_save
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_target_modules,  # None: peft's default for the architecture
        )
        return get_peft_model(model, lora)

    def lr_scales(self, model):
        cfg = self.config
        if cfg.head_lr is None:
            return {}
        return {name: cfg.head_lr / cfg.lr for name, _ in model.named_parameters() if "modules_to_save" in name}

    def export(self, model):
        return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
