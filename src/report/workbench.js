// losscmp's interactive charts: hover readout, legend toggle and highlight, drag to zoom,
// log/linear y, the x-axis among what the runs have, display smoothing. Reads the data the page
// embeds (#losscmp-data); draws SVG; makes no request. Without JavaScript the static charts stay.
(function () {
  "use strict";
  var node = document.getElementById("losscmp-data");
  if (!node) return;
  var D = JSON.parse(node.textContent);
  var NS = "http://www.w3.org/2000/svg";
  var W = 620, H = 330, M = { l: 64, r: 14, t: 28, b: 40 };
  // The smoothing starts at the report's --smooth, so these curves are the static charts'.
  var state = { x: D.axes[0], log: D.log, smooth: D.smooth || 0, hidden: {}, hot: null, zoom: {} };
  var AXIS_WORDS = { samples: "samples seen", step: "optimizer step", epoch: "epoch", tokens: "tokens seen", time: "seconds" };

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
    if (v === Math.round(v)) return v.toLocaleString("en-US");
    return String(+v.toPrecision(4));
  }
  // The smoothing unit on an axis, as losscmp computes it (align::smoothing_unit): 1/100 of the
  // furthest any run's training loss reaches on it, the same for every chart and run.
  function unitOf(ax) {
    var far = 0;
    D.runs.forEach(function (r) {
      var xs = r.metrics.loss && r.metrics.loss[ax];
      if (!xs) return;
      for (var k = xs.length - 1; k >= 0; k--) if (xs[k] !== null) { far = Math.max(far, xs[k]); break; }
    });
    return far / 100 || 1;
  }
  // Time-weighted EMA over x distance (the report's --smooth), display only.
  function smooth(xs, ys, w, unit) {
    if (!w) return ys;
    var num = 0, den = 0, last = null, out = [];
    for (var j = 0; j < xs.length; j++) {
      var d = last === null ? 0 : Math.pow(w, (xs[j] - last) / unit);
      num = num * d + ys[j]; den = den * d + 1; last = xs[j];
      out.push(num / den);
    }
    return out;
  }
  function ticks(lo, hi, n) {
    var span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag, step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag, out = [];
    for (var i = 0, t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9 && i < 50; i++, t = Math.ceil(lo / step) * step + i * step) out.push(t);
    return out;
  }
  // The series a chart shows: [{run, xs, ys, raw, pts}] on its x-axis, finite values only.
  function seriesOf(chart) {
    var ax = chart.x || state.x, out = [], unit = unitOf(ax);
    D.runs.forEach(function (r, i) {
      var m = r.metrics[chart.metric];
      if (!m || !m[ax]) return;
      var xs = [], ys = [], idx = [];
      for (var k = 0; k < m.value.length; k++) {
        var x = m[ax][k], y = m.value[k];
        if (x === null || y === null) continue;
        if (state.log && y <= 0) continue;
        xs.push(x); ys.push(y); idx.push(k);
      }
      if (xs.length) out.push({ run: i, xs: xs, raw: ys, ys: smooth(xs, ys, state.smooth, unit), idx: idx, m: m });
    });
    return out;
  }
  function overlapNote(series) {
    var groups = {};
    series.forEach(function (s) {
      if (state.hidden[s.run]) return;
      var key = s.xs.length + ":" + s.raw.join(",");
      (groups[key] = groups[key] || []).push(D.runs[s.run].label);
    });
    var notes = [];
    for (var k in groups) if (groups[k].length > 1) notes.push(groups[k].length + " runs overlap: " + groups[k].join(", "));
    return notes.join("; ");
  }
  var charts = D.charts.map(function (c) { return Object.assign({}, c); });
  var root = document.getElementById("workbench");
  // Controls.
  var bar = h("div", { class: "wb-controls" });
  var xsel = h("select", { "aria-label": "x-axis", id: "wb-x" });
  D.axes.forEach(function (a) { var o = h("option", { value: a }, AXIS_WORDS[a] || a); xsel.appendChild(o); });
  xsel.onchange = function () { state.x = xsel.value; state.zoom = {}; draw(); };
  var logbox = h("input", { type: "checkbox", id: "wb-log" }); logbox.checked = state.log;
  logbox.onchange = function () { state.log = logbox.checked; draw(); };
  var slider = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(state.smooth), id: "wb-smooth" });
  var sval = h("span", { id: "wb-smooth-value" }, state.smooth ? String(state.smooth) : "off");
  slider.oninput = function () { state.smooth = +slider.value; sval.textContent = state.smooth ? slider.value : "off"; draw(); };
  var reset = h("button", { type: "button", id: "wb-reset" }, "reset zoom");
  reset.onclick = function () { state.zoom = {}; draw(); };
  [h("label", { for: "wb-x" }, "x-axis "), xsel, h("label", { for: "wb-log" }, " log y "), logbox,
   h("label", { for: "wb-smooth" }, " smoothing "), slider, sval, reset].forEach(function (e) { bar.appendChild(e); });
  bar.appendChild(h("span", { class: "wb-hint" }, "  drag across a chart to zoom, double-click to reset; display only: the verdict does not change"));
  root.appendChild(bar);
  var legend = h("div", { class: "wb-legend", id: "wb-legend" });
  root.appendChild(legend);
  var grid = h("div", { class: "charts wb-charts" });
  root.appendChild(grid);
  D.runs.forEach(function (r, i) {
    var item = h("span", { class: "wb-item", "data-run": String(i) });
    var sw = h("span", { class: "swatch" }); sw.style.background = r.color;
    item.appendChild(sw); item.appendChild(document.createTextNode(r.label));
    item.onclick = function () { state.hidden[i] = !state.hidden[i]; item.classList.toggle("off", !!state.hidden[i]); draw(); };
    item.onmouseenter = function () { state.hot = i; draw(); };
    item.onmouseleave = function () { state.hot = null; draw(); };
    legend.appendChild(item);
  });
  var notes = h("div", { class: "wb-notes", id: "wb-notes" });
  root.appendChild(notes);
  charts.forEach(function (c, n) {
    c.box = h("div", { class: "chart wb-chart", "data-chart": String(n) });
    c.svg = el("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H });
    c.tip = h("div", { class: "wb-tip" });
    c.box.appendChild(c.svg); c.box.appendChild(c.tip);
    grid.appendChild(c.box);
    wire(c);
  });
  function frame(c) {
    var ax = c.x || state.x, ss = seriesOf(c), xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
    ss.forEach(function (s) {
      if (state.hidden[s.run]) return;
      s.xs.forEach(function (x, k) {
        var z = state.zoom[ax];
        if (z && (x < z[0] || x > z[1])) return;
        xlo = Math.min(xlo, x); xhi = Math.max(xhi, x);
        var y = s.ys[k]; ylo = Math.min(ylo, y); yhi = Math.max(yhi, y);
      });
    });
    if (state.zoom[ax]) { xlo = state.zoom[ax][0]; xhi = state.zoom[ax][1]; }
    if (!(xhi > xlo)) { xhi = xlo + 1; }
    // Log only where the values span decades (a learning rate decaying to 0 stays linear).
    var log = state.log && ylo > 0 && yhi / ylo > 20;
    var fy = log ? function (v) { return Math.log10(v); } : function (v) { return v; };
    var a = fy(ylo), b = fy(yhi);
    if (!(b > a)) { b = a + 1; a = a - (log ? 0 : 0.5); }
    var pad = (b - a) * 0.05; a -= pad; b += pad;
    return {
      ax: ax, ss: ss, log: log, x0: xlo, x1: xhi, y0: a, y1: b,
      X: function (x) { return M.l + (x - xlo) / (xhi - xlo) * (W - M.l - M.r); },
      Y: function (v) { return H - M.b - (fy(v) - a) / (b - a) * (H - M.t - M.b); },
      inv: function (px) { return xlo + (px - M.l) / (W - M.l - M.r) * (xhi - xlo); }
    };
  }
  function draw() {
    var notesText = [];
    charts.forEach(function (c) {
      var f = frame(c), s = c.svg;
      c.f = f;
      while (s.firstChild) s.removeChild(s.firstChild);
      el("rect", { x: 0, y: 0, width: W, height: H, fill: "#fff" }, s);
      var title = el("text", { x: W / 2, y: 17, "text-anchor": "middle", "font-size": 14, "font-family": "sans-serif" }, s);
      title.textContent = c.title.replace("{x}", AXIS_WORDS[f.ax] || f.ax);
      ticks(f.x0, f.x1, 6).forEach(function (t) {
        el("line", { x1: f.X(t), x2: f.X(t), y1: M.t, y2: H - M.b, stroke: "#e6e6e6" }, s);
        var tx = el("text", { x: f.X(t), y: H - M.b + 14, "text-anchor": "middle", "font-size": 11, "font-family": "sans-serif" }, s);
        tx.textContent = fmt(t);
      });
      var yt = f.log ? ticks(f.y0, f.y1, 5).filter(function (t) { return t === Math.round(t); }).map(function (t) { return Math.pow(10, t); })
                     : ticks(f.y0, f.y1, 5);
      yt.forEach(function (t) {
        var y = f.Y(t);
        if (y < M.t - 1 || y > H - M.b + 1) return;
        el("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, stroke: "#e6e6e6" }, s);
        var ty = el("text", { x: M.l - 5, y: y + 4, "text-anchor": "end", "font-size": 11, "font-family": "sans-serif" }, s);
        ty.textContent = fmt(t);
      });
      var xl = el("text", { x: (M.l + W - M.r) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12, "font-family": "sans-serif" }, s);
      xl.textContent = AXIS_WORDS[f.ax] || f.ax;
      var yl = el("text", { x: 14, y: H / 2, transform: "rotate(-90 14 " + H / 2 + ")", "text-anchor": "middle", "font-size": 12, "font-family": "sans-serif" }, s);
      yl.textContent = c.y + (f.log ? " (log)" : "");
      var clip = "clip" + c.box.getAttribute("data-chart");
      var defs = el("defs", {}, s), cp = el("clipPath", { id: clip }, defs);
      el("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b }, cp);
      marks(f, s, clip);
      f.ss.forEach(function (sr) {
        if (state.hidden[sr.run]) return;
        var d = "";
        sr.xs.forEach(function (x, k) { d += (k ? "L" : "M") + f.X(x).toFixed(1) + "," + f.Y(sr.ys[k]).toFixed(1); });
        var hot = state.hot === null || state.hot === sr.run;
        el("path", { d: d, fill: "none", stroke: D.runs[sr.run].color, "stroke-width": state.hot === sr.run ? 3 : 2,
                     "stroke-opacity": hot ? 1 : 0.15, "clip-path": "url(#" + clip + ")", "class": "wb-line", "data-run": String(sr.run) }, s);
      });
      c.cross = el("line", { x1: 0, x2: 0, y1: M.t, y2: H - M.b, stroke: "#555", "stroke-dasharray": "3 3", visibility: "hidden" }, s);
      c.band = el("rect", { x: 0, y: M.t, width: 0, height: H - M.t - M.b, fill: "#1f77b4", "fill-opacity": 0.12, visibility: "hidden" }, s);
      var note = overlapNote(f.ss);
      if (note && notesText.indexOf(note) < 0) notesText.push(note);
    });
    notes.textContent = notesText.join(" · ");
  }
  // A run's step placed on an axis through its training loss's own points (linear between the
  // two around it, as the static charts place their markers); null off its curve.
  function atStep(r, ax, step) {
    if (ax === "step") return step;
    var m = r.metrics.loss, st = m && m.step, xs = m && m[ax];
    if (!st || !xs) return null;
    for (var k = 1; k < st.length; k++) {
      var a = st[k - 1], b = st[k];
      if (a === null || b === null || xs[k - 1] === null || xs[k] === null || step < a || step > b) continue;
      return b === a ? xs[k] : xs[k - 1] + (xs[k] - xs[k - 1]) * (step - a) / (b - a);
    }
    return null;
  }
  // Warmup end and epoch ends: a dashed rule in the run's colour, one label a kind per run
  // ("epochs 1, 2"); a rule every visible run has at the same place is drawn once, grey.
  function marks(f, s, clip) {
    var seen = {}, rules = [];
    D.runs.forEach(function (r, i) {
      if (state.hidden[i]) return;
      (r.marks || []).forEach(function (mk) {
        var x = atStep(r, f.ax, mk.step);
        if (x === null || x < f.x0 || x > f.x1) return;
        var key = f.X(x).toFixed(0) + "|" + mk.label;
        if (seen[key]) { seen[key].runs.push(i); return; }
        seen[key] = { x: x, label: mk.label, runs: [i] };
        rules.push(seen[key]);
      });
    });
    var shown = D.runs.filter(function (r, i) { return !state.hidden[i]; }).length, labelled = {};
    var ends = [-Infinity, -Infinity, -Infinity];
    rules.forEach(function (m) {
      var shared = shown > 1 && m.runs.length === shown, color = shared ? "#888" : D.runs[m.runs[0]].color;
      var px = f.X(m.x);
      var line = el("line", { x1: px, x2: px, y1: M.t, y2: H - M.b, stroke: color, "stroke-dasharray": "4 3",
                              "stroke-opacity": 0.7, "clip-path": "url(#" + clip + ")", "class": "wb-mark" }, s);
      el("title", {}, line).textContent = m.label + (shared ? "" : " (" + D.runs[m.runs[0]].label + ")");
      var epoch = /^epoch (\d+)$/.exec(m.label), kind = (epoch ? "epoch" : m.label) + "|" + (shared ? "all" : m.runs[0]);
      if (labelled[kind]) return;
      labelled[kind] = true;
      var text = m.label;
      if (epoch) {
        var ns = rules.filter(function (o) { return /^epoch \d+$/.test(o.label) && o.runs.join() === m.runs.join(); })
                      .map(function (o) { return o.label.slice(6); });
        text = ns.length > 1 ? "epochs " + ns.join(", ") : m.label;
      }
      // Each label in the first of three rows where it clears the labels before it (about 5.5
      // pixels a character), so that close ones stay readable.
      var row = 0;
      for (var r = 0; r < ends.length; r++) if (ends[r] < px) { row = r; break; } else if (ends[r] < ends[row]) row = r;
      ends[row] = px + 3 + 5.5 * text.length;
      var t = el("text", { x: px + 3, y: M.t + 10 + 11 * row, "font-size": 10, "font-family": "sans-serif", fill: color }, s);
      t.textContent = text;
    });
  }
  function nearest(xs, x) {
    var lo = 0, hi = xs.length - 1;
    while (hi - lo > 1) { var mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid; else hi = mid; }
    return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
  }
  function readout(c, px) {
    var f = c.f, x = f.inv(px), rows = [];
    f.ss.forEach(function (sr) {
      if (state.hidden[sr.run]) return;
      var k = nearest(sr.xs, x), i = sr.idx[k], m = sr.m, r = D.runs[sr.run];
      var where = ["step " + fmt(m.step[i])];
      ["samples", "epoch", "tokens"].forEach(function (a) { if (m[a] && m[a][i] !== null) where.push(a + " " + fmt(m[a][i])); });
      var v = fmt(sr.raw[k]) + (state.smooth ? " (smoothed " + fmt(sr.ys[k]) + ")" : "");
      rows.push('<div class="wb-row" data-run="' + sr.run + '"><span class="swatch" style="background:' + r.color + '"></span>' +
                esc(r.label) + ": <b>" + v + "</b> — " + where.join(", ") + "</div>");
    });
    return rows.join("");
  }
  function esc(s) { return s.replace(/[&<>"']/g, function (ch) { return "&#" + ch.charCodeAt(0) + ";"; }); }
  function pos(c, ev) { var b = c.svg.getBoundingClientRect(); return (ev.clientX - b.left) * W / b.width; }
  function wire(c) {
    var drag = null;
    c.svg.addEventListener("mousemove", function (ev) {
      var px = pos(c, ev);
      if (px < M.l || px > W - M.r) { c.cross.setAttribute("visibility", "hidden"); c.tip.style.display = "none"; return; }
      c.cross.setAttribute("x1", px); c.cross.setAttribute("x2", px); c.cross.setAttribute("visibility", "visible");
      c.tip.innerHTML = readout(c, px); c.tip.style.display = "block";
      if (drag !== null) {
        c.band.setAttribute("x", Math.min(drag, px)); c.band.setAttribute("width", Math.abs(px - drag));
        c.band.setAttribute("visibility", "visible");
      }
    });
    c.svg.addEventListener("mouseleave", function () { c.cross.setAttribute("visibility", "hidden"); c.tip.style.display = "none"; });
    c.svg.addEventListener("mousedown", function (ev) { drag = pos(c, ev); ev.preventDefault(); });
    c.svg.addEventListener("mouseup", function (ev) {
      if (drag === null) return;
      var px = pos(c, ev), a = Math.min(drag, px), b = Math.max(drag, px);
      drag = null; c.band.setAttribute("visibility", "hidden");
      if (b - a < 5) return;
      state.zoom[c.f.ax] = [c.f.inv(a), c.f.inv(b)];
      draw();
    });
    c.svg.addEventListener("dblclick", function () { delete state.zoom[c.f.ax]; draw(); });
  }
  document.documentElement.classList.add("wb-on");
  draw();
})();
