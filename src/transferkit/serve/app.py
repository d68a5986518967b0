"""The HTTP server of a run: FastAPI routes over one Predictor, with dynamic batching and limits.

    POST /predict   {"inputs": [...]} (texts, or base64 images) or a multipart upload of images
    GET  /health    liveness, no key needed
    GET  /info      task, model, labels, metrics, parameters, backend, limits
    GET  /metrics   Prometheus text: requests by path and status, latency histogram, batches
    GET  /          a self-contained page to try the model

Bad input is the client's: malformed JSON, wrong types, empty or too many inputs, texts the task
refuses, undecodable images -> 422 with a one-line reason; a body over `max_body_mb` or an image
over `max_pixels` (a decompression bomb) -> 413; a full queue -> 503 with Retry-After; a missing
or wrong key -> 401. Only a fault of the server itself is a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request  # FastAPI resolves route annotations from this module's globals

from ..errors import TransferkitError
from .batching import Batcher, Overloaded
from .metrics import Metrics

POSITION_KEYS = ("row", "line", "path")  # where an input sat in the merged batch: not the client's business


@dataclass
class ServeOptions:
    api_key: str | None = None
    max_batch_size: int = 32
    max_wait_ms: float = 2.0
    max_queue: int = 256
    max_body_mb: float = 2.0
    max_inputs: int = 64
    max_pixels: int = 20_000_000  # ~ a 5,000 x 4,000 photo; larger decodes are refused (413)
    max_audio_seconds: float = 600.0  # longer uploads are refused (413) before they are resampled


class ClientError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(predictor, options: ServeOptions | None = None):
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

    from .page import PAGE

    options = options or ServeOptions()
    batcher = Batcher(lambda inputs: _clean(predictor.predict_json(inputs)), max_batch=options.max_batch_size,
                      max_wait_s=options.max_wait_ms / 1000, max_queue=options.max_queue)
    metrics = Metrics()
    reads_text = getattr(predictor.task, "reads_text", True)
    reads = getattr(predictor.task, "input_kind", "text" if reads_text else "image")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()  # uvicorn has stopped taking requests; the queued ones finish

    app = FastAPI(title="transferkit", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(_Limits, max_body=int(options.max_body_mb * 1024 * 1024), api_key=options.api_key,
                       metrics=metrics)

    def error(status: int, message: str, headers: dict | None = None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):  # a fault of ours: say so without a traceback
        return error(500, f"internal error ({type(exc).__name__})")

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/info")
    async def info():
        return _info(predictor, options, reads, batcher)

    @app.get("/metrics")
    async def prometheus():
        return PlainTextResponse(metrics.render({"batches_total": batcher.batches,
                                                 "batched_inputs_total": batcher.inputs,
                                                 "queue_waiting": batcher.waiting}))

    @app.get("/")
    async def page():
        return HTMLResponse(PAGE)

    @app.post("/predict")
    async def predict(request: Request):
        try:
            inputs = await _read_inputs(request, reads, options)
        except ClientError as e:
            return error(e.status, str(e))
        try:
            records = await batcher.submit(inputs)
        except Overloaded:
            return error(503, f"server busy: {options.max_queue} requests are waiting; retry shortly",
                         {"Retry-After": "1"})
        except TransferkitError as e:  # the task refused an input (empty text, NUL bytes, ...)
            return error(422, str(e).splitlines()[0])
        return {"predictions": records}

    return app


def _clean(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in POSITION_KEYS} for r in records]


async def _read_inputs(request, reads: str, options: ServeOptions) -> list:
    reads_text = reads == "text"
    decode = _audio if reads == "audio" else _image
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        if reads_text:
            raise ClientError(422, "this model reads text: send JSON {\"inputs\": [\"...\"]}")
        try:
            form = await request.form(max_files=options.max_inputs + 1)
        except Exception as e:  # noqa: BLE001 - the multipart parser's errors are the client's
            raise ClientError(422, f"unreadable multipart body ({str(e)[:120]})") from None
        files = [v for _, v in form.multi_items() if hasattr(v, "read")]
        inputs = [decode(await f.read(), f"file {i + 1}", options) for i, f in enumerate(files)]
    else:
        body = await request.body()
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ClientError(422, f"the body is not valid JSON ({e}); send {{\"inputs\": [...]}}") from None
        if not isinstance(doc, dict) or "inputs" not in doc:
            raise ClientError(422, "send a JSON object {\"inputs\": [...]}")
        items = doc["inputs"]
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            what = "texts" if reads_text else f"base64-encoded {_NOUNS[reads]}s"
            raise ClientError(422, f"\"inputs\" must be a list of strings ({what})")
        inputs = items if reads_text else [decode(_b64(x, i, reads), f"input {i + 1}", options)
                                           for i, x in enumerate(items)]
    if not inputs:
        raise ClientError(422, "no inputs: send at least one")
    if len(inputs) > options.max_inputs:
        raise ClientError(422, f"{len(inputs)} inputs in one request; at most {options.max_inputs}")
    if reads_text:
        empty = next((i for i, t in enumerate(inputs) if not t.strip()), None)
        if empty is not None:
            raise ClientError(422, f"input {empty + 1} is empty")
    return inputs


_NOUNS = {"image": "image", "audio": "audio file"}


def _b64(text: str, i: int, reads: str = "image") -> bytes:
    if text.startswith("data:") and "," in text:  # a data URL, as a browser's FileReader gives it
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError(422, f"input {i + 1} is not base64 (send {_NOUNS.get(reads, 'image')}s as base64 "
                               "strings)") from None


def _image(data: bytes, what: str, options: ServeOptions):
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
    except Image.DecompressionBombError:
        raise ClientError(413, f"{what}: image too large to decode") from None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for bytes that are not an image
        raise ClientError(422, f"{what} is not an image Pillow can decode") from None
    if width * height > options.max_pixels:
        raise ClientError(413, f"{what}: {width} x {height} pixels; at most {options.max_pixels:,}")
    try:
        image.load()
    except Exception:  # noqa: BLE001 - truncated or corrupt data
        raise ClientError(422, f"{what} is a damaged image") from None
    return image


def _audio(data: bytes, what: str, options: ServeOptions):
    """An uploaded clip as a (mono wave, sample rate) pair; the task resamples it."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            if f.frames > options.max_audio_seconds * f.samplerate:
                raise ClientError(413, f"{what}: {f.frames / f.samplerate:.0f} s of audio; at most "
                                       f"{options.max_audio_seconds:g} s")
            wave, rate = f.read(dtype="float32", always_2d=True), f.samplerate
    except ClientError:
        raise
    except Exception:  # noqa: BLE001 - libsndfile raises many kinds for bytes that are not audio
        raise ClientError(422, f"{what} is not audio soundfile can decode (WAV, FLAC, OGG, MP3)") from None
    if not len(wave):
        raise ClientError(422, f"{what} holds no audio (0 samples)")
    return wave.mean(axis=1), int(rate)


def _info(predictor, options: ServeOptions, reads: str, batcher: Batcher) -> dict:
    config = predictor.config or {}
    run_dir = Path(predictor.run_dir) if predictor.run_dir else None
    metrics = {}
    if run_dir is not None and (run_dir / "metrics.json").is_file():
        doc = json.loads((run_dir / "metrics.json").read_text())
        metrics = {k: v for k, v in doc.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        metrics["split"] = doc.get("split")
    scorer = type(predictor.scorer).__name__
    return {"task": predictor.task.name, "model": config.get("model"), "kind": config.get("kind"),
            "labels": predictor.label_names, "headline_metric": predictor.task.headline_metric, "metrics": metrics,
            "parameters": (config.get("run_info") or {}).get("parameters"),
            "backend": "onnxruntime" if scorer == "OnnxScorer" else "pytorch",
            "reads": {"text": "text", "image": "images"}.get(reads, reads), "max_length": config.get("max_length"),
            "limits": {"max_inputs": options.max_inputs, "max_body_mb": options.max_body_mb,
                       "max_batch_size": options.max_batch_size, "max_wait_ms": options.max_wait_ms,
                       "max_queue": options.max_queue, "max_pixels": options.max_pixels},
            "auth": options.api_key is not None}


class _Limits:
    """ASGI middleware: body size limit (413), API key (401), request metrics."""

    def __init__(self, app, max_body: int, api_key: str | None, metrics: Metrics):
        self.app, self.max_body, self.api_key, self.metrics = app, max_body, api_key, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), {"code": 500}
        path = scope["path"] if scope["path"] in ("/", "/predict", "/health", "/info", "/metrics") else "other"

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope["headers"]}
            if self.api_key and path not in ("/health", "/") and \
                    headers.get("authorization") != f"Bearer {self.api_key}":
                return await _reply(sending, 401, "missing or wrong API key: send Authorization: Bearer KEY")
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                return await _reply(sending, 413, f"body of {int(declared):,} bytes; at most {self.max_body:,}")
            await self.app(scope, _capped(receive, self.max_body), sending)
        except _TooLarge:
            await _reply(sending, 413, f"body over {self.max_body:,} bytes")
        finally:
            self.metrics.observe(scope.get("method", "?"), path, status["code"], time.perf_counter() - started)


class _TooLarge(Exception):
    pass


def _capped(receive, limit: int):
    """A receive that stops a body (chunked, or lying about its length) once it passes `limit`."""
    seen = {"bytes": 0}

    async def wrapped():
        message = await receive()
        if message["type"] == "http.request":
            seen["bytes"] += len(message.get("body", b""))
            if seen["bytes"] > limit:
                raise _TooLarge()
        return message

    return wrapped


async def _reply(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
