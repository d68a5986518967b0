"""The page at `/`: try a served model in a browser. One self-contained document (no CDN, works
offline): reads /info, sends /predict, shows labels with probability bars, entities in the text, a
transcript, a mask, or boxes drawn on the image."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>transferkit</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1b1f24; background: #fafbfc; }
  main { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  #card { color: #4a5560; font-size: .9rem; margin-bottom: 1.2rem; }
  label { display: block; font-weight: 600; margin: .8rem 0 .3rem; }
  textarea { width: 100%; min-height: 6rem; font: inherit; padding: .5rem; box-sizing: border-box; }
  button { margin-top: .8rem; font: inherit; padding: .45rem 1.2rem; background: #0b5cad; color: #fff;
           border: 0; border-radius: 4px; cursor: pointer; }
  button:focus-visible, textarea:focus-visible, input:focus-visible { outline: 3px solid #f0a500; }
  .row { display: flex; align-items: center; gap: .6rem; margin: .25rem 0; }
  .name { width: 9rem; overflow: hidden; text-overflow: ellipsis; }
  .track { flex: 1; background: #e4e8ec; height: .9rem; border-radius: 3px; }
  .fill { background: #0b5cad; height: 100%; border-radius: 3px; }
  mark { background: #ffe08a; padding: 0 .15rem; border-radius: 3px; }
  mark small { font-weight: 700; margin-left: .2rem; color: #6b4e00; }
  #error { color: #a4000f; }
  #preview { max-width: 12rem; display: block; margin-top: .5rem; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<main>
  <h1>transferkit</h1>
  <div id="card">loading model card...</div>
  <div id="auth" hidden>
    <label for="key">API key</label>
    <input id="key" type="password" autocomplete="off">
  </div>
  <form id="form">
    <div id="text-input" hidden>
      <label for="text">Text</label>
      <textarea id="text" placeholder="Type a sentence"></textarea>
    </div>
    <div id="image-input" hidden>
      <label id="file-label" for="file">Image</label>
      <input id="file" type="file" accept="image/*">
      <img id="preview" alt="" hidden>
    </div>
    <button id="predict" type="submit">Predict</button>
  </form>
  <p id="error" role="alert"></p>
  <section id="result" aria-live="polite"></section>
</main>
<script>
const $ = (id) => document.getElementById(id);
let info = null;
function headers(json) {
  const h = json ? {"Content-Type": "application/json"} : {};
  const key = $("key").value;
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.assign(node, attrs || {});
  if (text !== undefined) node.textContent = text;
  return node;
}
async function loadInfo() {
  const response = await fetch("/info", {headers: headers(false)});
  if (response.status === 401) { $("auth").hidden = false; $("card").textContent = "enter the API key"; return; }
  info = await response.json();
  const metric = info.metrics[info.headline_metric];
  $("card").textContent = [info.task, info.model, info.backend,
    metric === undefined ? null : info.headline_metric + " " + (100 * metric).toFixed(1) + " (" + info.metrics.split + ")",
    info.labels.length + " labels"].filter(Boolean).join(" · ");
  $(info.reads === "text" ? "text-input" : "image-input").hidden = false;
  if (info.reads === "audio") { $("file").accept = "audio/*"; $("file-label").textContent = "Audio file"; }
}
function showLabels(record) {
  const box = $("result");
  const line = el("p", {id: "headline"});
  line.append("Prediction: ", el("strong", {id: "label"}, record.label), " (" + (100 * record.score).toFixed(1) + " %)");
  box.append(line);
  const entries = Object.entries(record.probabilities).sort((a, b) => b[1] - a[1]);
  for (const [name, p] of entries) {
    const row = el("div", {className: "row"});
    const track = el("div", {className: "track", role: "meter", ariaValueNow: p, ariaLabel: name});
    track.append(el("div", {className: "fill", style: "width:" + (100 * p).toFixed(1) + "%"}));
    row.append(el("span", {className: "name"}, name), track, el("span", {}, (100 * p).toFixed(1) + " %"));
    box.append(row);
  }
  if (record.truncated) box.append(el("p", {}, "The text was cut to the model's maximum length."));
}
function showMask(record) {
  const img = el("img", {id: "mask", alt: "predicted mask", src: "data:image/png;base64," + record.mask_png});
  img.style.imageRendering = "pixelated"; img.style.maxWidth = "100%";
  $("result").append(img);
  for (const [name, share] of Object.entries(record.classes).sort((a, b) => b[1] - a[1])) {
    $("result").append(el("p", {className: "share"}, name + ": " + (100 * share).toFixed(1) + " % of the pixels"));
  }
}
function showBoxes(record) {
  const canvas = el("canvas", {id: "boxes"});
  canvas.style.maxWidth = "100%";
  const picture = new Image();
  picture.onload = () => {
    canvas.width = picture.naturalWidth; canvas.height = picture.naturalHeight;
    const pen = canvas.getContext("2d");
    pen.drawImage(picture, 0, 0);
    pen.lineWidth = Math.max(2, picture.naturalWidth / 200);
    pen.font = Math.max(10, picture.naturalWidth / 40) + "px system-ui";
    for (const d of record.detections) {
      const [x1, y1, x2, y2] = d.box;
      pen.strokeStyle = pen.fillStyle = "hsl(" + (info.labels.indexOf(d.label) * 67 % 360) + ", 90%, 45%)";
      pen.strokeRect(x1, y1, x2 - x1, y2 - y1);
      pen.fillText(d.label + " " + (100 * d.score).toFixed(0) + "%", x1 + 2, Math.max(y1 - 3, 10));
    }
    canvas.dataset.drawn = record.detections.length;
  };
  picture.src = $("preview").src;
  $("result").append(canvas, el("p", {id: "count"}, record.detections.length ? record.detections.length + " objects"
                                                                                : "no objects found"));
  for (const d of record.detections) {
    $("result").append(el("p", {className: "detection"}, d.label + " " + (100 * d.score).toFixed(1) + " % at [" +
                                                         d.box.map((v) => v.toFixed(0)).join(", ") + "]"));
  }
}
function showTranscript(record) {
  const line = el("p", {id: "transcript"}, record.text || "(nothing heard)");
  $("result").append(line, el("p", {id: "confidence"}, "confidence " + (100 * record.confidence).toFixed(1) + " %"));
}
function showEntities(record) {
  const p = el("p", {id: "entities"});
  let at = 0;
  for (const e of record.entities) {
    p.append(record.text.slice(at, e.start));
    const mark = el("mark", {className: "entity"}, record.text.slice(e.start, e.end));
    mark.dataset.type = e.entity;
    mark.append(el("small", {}, e.entity));
    p.append(mark);
    at = e.end;
  }
  p.append(record.text.slice(at));
  $("result").append(p, el("p", {id: "count"}, record.entities.length + " entities"));
}
async function imageInput() {
  const file = $("file").files[0];
  if (!file) throw new Error(info.reads === "audio" ? "choose an audio file first" : "choose an image first");
  return await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("cannot read the file"));
    reader.readAsDataURL(file);
  });
}
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file && info.reads !== "audio") { $("preview").src = URL.createObjectURL(file); $("preview").hidden = false; }
});
$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("error").textContent = ""; $("result").textContent = "";
  try {
    if (!info) await loadInfo();
    if (!info) throw new Error("enter the API key");
    const input = info.reads === "text" ? $("text").value : await imageInput();
    const response = await fetch("/predict", {method: "POST", headers: headers(true),
                                              body: JSON.stringify({inputs: [input]})});
    const doc = await response.json();
    if (!response.ok) throw new Error(doc.error || response.statusText);
    const record = doc.predictions[0];
    if (record.entities !== undefined) showEntities(record);
    else if (record.mask_png !== undefined) showMask(record);
    else if (record.detections !== undefined) showBoxes(record);
    else if (record.label === undefined && record.text !== undefined) showTranscript(record);
    else showLabels(record);
  } catch (e) { $("error").textContent = e.message; }
});
loadInfo().catch((e) => { $("card").textContent = "cannot reach the server: " + e.message; });
</script>
</body>
</html>
"""
