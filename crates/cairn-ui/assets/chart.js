// cairn charts: draws the series embedded in #chart-data as SVG paths, with hover values, smoothing,
// log scale, step / wall time / relative time on x, and drag-to-zoom. Every setting lives in the URL.

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 64, right: 16, top: 12, bottom: 32 };

const chart = document.getElementById("chart");
const dataNode = document.getElementById("chart-data");

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function numberOf(value) {
  if (typeof value === "number") return value;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return NaN;
}

function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) return value.toExponential(3);
  return String(Math.round(value * 1e6) / 1e6);
}

function formatX(value, mode) {
  if (mode === "time") return new Date(value).toISOString().replace("T", " ").slice(5, 19);
  if (mode === "relative") {
    const seconds = value / 1000;
    return seconds < 120 ? `${seconds.toFixed(seconds < 10 ? 1 : 0)}s` : `${(seconds / 60).toFixed(1)}m`;
  }
  return formatNumber(value);
}

// Debiased exponential moving average (as TensorBoard draws it).
function smooth(values, weight) {
  if (!weight) return values;
  let last = 0;
  let count = 0;
  return values.map((value) => {
    if (!Number.isFinite(value)) return value;
    last = last * weight + (1 - weight) * value;
    count += 1;
    return last / (1 - Math.pow(weight, count));
  });
}

function state() {
  return {
    x: document.getElementById("x-axis").value,
    log: document.getElementById("log-scale").checked,
    smooth: Number(document.getElementById("smoothing").value),
  };
}

function syncUrl(extra = {}) {
  const url = new URL(location.href);
  const { x, log, smooth: weight } = state();
  url.searchParams.set("x", x);
  if (log) url.searchParams.set("log", "1"); else url.searchParams.delete("log");
  if (weight > 0) url.searchParams.set("smooth", String(weight)); else url.searchParams.delete("smooth");
  for (const [key, value] of Object.entries(extra)) {
    if (value === null || value === "") url.searchParams.delete(key); else url.searchParams.set(key, value);
  }
  return url;
}

function draw() {
  const series = JSON.parse(dataNode.textContent);
  const { x: mode, log, smooth: weight } = state();
  const tooltip = document.getElementById("chart-tooltip");
  chart.querySelectorAll("svg").forEach((node) => node.remove());
  const width = chart.clientWidth - 16 || 900;
  const height = 460;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  chart.insertBefore(svg, tooltip);
  const colors = getComputedStyle(document.documentElement);
  const color = (index) => colors.getPropertyValue(`--series-${(index % 8) + 1}`).trim() || "#2c6e91";

  // Each series as drawable points: x by mode, y smoothed, non-finite (and <= 0 on log) left out.
  const prepared = series.map((entry) => {
    const raw = entry.points.map(([step, timestamp, value]) => ({ step, timestamp, value: numberOf(value) }));
    const first = raw.length ? raw[0].timestamp : 0;
    const ys = smooth(raw.map((p) => p.value), weight);
    const points = raw.map((p, index) => ({
      ...p,
      x: mode === "time" ? p.timestamp : mode === "relative" ? p.timestamp - first : p.step,
      y: ys[index],
    })).filter((p) => Number.isFinite(p.y) && (!log || p.y > 0));
    return { ...entry, points };
  });
  const all = prepared.flatMap((entry) => entry.points);
  const legend = document.getElementById("legend");
  legend.textContent = "";
  if (!all.length) {
    el("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, svg).textContent = "No points to draw";
    return;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const ty = (v) => (log ? Math.log10(v) : v);
  let [y0, y1] = [Math.min(...all.map((p) => ty(p.y))), Math.max(...all.map((p) => ty(p.y)))];
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const px = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * (width - MARGIN.left - MARGIN.right);
  const py = (y) => height - MARGIN.bottom - ((ty(y) - y0) / (y1 - y0)) * (height - MARGIN.top - MARGIN.bottom);

  const grid = el("g", { class: "grid" }, svg);
  const axis = el("g", { class: "axis" }, svg);
  for (let i = 0; i <= 5; i += 1) {
    const yv = y0 + ((y1 - y0) * i) / 5;
    const y = height - MARGIN.bottom - ((yv - y0) / (y1 - y0)) * (height - MARGIN.top - MARGIN.bottom);
    el("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }, grid);
    el("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, axis).textContent = formatNumber(log ? Math.pow(10, yv) : yv);
    const xv = x0 + ((x1 - x0) * i) / 5;
    const x = px(xv);
    el("line", { x1: x, x2: x, y1: MARGIN.top, y2: height - MARGIN.bottom }, grid);
    el("text", { x, y: height - MARGIN.bottom + 16, "text-anchor": "middle" }, axis).textContent = formatX(xv, mode);
  }

  prepared.forEach((entry, index) => {
    if (!entry.points.length) return;
    const d = entry.points.map((p, i) => `${i ? "L" : "M"}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join("");
    el("path", { class: "series", d, stroke: color(index), "data-run-id": entry.run_id, "data-key": entry.key }, svg);
    if (entry.points.length === 1) {
      const [p] = entry.points;
      el("circle", { cx: px(p.x), cy: py(p.y), r: 3, fill: color(index) }, svg);
    }
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = color(index);
    item.append(swatch, `${entry.run_name} · ${entry.key}${entry.downsampled ? " (downsampled)" : ""}`);
    legend.appendChild(item);
  });

  const marker = el("circle", { r: 4, fill: "none", "stroke-width": 2, visibility: "hidden" }, svg);
  const brush = el("rect", { class: "brush", y: MARGIN.top, height: height - MARGIN.top - MARGIN.bottom, width: 0, visibility: "hidden" }, svg);
  const toData = (event) => {
    const box = svg.getBoundingClientRect();
    return { sx: ((event.clientX - box.left) / box.width) * width, sy: ((event.clientY - box.top) / box.height) * height };
  };
  let dragFrom = null;
  svg.addEventListener("mousemove", (event) => {
    const { sx, sy } = toData(event);
    if (dragFrom !== null) {
      brush.setAttribute("x", Math.min(dragFrom, sx));
      brush.setAttribute("width", Math.abs(sx - dragFrom));
    }
    // The nearest point (in screen space) over every series.
    let best = null;
    prepared.forEach((entry, index) => {
      for (const p of entry.points) {
        const distance = Math.hypot(px(p.x) - sx, (py(p.y) - sy) / 4);
        if (!best || distance < best.distance) best = { distance, p, entry, index };
      }
    });
    if (!best) return;
    marker.setAttribute("cx", px(best.p.x));
    marker.setAttribute("cy", py(best.p.y));
    marker.setAttribute("stroke", color(best.index));
    marker.setAttribute("visibility", "visible");
    tooltip.hidden = false;
    tooltip.dataset.step = String(best.p.step);
    tooltip.dataset.value = String(best.p.value);
    tooltip.dataset.runId = best.entry.run_id;
    tooltip.dataset.key = best.entry.key;
    tooltip.textContent = `${best.entry.run_name} · ${best.entry.key} — step ${best.p.step}: ${best.p.value}` +
      (mode !== "step" ? ` (${formatX(best.p.x, mode)})` : "");
    const box = chart.getBoundingClientRect();
    const room = box.width - tooltip.offsetWidth - 8;
    const left = event.clientX - box.left + 12;
    tooltip.style.left = `${Math.max(0, left > room ? event.clientX - box.left - tooltip.offsetWidth - 12 : left)}px`;
    tooltip.style.top = `${event.clientY - box.top + 12}px`;
  });
  svg.addEventListener("mouseleave", () => { tooltip.hidden = true; marker.setAttribute("visibility", "hidden"); });
  svg.addEventListener("mousedown", (event) => {
    dragFrom = toData(event).sx;
    brush.setAttribute("visibility", "visible");
    brush.setAttribute("width", 0);
  });
  svg.addEventListener("mouseup", (event) => {
    if (dragFrom === null) return;
    const to = toData(event).sx;
    const from = dragFrom;
    dragFrom = null;
    brush.setAttribute("visibility", "hidden");
    if (Math.abs(to - from) < 6 || mode !== "step") return;
    const step = (sx) => x0 + ((sx - MARGIN.left) / (width - MARGIN.left - MARGIN.right)) * (x1 - x0);
    const low = Math.floor(step(Math.min(from, to)));
    const high = Math.ceil(step(Math.max(from, to)));
    location.href = syncUrl({ range: `${low},${high}` }).toString();
  });
}

if (chart && dataNode) {
  draw();
  const redraw = () => { history.replaceState(null, "", syncUrl().toString()); draw(); };
  document.getElementById("x-axis").addEventListener("change", redraw);
  document.getElementById("log-scale").addEventListener("change", redraw);
  const smoothing = document.getElementById("smoothing");
  smoothing.addEventListener("input", () => {
    document.getElementById("smoothing-value").textContent = smoothing.value;
    redraw();
  });
  document.getElementById("metric-keys").addEventListener("change", (event) => {
    const url = syncUrl();
    url.searchParams.delete("key");
    for (const option of event.target.selectedOptions) url.searchParams.append("key", option.value);
    location.href = url.toString();
  });
  document.getElementById("zoom-apply").addEventListener("click", () => {
    const low = document.getElementById("range-min").value.trim();
    const high = document.getElementById("range-max").value.trim();
    location.href = syncUrl({ range: low || high ? `${low},${high}` : null }).toString();
  });
  document.getElementById("zoom-reset").addEventListener("click", () => {
    location.href = syncUrl({ range: null }).toString();
  });
  window.addEventListener("resize", draw);
}
