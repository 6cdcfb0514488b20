/* Wiring: read the data block, draw every part, redraw on filter, sort and choices. */
"use strict";
(function (MX) {
  function $(id) { return document.getElementById(id); }

  function header(data) {
    var profiles = {};
    data.runs.forEach(function (r) { profiles[r.profile === null ? "(none)" : r.profile] = 1; });
    var names = Object.keys(profiles);
    $("subtitle").textContent = data.how + " \u00B7 " + data.runs.length + " run(s)"
      + (names.length === 1 ? " \u00B7 profile " + names[0] : "") + " \u00B7 runs root " + data.root
      + " \u00B7 built " + data.generated_at + " by molexp " + data.molexp_version;
    var notes = MX.clear($("notes"));
    (data.notes || []).forEach(function (n) { notes.appendChild(MX.el("li", {text: n})); });
  }

  function setupControls() {
    var cfg = MX.columns.filter(function (c) { return c.cfg !== undefined; });
    MX.options($("collapse"), [["", "(none)"]].concat(cfg.map(function (c) { return [c.cfg, c.cfg]; })), "");
    var all = MX.runs.map(function (r) { return {run: r}; }), nums = MX.numericColumns(all);
    var opts = nums.map(function (c) { return [c.id, c.label]; });
    var firstCfg = MX.defaultField(nums.filter(function (c) { return c.cfg !== undefined; }), MX.runs);
    var firstRes = MX.defaultField(nums.filter(function (c) { return c.res !== undefined || c.met !== undefined; }), MX.runs);
    MX.options($("sc-x"), opts, (firstCfg || nums[0] || {}).id);
    MX.options($("sc-y"), opts, (firstRes || nums[1] || nums[0] || {}).id);
    var fields = MX.columns.filter(function (c) { return c.res !== undefined || c.met !== undefined || c.id === "duration"; });
    MX.options($("pc-field"), fields.map(function (c) { return [c.id, c.label]; }), (firstRes || fields[0] || {}).id);
    $("varying").textContent = MX.data.varying.length ? "Varying across the runs shown: " + MX.data.varying.join(", ")
      + " (columns of the table)." : "Every run shown has the same config.";
    var common = MX.clear($("common-body"));
    Object.keys(MX.data.common).forEach(function (k) {
      common.appendChild(MX.el("tr", null, [MX.el("td", {text: k}), MX.el("td", {text: MX.fmt(MX.data.common[k])})]));
    });
    $("common-count").textContent = String(Object.keys(MX.data.common).length);
  }

  MX.rows = function () {
    var key = $("collapse").value;
    return key ? MX.collapse(MX.shownRuns, key) : MX.shownRuns.map(function (r) { return {run: r}; });
  };

  MX.refresh = function () {
    MX.shownRuns = MX.applyFilter($("filter").value);
    var unfair = MX.fairness(MX.shownRuns);
    var rows = MX.rows();
    MX.currentRows = rows;
    MX.drawTable(rows);
    var counts = {};
    MX.shownRuns.forEach(function (r) { counts[r.status] = (counts[r.status] || 0) + 1; });
    $("counts").textContent = Object.keys(counts).map(function (s) { return counts[s] + " " + s; }).join(", ");
    $("shown").textContent = MX.shownRuns.length + " of " + MX.runs.length + " shown" + (rows.length !== MX.shownRuns.length ? ", " + rows.length + " group(s)" : "");
    var fair = $("fairness");
    MX.clear(fair);
    if (unfair) fair.appendChild(MX.el("span", {cls: "badge unfair", text: "\u26A0 " + unfair + " run(s) ran other code or another environment than most",
      title: "their script hash, git commit or dirty state, or environment differs from the majority of the runs shown"}));
    MX.drawHeatmap(MX.shownRuns);
    later();
  };

  /* the charts below the table are drawn just after it, one per task of the browser's
     event loop, so that a click or a key between them is answered at once; a refresh
     while they are being drawn starts them again from its own data */
  var chain = 0;
  function later() {
    var token = ++chain;
    var steps = [function () { MX.drawScatter(MX.currentRows, $("sc-x").value, $("sc-y").value); },
      function () { MX.drawParcoords(MX.currentRows, $("pc-field").value); },
      function () { MX.drawCurves(MX.shownRuns); }];
    (function next() {
      setTimeout(function () {
        if (token !== chain) return;
        steps.shift()();
        if (steps.length) return next();
        if (!MX.ready) {
          MX.ready = performance.now();
          document.body.setAttribute("data-ready", "1");
        }
      }, 0);
    })();
  }

  MX.drawCharts = function () {
    MX.drawScatter(MX.currentRows, $("sc-x").value, $("sc-y").value);
    MX.drawParcoords(MX.currentRows, $("pc-field").value);
  };

  MX.redrawSelection = function () {
    MX.table.version++;
    MX.drawTable(MX.currentRows);
    MX.drawScatter(MX.currentRows, $("sc-x").value, $("sc-y").value);
    var one = document.querySelector("input[name=cv-mode]:checked");
    MX.drawCurves(MX.shownRuns);
    return one;
  };

  function start(data) {
    MX.load(data);
    header(data);
    setupControls();
    MX.setupSweep();
    MX.setupCurves();
    MX.refresh();
  }

  try {
    start(JSON.parse($("molexp-data").textContent));
    var timer = null;
    $("filter").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(MX.refresh, 120);
    });
    ["collapse"].forEach(function (id) { $(id).addEventListener("change", MX.refresh); });
    ["sc-x", "sc-y", "pc-field"].forEach(function (id) { $(id).addEventListener("change", MX.drawCharts); });
    var every = Number(document.body.getAttribute("data-refresh"));
    if (every > 0) {
      setInterval(function () {
        fetch("data.json", {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (data) {
          var selected = MX.selected, kept = {};
          Array.prototype.forEach.call(document.querySelectorAll("select"), function (s) { kept[s.id] = s.value; });
          start(data);  // the choices made so far stay where the new data has them
          Object.keys(kept).forEach(function (id) {
            var s = $(id);
            if (Array.prototype.some.call(s.options, function (o) { return o.value === kept[id]; })) s.value = kept[id];
          });
          MX.refresh();
          if (selected !== undefined && MX.runs[selected] && !$("panel").hidden) MX.select(selected);
        }).catch(function (e) { console.warn("molexp view: refresh failed", e); });
      }, every * 1000);
    }
  } catch (e) {
    var notes = $("notes");
    notes.appendChild(MX.el("li", {text: "The page could not be drawn: " + e}));
    throw e;
  }
  MX.interactive = performance.now();  // the table, the filter and the heatmap answer
})(MX);
