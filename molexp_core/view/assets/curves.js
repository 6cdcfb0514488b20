/* Learning curves from metrics.jsonl (uPlot): one run, or overlaid across the shown runs. */
"use strict";
(function (MX) {
  var MAX_OVERLAY = 20;
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
    var chosen = mode() === "one" ? MX.runs.filter(function (r) { return r.i === MX.selected; }) : runs;
    var withData = chosen.filter(function (r) { return r.detail && r.detail.metrics && r.detail.metrics[metric]; });
    var shown = withData.slice(0, MAX_OVERLAY);
    note.textContent = (mode() === "one" && MX.selected === undefined ? "Select a run (click a row). " : "")
      + (withData.length > shown.length ? "The first " + shown.length + " of " + withData.length + " runs with " + metric + " are drawn. " : "")
      + (MX.data.runs.length > Object.keys(MX.data.details || {}).length ? "Curves are embedded for " + Object.keys(MX.data.details || {}).length + " run(s) (--details)." : "");
    if (!shown.length) return;
    var tables = shown.map(function (r) {
      var m = r.detail.metrics[metric];
      MX.curves.series.push({run: r.id, points: m.steps.length});
      return [m.steps.slice(), values(m.values)];
    });
    var joined = tables.length === 1 ? tables[0] : uPlot.join(tables);
    var series = [{label: "step"}].concat(shown.map(function (r, j) {
      var label = r.point ? Object.keys(r.point).map(function (k) { return k + "=" + MX.fmt(r.point[k]); }).join(" ") : r.id;
      return {label: label.length > 60 ? label.slice(0, 59) + "\u2026" : label, stroke: MX.palette[j % MX.palette.length],
        width: r.i === MX.selected ? 2.5 : 1.2, spanGaps: true, points: {show: false}};
    }));
    MX.curves.plot = new uPlot({width: Math.min(960, Math.max(320, box.clientWidth || 900)), height: 320,
      title: metric, scales: {x: {time: false}}, series: series,
      axes: [{label: "step"}, {label: metric}], legend: {live: true}}, joined, box);
  };
})(MX);
