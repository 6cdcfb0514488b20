/* molexp view: helpers shared by every part of the page.  Every value from the
   run store reaches the DOM through textContent or an attribute, never as markup. */
"use strict";
var MX = window.molexpView = {started: performance.now(), longTasks: []};
/* tasks of 50 ms or more (what the bench reports: the page answers input once they end) */
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) { MX.longTasks.push([e.startTime, e.duration]); });
  }).observe({type: "longtask", buffered: true});
} catch (e) { /* a browser without long-task timing */ }

MX.el = function (tag, attrs, children) {
  var node = document.createElement(tag);
  if (attrs) {
    for (var key in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] == null) continue;
      if (key === "text") node.textContent = String(attrs[key]);
      else if (key === "cls") node.className = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else if (key === "style") throw new Error("set styles through node.style (CSP)");
      else node.setAttribute(key, String(attrs[key]));
    }
  }
  (children || []).forEach(function (child) {
    if (child == null) return;
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  });
  return node;
};

MX.clear = function (node) { while (node.firstChild) node.removeChild(node.firstChild); return node; };

/* {"$nf": "NaN"} -> NaN: JSON has no NaN or infinities, the data block writes them so. */
MX.fix = function (value) {
  if (value && typeof value === "object") {
    if (!Array.isArray(value) && typeof value.$nf === "string" && Object.keys(value).length === 1)
      return Number(value.$nf);
    if (Array.isArray(value)) return value.map(MX.fix);
    var out = {};
    for (var k in value) if (Object.prototype.hasOwnProperty.call(value, k)) out[k] = MX.fix(value[k]);
    return out;
  }
  return value;
};

MX.isMissing = function (v) {
  return v === null || v === undefined || v === "" || (typeof v === "number" && isNaN(v));
};

MX.fmt = function (v) {
  if (v === null || v === undefined) return "\u2014";
  if (typeof v === "number") {
    if (isNaN(v)) return "NaN";
    if (!isFinite(v)) return v > 0 ? "inf" : "-inf";
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(4).replace(/\.?0+e/, "e");
    return String(parseFloat(v.toPrecision(6)));
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};

/* mean +- std to the std's second significant digit: 0.960 ± 0.018 */
MX.meanStd = function (mean, sd) {
  if (!MX.numeric(mean) || !MX.numeric(sd)) return MX.fmt(mean) + " \u00B1 " + MX.fmt(sd);
  if (sd === 0) return MX.fmt(mean) + " \u00B1 0";
  var decimals = 1 - Math.floor(Math.log10(sd));
  if (decimals < 0 || decimals > 8 || Math.abs(mean) >= 1e6) return MX.fmt(mean) + " \u00B1 " + MX.fmt(parseFloat(sd.toPrecision(2)));
  return mean.toFixed(decimals) + " \u00B1 " + sd.toFixed(decimals);
};

MX.duration = function (s) {
  if (s === null || s === undefined) return "\u2014";
  if (s < 60) return s.toFixed(1) + "s";
  var m = Math.floor(s / 60), h = Math.floor(m / 60);
  return h ? h + "h" + String(m % 60).padStart(2, "0") + "m" : m + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
};

/* Sort order: numbers, then text, then missing and NaN, which come last in both directions. */
MX.compare = function (a, b, dir) {
  var ma = MX.isMissing(a), mb = MX.isMissing(b);
  if (ma || mb) return ma === mb ? 0 : (ma ? 1 : -1);
  if (typeof a === "boolean") a = a ? 1 : 0;
  if (typeof b === "boolean") b = b ? 1 : 0;
  var na = typeof a === "number", nb = typeof b === "number";
  var r;
  if (na && nb) r = a < b ? -1 : (a > b ? 1 : 0);
  else if (na !== nb) return na ? -1 : 1;
  else {
    var sa = typeof a === "string" ? a : JSON.stringify(a), sb = typeof b === "string" ? b : JSON.stringify(b);
    r = sa < sb ? -1 : (sa > sb ? 1 : 0);
  }
  return dir < 0 ? -r : r;
};

MX.key = function (v) { return typeof v === "string" ? "s:" + v : JSON.stringify(v === undefined ? null : v); };

MX.numeric = function (v) { return typeof v === "number" && isFinite(v); };

MX.palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

/* viridis, sampled: t in [0, 1] -> a colour */
MX.viridis = (function () {
  var stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], table = [];
  for (var k = 0; k < 256; k++) {
    var t = k / 255 * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
    table.push("rgb(" + [0, 1, 2].map(function (j) { return Math.round(stops[i][j] + (stops[i + 1][j] - stops[i][j]) * f); }).join(",") + ")");
  }
  return function (t) { return table[Math.round(Math.max(0, Math.min(1, t)) * 255)]; };
})();

MX.options = function (select, items, chosen) {
  MX.clear(select);
  items.forEach(function (item) {
    var value = typeof item === "string" ? item : item[0], label = typeof item === "string" ? item : item[1];
    var opt = MX.el("option", {value: value, text: label});
    if (value === chosen) opt.selected = true;
    select.appendChild(opt);
  });
};

MX.copyButton = function (text) {
  return MX.el("button", {cls: "copy", type: "button", text: "copy", onclick: function () {
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
  }});
};
