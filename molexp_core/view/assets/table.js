/* The run table: sortable (missing and NaN last both ways), rendered a window at a time. */
"use strict";
(function (MX) {
  var ROW = 23, WINDOW = 60;
  var state = {rows: [], sort: null, dir: 1};
  MX.table = state;

  MX.sortRows = function (rows) {
    if (!state.sort) return rows;
    var col = MX.column(state.sort);
    if (!col) return rows;
    var keyed = rows.map(function (row, i) { return [MX.value(row, col), i, row]; });
    keyed.sort(function (a, b) { return MX.compare(a[0], b[0], state.dir) || a[1] - b[1]; });
    return keyed.map(function (k) { return k[2]; });
  };

  function header(thead) {
    MX.clear(thead);
    var tr = MX.el("tr");
    MX.columns.forEach(function (c) {
      var cls = state.sort === c.id ? (state.dir > 0 ? "sorted-asc" : "sorted-desc") : null;
      if (c.constant) cls = (cls ? cls + " " : "") + "constant";
      tr.appendChild(MX.el("th", {"data-col": c.id, cls: cls, text: c.label,
        title: "sort by " + c.label + (c.constant ? " (the same in every run with a value)" : ""),
        onclick: function () {
          if (state.sort === c.id) state.dir = -state.dir; else { state.sort = c.id; state.dir = 1; }
          MX.refresh();
        }}));
    });
    thead.appendChild(tr);
  }

  function cell(row, col) {
    var v = MX.value(row, col), td;
    if (col.id === "status") {
      td = MX.el("td", {cls: "status-" + v, text: row.group ? statusText(row) : v});
    } else if (col.id === "fair") {
      td = MX.el("td");
      if (v) td.appendChild(MX.el("span", {cls: "badge unfair", text: "\u26A0 " + v,
        title: row.group ? "some runs differ from the majority: " + v : MX.unfairText(row.run)}));
    } else if (col.id === "duration") {
      td = MX.el("td", {cls: "num", text: MX.duration(v)});
    } else {
      var text = row.group && row.std[col.id] !== undefined ?
        MX.meanStd(v, row.std[col.id]) + " (n=" + row.n[col.id] + ")" : MX.fmt(v);
      td = MX.el("td", {cls: (typeof v === "number" ? "num" : "") + (MX.isMissing(v) ? " missing" : ""), text: text});
      td.title = text;
    }
    td.setAttribute("data-col", col.id);
    return td;
  }

  function statusText(g) {
    return Object.keys(g.counts).map(function (s) { return g.counts[s] + " " + s; }).join(", ");
  }

  function draw() {
    var wrap = document.getElementById("table-wrap"), body = document.querySelector("#runs tbody");
    var rows = state.rows, total = rows.length;
    var first = Math.max(0, Math.floor(wrap.scrollTop / ROW) - 10);
    var last = Math.min(total, first + WINDOW);
    if (first === state.first && last === state.last && state.drawn === state.version) return;
    state.first = first; state.last = last; state.drawn = state.version;
    MX.clear(body);
    var cols = MX.columns.length;
    if (first > 0) body.appendChild(spacer(first * ROW, cols));
    for (var i = first; i < last; i++) {
      var row = rows[i];
      var tr = MX.el("tr", {"data-run": row.group ? null : row.run.i, "data-group": row.group ? i : null,
        cls: MX.selected === row.run.i ? "selected" : null});
      tr.addEventListener("click", (function (r) { return function () { MX.select(r.run.i, r.group ? r.members : null); }; })(row));
      MX.columns.forEach(function (c) { tr.appendChild(cell(row, c)); });
      body.appendChild(tr);
    }
    if (last < total) body.appendChild(spacer((total - last) * ROW, cols));
  }

  /* the rows not drawn: one tall row (its height set through the CSSOM: the page's
     Content-Security-Policy allows no style attribute) */
  function spacer(height, cols) {
    var tr = MX.el("tr", {cls: "spacer"}, [MX.el("td", {colspan: cols})]);
    tr.style.height = height + "px";
    return tr;
  }

  MX.drawTable = function (rows) {
    state.rows = MX.sortRows(rows);
    state.version = (state.version || 0) + 1;
    header(document.querySelector("#runs thead"));
    draw();
  };

  document.getElementById("table-wrap").addEventListener("scroll", function () {
    window.requestAnimationFrame(draw);
  });
})(MX);
