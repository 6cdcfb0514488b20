/* A sweep: the heatmap of one field over two swept keys, and the command that fills its holes. */
"use strict";
(function (MX) {
  var NONE = "(none)";

  MX.setupSweep = function () {
    var sweep = MX.data.sweeps && MX.data.sweeps[0];
    if (!sweep || MX.data.sweeps.length !== 1) return;
    document.getElementById("sweep-section").hidden = false;
    sweep.axesFixed = {};
    sweep.keys.forEach(function (k) { sweep.axesFixed[k] = MX.fix(sweep.axes[k]); });
    var fields = MX.columns.filter(function (c) { return c.res !== undefined || c.met !== undefined || c.id === "duration"; });
    MX.options(document.getElementById("hm-field"), fields.map(function (c) { return [c.id, c.label]; }),
      fields.length ? fields[0].id : null);
    MX.options(document.getElementById("hm-x"), sweep.keys, sweep.keys[0]);
    MX.options(document.getElementById("hm-y"), [NONE].concat(sweep.keys), sweep.keys[1] || NONE);
    if (!MX.sweepWired) ["hm-field", "hm-x", "hm-y", "hm-low"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", function () { MX.drawHeatmap(MX.shownRuns); });
    });
    MX.sweepWired = true;
    resume(sweep);
  };

  function cellState(members, col) {
    var vals = [], failed = 0, waiting = 0, unfair = 0, done = 0, shown = null;
    members.forEach(function (r) {
      var v = MX.runValue(r, col);
      if (MX.numeric(v)) vals.push(v);
      if (r.status === "succeeded") { done++; if (shown === null) shown = v; }
      if (MX.FAILED[r.status] || r.status === "missing") failed += r.status === "missing" ? 0 : 1;
      if (MX.WAITING[r.status]) waiting++;
      if (r.unfair && r.unfair.length) unfair++;
    });
    var mean = vals.length ? vals.reduce(function (a, b) { return a + b; }, 0) / vals.length : null;
    return {mean: mean, n: vals.length, failed: failed, waiting: waiting, unfair: unfair,
      shown: shown, state: vals.length ? "value" : (failed ? "failed" : (waiting ? "queued" : (done ? "novalue" : "missing")))};
  }

  MX.drawHeatmap = function (runs) {
    var sweep = MX.data.sweeps && MX.data.sweeps[0], box = document.getElementById("heatmap");
    if (!sweep || MX.data.sweeps.length !== 1) return;
    MX.clear(box);
    var col = MX.column(document.getElementById("hm-field").value);
    var xKey = document.getElementById("hm-x").value, yKey = document.getElementById("hm-y").value;
    var low = document.getElementById("hm-low").checked;
    var xs = sweep.axesFixed[xKey] || [], ys = yKey === NONE ? [null] : (sweep.axesFixed[yKey] || []);
    var cells = {};
    runs.forEach(function (r) {
      if (r.sweep !== sweep.id || !r.point) return;
      var k = MX.key(r.point[xKey]) + "|" + (yKey === NONE ? "" : MX.key(r.point[yKey]));
      (cells[k] = cells[k] || []).push(r);
    });
    var states = {}, lo = Infinity, hi = -Infinity;
    Object.keys(cells).forEach(function (k) {
      var s = states[k] = cellState(cells[k], col || {});
      if (s.mean !== null) { lo = Math.min(lo, s.mean); hi = Math.max(hi, s.mean); }
    });
    MX.heatmap = {states: states, cells: cells, xs: xs, ys: ys, lo: lo, hi: hi};
    if (xs.length * ys.length > DOM_CELLS) return canvasGrid(box, xs, ys, xKey, yKey, low);
    box.style.gridTemplateColumns = "auto repeat(" + xs.length + ", minmax(34px, auto))";
    box.appendChild(MX.el("div", {cls: "axis", text: (yKey === NONE ? "" : yKey + " \\ ") + xKey}));
    xs.forEach(function (x) { box.appendChild(MX.el("div", {cls: "axis", text: MX.fmt(x)})); });
    ys.forEach(function (y) {
      box.appendChild(MX.el("div", {cls: "axis", text: yKey === NONE ? "" : MX.fmt(y)}));
      xs.forEach(function (x) {
        var k = MX.key(x) + "|" + (yKey === NONE ? "" : MX.key(y)), s = states[k] || cellState([], col || {});
        var members = cells[k] || [];
        var cls = "cell " + (s.state === "value" ? "" : s.state) + (s.state === "value" && s.failed ? " has-failed" : "")
          + (s.unfair ? " unfair" : "");
        var text = s.state === "value" ? MX.fmt(s.mean) : (s.state === "failed" ? "\u2715" : (s.state === "queued" ? "\u2026" : (s.state === "novalue" ? MX.fmt(s.shown) : "\u00B7")));
        var title = xKey + "=" + MX.fmt(x) + (yKey === NONE ? "" : ", " + yKey + "=" + MX.fmt(y)) + ": "
          + (members.length ? members.length + " point(s)" : "no point") + (s.state === "value" ? ", " + (col ? col.label : "") + " = " + MX.fmt(s.mean) + (s.n > 1 ? " (mean of " + s.n + ")" : "") : "")
          + (s.failed ? ", " + s.failed + " failed" : "") + (s.waiting ? ", " + s.waiting + " queued or running" : "")
          + (s.unfair ? ", " + s.unfair + " not comparable (code or environment differs)" : "");
        var div = MX.el("div", {cls: cls, text: text, title: title, "data-x": MX.fmt(x), "data-y": yKey === NONE ? "" : MX.fmt(y),
          "data-state": s.state, "data-value": s.mean === null ? "" : s.mean});
        if (s.state === "value" && hi >= lo) {
          var t = hi > lo ? (s.mean - lo) / (hi - lo) : 0.5;
          div.style.background = MX.viridis(low ? 1 - t : t);
          div.style.color = (low ? 1 - t : t) > 0.6 ? "#111" : "#fff";
        }
        if (members.length) div.addEventListener("click", function () { MX.select(members[0].i); });
        box.appendChild(div);
      });
    });
  };

  var DOM_CELLS = 1600;  // larger grids are drawn on a canvas: 10,000 elements are slow
  var STATE_COLOUR = {failed: "#e57373", queued: "#ffe082", missing: "#eeeeee", novalue: "#bdbdbd"};

  function keyOf(x, y, yKey) { return MX.key(x) + "|" + (yKey === NONE ? "" : MX.key(y)); }

  function canvasGrid(box, xs, ys, xKey, yKey, low) {
    var h = MX.heatmap, size = Math.max(2, Math.min(24, Math.floor(900 / xs.length), Math.floor(600 / ys.length)));
    var left = 60, top = 18, canvas = MX.el("canvas", {width: left + xs.length * size + 4, height: top + ys.length * size + 20,
      id: "heatmap-canvas", title: yKey + " \\ " + xKey});
    box.style.gridTemplateColumns = "auto";
    box.appendChild(canvas);
    var ctx = canvas.getContext("2d");
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#333";
    ctx.fillText(xKey + ": " + MX.fmt(xs[0]) + " \u2192 " + MX.fmt(xs[xs.length - 1]), left, 12);
    ctx.save(); ctx.translate(12, top + ys.length * size / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText(yKey === NONE ? "" : yKey, -20, 0); ctx.restore();
    ys.forEach(function (y, j) {
      xs.forEach(function (x, i) {
        var s = h.states[keyOf(x, y, yKey)] || {state: "missing"};
        if (s.state === "value") {
          var t = h.hi > h.lo ? (s.mean - h.lo) / (h.hi - h.lo) : 0.5;
          ctx.fillStyle = MX.viridis(low ? 1 - t : t);
        } else ctx.fillStyle = STATE_COLOUR[s.state];
        ctx.fillRect(left + i * size, top + j * size, size - (size > 4 ? 1 : 0), size - (size > 4 ? 1 : 0));
        if (s.unfair && size >= 4) {
          ctx.strokeStyle = "#d46b08"; ctx.strokeRect(left + i * size + 0.5, top + j * size + 0.5, size - 2, size - 2);
        }
      });
    });
    function at(ev) {
      var r = canvas.getBoundingClientRect(), i = Math.floor((ev.clientX - r.left - left) / size),
        j = Math.floor((ev.clientY - r.top - top) / size);
      return i >= 0 && j >= 0 && i < xs.length && j < ys.length ? keyOf(xs[i], ys[j], yKey) : null;
    }
    canvas.addEventListener("mousemove", function (ev) {
      var k = at(ev), s = k && h.states[k];
      canvas.title = k ? (s ? s.state + (s.mean !== null ? " " + MX.fmt(s.mean) : "") : "no point") : "";
    });
    canvas.addEventListener("click", function (ev) {
      var k = at(ev);
      if (k && h.cells[k]) MX.select(h.cells[k][0].i);
    });
  }

  function resume(sweep) {
    var box = MX.clear(document.getElementById("resume")), info = sweep.resume || {};
    var holes = (info.holes || []).length, waiting = (info.waiting || []).length, missing = (info.missing || []).length;
    if (!holes && !waiting && !missing) {
      box.appendChild(MX.el("p", {text: "Every point of the sweep succeeded."}));
      return;
    }
    box.appendChild(MX.el("h3", {text: "Fill the holes"}));
    box.appendChild(MX.el("p", {text: holes + " point(s) did not succeed" + (waiting ? ", " + waiting + " queued or running" : "")
      + (missing ? ", " + missing + " missing" : "") + ". Run this from " + info.cwd + ":"}));
    if (info.command) {
      box.appendChild(MX.el("pre", {id: "resume-command", text: info.command}));
      box.appendChild(MX.copyButton(info.command));
    }
    (info.notes || []).forEach(function (n) { box.appendChild(MX.el("p", {cls: "note", text: n})); });
  }
})(MX);
