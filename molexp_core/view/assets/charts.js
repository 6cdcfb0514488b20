/* A scatter of any two fields and parallel coordinates, drawn by hand on canvas. */
"use strict";
(function (MX) {
  var STATUS_COLOUR = {succeeded: "#1f77b4", failed: "#c62828", cancelled: "#c62828",
    interrupted: "#c62828", lost: "#c62828", running: "#8a6d00", submitted: "#8a6d00", created: "#8a6d00"};

  function context(canvas) {
    var ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = "11px system-ui, sans-serif";
    return ctx;
  }

  MX.numericColumns = function (rows) {
    return MX.columns.filter(function (c) {
      if (c.id === "fair" || c.id === "status" || c.id === "id") return false;
      return rows.some(function (r) { return MX.numeric(MX.value(r, c)); });
    });
  };

  function extent(values) {
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (MX.numeric(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    if (lo === Infinity) return null;
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    return [lo, hi];
  }

  function log10(v) { return MX.numeric(v) && v > 0 ? Math.log10(v) : NaN; }
  function pow10(v) { return Math.pow(10, v); }
  function wantsLog(values) {
    var nums = values.filter(MX.numeric);
    if (nums.length < 3 || nums.some(function (v) { return v <= 0; })) return false;
    return Math.max.apply(null, nums) / Math.min.apply(null, nums) >= 50;
  }

  MX.drawScatter = function (rows, xId, yId) {
    var canvas = document.getElementById("scatter"), ctx = context(canvas);
    var x = MX.column(xId), y = MX.column(yId), W = canvas.width, H = canvas.height, P = 58;
    MX.scatterPoints = [];
    if (!x || !y) { ctx.fillText("no numeric fields to plot", 20, 30); return; }
    var xs = rows.map(function (r) { return MX.value(r, x); }), ys = rows.map(function (r) { return MX.value(r, y); });
    var logX = wantsLog(xs), logY = wantsLog(ys);  // e.g. learning rates over decades
    if (logX) xs = xs.map(log10);
    if (logY) ys = ys.map(log10);
    var ex = extent(xs), ey = extent(ys);
    if (!ex || !ey) { ctx.fillText("no run has both " + x.label + " and " + y.label, 20, 30); return; }
    function px(v) { return P + (v - ex[0]) / (ex[1] - ex[0]) * (W - P - 12); }
    function py(v) { return H - P + 10 - (v - ey[0]) / (ey[1] - ey[0]) * (H - P - 10); }
    axes(ctx, W, H, P, logX ? ex.map(pow10) : ex, logY ? ey.map(pow10) : ey,
      x.label + (logX ? " (log)" : ""), y.label + (logY ? " (log)" : ""));
    var statusCol = MX.column("status"), fairCol = MX.column("fair");
    if (rows.length > 2000) return bulkScatter(ctx, rows, xs, ys, px, py, statusCol, fairCol);
    rows.forEach(function (r, i) {
      if (!MX.numeric(xs[i]) || !MX.numeric(ys[i])) return;
      var cx = px(xs[i]), cy = py(ys[i]);
      if (r.group && r.std[y.id]) {
        ctx.strokeStyle = "#999"; ctx.beginPath();
        ctx.moveTo(cx, py(ys[i] - r.std[y.id])); ctx.lineTo(cx, py(ys[i] + r.std[y.id])); ctx.stroke();
      }
      ctx.fillStyle = STATUS_COLOUR[MX.value(r, statusCol)] || "#555";
      ctx.beginPath(); ctx.arc(cx, cy, rows.length > 2000 ? 2 : 4, 0, 2 * Math.PI); ctx.fill();
      if (MX.value(r, fairCol)) {
        ctx.strokeStyle = "#d46b08"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(cx, cy, 7, 0, 2 * Math.PI); ctx.stroke(); ctx.lineWidth = 1;
      }
      if (MX.selected === r.run.i) { ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.arc(cx, cy, 9, 0, 2 * Math.PI); ctx.stroke(); }
      MX.scatterPoints.push([cx, cy, r.run.i]);
    });
  };

  /* many points: one path per colour, squares instead of circles */
  function bulkScatter(ctx, rows, xs, ys, px, py, statusCol, fairCol) {
    var paths = {}, ring = new Path2D();
    rows.forEach(function (r, i) {
      if (!MX.numeric(xs[i]) || !MX.numeric(ys[i])) return;
      var cx = px(xs[i]), cy = py(ys[i]), colour = STATUS_COLOUR[MX.value(r, statusCol)] || "#555";
      (paths[colour] = paths[colour] || new Path2D()).rect(cx - 1.5, cy - 1.5, 3, 3);
      if (MX.value(r, fairCol)) { ring.moveTo(cx + 5, cy); ring.arc(cx, cy, 5, 0, 2 * Math.PI); }
      MX.scatterPoints.push([cx, cy, r.run.i]);
    });
    Object.keys(paths).forEach(function (c) { ctx.fillStyle = c; ctx.fill(paths[c]); });
    ctx.strokeStyle = "#d46b08"; ctx.stroke(ring);
  }

  function axes(ctx, W, H, P, ex, ey, xl, yl) {
    ctx.strokeStyle = "#999"; ctx.fillStyle = "#444";
    ctx.beginPath(); ctx.moveTo(P, 10); ctx.lineTo(P, H - P + 10); ctx.lineTo(W - 10, H - P + 10); ctx.stroke();
    ctx.fillText(MX.fmt(ex[0]), P, H - P + 24); ctx.textAlign = "right";
    ctx.fillText(MX.fmt(ex[1]), W - 12, H - P + 24); ctx.fillText(MX.fmt(ey[1]), P - 4, 18);
    ctx.fillText(MX.fmt(ey[0]), P - 4, H - P + 8); ctx.textAlign = "center";
    ctx.fillText(xl, (W + P) / 2, H - 8);
    ctx.save(); ctx.translate(12, (H - P) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yl, 0, 0); ctx.restore();
    ctx.textAlign = "left";
  }

  document.getElementById("scatter").addEventListener("click", function (ev) {
    var rect = this.getBoundingClientRect(), x = (ev.clientX - rect.left) * this.width / rect.width,
      y = (ev.clientY - rect.top) * this.height / rect.height, best = null, dist = 100;
    (MX.scatterPoints || []).forEach(function (p) {
      var d = (p[0] - x) * (p[0] - x) + (p[1] - y) * (p[1] - y);
      if (d < dist) { dist = d; best = p[2]; }
    });
    if (best !== null) MX.select(best);
  });

  /* parallel coordinates: one axis per varying config key, the chosen field last (colour) */
  MX.drawParcoords = function (rows, fieldId) {
    var canvas = document.getElementById("parcoords"), ctx = context(canvas), W = canvas.width, H = canvas.height;
    var field = MX.column(fieldId);
    var collapsed = document.getElementById("collapse").value;  // one axis less when collapsed
    var dims = MX.columns.filter(function (c) { return c.cfg !== undefined && c.cfg !== collapsed; });
    if (field) dims = dims.concat([field]);
    if (dims.length < 2) { ctx.fillText("parallel coordinates need two varying keys or fields", 20, 30); return; }
    var scales = dims.map(function (d) {
      var vals = rows.map(function (r) { return MX.value(r, d); });
      var nums = vals.filter(MX.numeric);
      if (nums.length === vals.filter(function (v) { return !MX.isMissing(v); }).length && nums.length) {
        var e = extent(nums);
        return {num: true, lo: e[0], hi: e[1], at: function (v) { return MX.numeric(v) ? (v - e[0]) / (e[1] - e[0]) : null; }};
      }
      var cats = [];
      vals.forEach(function (v) { var k = MX.fmt(v); if (cats.indexOf(k) < 0) cats.push(k); });
      cats.sort();
      return {num: false, cats: cats, at: function (v) { return cats.length < 2 ? 0.5 : cats.indexOf(MX.fmt(v)) / (cats.length - 1); }};
    });
    var top = 32, bottom = H - 30, left = 40, step = (W - 2 * left) / (dims.length - 1);
    var colour = scales[scales.length - 1];
    ctx.globalAlpha = rows.length > 1000 ? 0.15 : 0.6;
    var buckets = {};  // one path per colour: 10,000 lines in a few strokes
    rows.forEach(function (r) {
      var cv = MX.value(r, dims[dims.length - 1]), t = colour.num ? colour.at(cv) : null;
      var c = t === null ? "#bbb" : MX.viridis(1 - Math.round(t * 31) / 31);
      var path = buckets[c] = buckets[c] || new Path2D();
      var pen = false;
      dims.forEach(function (d, j) {
        var a = scales[j].at(MX.value(r, d));
        if (a === null || a < 0) { pen = false; return; }
        var X = left + j * step, Y = bottom - a * (bottom - top);
        if (pen) path.lineTo(X, Y); else path.moveTo(X, Y);
        pen = true;
      });
    });
    Object.keys(buckets).forEach(function (c) { ctx.strokeStyle = c; ctx.stroke(buckets[c]); });
    ctx.globalAlpha = 1; ctx.fillStyle = "#222"; ctx.strokeStyle = "#666"; ctx.textAlign = "center";
    dims.forEach(function (d, j) {
      var X = left + j * step, s = scales[j];
      ctx.beginPath(); ctx.moveTo(X, top); ctx.lineTo(X, bottom); ctx.stroke();
      ctx.fillText(d.label.length > 22 ? d.label.slice(0, 21) + "\u2026" : d.label, X, 12);
      ctx.fillText(s.num ? MX.fmt(s.lo) : (s.cats[0] || ""), X, bottom + 14);
      ctx.fillText(s.num ? MX.fmt(s.hi) : (s.cats[s.cats.length - 1] || ""), X, top - 4);
    });
    ctx.textAlign = "left";
  };
})(MX);
