"""Hugging Face Hub ids (`hf:org/name[@revision]`) and local Hugging Face folders.

Downloads go through `huggingface_hub.snapshot_download` into the normal HF cache (so they are
shared with other tools), restricted to safetensors/json/txt/sentencepiece files: pickled
weights (pytorch_model.bin) are never fetched, and models that need custom code (`auto_map`)
are refused because transferkit never sets trust_remote_code. In offline mode the call is made
with local_files_only=True and the hub library is switched to offline too, so no request leaves.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import ModelSourceError, OfflineError
from ..paths import offline

PREFIX = "hf:"
ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.txt", "*.model"]
_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")
# config.json model_type values of vision backbones; anything else with a config is a text encoder.
IMAGE_MODEL_TYPES = {"vit", "deit", "beit", "dinov2", "convnext", "convnextv2", "resnet", "regnet", "swin",
                     "swinv2", "efficientnet", "mobilenet_v1", "mobilenet_v2", "mobilevit", "mobilevitv2",
                     "levit", "poolformer", "van", "bit", "dit", "focalnet", "hiera", "pvt", "pvt_v2", "siglip_vision_model",
                     "clip_vision_model", "timm_wrapper"}
# Decoder-only language models (next-token prediction): the "text-decoder" family.
DECODER_MODEL_TYPES = {"gpt2", "openai-gpt", "gpt_neo", "gpt_neox", "gptj", "gpt_bigcode", "llama", "mistral", "mixtral",
                       "qwen2", "qwen3", "opt", "bloom", "phi", "phi3", "gemma", "gemma2", "falcon", "codegen", "ctrl",
                       "olmo", "olmo2", "smollm3", "starcoder2", "xglm"}


def is_hf_ref(ref: str) -> bool:
    return ref.startswith(PREFIX)


def parse_hf_ref(ref: str) -> tuple[str, str | None]:
    """'hf:org/name@rev' -> ('org/name', 'rev'); a one-line error for anything malformed."""
    body = ref[len(PREFIX):] if is_hf_ref(ref) else ref
    repo_id, _, revision = body.partition("@")
    if not _REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id or (revision == "" and "@" in body):
        raise ModelSourceError(f"malformed Hugging Face id {ref!r}: expected hf:org/name or hf:org/name@revision")
    return repo_id, revision or None


def _hub_offline() -> None:
    # huggingface_hub reads HF_HUB_OFFLINE once at import, so set the constant as well as the
    # variable: later from_pretrained calls in this process must not go online either.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True


def snapshot(ref: str, *, download: bool = True, force: bool = False) -> Path:
    """Download (or find in the HF cache) the snapshot of an hf: id and return its folder.

    download=False only looks in the local HF cache, like offline mode.
    """
    repo_id, revision = parse_hf_ref(ref)
    is_offline = offline()
    if is_offline:
        _hub_offline()
    local_only = is_offline or not download
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS,
                                 local_files_only=local_only, force_download=force and not local_only)
    except LocalEntryNotFoundError:
        if is_offline:
            raise OfflineError(f"{ref} is not in the Hugging Face cache and offline mode is on; run "
                               f"`transferkit models pull {ref}` while online") from None
        if local_only:
            raise ModelSourceError(f"{ref} is not in the Hugging Face cache; run `transferkit models pull {ref}`") from None
        raise ModelSourceError(f"cannot download {ref}: the Hugging Face Hub is unreachable and the model "
                               "is not in the local HF cache") from None
    except GatedRepoError:
        raise ModelSourceError(f"{ref} is gated: accept its terms on huggingface.co and log in "
                               "with `hf auth login`") from None
    except RepositoryNotFoundError:
        raise ModelSourceError(f"{ref}: no such Hugging Face repository (or it is private)") from None
    except RevisionNotFoundError:
        raise ModelSourceError(f"{ref}: revision {revision!r} does not exist") from None
    except HFValidationError as e:
        raise ModelSourceError(f"malformed Hugging Face id {ref!r}: {str(e).splitlines()[0]}") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelSourceError(f"cannot download {ref}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
    folder = Path(path)
    check_hf_folder(folder, ref)
    return folder


def check_hf_folder(folder: Path, ref: str) -> None:
    """A usable HF folder: config.json, safetensors weights, no custom code."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelSourceError(f"{ref}: no config.json in {folder}; not a Hugging Face model folder")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelSourceError(f"{config_file}: unreadable config.json ({e})") from None
    if isinstance(config, dict) and config.get("auto_map"):
        raise ModelSourceError(f"{ref} needs custom model code (auto_map in config.json); transferkit "
                               "never runs remote code (trust_remote_code)")
    if not any(folder.glob("*.safetensors")):
        raise ModelSourceError(f"{ref} has no safetensors weights in {folder}; transferkit does not load "
                               "pickled weights (pytorch_model.bin)")


def check_local_folder(folder: Path) -> None:
    """A local Hugging Face folder transferkit can load: readable config.json, no custom code."""
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelSourceError(f"{config_file}: unreadable config.json ({e}); the model folder is damaged") from None
    if isinstance(config, dict) and config.get("auto_map"):
        raise ModelSourceError(f"{folder} needs custom model code (auto_map in config.json), and transferkit never runs "
                               "it (trust_remote_code); use a model whose architecture transformers ships (BERT, "
                               "RoBERTa, DeBERTa, MPNet, ...)")
# Speech encoder-decoders (audio in, text out): the "speech-seq2seq" family.
SPEECH_SEQ2SEQ_MODEL_TYPES = {"whisper", "speech_to_text", "speech-encoder-decoder", "moonshine"}
# Speech encoders over raw waves or spectrograms (audio in, frame states out): "audio-encoder".
AUDIO_ENCODER_MODEL_TYPES = {"wav2vec2", "wav2vec2-bert", "wav2vec2-conformer", "hubert", "wavlm", "data2vec-audio",
                             "unispeech", "unispeech-sat", "sew", "sew-d", "audio-spectrogram-transformer"}


def detect_family(folder: Path) -> str:
    """'image-backbone' for known vision model types, 'speech-seq2seq' for speech encoder-decoders,
    'audio-encoder' for speech encoders, 'text-decoder' for decoder-only language models, else 'text-encoder'."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "text-encoder"
    model_type = str(config.get("model_type", "")).lower() if isinstance(config, dict) else ""
    if model_type in IMAGE_MODEL_TYPES:
        return "image-backbone"
    if model_type in SPEECH_SEQ2SEQ_MODEL_TYPES:
        return "speech-seq2seq"
    if model_type in AUDIO_ENCODER_MODEL_TYPES:
        return "audio-encoder"
    return "text-decoder" if model_type in DECODER_MODEL_TYPES else "text-encoder"
