/* The run panel: config, provenance, tasks and results, error text, logs, curves, artifacts. */
"use strict";
(function (MX) {
  function kv(pairs) {
    return MX.el("table", {cls: "kv"}, [MX.el("tbody", null, pairs.filter(function (p) {
      return p[1] !== undefined && p[1] !== null && p[1] !== "";
    }).map(function (p) {
      return MX.el("tr", {cls: p[2] || null}, [MX.el("td", {text: p[0]}), MX.el("td", {text: typeof p[1] === "string" ? p[1] : MX.fmt(p[1])})]);
    }))]);
  }

  /* ``members``: the runs of the table's group or the heatmap's cell that was clicked
     (replicates, the points of other swept keys): the panel lets one pick among them */
  MX.select = function (i, members) {
    MX.selected = i;
    var r = MX.runs[i], box = MX.clear(document.getElementById("panel-body"));
    document.getElementById("panel").hidden = false;
    var d = r.detail || {};
    if (members && members.length > 1) {
      box.appendChild(MX.el("p", {cls: "note", text: members.length + " runs here:"}));
      box.appendChild(MX.el("div", {cls: "members"}, members.map(function (m) {
        var label = m.point ? Object.keys(m.point).map(function (k) { return k + "=" + MX.fmt(m.point[k]); }).join(" ") : (m.id || "");
        return MX.el("button", {type: "button", cls: "member status-" + m.status + (m.i === i ? " current" : ""),
          text: label + " (" + m.status + ")", onclick: function () { MX.select(m.i, members); }});
      })));
    }
    box.appendChild(MX.el("h2", {text: r.id || "(no run)"}));
    box.appendChild(MX.el("p", {cls: "status-" + r.status, text: r.status + (r.duration != null ? ", " + MX.duration(r.duration) : "")}));
    if (r.unfair && r.unfair.length) box.appendChild(MX.el("p", null, [MX.el("span", {cls: "badge unfair", text: "\u26A0 not a fair comparison"}), " " + MX.unfairText(r)]));
    if (r.id) box.appendChild(MX.el("pre", {text: "molexp show " + r.id}));
    if (r.error || d.error) {
      box.appendChild(MX.el("h3", {text: "Error"}));
      box.appendChild(MX.el("pre", {cls: "error", text: d.error || r.error}));
    }
    if (!r.detail && r.dir) box.appendChild(MX.el("p", {cls: "note", text: "Details of this run are not in the page (it holds "
      + Object.keys(MX.data.details || {}).length + "; molexp view --details N holds more): molexp show " + r.id}));
    box.appendChild(MX.el("h3", {text: "Tasks"}));
    var tasks = d.tasks || {};
    Object.keys(r.tasks || {}).forEach(function (name) {
      var t = tasks[name] || {status: r.tasks[name]};
      box.appendChild(MX.el("p", null, [MX.el("b", {text: name}), " ", MX.el("span", {cls: "status-" + t.status, text: t.status || "?"}),
        t.attempt ? " (attempt " + t.attempt + ")" : ""]));
      if (t.result) box.appendChild(MX.el("pre", {text: t.result}));
      if (t.result_error) box.appendChild(MX.el("p", {cls: "note", text: "result not shown: " + t.result_error}));
      if (t.error && t.error !== (d.error || r.error)) box.appendChild(MX.el("pre", {cls: "error", text: t.error}));
    });
    box.appendChild(MX.el("h3", {text: "Config"}));
    var rows = Object.keys(r.config).map(function (k) { return [k, r.config[k], "vary"]; });
    Object.keys(MX.data.common).forEach(function (k) { rows.push([k, MX.data.common[k]]); });
    box.appendChild(kv(rows));
    box.appendChild(MX.el("h3", {text: "Provenance"}));
    var p = r.prov || {}, git = d.git || {};
    box.appendChild(kv([["profile", r.profile || "(none)"], ["script", d.script], ["script sha256", p.script],
      ["git commit", p.git || (r.detail && !d.git ? "none (not in a git work tree)" : null)], ["git branch", git.branch],
      ["git dirty", p.git ? (p.dirty === null || p.dirty === undefined ? "unknown" : p.dirty) : null],
      ["git diff", git.diff_file], ["environment", p.env], ["python", d.python], ["platform", d.platform], ["host", d.host],
      ["molexp", d.molexp_version], ["config file", d.config_file], ["overrides", (d.overrides || []).join(" ")],
      ["config hash", d.config_hash], ["sweep", r.sweep ? r.sweep + " #" + r.index : null],
      ["scheduler", d.scheduler ? [d.scheduler.name, d.scheduler.job_id, d.scheduler.state].filter(Boolean).join(" ") : null],
      ["created", d.created_at || r.created], ["started", d.started_at], ["finished", d.finished_at], ["attempts", d.attempts],
      ["run dir", r.dir]]));
    var metrics = d.metrics || {};
    if (Object.keys(metrics).length) {
      box.appendChild(MX.el("h3", {text: "Metrics"}));
      box.appendChild(kv(Object.keys(metrics).map(function (m) {
        var s = metrics[m];
        return [m, "last " + MX.fmt(MX.fix(s.last)) + ", min " + MX.fmt(MX.fix(s.min)) + ", max " + MX.fmt(MX.fix(s.max)) + ", " + s.count + " value(s)"];
      })));
    }
    (d.notes || []).forEach(function (n) { box.appendChild(MX.el("p", {cls: "note", text: n})); });
    var artifacts = d.artifacts || {};
    if (Object.keys(artifacts).length) {
      box.appendChild(MX.el("h3", {text: "Artifacts"}));
      Object.keys(artifacts).forEach(function (task) {
        var a = artifacts[task];
        box.appendChild(MX.el("p", {text: task + ": " + (a.dir || "") + (a.error ? " (" + a.error + ")" : "")
          + (a.skipped ? ", " + a.skipped + " skipped" : "")}));
        box.appendChild(MX.el("table", {cls: "kv artifacts"}, [MX.el("tbody", null, a.files.map(function (f) {
          return MX.el("tr", null, [MX.el("td", {text: f.path}), MX.el("td", {text: MX.fmt(f.size) + " B"}),
            MX.el("td", {text: f.sha256 ? String(f.sha256).slice(0, 16) : "\u2014", title: f.sha256 || ""})]);
        }))]));
        if (a.more) box.appendChild(MX.el("p", {cls: "note", text: a.more + " more file(s)"}));
      });
    }
    Object.keys(d.logs || {}).forEach(function (name) {
      box.appendChild(MX.el("h3", {text: name + " (tail)"}));
      var log = box.appendChild(MX.el("pre", {cls: "log", text: d.logs[name] || "(empty)"}));
      log.scrollTop = log.scrollHeight;  // a tail: its end first
    });
    MX.redrawSelection();
  };

  document.getElementById("panel-close").addEventListener("click", function () {
    document.getElementById("panel").hidden = true;
  });
})(MX);
