"""The served web page in a real headless Chromium (Debian's chromium + chromium-driver, driven by
selenium): type a sentence or upload an image, press the button, read what the page renders.

Skipped with the reason where the browser is not installed, except under CI
(TRANSFERKIT_REQUIRE_BROWSER=1, set by .ci/run, which installs it): there it must run.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from serving import running
from transferkit.runs import load_run
from transferkit.serve import ServeOptions, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("TRANSFERKIT_REQUIRE_BROWSER") == "1":
        raise RuntimeError("the browser test needs Debian's chromium and chromium-driver: apt-get install chromium "
                           "chromium-driver")
    pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser, port):
    browser.get(f"http://127.0.0.1:{port}/")
    WebDriverWait(browser, 30).until(lambda d: "·" in d.find_element(By.ID, "card").text)


def test_page_classifies_a_typed_sentence(browser, tiny_runs):
    _, run = tiny_runs["text-classification"]
    predictor = load_run(run)
    expected = predictor.predict(["a great and lovely film"])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        assert "text-classification" in browser.find_element(By.ID, "card").text
        browser.find_element(By.ID, "text").send_keys("a great and lovely film")
        browser.find_element(By.ID, "predict").click()
        label = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "label")))
        assert label.text == expected
        bars = browser.find_elements(By.CSS_SELECTOR, "#result .row")
        assert len(bars) == len(predictor.label_names)


def test_page_highlights_entities(browser, tiny_runs):
    _, run = tiny_runs["token-classification"]
    predictor = load_run(run)
    expected = predictor.predict(["alice went to paris"])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        browser.find_element(By.ID, "text").send_keys("alice went to paris")
        browser.find_element(By.ID, "predict").click()
        count = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "count")))
        assert count.text == f"{len(expected)} entities"
        marks = browser.find_elements(By.CSS_SELECTOR, "#entities mark.entity")
        assert [m.get_attribute("data-type") for m in marks] == [e["entity"] for e in expected]


def test_page_classifies_an_uploaded_image(browser, tiny_runs, tmp_path):
    from PIL import Image

    example, run = tiny_runs["image-classification"]
    predictor = load_run(run)
    image = np.asarray(example.inputs[0])
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    expected = predictor.predict([image])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        browser.find_element(By.ID, "file").send_keys(str(path))
        browser.find_element(By.ID, "predict").click()
        label = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "label")))
        assert label.text == expected


def test_page_classifies_an_uploaded_clip(browser, tiny_runs, tmp_path):
    import soundfile

    example, run = tiny_runs["audio-classification"]
    predictor = load_run(run)
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), example.inputs[0], 16000)
    expected = predictor.predict([example.inputs[0]])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "file-label").text == "Audio file")
        assert browser.find_element(By.ID, "file").get_attribute("accept") == "audio/*"
        browser.find_element(By.ID, "file").send_keys(str(path))
        browser.find_element(By.ID, "predict").click()
        label = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "label")))
        assert label.text == expected


def test_page_transcribes_an_uploaded_clip(browser, tiny_runs, tmp_path):
    import soundfile

    example, run = tiny_runs["speech-recognition"]
    predictor = load_run(run)
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), example.inputs[0], 16000)
    expected = predictor.predict_json([example.inputs[0]])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "file-label").text == "Audio file")
        browser.find_element(By.ID, "file").send_keys(str(path))
        browser.find_element(By.ID, "predict").click()
        shown = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "transcript")))
        assert shown.text == (expected["text"] or "(nothing heard)")
        assert browser.find_element(By.ID, "confidence").text == f"confidence {100 * expected['confidence']:.1f} %"


def test_page_shows_the_mask_of_an_uploaded_image(browser, tiny_runs, tmp_path):
    from PIL import Image

    example, run = tiny_runs["segmentation"]
    predictor = load_run(run)
    path = tmp_path / "scene.png"
    Image.fromarray(example.inputs[0]).save(path)
    expected = predictor.predict_json([example.inputs[0]])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "file").is_displayed())
        browser.find_element(By.ID, "file").send_keys(str(path))
        browser.find_element(By.ID, "predict").click()
        mask = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "mask")))
        assert mask.get_attribute("src") == "data:image/png;base64," + expected["mask_png"]
        assert browser.execute_script("return document.getElementById('mask').naturalWidth") == 32
        shares = [e.text for e in browser.find_elements(By.CLASS_NAME, "share")]
        assert len(shares) == len(expected["classes"]) and all("% of the pixels" in s for s in shares)


def test_page_draws_the_boxes_of_an_uploaded_image(browser, tiny_runs, tmp_path):
    from PIL import Image

    example, run = tiny_runs["detection"]
    predictor = load_run(run)
    path = tmp_path / "scene.png"
    Image.fromarray(example.inputs[0]).save(path)
    expected = predictor.predict_json([example.inputs[0]])[0]
    with running(create_app(predictor)) as port:
        _open(browser, port)
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "file").is_displayed())
        browser.find_element(By.ID, "file").send_keys(str(path))
        browser.find_element(By.ID, "predict").click()
        canvas = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "boxes")))
        WebDriverWait(browser, 30).until(lambda d: canvas.get_attribute("data-drawn") is not None)
        assert int(canvas.get_attribute("data-drawn")) == len(expected["detections"])
        assert browser.execute_script("return document.getElementById('boxes').width") == 64  # the image's own size
        rows = [e.text for e in browser.find_elements(By.CLASS_NAME, "detection")]
        assert len(rows) == len(expected["detections"])
        assert all(r.startswith(d["label"] + " ") for r, d in zip(rows, expected["detections"]))


def test_page_asks_for_the_key_when_the_server_has_one(browser, tiny_runs):
    _, run = tiny_runs["text-classification"]
    predictor = load_run(run)
    with running(create_app(predictor, ServeOptions(api_key="s3cret"))) as port:
        browser.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "key"))).send_keys("s3cret")
        browser.find_element(By.ID, "predict").click()  # loads the card with the key, then fails: no text input yet
        WebDriverWait(browser, 30).until(lambda d: "·" in d.find_element(By.ID, "card").text)
        browser.find_element(By.ID, "text").send_keys("a great and lovely film")
        browser.find_element(By.ID, "predict").click()
        label = WebDriverWait(browser, 30).until(ec.visibility_of_element_located((By.ID, "label")))
        assert label.text == predictor.predict(["a great and lovely film"])[0]


@pytest.mark.parametrize("name", ["text-classification", "image-classification", "token-classification",
                                  "audio-classification"])
def test_run_report_renders_offline(browser, tiny_runs, name, tmp_path):
    """The report is a file: it opens without a server, every embedded figure decodes, the tables show."""
    import json

    _, run = tiny_runs[name]
    browser.get((run / "report.html").resolve().as_uri())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert any(h.startswith("Learning curves") for h in headings) and any(h.startswith("Calibration") for h in headings)
    sizes = browser.execute_script("return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    figures = {alt for alt, done, width in sizes if done and width > 100}
    assert {"learning curves", "confusion matrix", "reliability diagram"} <= figures
    assert all(done and width > 0 for _, done, width in sizes)  # thumbnails too
    classes = json.loads((run / "metrics.json").read_text())["per_class"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#per-class tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows[1:]] == list(classes)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
