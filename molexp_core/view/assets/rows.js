/* The model: runs, columns, the filter, "is this comparison fair?", replicates. */
"use strict";
(function (MX) {
  var FAILED = {failed: 1, cancelled: 1, interrupted: 1, lost: 1, corrupt: 1};
  var WAITING = {created: 1, submitted: 1, running: 1};
  MX.FAILED = FAILED; MX.WAITING = WAITING;

  /* The data block's runs are columns (format 2, see view/columns.py): one object per
     run is made here, with the same fields the rest of the page reads. */
  function isAbsent(v) { return v !== null && typeof v === "object" && v.$absent === 1; }

  function decode(data) {
    var c = data.runs, n = c.count, runs = new Array(n), dirs = data.dirs || [], ids = data.sweep_ids || [];
    var provs = data.provs || [], states = data.task_states || [], details = data.details || {};
    var parts = [["point", c.point || {}], ["config", c.config || {}], ["results", c.results || {}], ["metrics", c.metrics || {}]];
    for (var i = 0; i < n; i++) {
      var where = c.dir[i], id = c.id[i];
      runs[i] = {i: i, id: id, status: c.status[i], profile: c.profile[i], script: c.script[i],
        dir: typeof where === "number" ? dirs[where] + "/" + id : where,
        sweep: c.sweep[i] === null ? null : ids[c.sweep[i]], index: c.index[i], created: c.created[i],
        duration: c.duration[i], prov: c.prov[i] === null ? {} : provs[c.prov[i]],
        tasks: c.tasks[i] === null ? {} : states[c.tasks[i]], error: c.error[i],
        point: null, config: {}, results: {}, metrics: {}, detail: details[String(i)] || null};
    }
    parts.forEach(function (part) {
      var name = part[0], cols = part[1], keyed = name === "point" || name === "config";
      Object.keys(cols).forEach(function (key) {
        var col = cols[key];
        for (var i = 0; i < n; i++) {
          var v = col[i];
          if (keyed ? isAbsent(v) : v === null) continue;
          var run = runs[i];
          if (name === "point" && !run.point) run.point = {};
          run[name][key] = v !== null && typeof v === "object" ? MX.fix(v) : v;
        }
      });
    });
    return runs;
  }

  MX.load = function (data) {
    data.common = MX.fix(data.common || {});
    MX.data = data;
    MX.runs = data.runs = decode(data);
    MX.columns = columns(data);
  };

  function columns(data) {
    var cols = [{id: "status", label: "status"}, {id: "fair", label: "fair?"}, {id: "id", label: "run"}];
    var scripts = {}, profiles = {}, sweeps = {};
    data.runs.forEach(function (r) { scripts[r.script] = 1; profiles[r.profile] = 1; sweeps[r.sweep] = 1; });
    if (Object.keys(scripts).length > 1) cols.push({id: "script", label: "script"});
    if (Object.keys(profiles).length > 1) cols.push({id: "profile", label: "profile"});  // else: the subtitle
    if (Object.keys(sweeps).length > 1) cols.push({id: "sweep", label: "sweep"});
    if (data.runs.some(function (r) { return r.index !== null && r.index !== undefined; }))
      cols.push({id: "#", label: "#", num: true});
    var pointKeys = [];
    (data.sweeps || []).forEach(function (s) { s.keys.forEach(function (k) { if (pointKeys.indexOf(k) < 0) pointKeys.push(k); }); });
    var cfg = pointKeys.filter(function (k) { return data.varying.indexOf(k) >= 0; })
      .concat(data.varying.filter(function (k) { return pointKeys.indexOf(k) < 0; }));
    cfg.forEach(function (k) { cols.push({id: "cfg:" + k, label: k, cfg: k}); });
    var fields = data.fields.map(function (f) { return {id: "res:" + f, label: f, res: f}; })
      .concat(MX.metricNames().map(function (m) { return {id: "met:" + m, label: m + " (last)", met: m}; }));
    // diff-first for results too: a field with one value in every run comes after the others
    var same = fields.filter(function (c) { return constant(data.runs, c); });
    fields.filter(function (c) { return same.indexOf(c) < 0; }).concat(same).forEach(function (c) {
      if (same.indexOf(c) >= 0) c.constant = true;
      cols.push(c);
    });
    cols.push({id: "duration", label: "duration", num: true});
    return cols;
  }

  function constant(runs, col) {
    var first, seen = false;
    for (var i = 0; i < runs.length; i++) {
      var v = MX.runValue(runs[i], col);
      if (v === undefined || v === null) continue;
      var k = MX.key(v);
      if (!seen) { first = k; seen = true; } else if (k !== first) return false;
    }
    return seen;
  }

  /* metrics with a last value in the table, then those only the embedded curves have */
  MX.metricNames = function () {
    var names = (MX.data && MX.data.metric_names || []).slice();
    (MX.data ? MX.data.runs : []).forEach(function (r) {
      if (r.detail && r.detail.metrics) Object.keys(r.detail.metrics).forEach(function (m) {
        if (names.indexOf(m) < 0) names.push(m);
      });
    });
    return names;
  };

  MX.column = function (id) {
    return MX.columns.filter(function (c) { return c.id === id; })[0] || null;
  };

  MX.runValue = function (r, col) {
    if (col.cfg !== undefined) return Object.prototype.hasOwnProperty.call(r.config, col.cfg) ? r.config[col.cfg] : (r.point && col.cfg in r.point ? r.point[col.cfg] : MX.data.common[col.cfg]);
    if (col.res !== undefined) return r.results[col.res];
    if (col.met !== undefined) {
      if (Object.prototype.hasOwnProperty.call(r.metrics, col.met)) return r.metrics[col.met];
      var m = r.detail && r.detail.metrics && r.detail.metrics[col.met];
      return m ? MX.fix(m.last) : undefined;
    }
    switch (col.id) {
      case "status": return r.status;
      case "fair": return (r.unfair || []).join(" ");
      case "id": return r.id;
      case "script": return r.script;
      case "profile": return r.profile;
      case "sweep": return r.sweep;
      case "#": return r.index;
      case "duration": return r.duration;
    }
    return undefined;
  };

  MX.value = function (row, col) {
    return row.group ? row.vals[col.id] : MX.runValue(row.run, col);
  };

  /* -- the filter: words match any cell; COLUMN OP VALUE compares one column ------------ */
  var TERM = /^(.+?)(<=|>=|!=|=|<|>|~)(.*)$/;
  var HIDDEN = {profile: {id: "profile", label: "profile"}, script: {id: "script", label: "script"},
    sweep: {id: "sweep", label: "sweep"}, run: {id: "id", label: "run"}};

  MX.parseFilter = function (text) {
    return text.trim().split(/\s+/).filter(Boolean).map(function (term) {
      var m = TERM.exec(term), col = null;
      if (m) {
        var name = m[1].toLowerCase();
        col = MX.columns.filter(function (c) { return c.label.toLowerCase() === name || c.id.toLowerCase() === name; })[0]
          || HIDDEN[name] || null;  // a column not drawn (one profile, one script) still filters
      }
      return col ? {col: col, op: m[2], value: m[3]} : {text: term.toLowerCase()};
    });
  };

  function textOf(r) {
    if (r._text === undefined) {
      r._text = MX.columns.map(function (c) { return MX.fmt(MX.runValue(r, c)); }).join(" ").toLowerCase()
        + " " + String(r.error || "").toLowerCase();
    }
    return r._text;
  }

  function test(term, r) {
    if (term.text !== undefined) return textOf(r).indexOf(term.text) >= 0;
    var v = MX.runValue(r, term.col), want = term.value, num = Number(want);
    if (term.op === "~") return MX.fmt(v).toLowerCase().indexOf(want.toLowerCase()) >= 0;
    if (typeof v === "number" && want !== "" && !isNaN(num)) {
      switch (term.op) {
        case "=": return v === num; case "!=": return v !== num; case "<": return v < num;
        case ">": return v > num; case "<=": return v <= num; case ">=": return v >= num;
      }
    }
    var s = MX.fmt(v);
    switch (term.op) {
      case "=": return s === want; case "!=": return s !== want;
      case "<": return s < want; case ">": return s > want; case "<=": return s <= want; case ">=": return s >= want;
    }
    return false;
  }

  MX.applyFilter = function (text) {
    var terms = MX.parseFilter(text || "");
    return MX.runs.filter(function (r) { return terms.every(function (t) { return test(t, r); }); });
  };

  /* -- is this comparison fair? the majority of the shown runs' code and environment ---- */
  var PARTS = [["script", function (p) { return p.script; }],
    ["git", function (p) { return p.git === null && p.dirty === null ? null : [p.git, p.dirty]; }],
    ["environment", function (p) { return p.env; }]];

  function keys(prov) {  // each part's identity, computed once per distinct provenance
    if (!prov._keys) prov._keys = PARTS.map(function (part) { return MX.key(part[1](prov)); });
    return prov._keys;
  }

  MX.fairness = function (shown) {
    var runs = shown.filter(function (r) { return r.dir; });  // a point never run has no code
    var majority = PARTS.map(function (part, j) {
      var counts = {}, best = null, bestN = 0;
      runs.forEach(function (r) {
        var k = keys(r.prov)[j];
        counts[k] = (counts[k] || 0) + 1;
        if (counts[k] > bestN) { best = k; bestN = counts[k]; }
      });
      return best;
    });
    var unfair = 0, none = [];
    MX.runs.forEach(function (r) { r.unfair = none; r._text = undefined; });
    runs.forEach(function (r) {
      var k = keys(r.prov);
      if (k[0] === majority[0] && k[1] === majority[1] && k[2] === majority[2]) return;
      r.unfair = PARTS.filter(function (part, j) { return k[j] !== majority[j]; })
        .map(function (part) { return part[0]; });
      unfair++;
    });
    return unfair;
  };

  MX.unfairText = function (r) {
    var p = r.prov || {}, words = {script: "script " + String(p.script || "unknown").slice(0, 12),
      git: "git " + (p.git ? String(p.git).slice(0, 10) : "unknown") + (p.dirty ? " (dirty)" : ""),
      environment: "environment " + String(p.env || "unknown").slice(0, 12)};
    return "differs from the majority of the runs shown: " + r.unfair.map(function (u) { return words[u]; }).join(", ");
  };

  /* -- replicates: runs equal in every varying key but one collapse into mean +- std ---- */
  MX.collapse = function (runs, key) {
    var groups = {}, order = [];
    var others = MX.columns.filter(function (c) { return c.cfg !== undefined && c.cfg !== key; })
      .concat(MX.columns.filter(function (c) { return c.id === "profile" || c.id === "script" || c.id === "sweep"; }));
    runs.forEach(function (r) {
      var k = others.map(function (c) { return MX.key(MX.runValue(r, c)); }).join("|");
      if (!groups[k]) { groups[k] = {group: true, members: [], vals: {}, std: {}, n: {}}; order.push(k); }
      groups[k].members.push(r);
    });
    return order.map(function (k) {
      var g = groups[k], first = g.members[0];
      g.run = first;
      MX.columns.forEach(function (c) {
        if (c.id === "status") {
          var counts = {};
          g.members.forEach(function (m) { counts[m.status] = (counts[m.status] || 0) + 1; });
          g.counts = counts;
          g.vals.status = Object.keys(counts).length === 1 ? first.status : "mixed";
        } else if (c.id === "fair") {
          var parts = {};
          g.members.forEach(function (m) { (m.unfair || []).forEach(function (u) { parts[u] = 1; }); });
          g.vals.fair = Object.keys(parts).join(" ");
        } else if (c.id === "id") {
          g.vals.id = g.members.length + " run(s)";
        } else if (c.cfg === key) {
          g.vals[c.id] = g.members.map(function (m) { return MX.fmt(MX.runValue(m, c)); }).join(",");
        } else if (c.res !== undefined || c.met !== undefined || c.id === "duration") {
          var xs = g.members.map(function (m) { return MX.runValue(m, c); }).filter(MX.numeric);
          if (!xs.length) { g.vals[c.id] = undefined; return; }
          var mean = xs.reduce(function (a, b) { return a + b; }, 0) / xs.length;
          var sd = xs.length > 1 ? Math.sqrt(xs.reduce(function (a, b) { return a + (b - mean) * (b - mean); }, 0) / (xs.length - 1)) : 0;
          g.vals[c.id] = mean; g.std[c.id] = sd; g.n[c.id] = xs.length;
        } else {
          g.vals[c.id] = MX.runValue(first, c);
        }
      });
      return g;
    });
  };
})(MX);
