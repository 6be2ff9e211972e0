// The run player: every frame of a recorded run is already on the page, so play, pause, step, speed and the scrub
// slider never ask the server for anything. Runs as a Gradio gr.HTML's js_on_load (`element`, `props`, `watch`) and,
// unchanged, in an exported page. `props.value`: {frames: [[html per chain]], labels, heads, start, live, fps,
// linked, empty}. A linked plotly figure (by the elem_id of its gr.Plot) may carry `layout.meta.player`: per frame,
// {trace meta name: {attribute: value}}, applied with Plotly.restyle as the frame shows.
const root = element.querySelector(".tdl-player");
const $ = (selector) => root.querySelector(selector);
const stage = $(".tdl-stage"), scrub = $(".tdl-scrub"), label = $(".tdl-label"), play = $(".tdl-play");
const speed = $(".tdl-speed"), detail = $(".tdl-detail"), padding = $(".tdl-pad");
let data = {}, index = 0, timer = null;

function frames() { return Array.isArray(data.frames) ? data.frames : []; }

function syncPlots(k) {
  const plotly = window.Plotly;
  if (!plotly || !Array.isArray(data.linked)) return;
  for (const id of data.linked) {
    const host = document.getElementById(id);
    const gd = host && host.querySelector(".js-plotly-plot");
    const updates = gd && gd.layout && gd.layout.meta && gd.layout.meta.player;
    if (!updates || !updates[k] || !gd.data) continue;
    for (const [name, change] of Object.entries(updates[k])) {
      const trace = gd.data.findIndex((d) => d.meta === name);
      if (trace < 0) continue;
      const arg = {};
      for (const [key, value] of Object.entries(change)) arg[key] = [value];
      plotly.restyle(gd, arg, [trace]);
    }
  }
}

function show(k) {
  const all = frames();
  if (!all.length) return;
  index = Math.max(0, Math.min(all.length - 1, k));
  const views = all[index];
  const heads = Array.isArray(data.heads) ? data.heads : [];
  stage.style.gridTemplateColumns = `repeat(${views.length}, minmax(0, 1fr))`;
  stage.innerHTML = views.map((view, c) =>
    `<div class="tdl-chain">${heads[c] ? `<div class="tdl-head">${heads[c]}</div>` : ""}${view}</div>`).join("");
  scrub.max = String(all.length - 1);
  scrub.value = String(index);
  const labels = Array.isArray(data.labels) ? data.labels : [];
  label.textContent = `${labels[index] || ""} · frame ${index + 1} of ${all.length}`;
  root.dataset.frame = String(index);
  root.dataset.frames = String(all.length);
  syncPlots(index);
}

function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  play.textContent = "▶ Play";
  root.dataset.playing = "false";
}

function start() {
  const all = frames();
  if (all.length < 2 || data.live) return;
  if (index >= all.length - 1) show(0);
  play.textContent = "❚❚ Pause";
  root.dataset.playing = "true";
  const fps = Number(root.dataset.fps) * (Number(speed.value) || 1);
  timer = setInterval(() => {
    if (index >= frames().length - 1) { stop(); return; }
    show(index + 1);
  }, 1000 / fps);
}

function render() {
  stop();
  data = (props.value && typeof props.value === "object") ? props.value : {};
  const all = frames();
  root.classList.toggle("tdl-empty", !all.length);
  root.classList.toggle("tdl-live", Boolean(data.live));
  root.classList.toggle("tdl-single", all.length < 2);
  root.classList.toggle("tdl-no-pad", !data.padding);
  root.dataset.fps = String(Number(data.fps) || 6);
  detail.textContent = "";
  if (!all.length) {
    stage.style.gridTemplateColumns = "";
    stage.innerHTML = data.empty || "";
    label.textContent = "";
    root.dataset.frames = "0";
    root.dataset.frame = "0";
    return;
  }
  const at = Number.isInteger(data.start) ? data.start : all.length - 1;
  show(at);
}

function showTop(chip) {
  let top;
  try { top = JSON.parse(chip.dataset.top); } catch (e) { return; }
  if (!Array.isArray(top) || !top.length) return;
  detail.textContent = "";
  const title = document.createElement("div");
  title.className = "tdl-top-title";
  title.textContent = `position ${chip.dataset.k || "?"}: the likeliest words here, with their probabilities`;
  detail.appendChild(title);
  for (const [word, p] of top) {
    const row = document.createElement("div");
    row.className = "tdl-top-row";
    const w = document.createElement("span");
    w.className = "tdl-top-word";
    w.textContent = word;
    const bar = document.createElement("span");
    bar.className = "tdl-top-bar";
    bar.style.width = `${Math.max(1, Math.round(100 * Number(p)))}%`;
    const v = document.createElement("span");
    v.className = "tdl-top-p";
    v.textContent = Number(p).toFixed(2);
    const track = document.createElement("span");
    track.className = "tdl-top-track";
    track.appendChild(bar);
    row.append(w, track, v);
    detail.appendChild(row);
  }
}

play.addEventListener("click", () => (timer === null ? start() : stop()));
$(".tdl-back").addEventListener("click", () => { stop(); show(index - 1); });
$(".tdl-fwd").addEventListener("click", () => { stop(); show(index + 1); });
scrub.addEventListener("input", () => { stop(); show(Number(scrub.value)); });
speed.addEventListener("change", () => { if (timer !== null) { stop(); start(); } });
padding.addEventListener("change", () => root.classList.toggle("tdl-show-pad", padding.checked));
stage.addEventListener("mouseover", (event) => {
  const chip = event.target.closest && event.target.closest("[data-top]");
  if (chip) showTop(chip);
});
stage.addEventListener("click", (event) => {
  const chip = event.target.closest && event.target.closest("[data-top]");
  if (chip) showTop(chip);
});
watch("value", render);
render();
