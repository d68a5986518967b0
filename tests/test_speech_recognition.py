"""Speech recognition: Whisper and CTC fine-tuning on tiny generated clips, transcript data
layouts and their errors, long clips in overlapping windows, WER/CER, augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crash import Crash, CrashAt
from transferkit.audio.chunks import chunk_spans, join_transcripts
from transferkit.audio.recognition import error_counts, normalize, rates
from transferkit.audio.tiny import tiny_whisper, tone_clips, write_transcribed_folder
from transferkit.audio.transcripts import load_transcribed, load_transcribed_splits
from transferkit.errors import ConfigError, DataError
from transferkit.methods.finetune import finetune
from transferkit.runs import load_run

pytestmark = pytest.mark.usefixtures("ft_env")
pytest.importorskip("soundfile")


def _texts(labels) -> list[str]:
    return [f"{label} tone" for label in labels]


# ------------------------------------------------------------------------------ metrics and windows


def test_wer_and_cer_compare_normalised_texts():
    assert normalize("Hello, World!  It's") == "hello world its"
    counts = error_counts(["the cat sat", "Hello there", ""], ["the cat sat down", "hello, there!", "noise"])
    np.testing.assert_array_equal(counts[:, :2], [[1, 3], [0, 2], [1, 0]])  # an insertion; equal; all inserted
    wer, cer = rates(counts.sum(axis=0))
    assert wer == pytest.approx(2 / 5) and 0 < cer < 1


def test_long_clips_are_cut_into_overlapping_windows_and_joined():
    assert chunk_spans(100, 100, 20) == [(0, 100)]
    spans = chunk_spans(250, 100, 20)
    assert spans[0] == (0, 100) and spans[-1][1] == 250 and all(b - a == 100 for a, b in spans)
    assert all(spans[i][1] - spans[i + 1][0] >= 20 for i in range(len(spans) - 1))  # neighbours overlap
    assert join_transcripts(["the quick brown fox jumps", "fox jumps over the lazy", "the lazy dog"]) == \
        "the quick brown fox jumps over the lazy dog"
    assert join_transcripts(["one two", "three four"]) == "one two three four"  # nothing repeated: all kept
    assert join_transcripts(["Hello there.", "there, general Kenobi"]) == "Hello there. general Kenobi"


# ------------------------------------------------------------------------------ data layouts


def test_transcripts_come_from_sidecars_manifests_and_memory(tmp_path):
    waves, labels = tone_clips(10, 0)
    folder = write_transcribed_folder(tmp_path / "clips", waves, labels)
    splits = load_transcribed_splits(folder)
    assert sum(len(getattr(splits, s)) for s in ("train", "validation", "test")) == 10
    assert set(splits.train.texts) <= {"high tone", "low tone"} and splits.label_names == []

    manifest = tmp_path / "clips" / "all.csv"
    manifest.write_text("audio,transcript\n" + "".join(f"{i}.wav,clip {i}\n" for i in range(10)), encoding="utf-8")
    examples = load_transcribed(manifest)
    assert examples.texts[3] == "clip 3" and examples.items[3] == str(tmp_path / "clips" / "3.wav")

    in_memory = load_transcribed((waves, _texts(labels)))
    assert len(in_memory) == 10 and in_memory.texts[0] == _texts(labels)[0]
    with pytest.raises(DataError, match=r"audio\[1\]: a transcript must be text, got int 0; for class labels"):
        load_transcribed((waves, [0] * 10))


def test_bad_transcript_data_gets_one_line_errors(tmp_path):
    waves, labels = tone_clips(4, 0)
    folder = write_transcribed_folder(tmp_path / "clips", waves, labels)
    (tmp_path / "clips" / "2.txt").unlink()
    with pytest.raises(DataError, match=r"2\.wav: no transcript \(2\.txt\) beside it"):
        load_transcribed(folder)
    table = tmp_path / "m.jsonl"
    table.write_text('{"audio": "clips/0.wav", "text": "hello"}\n{"audio": "clips/1.wav", "text": null}\n',
                     encoding="utf-8")
    with pytest.raises(DataError, match=r"m\.jsonl: line 2, column text: no transcript"):
        load_transcribed(table)
    import soundfile

    bare = tmp_path / "bare"
    bare.mkdir()
    soundfile.write(str(bare / "a.wav"), waves[0], 16000)
    with pytest.raises(DataError, match="clips without transcripts.*--task audio-classification"):
        finetune(tiny_whisper(tmp_path / "tw"), str(bare), output=tmp_path / "run", progress=False)


# ------------------------------------------------------------------------------ Whisper


def test_a_tiny_whisper_learns_to_transcribe_and_its_run_reloads(tmp_path):
    model = tiny_whisper(tmp_path / "tw")
    train, validation = tone_clips(32, 1), tone_clips(16, 2)
    untrained = finetune(model, (train[0], _texts(train[1])), (validation[0], _texts(validation[1])),
                         output=tmp_path / "r0", max_steps=1, lr=1e-9, batch_size=8, precision="fp32",
                         progress=False)
    run = finetune(model, (train[0], _texts(train[1])), (validation[0], _texts(validation[1])),
                   output=tmp_path / "run", epochs=30, batch_size=8, lr=1e-2, precision="fp32", progress=False)
    assert run.config.task == "speech-recognition" and run.config.max_seconds == 1.0  # the longest clip
    wer = run.metrics["validation"]["wer"]
    assert wer < 0.5 < untrained.metrics["validation"]["wer"]  # it learnt which tone says which word
    loaded = load_run(tmp_path / "run")
    assert loaded.predict(validation[0]) == run.predict(validation[0])
    assert loaded.evaluate((validation[0], _texts(validation[1])))["wer"] == pytest.approx(wer)
    record = loaded.predict_json(validation[0][:1])[0]
    assert set(record) == {"path", "text", "confidence"} and 0 < record["confidence"] <= 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["early_stopping_metric"] == "wer"
    rows = [json.loads(line) for line in (tmp_path / "run" / "evaluation.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and {r["true"] for r in rows} == {"high tone", "low tone"}
    assert np.mean([r["correct"] for r in rows]) >= 1 - 2 * wer  # an exact transcript has no word error
    page = (tmp_path / "run" / "report.html").read_text()
    assert all(f'id="{s}"' in page for s in ("overview", "curves", "mistakes", "settings")) and "wer" in page


def test_whisper_transcribes_a_clip_longer_than_its_window_in_windows(tmp_path):
    model = tiny_whisper(tmp_path / "tw")
    waves, labels = tone_clips(16, 0)  # a 1 s window
    run = finetune(model, (waves, _texts(labels)), output=tmp_path / "run", max_steps=1, batch_size=4,
                   precision="fp32", progress=False)
    task = load_run(tmp_path / "run").task
    long_clip = np.concatenate([waves[0]] * 20)  # ~7 s
    dataset = task.encode(task.read_inputs([long_clip, waves[1]]))
    assert dataset.clips == 2 and len(dataset) > 3 and (dataset.owner == 0).sum() >= 3
    assert max(len(w) for w in dataset.waves) <= 16000
    assert len(run.predict([long_clip, waves[1]])) == 2


def test_training_clips_longer_than_the_window_are_skipped_or_named(tmp_path):
    model = tiny_whisper(tmp_path / "tw")
    waves, labels = tone_clips(16, 0)
    waves[5] = np.zeros(3 * 16000, np.float32)  # 3 s > the 2 s window
    with pytest.warns(UserWarning, match="skipped 1 training clip.*longer than the 2 s window"):
        finetune(model, (waves, _texts(labels)), output=tmp_path / "a", max_steps=1, batch_size=4, progress=False)
    with pytest.raises(DataError, match=r"train\[\d+\]: 3\.0 s, longer than the 2 s window"):
        finetune(model, (waves, _texts(labels)), output=tmp_path / "b", max_steps=1, batch_size=4,
                 bad_audio="error", progress=False)
    with pytest.raises(ConfigError, match="max_seconds: 5 s is longer than the 2 s this model reads"):
        finetune(model, (waves, _texts(labels)), output=tmp_path / "c", max_steps=1, max_seconds=5, progress=False)


def test_frozen_encoder_and_augmentation_train_only_what_they_should(tmp_path):
    import torch

    model = tiny_whisper(tmp_path / "tw")
    waves, labels = tone_clips(16, 0)
    before = {k: v.clone() for k, v in load_trained_whisper(model).state_dict().items()}
    run = finetune(model, (waves, _texts(labels)), output=tmp_path / "run", max_steps=3, batch_size=4, lr=1e-2,
                   freeze_encoder=True, speed_perturb=0.1, noise_snr=10, spec_augment=True, precision="fp32",
                   progress=False)
    after = run.predictor.model.state_dict()
    encoder = [k for k in after if k.startswith("model.encoder.")]
    # (the positions are cut to the 1 s window the clips need: the first 50 of 100)
    assert encoder and all(torch.equal(after[k], before[k][:len(after[k])]) for k in encoder)
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("model.decoder.layers."))
    assert run.predictor.model.config.apply_spec_augment


def load_trained_whisper(folder):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(folder)


def test_a_multilingual_whisper_detects_the_training_language(tmp_path):
    """A tokenizer with language tokens makes the model multilingual: the prompt carries the language
    the pretrained model hears most in the training clips, recorded in the run's config."""
    from tokenizers import Tokenizer

    model = tiny_whisper(tmp_path / "tw")
    tokenizer = Tokenizer.from_file(str(tmp_path / "tw" / "tokenizer.json"))
    tokenizer.add_special_tokens(["<|en|>", "<|de|>", "<|transcribe|>"])
    tokenizer.save(str(tmp_path / "tw" / "tokenizer.json"))
    config = json.loads((tmp_path / "tw" / "config.json").read_text())
    config["vocab_size"] = tokenizer.get_vocab_size()
    (tmp_path / "tw" / "config.json").write_text(json.dumps(config))
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    WhisperForConditionalGeneration(WhisperConfig(**config)).save_pretrained(tmp_path / "tw")
    waves, labels = tone_clips(16, 0)
    with pytest.warns(UserWarning, match=r"language: (en|de) \(detected in \d+ of 16 training clips\)"):
        run = finetune(model, (waves, _texts(labels)), output=tmp_path / "run", max_steps=1, batch_size=4,
                       precision="fp32", progress=False)
    assert run.config.language in ("en", "de")
    with pytest.raises(ConfigError, match="invalid language: 'xx'"):
        finetune(model, (waves, _texts(labels)), output=tmp_path / "r2", language="xx", max_steps=1, progress=False)


# ------------------------------------------------------------------------------ CTC


def _tiny_wav2vec2(folder, with_tokenizer: bool = False) -> str:
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    config = Wav2Vec2Config(vocab_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8),
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)
    if with_tokenizer:
        vocab = folder / "vocab.json"
        vocab.write_text(json.dumps({"<pad>": 0, "<unk>": 1, "|": 2, "A": 3, "B": 4, "C": 5, "D": 6, "E": 7}))
        Wav2Vec2CTCTokenizer(str(vocab)).save_pretrained(folder)
    return str(folder)


def test_a_speech_encoder_gets_a_ctc_head_over_the_transcripts_characters(tmp_path):
    model = _tiny_wav2vec2(tmp_path / "w2v")
    train, validation = tone_clips(24, 0), tone_clips(8, 1)
    run = finetune(model, (train[0], _texts(train[1])), (validation[0], _texts(validation[1])),
                   task="speech-recognition", output=tmp_path / "run", epochs=2, batch_size=8, lr=3e-3,
                   precision="fp32", progress=False)
    assert 0 <= run.metrics["validation"]["cer"]
    vocab = json.loads((tmp_path / "run" / "model" / "vocab.json").read_text())
    assert set("hightonelow") <= set(vocab) and "|" in vocab  # characters of the training transcripts
    loaded = load_run(tmp_path / "run")
    assert loaded.predict(validation[0]) == run.predict(validation[0])
    assert loaded.model.config.vocab_size == len(vocab)


def test_a_ctc_vocabulary_that_lacks_a_character_names_the_clip(tmp_path):
    model = _tiny_wav2vec2(tmp_path / "w2v", with_tokenizer=True)
    waves, _ = tone_clips(8, 0)
    texts = ["abc", "bad", "cab", "dab", "ace", "bead", "cafed", "deed"]  # upper-case vocabulary: case is folded
    with pytest.raises(DataError, match=r"train\[7\]: its transcript has characters this model's vocabulary lacks "
                                        r"\('F'\)"):
        finetune(model, (waves, texts), task="speech-recognition", output=tmp_path / "run", max_steps=1,
                 progress=False)


def test_a_whisper_run_distils_its_transcripts_into_a_student(tmp_path):
    """Sequence-level: the student learns the teacher's transcripts of unlabelled clips, and beats
    the same student trained on the few labelled ones alone (the control)."""
    from transferkit.methods.distill import distill

    train, validation, extra = tone_clips(24, 0), tone_clips(16, 1), tone_clips(48, 5)
    teacher = finetune(tiny_whisper(tmp_path / "teacher-model"), (train[0], _texts(train[1])),
                       (validation[0], _texts(validation[1])), output=tmp_path / "teacher", epochs=30, batch_size=8,
                       lr=1e-2, precision="fp32", progress=False)
    assert teacher.metrics["validation"]["wer"] < 0.2
    run = distill(str(tmp_path / "teacher"), tiny_whisper(tmp_path / "student-model"),
                  (train[0][:4], _texts(train[1][:4])), (validation[0], _texts(validation[1])), unlabeled=extra[0],
                  output=tmp_path / "student", epochs=15, batch_size=8, lr=1e-2, alpha=0.0, precision="fp32",
                  progress=False)
    assert run.config.max_seconds == 1.0 and run.info["transfer_set"] == {"labelled": 4, "unlabeled": 48}
    control = run.comparison["control"]["metrics"]["validation"]["wer"]
    assert run.metrics["validation"]["wer"] < min(0.3, control)
    assert load_run(tmp_path / "student").predict(validation[0]) == run.predict(validation[0])
    with pytest.raises(ConfigError, match="speech recognition distils the teacher's transcripts"):
        distill(str(tmp_path / "teacher"), tiny_whisper(tmp_path / "s2"), (train[0], _texts(train[1])),
                output=tmp_path / "s2run", hidden_weight=1.0, progress=False)


def test_whisper_layer_groups_stack_the_decoder_above_the_encoder(tmp_path):
    from transformers import WhisperForConditionalGeneration

    from transferkit.strategies.layers import layer_groups

    groups = layer_groups(WhisperForConditionalGeneration.from_pretrained(tiny_whisper(tmp_path / "tw")))
    assert len(groups.layers) == 3  # 2 encoder blocks, then 1 decoder block
    assert all(".encoder.layers.0." in n for n in groups.layers[0]) and all(".encoder." in n for n in groups.layers[1])
    assert all(".decoder.layers.0." in n or "layer_norm" in n for n in groups.layers[2])
    assert any("embed_tokens" in n for n in groups.embeddings) and any("conv1" in n for n in groups.embeddings)


def test_a_speech_run_resumes_bit_identically_with_augmentation(tmp_path):
    """Killed mid-run and resumed, it ends with the weights of an uninterrupted run (augmentation
    draws from the batch's seeded generator)."""

    model = tiny_whisper(tmp_path / "tw")
    waves, labels = tone_clips(16, 0)
    settings = dict(epochs=2, batch_size=4, lr=1e-2, save_every=2, speed_perturb=0.1, noise_snr=10, precision="fp32",
                    progress=False)
    full = finetune(model, (waves, _texts(labels)), output=tmp_path / "a", **settings)
    with pytest.raises(Crash):
        finetune(model, (waves, _texts(labels)), output=tmp_path / "b", callbacks=[CrashAt(5)], **settings)
    resumed = finetune(model, (waves, _texts(labels)), output=tmp_path / "b", resume=True, **settings)
    assert resumed.info["steps"] == full.info["steps"] == 8
    a, b = full.predictor.model.state_dict(), resumed.predictor.model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
