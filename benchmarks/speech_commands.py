"""Spoken command words: whisper-tiny-en probed vs fine-tuned, against a log-mel + logistic regression baseline.

    .venv/bin/python benchmarks/speech_commands.py                    # 1,000 train / 200 validation / 300 test clips
    .venv/bin/python benchmarks/speech_commands.py --per-word 40      # quick

No spoken-word corpus ships on the package index that we know of, so the clips are made here with
a real speech synthesiser (Debian `espeak-ng`: `apt-get install espeak-ng`), deterministic from
the seed: the ten Speech Commands words (yes, no, up, down, left, right, on, off, stop, go), each
spoken by a voice (accent x variant), speaking rate and pitch drawn at random, placed at a random
offset in a 1.5 s clip, with white or pink noise mixed at a random SNR (5-30 dB). The **test voices
are held out**: accents and variants no training or validation clip uses.

Contenders, on the same folders (one sub-folder of WAV files per word):
1. `baseline`: mean and std over time of Whisper's own log-mel frames -> logistic regression
   (scikit-learn, C chosen on validation): what the signal gives without a pretrained encoder;
2. `probe`: `transferkit probe whisper-tiny-en` (frozen encoder, pooled states, logistic head);
3. `finetune`: `transferkit finetune whisper-tiny-en --task audio-classification` (encoder + new head, the defaults a user
   gets: the window follows the clips, 2 s of Whisper's 30; `--epochs` overrides).
Accuracy on the held-out-voice test split; wall times; the JSON goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import in_child, peak_rss_mb, save

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
RATE = 16000
CLIP_SECONDS = 1.5
TRAIN_VOICES = {"accents": ("en-gb", "en-us", "en-gb-x-rp", "en-029"),
                "variants": ("m1", "m2", "m3", "m4", "f1", "f2", "Adam", "Andy", "Annie", "Belinda")}
TEST_VOICES = {"accents": ("en-gb-scotland", "en-us-nyc"), "variants": ("m5", "m6", "f3", "f4", "Ed", "Linda")}


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    white = rng.standard_normal(n)
    if rng.random() < 0.5:
        return white
    spectrum = np.fft.rfft(white) / np.sqrt(np.arange(1, n // 2 + 2))  # 1/f power: pink
    return np.fft.irfft(spectrum, n)


def speak(word: str, voice: str, rate: int, pitch: int, workdir: Path) -> np.ndarray:
    """One utterance from espeak-ng, as float32 mono at 16 kHz."""
    import soundfile
    import soxr

    path = workdir / "utterance.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), word], check=True,
                   capture_output=True)
    wave, sr = soundfile.read(str(path), dtype="float32")
    return soxr.resample(wave, sr, RATE) if sr != RATE else wave


def clip(word: str, voices: dict, rng: np.random.Generator, workdir: Path) -> np.ndarray:
    voice = f"{rng.choice(voices['accents'])}+{rng.choice(voices['variants'])}"
    wave = speak(word, voice, int(rng.integers(120, 230)), int(rng.integers(20, 80)), workdir)
    size = int(CLIP_SECONDS * RATE)
    wave = wave[:size]
    out = np.zeros(size, dtype=np.float32)
    start = int(rng.integers(0, size - len(wave) + 1))
    out[start:start + len(wave)] = wave
    snr_db = rng.uniform(5, 30)
    noise = _noise(rng, size)
    power = np.mean(wave ** 2) if len(wave) else 1e-4
    out += (noise * np.sqrt(power / (np.mean(noise ** 2) * 10 ** (snr_db / 10)))).astype(np.float32)
    return np.clip(out, -1, 1)


def make_split(folder: Path, per_word: int, voices: dict, seed: int) -> Path:
    import soundfile

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for word in WORDS:
            (folder / word).mkdir(parents=True, exist_ok=True)
            for i in range(per_word):
                soundfile.write(str(folder / word / f"{i:04d}.wav"), clip(word, voices, rng, Path(tmp)), RATE)
    return folder


def make_data(workdir: Path, per_word: int, seed: int) -> dict[str, Path]:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed; apt-get install espeak-ng")
    t0 = time.perf_counter()
    splits = {"train": make_split(workdir / "train", per_word, TRAIN_VOICES, seed),
              "validation": make_split(workdir / "validation", max(2, per_word // 5), TRAIN_VOICES, seed + 1),
              "test": make_split(workdir / "test", max(3, per_word * 3 // 10), TEST_VOICES, seed + 2)}
    print(f"made {sum(len(list(p.rglob('*.wav'))) for p in splits.values())} clips in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return splits


def baseline(splits: dict) -> dict:
    """Log-mel statistics -> logistic regression, C chosen on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from transformers import WhisperFeatureExtractor

    from transferkit.audio.decode import decode_audio
    from transferkit.audio.files import load_audio

    t0 = time.perf_counter()
    extractor = WhisperFeatureExtractor(feature_size=80, chunk_length=2)
    feats, labels, names = {}, {}, None
    for name, folder in splits.items():
        examples = load_audio(folder, labels=None if names is None else names)
        names = names or examples.label_map
        decoded = decode_audio(examples, RATE)
        mel = extractor(decoded.waves, sampling_rate=RATE, return_tensors="np")["input_features"]
        frames = int(CLIP_SECONDS * 100)
        feats[name] = np.concatenate([mel[..., :frames].mean(-1), mel[..., :frames].std(-1)], axis=1)
        labels[name] = decoded.labels
    scaler = StandardScaler().fit(feats["train"])
    best = None
    for c in (0.01, 0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(feats["train"]), labels["train"])
        score = model.score(scaler.transform(feats["validation"]), labels["validation"])
        if best is None or score > best[0]:
            best = (score, c, model)
    _, c, model = best
    return {"test_accuracy": float(model.score(scaler.transform(feats["test"]), labels["test"])),
            "validation_accuracy": float(best[0]), "C": c, "seconds": round(time.perf_counter() - t0, 1)}


def run_probe(model: str, splits: dict, out: Path) -> dict:
    import transferkit as tk

    t0 = time.perf_counter()
    run = tk.probe(model, str(splits["train"]), str(splits["validation"]), str(splits["test"]),
                   output=str(out), overwrite=True, report=False)
    return {"test_accuracy": run.metrics["test"]["accuracy"], "validation_accuracy": run.metrics["validation"]["accuracy"],
            "C": run.config["C"], "seconds": round(time.perf_counter() - t0, 1), "peak_rss_mb": peak_rss_mb()}


def run_finetune(model: str, splits: dict, out: Path, epochs: int) -> dict:
    import transferkit as tk

    t0 = time.perf_counter()
    given = {"epochs": epochs} if epochs else {}  # else the defaults a user gets
    run = tk.finetune(model, str(splits["train"]), str(splits["validation"]), str(splits["test"]), output=str(out),
                      task="audio-classification", overwrite=True, progress=False, report=False, **given)
    return {"test_accuracy": run.metrics["test"]["accuracy"], "validation_accuracy": run.metrics["validation"]["accuracy"],
            "train_seconds": run.info["train_seconds"],
            "train_samples_per_s": round(len(list(Path(splits["train"]).rglob("*.wav"))) * run.config.epochs
                                         / run.info["train_seconds"], 2),
            "seconds": round(time.perf_counter() - t0, 1), "settings": {"lr": run.config.lr, "epochs": run.config.epochs,
                                                                       "max_seconds": run.config.max_seconds,
                                                                       "batch_size": run.config.batch_size},
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="whisper-tiny-en")
    ap.add_argument("--per-word", type=int, default=100, help="training clips per word")
    ap.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: transferkit's own)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="/tmp/transferkit-speech-commands")
    ap.add_argument("--name", default="speech_commands")
    args = ap.parse_args()

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    splits = make_data(workdir / "data", args.per_word, args.seed)
    sizes = {name: len(list(p.rglob("*.wav"))) for name, p in splits.items()}
    result = {"settings": vars(args), "sizes": sizes, "words": list(WORDS), "voices": {"train": TRAIN_VOICES,
                                                                                    "test (held out)": TEST_VOICES}}
    result["baseline_logmel_logreg"] = in_child(baseline, splits)
    print("baseline", result["baseline_logmel_logreg"], flush=True)
    result["probe"] = in_child(run_probe, args.model, splits, workdir / "probe")
    print("probe", result["probe"], flush=True)
    result["finetune"] = in_child(run_finetune, args.model, splits, workdir / "finetune", args.epochs)
    print("finetune", result["finetune"], flush=True)
    save(args.name, result)


if __name__ == "__main__":
    main()
