// A small line-chart drawer: inline SVG, time on x, one or more series on y. No dependencies.
//
// drawChart(container, {
//   t: [unixSeconds...], series: [{ key, label, values: [number|null...], tone: "a"|"b"|"c" }],
//   windowSeconds, now, format: (v) => string, minMax
// })
// Each series becomes a <path class="series tone-x" data-key data-points data-max>; gaps (null) break the line.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 200;
const PAD = { left: 56, right: 12, top: 12, bottom: 26 };

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(range, count) {
  const raw = range / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const nice = residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1;
  return nice * magnitude;
}

function relativeLabel(seconds) {
  if (seconds === 0) return "now";
  if (seconds % 60 === 0) return `-${seconds / 60}m`;
  return `-${seconds}s`;
}

export function drawChart(container, options) {
  const { t = [], series = [], windowSeconds = 300, format = String, minMax = 1 } = options;
  const now = options.now ?? (t.length ? t[t.length - 1] : Date.now() / 1000);
  const start = now - windowSeconds;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const step = niceStep(Math.max(max, minMax), 4);
  const top = Math.max(step, Math.ceil((Math.max(max, minMax) * 1.08) / step) * step);

  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (at) => PAD.left + ((at - start) / windowSeconds) * plotW;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  const svg = el("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    role: "img",
    "aria-label": options.label || "chart",
    "data-chart": options.name || "",
  });
  const grid = el("g", { class: "grid" });
  for (let v = 0; v <= top + step / 2; v += step) {
    grid.append(el("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) }));
    grid.append(el("text", { x: PAD.left - 6, y: y(v) + 4, class: "tick y" }, format(v)));
  }
  const tickEvery = windowSeconds > 600 ? 300 : windowSeconds > 120 ? 60 : 15;
  for (let back = 0; back <= windowSeconds; back += tickEvery) {
    const at = now - back;
    grid.append(el("line", { x1: x(at), x2: x(at), y1: PAD.top, y2: PAD.top + plotH, class: "v" }));
    grid.append(el("text", { x: x(at), y: HEIGHT - 8, class: "tick x" }, relativeLabel(back)));
  }
  svg.append(grid);

  for (const s of series) {
    let d = "";
    let points = 0;
    let pen = false;
    let last = null;
    let smax = 0;
    s.values.forEach((v, i) => {
      const at = t[i];
      if (v === null || v === undefined || at < start) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(at).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      points += 1;
      last = [x(at), y(v)];
      if (v > smax) smax = v;
    });
    const path = el("path", {
      d: d || "M0,0",
      class: `series tone-${s.tone || "a"}`,
      "data-key": s.key,
      "data-points": points,
      "data-max": smax,
    });
    path.append(el("title", {}, s.label));
    svg.append(path);
    if (last) svg.append(el("circle", { cx: last[0], cy: last[1], r: 3, class: `dot tone-${s.tone || "a"}` }));
  }
  svg.append(el("rect", { x: PAD.left, y: PAD.top, width: plotW, height: plotH, class: "frame" }));
  addHover(container, svg, { t, series, start, windowSeconds, x, plotH, format, now });
  container.replaceChildren(svg);
  return svg;
}

// A cursor that follows the pointer and reads out the values of the nearest sample. The pointer position is
// kept on the container, so the once-a-second redraw keeps the readout where the user is looking.
function addHover(container, svg, { t, series, start, windowSeconds, x, plotH, format, now }) {
  const cursor = el("g", { class: "cursor", visibility: "hidden" });
  const line = el("line", { y1: PAD.top, y2: PAD.top + plotH });
  const label = el("text", { y: PAD.top + 12 });
  cursor.append(line, label);
  svg.append(cursor);

  function show(px) {
    const at = start + ((px - PAD.left) / (WIDTH - PAD.left - PAD.right)) * windowSeconds;
    let best = -1;
    for (let i = 0; i < t.length; i++) {
      if (t[i] >= start && (best < 0 || Math.abs(t[i] - at) < Math.abs(t[best] - at))) best = i;
    }
    if (best < 0) return;
    const cx = x(t[best]);
    line.setAttribute("x1", cx);
    line.setAttribute("x2", cx);
    const parts = series.map((s) => `${s.label} ${s.values[best] === null ? "–" : format(s.values[best])}`);
    label.textContent = `${Math.max(0, Math.round(now - t[best]))}s ago: ${parts.join(", ")}`;
    const right = cx > WIDTH / 2;
    label.setAttribute("x", right ? cx - 6 : cx + 6);
    label.setAttribute("text-anchor", right ? "end" : "start");
    cursor.setAttribute("visibility", "visible");
  }

  svg.addEventListener("pointerleave", () => {
    delete container.dataset.hover;
    cursor.setAttribute("visibility", "hidden");
  });
  svg.addEventListener("pointermove", (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * WIDTH;
    container.dataset.hover = String(px);
    show(px);
  });
  if (container.dataset.hover) show(Number(container.dataset.hover));
}
