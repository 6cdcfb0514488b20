/* Learning curves from metrics.jsonl (uPlot): one run, or overlaid across the shown runs;
   with replicates collapsed, one curve per group: the mean over its runs, a band of +-1 std. */
"use strict";
(function (MX) {
  var MAX_OVERLAY = 20;
  var STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8, 1e9];
  MX.curves = {plot: null, series: []};

  MX.setupCurves = function () {
    var names = MX.metricNames();
    MX.options(document.getElementById("cv-metric"), names, names[0]);
    if (MX.curves.wired) return;
    MX.curves.wired = true;
    document.getElementById("cv-metric").addEventListener("change", function () { MX.drawCurves(MX.shownRuns); });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=cv-mode]"), function (input) {
      input.addEventListener("change", function () { MX.drawCurves(MX.shownRuns); });
    });
  };

  function mode() {
    var checked = document.querySelector("input[name=cv-mode]:checked");
    return checked ? checked.value : "overlay";
  }

  function values(list) {
    return MX.fix(list).map(function (v) { return MX.numeric(v) ? v : null; });
  }

  function curveOf(r, metric) {
    var m = r.detail && r.detail.metrics && r.detail.metrics[metric];
    return m ? [m.steps, values(m.values)] : null;
  }

  /* a curve's label: its run's swept values that differ between the curves drawn
     (a filter on batch_size=32 drops batch_size from every label) */
  function labeller(runs, skip) {
    var seen = {};
    runs.forEach(function (r) {
      Object.keys(r.point || {}).forEach(function (k) { (seen[k] = seen[k] || {})[MX.key(r.point[k])] = 1; });
    });
    var keys = Object.keys(seen).filter(function (k) { return k !== skip && Object.keys(seen[k]).length > 1; });
    return function (r) {
      var text = r.point && keys.length ? keys.map(function (k) { return k + "=" + MX.fmt(r.point[k]); }).join(" ") : (r.id || "");
      return text.length > 60 ? text.slice(0, 59) + "\u2026" : text;
    };
  }

  /* a group's curve: at each step, the mean and std of its runs' values there (the last
     value a run wrote for that step) */
  function meanCurve(curves) {
    var at = new Map();
    curves.forEach(function (c) {
      var last = new Map();
      c[0].forEach(function (step, i) { if (c[1][i] !== null) last.set(step, c[1][i]); });
      last.forEach(function (v, step) { (at.get(step) || at.set(step, []).get(step)).push(v); });
    });
    var steps = Array.from(at.keys()).sort(function (a, b) { return a - b; }), mean = [], lo = [], hi = [];
    steps.forEach(function (step) {
      var xs = at.get(step), m = xs.reduce(function (a, b) { return a + b; }, 0) / xs.length;
      var sd = xs.length > 1 ? Math.sqrt(xs.reduce(function (a, b) { return a + (b - m) * (b - m); }, 0) / (xs.length - 1)) : 0;
      mean.push(m); lo.push(m - sd); hi.push(m + sd);
    });
    return {steps: steps, mean: mean, lo: lo, hi: hi};
  }

  function bandHook(bands) {
    return function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.beginPath(); ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height); ctx.clip();
      bands.forEach(function (b) {
        var xs = u.data[0], path = new Path2D(), started = false, back = [];
        for (var i = 0; i < xs.length; i++) {
          var top = b.hi[i], bottom = b.lo[i];
          if (top === null || top === undefined) continue;
          var X = u.valToPos(xs[i], "x", true);
          if (started) path.lineTo(X, u.valToPos(top, "y", true)); else path.moveTo(X, u.valToPos(top, "y", true));
          started = true;
          back.push([X, u.valToPos(bottom, "y", true)]);
        }
        for (var j = back.length - 1; j >= 0; j--) path.lineTo(back[j][0], back[j][1]);
        ctx.fillStyle = b.colour; ctx.globalAlpha = 0.15; ctx.fill(path);
      });
      ctx.restore();
    };
  }

  MX.drawCurves = function (runs) {
    var box = document.getElementById("curves"), note = document.getElementById("curves-note");
    var metric = document.getElementById("cv-metric").value;
    if (MX.curves.plot) { MX.curves.plot.destroy(); MX.curves.plot = null; }
    MX.clear(box);
    MX.curves.series = [];
    if (!metric) {
      note.textContent = "No run shown logged metrics (ctx.log_metric in a task writes metrics.jsonl).";
      return;
    }
    var one = mode() === "one", grouped = !one && MX.currentRows && MX.currentRows.length && MX.currentRows[0].group;
    var lines = [];  // {label, steps, values, bold, band}
    var embedded = MX.runs.filter(function (r) { return r.dir; }).length - Object.keys(MX.data.details || {}).length;
    var words = [];
    if (grouped) {
      var groups = MX.currentRows.filter(function (g) { return g.members.some(function (r) { return curveOf(r, metric); }); });
      var label = labeller(groups.slice(0, MAX_OVERLAY).map(function (g) { return g.run; }), document.getElementById("collapse").value);
      groups.slice(0, MAX_OVERLAY).forEach(function (g) {
        var curves = g.members.map(function (r) { return curveOf(r, metric); }).filter(Boolean);
        var c = meanCurve(curves);
        lines.push({label: label(g.run) + " (mean of " + curves.length + ")", steps: c.steps, values: c.mean, band: c, bold: g.members.some(function (r) { return r.i === MX.selected; })});
      });
      if (groups.length > MAX_OVERLAY) words.push("The first " + MAX_OVERLAY + " of " + groups.length + " groups with " + metric + " are drawn.");
      words.push("Each line is the mean over a group's runs, the band \u00B1 one standard deviation.");
    } else {
      var chosen = one ? MX.runs.filter(function (r) { return r.i === MX.selected; }) : runs;
      var withData = chosen.filter(function (r) { return curveOf(r, metric); });
      var name = labeller(withData.slice(0, MAX_OVERLAY));
      withData.slice(0, MAX_OVERLAY).forEach(function (r) {
        var c = curveOf(r, metric);
        lines.push({label: name(r), steps: c[0], values: c[1], bold: r.i === MX.selected, run: r.id});
      });
      if (one && MX.selected === undefined) words.push("Select a run (click a row).");
      if (withData.length > MAX_OVERLAY) words.push("The first " + MAX_OVERLAY + " of " + withData.length + " runs with " + metric + " are drawn.");
    }
    if (embedded > 0) words.push("Curves are embedded for " + Object.keys(MX.data.details || {}).length
      + " of the " + (embedded + Object.keys(MX.data.details || {}).length) + " runs (molexp view --details N).");
    note.textContent = words.join(" ");
    if (!lines.length) return;
    lines.forEach(function (l) { MX.curves.series.push({run: l.run || l.label, points: l.steps.length}); });
    var tables = lines.map(function (l) { return [l.steps.slice(), l.values]; });
    var joined = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var bands = [];
    lines.forEach(function (l, j) {
      if (!l.band) return;
      var lo = new Map(), hi = new Map();
      l.band.steps.forEach(function (s, i) { lo.set(s, l.band.lo[i]); hi.set(s, l.band.hi[i]); });
      bands.push({colour: MX.palette[j % MX.palette.length],
        lo: joined[0].map(function (s) { return lo.has(s) ? lo.get(s) : null; }),
        hi: joined[0].map(function (s) { return hi.has(s) ? hi.get(s) : null; })});
    });
    var series = [{label: "step"}].concat(lines.map(function (l, j) {
      return {label: l.label, stroke: MX.palette[j % MX.palette.length],
        width: l.bold ? 2.5 : 1.2, spanGaps: true, points: {show: false}};
    }));
    var ranges = bands.length ? {y: {range: function (u, min, max) {
      bands.forEach(function (b) { b.lo.concat(b.hi).forEach(function (v) { if (MX.numeric(v)) { min = Math.min(min, v); max = Math.max(max, v); } }); });
      var pad = (max - min) * 0.05 || 1;
      return [min - pad, max + pad];
    }}} : {};
    MX.curves.plot = new uPlot({width: Math.min(960, Math.max(320, box.clientWidth || 900)), height: 320,
      title: metric, scales: Object.assign({x: {time: false}}, ranges), series: series,
      axes: [{label: "step", incrs: STEPS}, {label: metric}], legend: {live: true},
      hooks: bands.length ? {drawAxes: [bandHook(bands)]} : {}}, joined, box);
  };
})(MX);
