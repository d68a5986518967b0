"""Audio: sound files read once as 16 kHz mono waves, pretrained speech encoders with a head, and
speech recognizers (Whisper seq2seq, CTC).

| module | what |
| --- | --- |
| `files.py` | audio sources: a folder per class, tables of paths, arrays; the split reader |
| `decode.py` | every clip decoded once: float32 mono at the model's rate (soxr), bad files skipped or named |
| `transcripts.py` | clips with transcripts: `.txt` beside each clip, manifests, pairs in memory; the split reader |
| `options.py` | the settings every audio task shares (audio column, bad clips, the window) |
| `models.py` | a Whisper or Wav2Vec2-style encoder with a new head; feature extraction; pooled features |
| `recognition.py` | Whisper (greedy cached decoding) and CTC recognizers; WER/CER of normalised text |
| `chunks.py` | the dataset of windows; long clips in overlapping windows, their transcripts joined |
| `augment.py` | speed and noise perturbation of training clips |
| `tiny.py` | tiny learnable clips, a tiny random Whisper with a byte tokenizer, for the contract tests |

Decoding needs the audio extra (soundfile, soxr; jiwer for WER): pip install 'transferkit[audio]'.
Importing this package loads no torch.
"""
