"""Audio: clips read from folders and tables, decoded once (resampled, mixed down, bad files named
or skipped), the window fixed by the data, Whisper's encoder cut to it, Wav2Vec2-style encoders
through the same task, and the packaged Whisper's encoder under a new head (slow)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from transferkit.audio.decode import decode_audio, read_wave
from transferkit.audio.files import load_audio, load_audio_splits
from transferkit.audio.tiny import tiny_whisper, tone_clips, write_audio_folder
from transferkit.errors import ConfigError, DataError
from transferkit.methods.finetune import finetune
from transferkit.runs import load_run

pytestmark = pytest.mark.usefixtures("ft_env")


def test_folder_and_table_layouts_read_the_same_clips(tmp_path):
    waves, labels = tone_clips(20, 0)
    write_audio_folder(tmp_path / "clips", waves, labels)
    by_folder = load_audio_splits(tmp_path / "clips")
    rows = [f"{label}/{i}.wav,{label}" for i, label in enumerate(labels)]
    (tmp_path / "clips" / "manifest.csv").write_text("audio,label\n" + "\n".join(rows) + "\n")
    by_table = load_audio_splits(tmp_path / "clips" / "manifest.csv")
    assert by_folder.label_names == by_table.label_names == ["high", "low"]
    assert sorted(by_folder.train.names + by_folder.validation.names + by_folder.test.names) == \
        sorted(by_table.train.names + by_table.validation.names + by_table.test.names)


def test_stereo_and_other_rates_become_mono_at_the_model_rate(tmp_path):
    t = np.arange(44100) / 44100
    left, right = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t) * 0.5
    soundfile.write(str(tmp_path / "stereo.flac"), np.stack([left, right], axis=1).astype(np.float32), 44100)
    wave = read_wave(tmp_path / "stereo.flac", 16000)
    assert wave.dtype == np.float32 and wave.ndim == 1 and abs(len(wave) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / len(wave) - 440) < 3  # still a 440 Hz tone after resampling
    assert np.abs(wave).max() == pytest.approx(0.75, abs=0.02)  # the channels' mean
    assert len(read_wave((np.zeros(8000, np.float32), 8000), 16000)) == 16000  # an in-memory (wave, rate) pair


def test_bad_clips_are_skipped_with_a_count_or_named(tmp_path):
    waves, labels = tone_clips(6, 0)
    write_audio_folder(tmp_path / "clips", waves, labels)
    (tmp_path / "clips" / "low" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    soundfile.write(str(tmp_path / "clips" / "low" / "empty.wav"), np.zeros(0, np.float32), 16000)
    examples = load_audio(tmp_path / "clips")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable audio file\(s\) of 8"):
        decoded = decode_audio(examples, 16000)
    assert len(decoded) == 6 and len(decoded.labels) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"broken.wav: cannot read this audio file .*pass --bad-audio skip"):
            decode_audio(examples, 16000, bad_audio="error")


def test_a_table_naming_a_missing_column_says_which(tmp_path):
    (tmp_path / "m.csv").write_text("file_name,label\na.wav,x\n")
    with pytest.raises(DataError, match="--audio-column"):
        load_audio_splits(tmp_path / "m.csv")


def test_window_follows_the_longest_clip_and_long_clips_are_flagged(tmp_path):
    model = tiny_whisper(tmp_path / "tw")  # a 2 s window at most
    waves, labels = tone_clips(16, 0)
    waves[3] = np.concatenate([waves[3]] * 3)  # ~1.2 s: the window becomes 2 s
    run = finetune(model, (waves, labels), output=tmp_path / "run", task="audio-classification", max_steps=1,
                   batch_size=4, progress=False)
    assert run.config.max_seconds == 2.0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["max_seconds"] == 2.0
    model_config = (tmp_path / "run" / "model" / "config.json").read_text()
    assert '"max_source_positions": 100' in model_config  # 2 s = 100 encoder positions
    loaded = load_run(tmp_path / "run")
    long_clip = np.zeros(16000 * 5, np.float32)
    assert loaded.task.truncated(None, loaded.task.encode(loaded.task.read_inputs([long_clip, waves[0]]))) == [True, False]
    with pytest.raises(ConfigError, match="max_seconds: 5 s is longer than the 2 s this model reads; "
                                          "pass --max-seconds 2 or less"):
        finetune(model, (waves, labels), output=tmp_path / "run5", task="audio-classification", max_steps=1,
                 max_seconds=5, progress=False)


def test_whisper_window_is_cut_to_the_data(tmp_path):
    from transferkit.audio.models import build_classifier, feature_extractor, model_inputs

    folder = tiny_whisper(tmp_path / "tw")
    model = build_classifier(folder, ["a", "b", "c"], window_seconds=1).eval()
    assert model.encoder.embed_positions.num_embeddings == 50 and model.config.max_source_positions == 50
    full = build_classifier(folder, ["a", "b", "c"], window_seconds=2)
    # the kept positions are the pretrained ones (sinusoids), not new ones
    torch.testing.assert_close(model.encoder.embed_positions.weight, full.encoder.embed_positions.weight[:50])
    batch = model_inputs(feature_extractor(folder, 1), [np.zeros(4000, np.float32), np.zeros(16000, np.float32)], 16000)
    assert batch["input_features"].shape == (2, 80, 100) and batch["frames"].tolist() == [13, 50]
    with torch.inference_mode():
        assert model(input_features=batch["input_features"]).logits.shape == (2, 3)


def _tiny_wav2vec2(folder) -> str:
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    config = Wav2Vec2Config(vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8),
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, classifier_proj_size=16)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("strategy", ["full", "llrd", "lora"])
def test_a_wav2vec2_style_encoder_trains_through_the_same_task(tmp_path, strategy):
    from transferkit.sources import family_of
    from transferkit.strategies.layers import layer_groups

    model = _tiny_wav2vec2(tmp_path / "w2v")
    assert family_of(model) == "audio-encoder"
    train, validation = tone_clips(24, 0), tone_clips(8, 1)
    run = finetune(model, train, validation, output=tmp_path / "run", epochs=2, batch_size=8, lr=3e-3,
                   strategy=strategy, precision="fp32", progress=False)
    assert run.config.task == "audio-classification" and 0 <= run.metrics["validation"]["accuracy"] <= 1
    loaded = load_run(tmp_path / "run")
    np.testing.assert_allclose(loaded.predict_proba(validation[0]), run.predict_proba(validation[0]), atol=1e-5)
    if strategy == "full":
        groups = layer_groups(loaded.model)
        assert len(groups.layers) == 2 and any("feature_extractor" in n for n in groups.embeddings)
        assert all(n.startswith(("projector", "classifier")) for n in groups.head)


def test_probe_pools_only_the_frames_that_hold_audio(tmp_path):
    from transferkit.audio.models import build_classifier, feature_extractor, model_inputs, pooled_features

    folder = tiny_whisper(tmp_path / "tw")
    model = build_classifier(folder, ["a", "b"], window_seconds=2).eval()
    extractor = feature_extractor(folder, 2)
    clip = tone_clips(1, 0, seconds=1.0)[0][0][:8000]  # 0.5 s: 25 of the 100 encoder frames
    alone = model_inputs(extractor, [clip], 16000)
    with_long = model_inputs(extractor, [clip, np.zeros(32000, np.float32)], 16000)
    with torch.inference_mode():
        torch.testing.assert_close(pooled_features(model, alone)[0], pooled_features(model, with_long)[0])
        assert alone["frames"].item() == 25


@pytest.mark.slow
def test_packaged_whisper_encoder_under_a_new_head(pulled_home, tmp_path, monkeypatch):
    """whisper-tiny-en's encoder weights arrive intact in the classifier; two steps train and predict."""
    from safetensors import safe_open

    from transferkit.sources import pull

    monkeypatch.setenv("TRANSFERKIT_HOME", str(pulled_home))  # the packaged weights are cached there across runs
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    folder = Path(pull("whisper-tiny-en"))
    waves, labels = tone_clips(16, 0)
    run = finetune("whisper-tiny-en", (waves, labels), output=tmp_path / "run", task="audio-classification",
                   max_steps=2, batch_size=4, lr=1e-5, precision="fp32", progress=False)
    assert run.config.max_seconds == 1.0
    loaded = load_run(tmp_path / "run")
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        # the positions (frozen) are the pretrained ones, cut to 1 s
        source = f.get_tensor("model.encoder.embed_positions.weight")[:50]
    torch.testing.assert_close(loaded.model.encoder.embed_positions.weight.detach(), source)
    assert loaded.predict(waves[:3]) == run.predict(waves[:3])


def test_a_whisper_run_distils_into_a_smaller_whisper(tmp_path):
    from transferkit.methods.distill import distill

    teacher_model = tiny_whisper(tmp_path / "teacher-model")
    train, validation = tone_clips(24, 0), tone_clips(8, 1)
    finetune(teacher_model, train, validation, output=tmp_path / "teacher", task="audio-classification", epochs=2,
             batch_size=8, lr=3e-3, precision="fp32", progress=False)
    student = tiny_whisper(tmp_path / "student-model")
    run = distill(str(tmp_path / "teacher"), student, train, validation, output=tmp_path / "student", epochs=1,
                  batch_size=8, lr=3e-3, precision="fp32", control=False, progress=False)
    assert run.config.max_seconds == 1.0  # inherited from the teacher's run
    assert load_run(tmp_path / "student").predict(validation[0]) == run.predict(validation[0])


def test_embed_writes_one_pooled_vector_per_clip(tmp_path):
    from transferkit.methods.embed import write_embeddings

    model = tiny_whisper(tmp_path / "tw")
    waves, labels = tone_clips(6, 0)
    folder = write_audio_folder(tmp_path / "clips", waves, labels)
    (tmp_path / "clips" / "low" / "broken.wav").write_bytes(b"not audio")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        out = write_embeddings(model, folder, tmp_path / "e.npz")
    saved = np.load(out)
    assert saved["embeddings"].shape == (6, 16) and len(saved["rows"]) == 6 and np.isfinite(saved["embeddings"]).all()
