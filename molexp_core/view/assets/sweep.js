/* A sweep: the heatmap of one field over two swept keys, and the command that fills its holes. */
"use strict";
(function (MX) {
  var NONE = "(none)";
  var DOM_CELLS = 1600;  // larger grids are drawn on a canvas: 10,000 elements are slow
  var STATE_COLOUR = {failed: "#e57373", queued: "#ffe082", missing: "#eeeeee", novalue: "#bdbdbd"};
  var MARK_COLOUR = {failed: "#c62828", waiting: "#b8860b", missing: "#9e9e9e"};
  var HIGHER = /(acc|accuracy|auc|r2|f1|score|precision|recall|reward|return|iou|map|bleu|ndcg|hit)s?$/i;

  function $(id) { return document.getElementById(id); }

  /* a field whose best value is its highest, by its name (Evaluate.acc, val/r2) */
  MX.higherIsBetter = function (label) { return HIGHER.test(String(label).split(/[./ ]/).filter(Boolean).pop() || ""); };

  /* the first numeric field of the table that differs between the runs (a constant says nothing) */
  MX.defaultField = function (cols, runs) {
    var firstNumeric = null;
    for (var j = 0; j < cols.length; j++) {
      var seen = null, varies = false, numeric = false;
      for (var i = 0; i < runs.length && !varies; i++) {
        var v = MX.runValue(runs[i], cols[j]);
        if (!MX.numeric(v)) continue;
        numeric = true;
        if (seen === null) seen = v; else if (v !== seen) varies = true;
      }
      if (varies) return cols[j];
      if (numeric && !firstNumeric) firstNumeric = cols[j];
    }
    return firstNumeric || cols[0] || null;
  };

  MX.setupSweep = function () {
    var sweep = MX.data.sweeps && MX.data.sweeps[0];
    if (!sweep || MX.data.sweeps.length !== 1) return;
    $("sweep-section").hidden = false;
    sweep.axesFixed = {};
    sweep.keys.forEach(function (k) { sweep.axesFixed[k] = MX.fix(sweep.axes[k]); });
    var fields = MX.columns.filter(function (c) { return c.res !== undefined || c.met !== undefined || c.id === "duration"; });
    var chosen = MX.defaultField(fields, MX.runs);
    MX.options($("hm-field"), fields.map(function (c) { return [c.id, c.label]; }), chosen ? chosen.id : null);
    $("hm-low").checked = !(chosen && MX.higherIsBetter(chosen.label));
    MX.options($("hm-x"), sweep.keys, sweep.keys[0]);
    MX.options($("hm-y"), [NONE].concat(sweep.keys), sweep.keys[1] || NONE);
    if (!MX.sweepWired) {
      $("hm-field").addEventListener("change", function () {
        var col = MX.column($("hm-field").value);
        $("hm-low").checked = !(col && MX.higherIsBetter(col.label));
        MX.drawHeatmap(MX.shownRuns);
      });
      ["hm-x", "hm-y", "hm-low"].forEach(function (id) {
        $(id).addEventListener("change", function () { MX.drawHeatmap(MX.shownRuns); });
      });
    }
    MX.sweepWired = true;
    resume(sweep);
  };

  /* a Map key for an axis value: numbers as themselves, text apart from numbers */
  function cellKey(v) {
    return typeof v === "number" ? v : (typeof v === "string" ? "s:" + v : JSON.stringify(v === undefined ? null : v));
  }

  function indexOf(values) {
    var m = new Map();
    values.forEach(function (v, i) { m.set(cellKey(v), i); });
    return m;
  }

  /* what a cell shows: its mean, and how many of its points failed, wait, are missing */
  function cellState(members, col) {
    var sum = 0, n = 0, failed = 0, waiting = 0, missing = 0, unfair = 0, done = 0, shown = null;
    for (var i = 0; i < members.length; i++) {
      var r = members[i], v = col ? MX.runValue(r, col) : undefined;
      if (MX.numeric(v)) { sum += v; n++; }
      if (r.status === "succeeded") { done++; if (shown === null) shown = v; }
      else if (r.status === "missing") missing++;
      else if (MX.FAILED[r.status]) failed++;
      else if (MX.WAITING[r.status]) waiting++;
      if (r.unfair && r.unfair.length) unfair++;
    }
    return {mean: n ? sum / n : null, n: n, size: members.length, failed: failed, waiting: waiting,
      missing: missing, unfair: unfair, shown: shown,
      state: n ? "value" : (failed ? "failed" : (waiting ? "queued" : (done ? "novalue" : "missing")))};
  }

  function describe(h, i, j) {
    var s = h.states[j * h.xs.length + i], x = h.xs[i], y = h.ys[j];
    var text = h.xKey + "=" + MX.fmt(x) + (h.yKey === NONE ? "" : ", " + h.yKey + "=" + MX.fmt(y)) + ": ";
    if (!s.size) return text + "no point";
    text += s.size + " point(s)";
    if (s.state === "value") text += ", " + h.label + " = " + MX.fmt(s.mean) + (s.n > 1 ? " (mean of " + s.n + ")" : "");
    else if (s.state === "novalue") text += ", no number for " + h.label + " (" + MX.fmt(s.shown) + ")";
    if (s.failed) text += ", " + s.failed + " failed";
    if (s.waiting) text += ", " + s.waiting + " queued or running";
    if (s.missing) text += ", " + s.missing + " missing";
    if (s.unfair) text += ", " + s.unfair + " not comparable (code or environment differs)";
    return text;
  }

  MX.drawHeatmap = function (runs) {
    var sweep = MX.data.sweeps && MX.data.sweeps[0], box = $("heatmap");
    if (!sweep || MX.data.sweeps.length !== 1) return;
    MX.clear(box);
    var col = MX.column($("hm-field").value), xKey = $("hm-x").value, yKey = $("hm-y").value;
    var xs = sweep.axesFixed[xKey] || [], ys = yKey === NONE ? [null] : (sweep.axesFixed[yKey] || []);
    var xi = indexOf(xs), yi = indexOf(ys), cells = new Array(xs.length * ys.length);
    for (var k = 0; k < cells.length; k++) cells[k] = [];
    for (var r = 0; r < runs.length; r++) {
      var run = runs[r];
      if (run.sweep !== sweep.id || !run.point) continue;
      var i = xi.get(cellKey(run.point[xKey])), j = yKey === NONE ? 0 : yi.get(cellKey(run.point[yKey]));
      if (i !== undefined && j !== undefined) cells[j * xs.length + i].push(run);
    }
    var states = cells.map(function (members) { return cellState(members, col); });
    var lo = Infinity, hi = -Infinity;
    states.forEach(function (s) { if (s.mean !== null) { lo = Math.min(lo, s.mean); hi = Math.max(hi, s.mean); } });
    var h = MX.heatmap = {states: states, cells: cells, xs: xs, ys: ys, lo: lo, hi: hi, xKey: xKey, yKey: yKey,
      label: col ? col.label : "", low: $("hm-low").checked};
    caption(sweep, h, xKey, yKey);
    if (xs.length * ys.length > DOM_CELLS) return canvasGrid(box, h);
    domGrid(box, h);
  };

  function tone(h, s) {  // 0..1 where 1 is the best value shown
    var t = h.hi > h.lo ? (s.mean - h.lo) / (h.hi - h.lo) : 0.5;
    return h.low ? 1 - t : t;
  }

  function caption(sweep, h, xKey, yKey) {
    var other = sweep.keys.filter(function (k) { return k !== xKey && k !== yKey; });
    var most = 0;
    h.states.forEach(function (s) { most = Math.max(most, s.size); });
    $("hm-caption").textContent = (h.label ? "Colour: " + h.label + " (" + (h.low ? "lowest" : "highest") + " is brightest)" : "No numeric field to colour by")
      + (most > 1 ? "; a cell is the mean over its points" + (other.length ? " (" + other.join(", ") + ")" : "") : "") + ".";
  }

  function domGrid(box, h) {
    var xs = h.xs, ys = h.ys;
    box.style.gridTemplateColumns = "auto repeat(" + xs.length + ", minmax(34px, auto))";
    box.appendChild(MX.el("div", {cls: "axis", text: (h.yKey === NONE ? "" : h.yKey + " \\ ") + h.xKey}));
    xs.forEach(function (x) { box.appendChild(MX.el("div", {cls: "axis", text: MX.fmt(x)})); });
    ys.forEach(function (y, j) {
      box.appendChild(MX.el("div", {cls: "axis", text: h.yKey === NONE ? "" : MX.fmt(y)}));
      xs.forEach(function (x, i) {
        var s = h.states[j * xs.length + i], members = h.cells[j * xs.length + i];
        var value = s.state === "value";
        var cls = "cell " + (value ? "" : s.state) + (s.unfair ? " unfair" : "")
          + (value && s.failed ? " has-failed" : "") + (value && s.waiting ? " has-waiting" : "")
          + (value && s.missing ? " has-missing" : "");
        var text = value ? MX.fmt(s.mean) : (s.state === "failed" ? "\u2715" : (s.state === "queued" ? "\u2026" : (s.state === "novalue" ? MX.fmt(s.shown) : "\u00B7")));
        var div = MX.el("div", {cls: cls, title: describe(h, i, j), "data-x": MX.fmt(x), "data-y": h.yKey === NONE ? "" : MX.fmt(y),
          "data-state": s.state, "data-value": s.mean === null ? "" : s.mean,
          "data-failed": s.failed, "data-waiting": s.waiting, "data-missing": s.missing}, [text]);
        if (value) {
          var marks = (s.failed ? "\u2715" : "") + (s.waiting ? "\u2026" : "") + (s.missing ? "\u00B7" : "");
          if (marks) div.appendChild(MX.el("span", {cls: "marks", text: marks}));
          var t = tone(h, s);
          div.style.background = MX.viridis(t);
          div.style.color = t > 0.6 ? "#111" : "#fff";
        }
        if (members.length) div.addEventListener("click", function () { MX.select(members[0].i, members); });
        box.appendChild(div);
      });
    });
  }

  /* one canvas; cells of one colour are one path, so 10,000 cells are a few hundred fills */
  function canvasGrid(box, h) {
    var xs = h.xs, ys = h.ys, size = Math.max(2, Math.min(24, Math.floor(900 / xs.length), Math.floor(600 / ys.length)));
    var left = 60, top = 18, canvas = MX.el("canvas", {width: left + xs.length * size + 4, height: top + ys.length * size + 20,
      id: "heatmap-canvas", title: (h.yKey === NONE ? "" : h.yKey + " \\ ") + h.xKey});
    box.style.gridTemplateColumns = "auto";
    box.appendChild(canvas);
    var ctx = canvas.getContext("2d");
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#333";
    ctx.fillText(h.xKey + ": " + MX.fmt(xs[0]) + " \u2192 " + MX.fmt(xs[xs.length - 1]), left, 12);
    ctx.save(); ctx.translate(12, top + ys.length * size / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(h.yKey === NONE ? "" : h.yKey + ": " + MX.fmt(ys[0]) + " \u2192 " + MX.fmt(ys[ys.length - 1]), -40, 0); ctx.restore();
    var fills = {}, frames = new Path2D(), marks = {failed: new Path2D(), waiting: new Path2D(), missing: new Path2D()};
    var gap = size > 4 ? 1 : 0, corner = Math.max(2, Math.floor(size / 3));
    h.states.forEach(function (s, k) {
      var i = k % xs.length, j = (k - i) / xs.length, X = left + i * size, Y = top + j * size;
      var colour = s.state === "value" ? MX.viridis(tone(h, s)) : STATE_COLOUR[s.state];
      (fills[colour] = fills[colour] || new Path2D()).rect(X, Y, size - gap, size - gap);
      if (s.unfair && size >= 4) frames.rect(X + 0.5, Y + 0.5, size - 2, size - 2);
      if (s.state === "value" && size >= 6) {
        var mark = s.failed ? "failed" : (s.waiting ? "waiting" : (s.missing ? "missing" : null));
        if (mark) {
          var p = marks[mark], R = X + size - gap;
          p.moveTo(R - corner, Y); p.lineTo(R, Y); p.lineTo(R, Y + corner); p.closePath();
        }
      }
    });
    Object.keys(fills).forEach(function (c) { ctx.fillStyle = c; ctx.fill(fills[c]); });
    Object.keys(marks).forEach(function (m) { ctx.fillStyle = MARK_COLOUR[m]; ctx.fill(marks[m]); });
    ctx.strokeStyle = "#d46b08"; ctx.stroke(frames);
    function at(ev) {
      var r = canvas.getBoundingClientRect(), i = Math.floor((ev.clientX - r.left - left) / size),
        j = Math.floor((ev.clientY - r.top - top) / size);
      return i >= 0 && j >= 0 && i < xs.length && j < ys.length ? [i, j] : null;
    }
    canvas.addEventListener("mousemove", function (ev) {
      var c = at(ev);
      canvas.title = c ? describe(h, c[0], c[1]) : "";
    });
    canvas.addEventListener("click", function (ev) {
      var c = at(ev), members = c && h.cells[c[1] * xs.length + c[0]];
      if (members && members.length) MX.select(members[0].i, members);
    });
  }

  function resume(sweep) {
    var box = MX.clear($("resume")), info = sweep.resume || {};
    var holes = (info.holes || []).length, waiting = (info.waiting || []).length, missing = (info.missing || []).length;
    if (!holes && !waiting && !missing) {
      box.appendChild(MX.el("p", {text: "Every point of the sweep succeeded."}));
      return;
    }
    box.appendChild(MX.el("h3", {text: "Fill the holes"}));
    var parts = [];
    if (holes) parts.push(holes + " point(s) did not succeed");
    if (missing) parts.push(missing + " have no run");
    if (waiting) parts.push(waiting + " are queued or running");
    box.appendChild(MX.el("p", {text: parts.join(", ") + "." + (info.command ? " Run this from " + info.cwd + ":" : "")}));
    if (info.command) {
      box.appendChild(MX.el("pre", {id: "resume-command", text: info.command}));
      box.appendChild(MX.copyButton(info.command));
    }
    (info.notes || []).forEach(function (n) { box.appendChild(MX.el("p", {cls: "note", text: n})); });
  }
})(MX);
