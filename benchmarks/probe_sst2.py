"""Linear probe on SST-2 with minilm-l6, and embedding throughput against the usual alternatives.

    .venv/bin/python benchmarks/probe_sst2.py [--throughput-texts 4000]

1. transferkit probe: full SST-2 train (67,349 phrases) -> validation accuracy (872).
2. Embedding throughput on the same texts, same model, same machine, in this run:
   transferkit's encoder (length-sorted batches, per-batch padding) vs sentence-transformers
   `encode` vs a plain transformers loop padding to a fixed length (the common hand-written way).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import peak_rss_mb, save, sst2_dir, timed


def plain_transformers_loop(path, texts, batch_size=64, max_length=64):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], padding="max_length", truncation=True, max_length=max_length,
                      return_tensors="pt")
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            out.append(((h * m).sum(1) / m.sum(1)).numpy())
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--throughput-texts", type=int, default=4000)
    ap.add_argument("--skip-probe", action="store_true")
    args = ap.parse_args()

    import pandas as pd

    import transferkit as tk

    data = sst2_dir()
    path = tk.resolve_model(args.model).path
    result: dict = {"model": args.model, "data": str(data)}

    if args.skip_probe:  # keep the recorded probe result, re-measure throughput only
        import json

        from _common import RESULTS

        previous = RESULTS / "probe_sst2.json"
        if previous.is_file():
            result["probe"] = json.loads(previous.read_text()).get("probe")
    else:
        t0 = time.perf_counter()
        run = tk.probe(args.model, str(data / "train.tsv"), str(data / "validation.tsv"))
        result["probe"] = {"validation_accuracy": run.metrics["validation"]["accuracy"],
                           "validation_macro_f1": run.metrics["validation"]["macro_f1"], "C": run.config["C"],
                           "C_scores": run.config["C_scores"], "split": run.config["split"],
                           "embed_seconds": run.config["embed_seconds"],
                           "total_seconds": round(time.perf_counter() - t0, 1)}

    texts = pd.read_csv(data / "train.tsv", sep="\t")["sentence"].astype(str).sample(
        n=args.throughput_texts, random_state=0).tolist()
    enc = tk.TextEncoder(path, batch_size=64)
    enc.encode(texts[:64])  # warm-up: model load and first-call allocations
    t_tk, v_tk = timed(lambda: enc.encode(texts))
    rows = {"transferkit": {"seconds": t_tk, "texts_per_s": len(texts) / t_tk}}
    enc16 = tk.TextEncoder(path, batch_size=64, precision="bf16")
    enc16.encode(texts[:64])
    t_16, v_16 = timed(lambda: enc16.encode(texts))
    rows["transferkit --precision bf16"] = {"seconds": t_16, "texts_per_s": len(texts) / t_16}

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(path), device="cpu")
    st.encode(texts[:64])
    t_st, v_st = timed(lambda: st.encode(texts, batch_size=64, normalize_embeddings=False))
    rows["sentence-transformers encode"] = {"seconds": t_st, "texts_per_s": len(texts) / t_st}

    t_pl, v_pl = timed(lambda: plain_transformers_loop(path, texts), repeats=1)
    rows["transformers loop, pad to 64"] = {"seconds": t_pl, "texts_per_s": len(texts) / t_pl}
    # Same model, same pooling: the vectors must agree, else the speed comparison is meaningless.
    cos = float(np.mean(np.sum(v_tk * v_pl, 1) / (np.linalg.norm(v_tk, axis=1) * np.linalg.norm(v_pl, axis=1))))
    result["throughput"] = {"texts": len(texts), "batch_size": 64, "rows": rows,
                            "speedup_vs_sentence_transformers": t_st / t_tk, "speedup_vs_fixed_padding": t_pl / t_tk,
                            "speedup_bf16_vs_sentence_transformers": t_st / t_16,
                            "mean_cosine_transferkit_vs_plain": cos,
                            "mean_cosine_bf16_vs_fp32": float(np.mean(np.sum(v_16 * v_tk, 1) / (
                                np.linalg.norm(v_16, axis=1) * np.linalg.norm(v_tk, axis=1))))}
    result["peak_rss_mb"] = peak_rss_mb()
    save("probe_sst2", result)


if __name__ == "__main__":
    main()
