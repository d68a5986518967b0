"""transferkit serve: a real server on 127.0.0.1, real concurrent clients, every status code."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving import free_port, post, request, running
from transferkit.runs import load_run
from transferkit.serve import ServeOptions, create_app

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="session")
def runs(tiny_runs):
    return tiny_runs


@pytest.fixture(scope="module")
def text_server(runs):
    _, run = runs["text-classification"]
    predictor = load_run(run)
    with running(create_app(predictor, ServeOptions(max_inputs=8, max_body_mb=0.05))) as port:
        yield port, predictor


def test_predict_health_info_and_metrics(text_server):
    port, predictor = text_server
    reply = post(port, {"inputs": ["a great and lovely film", "awful plot"]})
    assert reply.status == 200
    got = reply.json()["predictions"]
    expected = predictor.predict(["a great and lovely film", "awful plot"])
    assert [r["label"] for r in got] == expected
    assert set(got[0]["probabilities"]) == set(predictor.label_names) and "row" not in got[0]
    assert request(port, "GET", "/health").json() == {"status": "ok"}
    info = request(port, "GET", "/info").json()
    assert info["task"] == "text-classification" and info["labels"] == predictor.label_names
    assert info["backend"] == "pytorch" and info["reads"] == "text" and "accuracy" in info["metrics"]
    page = request(port, "GET", "/")
    assert page.status == 200 and b"<textarea" in page.body and b"https://" not in page.body  # no CDN
    metrics = request(port, "GET", "/metrics").body.decode()
    assert 'transferkit_requests_total{method="POST",path="/predict",status="200"}' in metrics
    assert "transferkit_request_seconds_bucket" in metrics and "transferkit_batches_total" in metrics


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 422, "not valid JSON"),
    (b'{"text": "x"}', 422, '{"inputs": [...]}'),
    (b'{"inputs": 5}', 422, "must be a list of strings"),
    (b'{"inputs": [1, 2]}', 422, "must be a list of strings"),
    (b'{"inputs": []}', 422, "no inputs"),
    (b'{"inputs": ["fine", "   "]}', 422, "input 2 is empty"),
    (json.dumps({"inputs": ["x"] * 9}).encode(), 422, "at most 8"),
    (json.dumps({"inputs": ["a" * 60_000]}).encode(), 413, "at most"),
    (b"\xff\xfe\x00garbage", 422, "not valid JSON"),
])
def test_bad_requests_get_a_4xx_with_one_line(text_server, body, status, says):
    port, _ = text_server
    reply = request(port, "POST", "/predict", body, {"Content-Type": "application/json"})
    assert reply.status == status and says in reply.json()["error"]
    assert "\n" not in reply.json()["error"]


def test_a_body_without_a_length_is_cut_at_the_limit(text_server):
    import http.client

    port, _ = text_server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunks = (b'{"inputs": ["' + b"a" * 10_000 + b'"]}' for _ in range(8))  # 80 kB, chunked: no Content-Length
    connection.request("POST", "/predict", body=chunks, headers={"Content-Type": "application/json"},
                       encode_chunked=True)
    assert connection.getresponse().status == 413
    connection.close()


def test_a_long_text_is_truncated_and_says_so(runs):
    _, run = runs["text-classification"]
    predictor = load_run(run)
    long = " ".join(["great"] * (predictor.task.max_length + 20))
    with running(create_app(predictor)) as port:
        got = post(port, {"inputs": [long, "awful plot"]}).json()["predictions"]
    assert got[0]["truncated"] is True and "truncated" not in got[1]


def test_api_key_guards_everything_but_health(runs):
    _, run = runs["text-classification"]
    with running(create_app(load_run(run), ServeOptions(api_key="s3cret"))) as port:
        assert request(port, "GET", "/health").status == 200
        for method, path in (("GET", "/info"), ("GET", "/metrics"), ("POST", "/predict")):
            assert request(port, method, path, b"{}").status == 401
            assert request(port, method, path, b"{}", {"Authorization": "Bearer wrong"}).status == 401
        ok = post(port, {"inputs": ["a great film"]}, {"Authorization": "Bearer s3cret"})
        assert ok.status == 200


class SlowPredictor:
    """A stand-in model that takes `seconds` per call and records its batch sizes."""

    def __init__(self, seconds: float):
        self.seconds, self.batches = seconds, []
        self.task = type("T", (), {"name": "text-classification", "reads_text": True, "headline_metric": "accuracy"})()
        self.config, self.run_dir, self.label_names, self.scorer = {}, None, ["a"], None

    def predict_json(self, inputs):
        self.batches.append(len(inputs))
        time.sleep(self.seconds)
        return [{"label": "a", "text": t} for t in inputs]


def test_concurrent_requests_are_batched(runs):
    slow = SlowPredictor(0.05)
    with running(create_app(slow, ServeOptions(max_batch_size=16, max_wait_ms=20))) as port:
        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda i: post(port, {"inputs": [f"text {i}"]}), range(32)))
    assert all(r.status == 200 for r in replies)
    assert [r.json()["predictions"][0]["text"] for r in replies] == [f"text {i}" for i in range(32)]
    assert sum(slow.batches) == 32 and len(slow.batches) < 32 and max(slow.batches) > 1


def test_a_full_queue_answers_503_with_retry_after(runs):
    slow = SlowPredictor(0.3)
    with running(create_app(slow, ServeOptions(max_batch_size=1, max_wait_ms=0, max_queue=2))) as port:
        with ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(lambda i: post(port, {"inputs": [f"t{i}"]}), range(12)))
    statuses = sorted(r.status for r in replies)
    assert set(statuses) == {200, 503} and statuses.count(200) >= 2
    busy = next(r for r in replies if r.status == 503)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]


def test_real_model_under_concurrent_load_with_garbage_never_5xx(text_server):
    port, predictor = text_server
    texts = ["a great and lovely film", "awful plot", "a fine, moving story", "dull and boring"]
    expected = dict(zip(texts, predictor.predict(texts)))
    garbage = [b"{", b'{"inputs": null}', b'{"inputs": [{}]}', b"[]", b'{"inputs": ["' + b"x" * 70_000 + b'"]}']

    def client(i):
        if i % 4 == 3:
            return "garbage", request(port, "POST", "/predict", garbage[i % len(garbage)],
                                      {"Content-Type": "application/json"})
        text = texts[i % len(texts)]
        return text, post(port, {"inputs": [text]})

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(client, range(160)))
    assert time.monotonic() - started < 120
    assert not [r for _, r in results if r.status >= 500]
    for text, reply in results:
        if text == "garbage":
            assert 400 <= reply.status < 500
        else:
            assert reply.status == 200 and reply.json()["predictions"][0]["label"] == expected[text]


def _png(array) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_as_base64_and_multipart_and_bad_images(runs):
    example, run = runs["image-classification"]
    predictor = load_run(run)
    images = [np.asarray(x) for x in example.inputs]
    expected = predictor.predict(images)
    with running(create_app(predictor, ServeOptions(max_pixels=10_000_000))) as port:
        encoded = [base64.b64encode(_png(x)).decode() for x in images]
        reply = post(port, {"inputs": ["data:image/png;base64," + encoded[0], *encoded[1:]]})
        assert reply.status == 200 and [r["label"] for r in reply.json()["predictions"]] == expected
        boundary = "tkboundary"
        body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{i}.png\"\r\n"
                        f"Content-Type: image/png\r\n\r\n".encode() + _png(x) + b"\r\n" for i, x in enumerate(images))
        body += f"--{boundary}--\r\n".encode()
        upload = request(port, "POST", "/predict", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert upload.status == 200 and [r["label"] for r in upload.json()["predictions"]] == expected
        assert post(port, {"inputs": ["not base64!"]}).status == 422
        assert post(port, {"inputs": [base64.b64encode(b"plain bytes").decode()]}).status == 422
        truncated = base64.b64encode(_png(images[0])[:60]).decode()
        assert post(port, {"inputs": [truncated]}).status == 422
        bomb = _png(np.zeros((4000, 3000), dtype=np.uint8))  # 12M pixels, a few kB of PNG
        reply = post(port, {"inputs": [base64.b64encode(bomb).decode()]})
        assert reply.status == 413 and "pixels" in reply.json()["error"]
        assert post(port, {"inputs": ["a text"]}).status == 422


def _wav(wave, rate: int = 16000, fmt: str = "WAV") -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format=fmt)
    return buffer.getvalue()


def test_audio_as_base64_and_multipart_and_bad_audio(runs):
    example, run = runs["audio-classification"]
    predictor = load_run(run)
    expected = predictor.predict(example.inputs)
    with running(create_app(predictor, ServeOptions(max_audio_seconds=5))) as port:
        assert request(port, "GET", "/info").json()["reads"] == "audio"
        clips = [_wav(example.inputs[0], fmt="FLAC"), *(_wav(x) for x in example.inputs[1:])]
        reply = post(port, {"inputs": [base64.b64encode(c).decode() for c in clips]})
        assert reply.status == 200 and [r["label"] for r in reply.json()["predictions"]] == expected
        boundary = "tkboundary"
        body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{i}.wav\"\r\n"
                        f"Content-Type: audio/wav\r\n\r\n".encode() + c + b"\r\n" for i, c in enumerate(clips))
        body += f"--{boundary}--\r\n".encode()
        upload = request(port, "POST", "/predict", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert upload.status == 200 and [r["label"] for r in upload.json()["predictions"]] == expected
        # another rate: the server hands (wave, rate) to the task, which resamples
        assert post(port, {"inputs": [base64.b64encode(_wav(example.inputs[0][::2], 8000)).decode()]}).status == 200
        reply = post(port, {"inputs": [base64.b64encode(b"RIFF but not audio").decode()]})
        assert reply.status == 422 and "not audio" in reply.json()["error"]
        reply = post(port, {"inputs": [base64.b64encode(_wav(np.zeros(16000 * 6, np.float32))).decode()]})
        assert reply.status == 413 and "at most 5 s" in reply.json()["error"]
        assert post(port, {"inputs": [base64.b64encode(_wav(np.zeros(0, np.float32))).decode()]}).status == 422


def test_entities_with_character_spans(runs):
    _, run = runs["token-classification"]
    predictor = load_run(run)
    with running(create_app(predictor)) as port:
        reply = post(port, {"inputs": ["alice went to paris"]})
    assert reply.status == 200
    record = reply.json()["predictions"][0]
    assert record["text"] == "alice went to paris" and record["entities"] == predictor.predict(["alice went to paris"])[0]


def test_command_line_server_starts_serves_and_stops_on_sigterm(runs, tmp_path):
    _, run = runs["text-classification"]
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "transferkit", "serve", str(run), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(port, "GET", "/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(process.stderr.read() if process.poll() is not None else "no start") from None
                time.sleep(0.2)
        answers = []
        workers = [threading.Thread(target=lambda: answers.append(post(port, {"inputs": ["a great film"] * 8})))
                   for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) in (0, -signal.SIGTERM)  # uvicorn stops after in-flight requests
        assert [a.status for a in answers] == [200] * 8
    finally:
        if process.poll() is None:
            process.kill()


def test_serving_a_bad_run_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "transferkit", "serve", str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_public_address_without_a_key_is_warned_about(tmp_path):
    from transferkit.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    # A missing run stops the command before it binds anything; the warning comes first.
    done = subprocess.run([sys.executable, "-m", "transferkit", "serve", str(tmp_path / "nothing"), "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "warning: serving on 0.0.0.0 without --api-key" in done.stderr
    quiet = subprocess.run([sys.executable, "-m", "transferkit", "serve", str(tmp_path / "nothing"), "--host",
                            "0.0.0.0", "--api-key", "k"], capture_output=True, text=True, timeout=60)
    assert "warning" not in quiet.stderr
