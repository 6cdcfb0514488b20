"""``molexp view``: one self-contained HTML page of a sweep or of runs.

Owns choosing what to show (``select``: run and sweep ids, the defaults), reading
it from the run store into plain JSON data (``collect`` for the rows, ``configs``
for diff-first configs, ``details`` for the run panel: full record, log tail,
curves, artifacts; ``resume`` for the command that fills a sweep's holes), and
writing the page (``page``: the data as escaped JSON in a
``<script type="application/json">``, the JavaScript, CSS and the vendored uPlot
inline from ``assets/``), and ``serve`` (``--serve``: the page on 127.0.0.1,
refreshed while a sweep runs).  It may import the scheduling, runs and config
layers, the plugin host and ``molexp_core.errors``; never the CLI, which calls it.
"""
