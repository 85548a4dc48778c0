// Vigil live monitor: renders a processing (units x steps, QA colours) from its JSON and,
// on the live page, keeps it current from the server-sent events of /api/monitor/stream.
// No framework and no build step: one file served by the server.
(function () {
  "use strict";

  var STEP_MARK = { pending: "", running: "●", succeeded: "✓", failed: "✖", skipped: "–" };
  var COLOURS = { normal: "green", warning: "yellow", alarm: "red", missing: "grey" };
  var MAX_LOG_LINES = 5000;
  var LINES_PER_FRAME = 1000;
  // A frame stops drawing lines after this many milliseconds of script: with the layout
  // of what it drew, a frame stays far below a long task even on a busy machine.
  var FRAME_BUDGET_MS = 8;
  var SVG_NS = "http://www.w3.org/2000/svg";

  function h(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else if (key.indexOf("on") === 0) node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  var UTC_ISO = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)$/;

  function fmtTime(iso) {
    if (!iso) return "";
    // The server's times are UTC ISO strings: cut, not parsed (a flood formats thousands).
    var m = UTC_ISO.exec(iso);
    if (m) return m[1] + " " + m[2];
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.toISOString().replace("T", " ").slice(0, 19);
  }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    var abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
    return String(Number(value.toPrecision(5)));
  }

  function fmtRange(range) {
    if (!range) return "–";
    return "[" + (range[0] === null ? "−∞" : fmtNumber(range[0])) + ", " +
      (range[1] === null ? "+∞" : fmtNumber(range[1])) + "]";
  }

  function colour(status) { return COLOURS[status] || "grey"; }

  function fmtSeconds(start, end) {
    if (!start || !end) return "–";
    var s = (new Date(end).getTime() - new Date(start).getTime()) / 1000;
    return isNaN(s) ? "–" : s.toFixed(1) + " s";
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }

  // The same text as the server's tooltip (services/_focal_plane.py).
  // A unit's fibres from its QA value (one entry per fibre, 1 good): as the server's
  // fibre_state (monitor/services/_focal_plane.py) computes them.
  function fibreState(spec, q) {
    if (!spec || !q) return null;
    var entries = (q.values && q.values.length) ? q.values : [q.value];
    var bad = [];
    for (var i = 0; i < spec.count; i++) if (i >= entries.length || entries[i] !== 1) bad.push(i);
    var status = bad.length >= spec.alarm ? "alarm" : bad.length >= spec.warning ? "warning" : "normal";
    return { good: spec.count - bad.length, total: spec.count, bad: bad, status: status, colour: colour(status) };
  }

  function fibreText(state, shown) {
    var text = state.good + " of " + state.total + " good";
    if (!state.bad.length) return text;
    var more = state.bad.length > shown ? " and " + (state.bad.length - shown) + " more" : "";
    return text + " (bad: " + state.bad.slice(0, shown).join(", ") + more + ")";
  }

  function qaTooltip(unit, status, values, fibres, fibreKey) {
    if (!status) return unit + ": not in this processing";
    var lines = [unit + ": QA " + status];
    values.forEach(function (q) {
      if (fibreKey && q.key === fibreKey) return;
      var shown = (q.values && q.values.length > 1) ? q.values.map(fmtNumber).join(", ") : fmtNumber(q.value);
      lines.push((q.display_name || q.key) + ": " + shown + " (" + q.status + ")");
    });
    if (fibres) lines.push("fibres: " + fibreText(fibres, 20));
    return lines.join("\n");
  }

  // A QA value against its ranges: the warning range in yellow, the normal one in green,
  // each element (amplifier) a dot coloured by its own status.
  function rangePlot(q) {
    var ref = Array.isArray(q.reference) ? q.reference : (q.reference === null || q.reference === undefined ? [] : [q.reference]);
    var vals = (q.values && q.values.length) ? q.values : [q.value];
    var points = [];
    vals.forEach(function (v, i) {
      if (typeof v !== "number") return;
      var r = typeof ref[i] === "number" ? ref[i] : (typeof ref[0] === "number" && ref.length === 1 ? ref[0] : 0);
      points.push({ x: v - r, status: (q.statuses && q.statuses[i]) || q.status, i: i, v: v });
    });
    var bounds = [];
    [q.normal, q.warning].forEach(function (range) {
      if (!range) return;
      range.forEach(function (b) { if (typeof b === "number") bounds.push(b); });
    });
    points.forEach(function (p) { bounds.push(p.x); });
    if (!bounds.length) return null;
    var lo = Math.min.apply(null, bounds), hi = Math.max.apply(null, bounds);
    var pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.15 || 1;
    lo -= pad; hi += pad;
    var width = 220, height = 26;
    function x(v) { return ((v - lo) / (hi - lo)) * width; }
    function band(range, cls) {
      if (!range) return null;
      var a = typeof range[0] === "number" ? x(range[0]) : 0;
      var b = typeof range[1] === "number" ? x(range[1]) : width;
      return svg("rect", { x: a.toFixed(1), y: 4, width: Math.max(b - a, 1).toFixed(1), height: height - 8, "class": cls });
    }
    var plot = svg("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, "class": "qa-plot", role: "img" });
    var label = svg("title");
    label.textContent = (q.display_name || q.key) + ": normal " + fmtRange(q.normal) + ", warning " + fmtRange(q.warning);
    plot.appendChild(label);
    plot.appendChild(svg("rect", { x: 0, y: 4, width: width, height: height - 8, "class": "band-alarm" }));
    [band(q.warning, "band-warning"), band(q.normal, "band-normal")].forEach(function (b) { if (b) plot.appendChild(b); });
    points.forEach(function (p) {
      var dot = svg("circle", { cx: x(p.x).toFixed(1), cy: height / 2, r: 4, "class": "dot qa-" + colour(p.status), "data-element": p.i });
      var t = svg("title");
      t.textContent = (vals.length > 1 ? "element " + p.i + ": " : "") + fmtNumber(p.v) + " (" + p.status + ")";
      dot.appendChild(t);
      plot.appendChild(dot);
    });
    return plot;
  }

  // The focal plane drawn by the server (monitor_macros.html): repainted from a
  // processing's units and QA values; drawn here only when the page had none yet.
  function FocalPlane(card) {
    this.card = card;
    this.figure = card ? card.querySelector("[data-role=focal-plane]") : null;
    this.shapes = {};
    this.index();
    this.wire();
  }

  // "Colour by": worst QA or fibres.
  FocalPlane.prototype.wire = function () {
    var figure = this.figure;
    if (!figure) return;
    figure.querySelectorAll("[data-role=colour-by]").forEach(function (input) {
      input.addEventListener("change", function () {
        figure.classList.toggle("by-fibres", input.value === "fibres" && input.checked);
      });
    });
  };

  FocalPlane.prototype.paintFibres = function (detail) {
    var box = this.figure.querySelector("[data-role=fibre-state]");
    var spec = detail.focal_plane && detail.focal_plane.fibres;
    if (!box) return;
    var rows = box.querySelector("[data-role=fibre-rows]");
    var states = [];
    var self = this;
    Object.keys(this.shapes).forEach(function (name) {
      var state = self.fibres[name];
      if (state) states.push([name, state]);
    });
    if (!spec && !states.length) return;
    box.hidden = false;
    rows.textContent = "";
    states.forEach(function (pair) {
      var state = pair[1];
      if (!state.bad.length) return;
      rows.appendChild(h("tr", { "data-unit": pair[0], "data-testid": "fibre-row" },
        h("td", { className: "mono" }, h("i", { className: "qa-dot qa-" + state.colour }), " " + pair[0]),
        h("td", { className: "num", text: state.good + " / " + state.total }),
        h("td", { className: "mono small", text: state.bad.slice(0, 40).join(", ") + (state.bad.length > 40 ? " and " + (state.bad.length - 40) + " more" : "") })));
    });
    if (!rows.firstChild) rows.appendChild(h("tr", { "data-role": "fibre-none" }, h("td", { colspan: "3", className: "muted small", text: "Every reported fibre is good." })));
  };

  FocalPlane.prototype.index = function () {
    var self = this;
    this.shapes = {};
    if (!this.figure) return;
    this.figure.querySelectorAll("[data-unit]").forEach(function (node) { self.shapes[node.getAttribute("data-unit")] = node; });
  };

  FocalPlane.prototype.build = function (fp, processingId) {
    var figure = h("figure", { className: "focal-plane", "data-role": "focal-plane", "data-testid": "focal-plane", "data-layout": fp.layout });
    var root = svg("svg", { viewBox: "0 0 " + fp.width + " " + fp.height, role: "img", "aria-label": "Focal plane (" + fp.layout + ")" });
    fp.units.forEach(function (u) {
      var link = svg("a", { "class": "fp-unit", "data-unit": u.name, "data-testid": "fp-" + u.name });
      link.appendChild(svg("title"));
      link.appendChild(svg("path", { d: u.path }));
      var text = svg("text", { x: u.x, y: u.y, "font-size": Math.min(5, 16 / Math.max(u.name.length, 1)).toFixed(2) });
      text.textContent = u.name;
      link.appendChild(text);
      root.appendChild(link);
    });
    fp.labels.forEach(function (l) {
      var text = svg("text", { "class": "fp-label", x: l[1], y: l[2] });
      text.textContent = l[0];
      root.appendChild(text);
    });
    figure.appendChild(root);
    figure.appendChild(h("div", { className: "fibre-state", "data-role": "fibre-state", "data-testid": "fibre-state", hidden: true },
      h("p", { className: "fp-colour-by" }, h("span", { className: "muted small", text: "Colour by" }),
        h("label", null, h("input", { type: "radio", name: "fp-colour", value: "qa", "data-role": "colour-by", checked: true }), " worst QA"),
        h("label", null, h("input", { type: "radio", name: "fp-colour", value: "fibres", "data-role": "colour-by", "data-testid": "colour-by-fibres" }), " fibres")),
      h("table", { className: "data fibre-table" },
        h("thead", null, h("tr", null, h("th", { text: "Unit" }), h("th", { className: "num", text: "Good fibres" }), h("th", { text: "Bad fibres" }))),
        h("tbody", { "data-role": "fibre-rows" }))));
    var empty = this.card.querySelector("[data-role=focal-empty]");
    if (empty) empty.remove();
    this.card.appendChild(figure);
    this.figure = figure;
    this.index();
    this.wire();
  };

  FocalPlane.prototype.paint = function (detail) {
    if (!this.card || !detail) return;
    if (!this.figure && detail.focal_plane) this.build(detail.focal_plane, detail.processing.id);
    if (!this.figure) return;
    this.figure.setAttribute("data-processing", detail.processing.id);
    var self = this;
    this.fibres = {};
    Object.keys(this.shapes).forEach(function (name) { self.paintUnit(detail, name); });
    this.paintFibres(detail);
  };

  FocalPlane.prototype.paintUnit = function (detail, name) {
    var node = this.shapes[name];
    if (!node || !detail) return;
    var unit = null;
    detail.units.forEach(function (u) { if (u.name === name) unit = u; });
    var status = unit ? unit.qa_status : null;
    var c = unit ? colour(status) : "grey";
    node.setAttribute("class", "fp-unit qa-" + c + (unit ? "" : " absent"));
    node.setAttribute("data-qa", c);
    node.setAttribute("href", "/monitor/processings/" + detail.processing.id + "?unit=" + encodeURIComponent(name) + "#qa-drill");
    var values = detail.qa.filter(function (q) { return q.unit === name; });
    var spec = detail.focal_plane && detail.focal_plane.fibres;
    var fibres = null;
    if (spec) values.forEach(function (q) { if (q.key === spec.key) fibres = fibreState(spec, q); });
    if (this.fibres) this.fibres[name] = fibres;
    node.setAttribute("data-fibres", fibres ? fibres.colour : "grey");
    var title = node.querySelector("title");
    if (title) title.textContent = qaTooltip(name, status, values, fibres, spec ? spec.key : null);
  };

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(url + " answered " + r.status);
        return r.json();
      });
  }

  // One processing: exposure card, unit x step grid, QA drill-down, unit log. ------------

  function ProcessingView(root, options) {
    this.root = root;
    this.options = options || {};
    this.detail = null;
    this.cells = {};
    this.rows = {};
    this.selectedUnit = null;
    this.selectedStep = null;
    this.focal = new FocalPlane(root.querySelector("[data-role=focal-card]"));
  }

  ProcessingView.prototype.render = function (detail) {
    this.detail = detail;
    this.cells = {};
    this.rows = {};
    var grid = this.root.querySelector("[data-role=grid]");
    var card = this.root.querySelector("[data-role=exposure]");
    if (card) this.renderExposure(card, detail);
    this.focal.paint(detail);
    if (!grid) return;
    grid.textContent = "";
    if (!detail) {
      grid.appendChild(h("p", { className: "notice empty", text: "No processing yet: the grid appears when the runner starts one." }));
      return;
    }
    var p = detail.processing;
    var steps = detail.steps;
    var head = h("tr", null, h("th", { text: "Unit" }), h("th", { text: "Status" }));
    steps.forEach(function (step) {
      head.appendChild(h("th", { className: "step-head", title: step.name, text: step.display_name || step.name }));
    });
    head.appendChild(h("th", { text: "QA" }));
    var body = h("tbody");
    var self = this;
    detail.units.forEach(function (unit) {
      var row = h("tr", {
        className: "unit-row", "data-testid": "unit-" + unit.name, "data-unit": unit.name,
        onclick: function () { self.selectUnit(unit.name); }
      });
      row.appendChild(h("th", { className: "unit-name", text: unit.name }));
      var badge = h("span", { className: "unit-status u-" + unit.status, "data-role": "status", text: unit.status });
      row.appendChild(h("td", { title: unit.message || "" }, badge));
      var byName = {};
      unit.steps.forEach(function (s) { byName[s.name] = s; });
      steps.forEach(function (step) {
        var s = byName[step.name] || { status: "pending", qa_status: "missing" };
        var cell = h("td", {
          className: "step-cell", "data-testid": "step-" + unit.name + "-" + step.name,
          "data-unit": unit.name, "data-step": step.name,
          onclick: function (event) { event.stopPropagation(); self.selectStep(unit.name, step.name); }
        });
        self.cells[unit.name + "\u0000" + step.name] = cell;
        cell.setAttribute("data-started", s.started_at || "");
        cell.setAttribute("data-ended", s.ended_at || "");
        self.paintStep(cell, s.status, s.qa_status, (step.qa || []).length > 0);
        row.appendChild(cell);
      });
      var qa = h("td", { className: "qa-cell", "data-role": "qa" });
      row.appendChild(qa);
      self.rows[unit.name] = row;
      self.paintUnit(unit.name, unit);
      body.appendChild(row);
    });
    var table = h("table", { className: "data unit-grid", "data-processing": p.id }, h("thead", null, head), body);
    grid.appendChild(h("div", { className: "table-wrap" }, table));
    if (this.drillOpen) this.showDrill(this.selectedUnit, this.selectedStep);
  };

  ProcessingView.prototype.renderExposure = function (card, detail) {
    card.textContent = "";
    if (!detail) {
      card.appendChild(h("p", { className: "muted", text: "Waiting for the first exposure." }));
      return;
    }
    var p = detail.processing;
    card.appendChild(h("h2", null, "Exposure ",
      h("span", { className: "mono", "data-testid": "current-exposure", text: p.exposure }), " ",
      h("span", { className: "badge p-" + p.status, "data-testid": "processing-status", "data-role": "processing-status", text: p.status }), " ",
      h("span", { className: "qa-dot qa-" + colour(p.qa_status), "data-role": "processing-qa", title: "QA " + p.qa_status })));
    var facts = [
      ["Flavor", p.flavor], ["Program", p.program], ["Night", p.night],
      ["Airmass", fmtNumber(p.airmass)], ["Seeing", p.seeing === null ? "–" : fmtNumber(p.seeing) + "″"],
      ["Exposure time", p.exposure_time === null ? "–" : fmtNumber(p.exposure_time) + " s"],
      ["Started", fmtTime(p.started_at)], ["Units", p.unit_count + (p.failed_count ? " (" + p.failed_count + " failed)" : "")]
    ];
    var list = h("dl", { className: "facts" });
    facts.forEach(function (f) { list.appendChild(h("dt", { text: f[0] })); list.appendChild(h("dd", { text: f[1] || "–" })); });
    card.appendChild(list);
    card.appendChild(h("p", { className: "small" },
      h("a", { href: "/monitor/processings/" + p.id, text: "Processing #" + p.id }),
      p.log_run_id ? " · " : null,
      p.log_run_id ? h("a", { href: "/monitor/logs/" + p.log_run_id, text: "all logs" }) : null));
  };

  ProcessingView.prototype.paintStep = function (cell, status, qaStatus, hasQa) {
    if (status) cell.setAttribute("data-status", status);
    if (qaStatus) cell.setAttribute("data-qa", colour(qaStatus));
    var s = cell.getAttribute("data-status") || "pending";
    var q = cell.getAttribute("data-qa") || "grey";
    cell.className = "step-cell s-" + s + (s === "succeeded" || s === "failed" || q !== "grey" ? " qa-" + q : "");
    cell.textContent = STEP_MARK[s] || "";
    var started = cell.getAttribute("data-started"), ended = cell.getAttribute("data-ended");
    cell.title = s + (hasQa === false ? "" : " · QA " + q) +
      (started ? "\nstarted " + fmtTime(started) : "") + (ended ? "\nended " + fmtTime(ended) + " · run time " + fmtSeconds(started, ended) : "");
  };

  ProcessingView.prototype.paintUnit = function (name, unit) {
    var row = this.rows[name];
    if (!row) return;
    if (unit.status) {
      var badge = row.querySelector("[data-role=status]");
      badge.className = "unit-status u-" + unit.status;
      badge.title = unit.status === "killed" ? "Ended when its timeout fired" : "";
      badge.textContent = unit.status + (unit.status === "running" && unit.current_step ? " · " + unit.current_step : "");
      row.setAttribute("data-status", unit.status);
    }
    if (unit.message !== undefined && unit.message !== null) row.children[1].title = unit.message;
    if (unit.qa_status) {
      var qa = row.querySelector("[data-role=qa]");
      qa.textContent = "";
      qa.appendChild(h("span", { className: "qa-dot qa-" + colour(unit.qa_status), title: "QA " + unit.qa_status }));
      row.setAttribute("data-qa", colour(unit.qa_status));
    }
  };

  ProcessingView.prototype.findUnit = function (name) {
    if (!this.detail) return null;
    for (var i = 0; i < this.detail.units.length; i++) if (this.detail.units[i].name === name) return this.detail.units[i];
    return null;
  };

  ProcessingView.prototype.onUnit = function (data) {
    var unit = this.findUnit(data.unit);
    if (!unit) return;
    ["status", "current_step", "qa_status", "exit_status", "message", "started_at", "ended_at"].forEach(function (k) {
      if (data[k] !== undefined) unit[k] = data[k];
    });
    this.paintUnit(data.unit, data);
    if (data.qa_status) this.focal.paintUnit(this.detail, data.unit);
  };

  ProcessingView.prototype.onStep = function (data) {
    var unit = this.findUnit(data.unit);
    if (unit) {
      unit.steps.forEach(function (s) {
        if (s.name === data.step) {
          if (data.status) s.status = data.status;
          if (data.qa_status) s.qa_status = data.qa_status;
          if (data.status === "running") s.started_at = data.time;
          else if (data.status && data.time) s.ended_at = data.time;
        }
      });
      if (data.status === "running") { unit.current_step = data.step; this.paintUnit(data.unit, { status: "running", current_step: data.step }); }
    }
    var cell = this.cells[data.unit + "\u0000" + data.step];
    if (cell && data.time) cell.setAttribute(data.status === "running" ? "data-started" : "data-ended", data.time);
    if (cell) this.paintStep(cell, data.status, data.qa_status);
    if (this.selectedUnit === data.unit && this.drillOpen && (this.selectedStep === null || this.selectedStep === data.step)) this.showDrill(data.unit, this.selectedStep);
  };

  ProcessingView.prototype.onQa = function (data) {
    if (!this.detail) return;
    var qa = this.detail.qa;
    var found = false;
    for (var i = 0; i < qa.length; i++) {
      if (qa[i].unit === data.unit && qa[i].step === data.step && qa[i].key === data.key) { qa[i] = data; found = true; }
    }
    if (!found) qa.push(data);
    this.focal.paintUnit(this.detail, data.unit);
    if (this.selectedUnit === data.unit && this.drillOpen && (this.selectedStep === null || this.selectedStep === data.step)) this.showDrill(data.unit, this.selectedStep);
  };

  ProcessingView.prototype.selectStep = function (unit, step) {
    this.selectedUnit = unit;
    this.selectedStep = step;
    this.showDrill(unit, step);
    if (this.options.onUnit) this.options.onUnit(unit);
  };

  ProcessingView.prototype.selectUnit = function (unit) {
    this.selectedUnit = unit;
    Object.keys(this.rows).forEach(function (name) { this.rows[name].classList.toggle("selected", name === unit); }, this);
    if (this.options.onUnit) this.options.onUnit(unit);
  };

  ProcessingView.prototype.showDrill = function (unit, step) {
    var panel = this.root.querySelector("[data-role=drill]");
    if (!panel || !this.detail) return;
    this.drillOpen = true;
    this.selectedUnit = unit;
    this.selectedStep = step;
    panel.hidden = false;
    panel.textContent = "";
    var defs = this.detail.steps.filter(function (s) { return step === null || s.name === step; });
    var unitView = this.findUnit(unit);
    var title = step === null ? "all steps" : (defs.length && defs[0].display_name) || step;
    panel.appendChild(h("h2", null, "QA of ", h("span", { className: "mono", "data-testid": "drill-unit", text: unit }), " · " + title));
    if (!unitView) {
      panel.appendChild(h("p", { className: "notice empty", text: "This processing has no unit " + unit + "." }));
      return;
    }
    var stepRows = h("tbody");
    defs.forEach(function (def) {
      var s = null;
      unitView.steps.forEach(function (x) { if (x.name === def.name) s = x; });
      s = s || { status: "pending", qa_status: "missing" };
      stepRows.appendChild(h("tr", { "data-testid": "drill-step-" + def.name },
        h("td", { text: def.display_name || def.name }), h("td", { text: s.status }),
        h("td", { className: "nowrap", text: fmtTime(s.started_at) || "–" }), h("td", { className: "nowrap", text: fmtTime(s.ended_at) || "–" }),
        h("td", { className: "num", "data-role": "run-time", text: fmtSeconds(s.started_at, s.ended_at) })));
    });
    panel.appendChild(h("div", { className: "table-wrap" }, h("table", { className: "data step-times", "data-testid": "step-times" },
      h("thead", null, h("tr", null, h("th", { text: "Step" }), h("th", { text: "Status" }), h("th", { text: "Started (UTC)" }), h("th", { text: "Ended" }), h("th", { className: "num", text: "Run time" }))),
      stepRows)));
    var qa = this.detail.qa;
    var fibreSpec = this.detail.focal_plane && this.detail.focal_plane.fibres;
    var rows = h("tbody");
    defs.forEach(function (def) {
      var values = qa.filter(function (q) { return q.unit === unit && q.step === def.name; });
      var seen = {};
      var described = {};
      (def.qa || []).forEach(function (e) { described[e.key] = e; });
      values.forEach(function (q) {
        seen[q.key] = true;
        if (fibreSpec && q.key === fibreSpec.key) {
          var state = fibreState(fibreSpec, q);
          rows.appendChild(h("tr", { "data-testid": "qa-" + q.key },
            h("td", null, h("span", { className: "qa-dot qa-" + state.colour }), " fibres"),
            h("td", { className: "mono", text: q.key }),
            step === null ? h("td", { text: def.display_name || def.name }) : null,
            h("td", { className: "mono", colspan: "5", "data-role": "fibres", text: fibreText(state, 100) }),
            h("td", null, h("span", { className: "badge qa-badge qa-" + state.colour, text: state.status }))));
          return;
        }
        var info = described[q.key] || {};
        var cellValues = h("td", { className: "num mono" });
        var vals = (q.values && q.values.length > 1) ? q.values : [q.value];
        vals.forEach(function (v, i) {
          var st = (q.values && q.values.length > 1 && q.statuses && q.statuses[i]) || q.status;
          if (i) cellValues.appendChild(document.createTextNode(", "));
          cellValues.appendChild(h("span", { className: "element", "data-status": st, title: (vals.length > 1 ? "element " + i + ": " : "") + st },
            h("i", { className: "qa-dot qa-" + colour(st) }), " " + fmtNumber(v)));
        });
        var plot = rangePlot(q);
        rows.appendChild(h("tr", { "data-testid": "qa-" + q.key },
          h("td", null, h("span", { className: "qa-dot qa-" + colour(q.status) }), " " + (q.display_name || q.key),
            info.description ? h("div", { className: "small muted qa-description", text: info.description }) : null),
          h("td", { className: "mono", text: q.key }),
          step === null ? h("td", { text: def.display_name || def.name }) : null,
          cellValues,
          h("td", { className: "num mono", text: q.reference === null || q.reference === undefined ? "–" : (Array.isArray(q.reference) ? q.reference.map(fmtNumber).join(", ") : fmtNumber(q.reference)) }),
          h("td", { className: "mono", text: fmtRange(q.normal) }),
          h("td", { className: "mono", text: fmtRange(q.warning) }),
          h("td", { className: "plot-cell" }, plot),
          h("td", null, h("span", { className: "badge qa-badge qa-" + colour(q.status), text: q.status }))));
      });
      (def.qa || []).forEach(function (e) {
        if (seen[e.key]) return;
        rows.appendChild(h("tr", null, h("td", null, h("span", { className: "qa-dot qa-grey" }), " " + (e.display_name || e.key),
          e.description ? h("div", { className: "small muted qa-description", text: e.description }) : null),
          h("td", { className: "mono", text: e.key }), step === null ? h("td", { text: def.display_name || def.name }) : null,
          h("td", { className: "faint", colspan: "5", text: "no value" }),
          h("td", null, h("span", { className: "badge qa-badge qa-grey", text: "missing" }))));
      });
    });
    panel.appendChild(h("div", { className: "table-wrap" }, h("table", { className: "data qa-table" },
      h("thead", null, h("tr", null, h("th", { text: "QA" }), h("th", { text: "Key" }), step === null ? h("th", { text: "Step" }) : null,
        h("th", { className: "num", text: "Value (per element)" }), h("th", { className: "num", text: "Reference" }), h("th", { text: "Normal" }),
        h("th", { text: "Warning" }), h("th", { text: "Against its ranges" }), h("th", { text: "Status" }))),
      rows)));
    panel.appendChild(h("p", { className: "small muted", text: "Normal and warning ranges apply to the value minus its reference; outside warning is an alarm. In the plot: green normal, yellow warning, red alarm; one dot per element (amplifier)." }));
  };

  // Log of a unit: recent lines, then a live tail. --------------------------------------

  // Lines are queued as they arrive and drawn once per animation frame: one DOM append
  // of a fragment, then the oldest lines beyond MAX_LOG_LINES removed in one range, so a
  // flood costs one layout a frame instead of one per line.
  function LogView(panel) {
    this.panel = panel;
    this.lines = panel.querySelector("[data-role=lines]");
    this.title = panel.querySelector("[data-role=log-title]");
    this.source = null;
    this.lastId = null;
    this.count = 0;
    this.queue = [];
    this.frame = null;
  }

  function span(className, text) {
    var node = document.createElement("span");
    node.className = className;
    node.textContent = text;
    return node;
  }

  // Built with the DOM API directly (no attribute loop): a flood draws thousands a second.
  LogView.prototype.lineNode = function (line) {
    var node = document.createElement("div");
    node.className = "log-line lvl-" + String(line.level_name || "INFO").toLowerCase() + (line.checkpoint ? " checkpoint" : "");
    node.setAttribute("data-id", line.id);
    if (line.checkpoint) node.title = "step " + line.checkpoint;
    node.appendChild(span("log-time", fmtTime(line.time).slice(11)));
    node.appendChild(document.createTextNode(" "));
    node.appendChild(span("log-level", line.level_name == null ? "" : String(line.level_name)));
    node.appendChild(document.createTextNode(" "));
    node.appendChild(span("log-msg", line.message == null ? "" : String(line.message)));
    return node;
  };

  LogView.prototype.append = function (line) {
    if (this.lastId !== null && line.id <= this.lastId) return;
    this.lastId = line.id;
    this.queue.push(line);
    // Lines that would leave the view in this same frame are never drawn.
    if (this.queue.length > MAX_LOG_LINES) this.queue.splice(0, this.queue.length - MAX_LOG_LINES);
    if (this.frame === null) {
      var self = this;
      this.frame = window.requestAnimationFrame(function () { self.flush(); });
    }
  };

  LogView.prototype.flush = function () {
    this.frame = null;
    if (!this.queue.length) return;
    var atBottom = this.lines.scrollTop + this.lines.clientHeight >= this.lines.scrollHeight - 20;
    // A frame's lines go in one block. Blocks drawn before (so of a known height) are
    // "settled": the browser skips their layout while they are off screen.
    var previous = this.lines.lastElementChild;
    if (previous && previous.classList.contains("log-block")) previous.classList.add("settled");
    var block = document.createElement("div");
    block.className = "log-block";
    // At most LINES_PER_FRAME lines and FRAME_BUDGET_MS of script a frame: the rest wait
    // for the next one.
    var start = performance.now();
    var drawn = 0;
    while (drawn < this.queue.length && drawn < LINES_PER_FRAME) {
      block.appendChild(this.lineNode(this.queue[drawn]));
      drawn++;
      if ((drawn & 63) === 0 && performance.now() - start > FRAME_BUDGET_MS) break;
    }
    this.queue.splice(0, drawn);
    if (this.queue.length) {
      var self = this;
      this.frame = window.requestAnimationFrame(function () { self.flush(); });
    }
    block.setAttribute("data-lines", drawn);
    this.lines.appendChild(block);
    this.count += drawn;
    // A flood keeps the page light: older lines leave the view (they stay on the server).
    while (this.count > MAX_LOG_LINES && this.lines.firstElementChild) {
      var first = this.lines.firstElementChild;
      var n = first.classList.contains("log-block") ? Number(first.getAttribute("data-lines")) : first.classList.contains("log-line") ? 1 : 0;
      var extra = this.count - MAX_LOG_LINES;
      if (n > extra && first.classList.contains("log-block")) {
        var range = document.createRange();
        range.setStartBefore(first.firstChild);
        range.setEndAfter(first.children[extra - 1]);
        range.deleteContents();
        first.setAttribute("data-lines", n - extra);
        this.count -= extra;
      } else {
        first.remove();
        this.count -= n;
      }
    }
    if (atBottom) this.lines.scrollTop = this.lines.scrollHeight;
  };

  // Follow a run's lines: subscribe first, then read what is stored, then the buffered
  // live lines (duplicates dropped by id), so that no line falls between the two.
  LogView.prototype.follow = function (streamUrl, storedUrl, live) {
    var self = this;
    var buffer = [];
    var loaded = false;
    function load() {
      return getJSON(storedUrl).then(function (page) {
        var items = page.items.slice();
        if (items.length > 1 && items[0].id > items[items.length - 1].id) items.reverse();
        items.forEach(function (line) { self.append(line); });
        loaded = true;
        buffer.forEach(function (line) { self.append(line); });
        buffer = [];
      });
    }
    if (!live) return load();
    this.source = new EventSource(streamUrl);
    this.source.addEventListener("hello", function () { if (!loaded) load(); });
    this.source.addEventListener("log", function (e) {
      var line = JSON.parse(e.data);
      if (loaded) self.append(line); else buffer.push(line);
    });
    // The stream skipped lines (this page fell behind): say so, and draw the newest
    // stored ones; those in between stay on the server.
    this.source.addEventListener("reset", function () {
      self.lines.appendChild(h("div", { className: "log-line lvl-warning", text: "… lines skipped (the view fell behind); they are kept on the server." }));
      self.count++;
      var query = streamUrl.slice(streamUrl.indexOf("?") + 1);
      getJSON("/api/logs/lines?" + query + "&order=desc&limit=1000").then(function (page) {
        page.items.slice().reverse().forEach(function (line) { self.append(line); });
      });
    });
    return Promise.resolve();
  };

  LogView.prototype.close = function () {
    if (this.source) { this.source.close(); this.source = null; }
  };

  LogView.prototype.open = function (runId, unit, live) {
    this.close();
    this.panel.hidden = false;
    this.lines.textContent = "";
    this.lastId = null;
    this.count = 0;
    this.queue = [];
    this.title.textContent = unit;
    var more = this.panel.querySelector("[data-role=log-link]");
    if (more) more.href = "/monitor/logs/" + runId + "?unit=" + encodeURIComponent(unit);
    var q = "run=" + runId + "&unit=" + encodeURIComponent(unit);
    return this.follow("/api/logs/stream?" + q, "/api/logs/lines?" + q + "&order=desc&limit=300", live);
  };

  // The live page. -----------------------------------------------------------------------

  function live(root) {
    var state = JSON.parse(document.getElementById("monitor-state").textContent);
    var pipeline = state.pipeline;
    var lastId = state.last_event_id;
    var status = root.querySelector("[data-role=connection]");
    var alerts = root.querySelector("[data-role=alerts]");
    var logView = new LogView(root.querySelector("[data-role=log]"));
    var view = new ProcessingView(root, {
      onUnit: function (unit) {
        var detail = view.detail;
        if (detail && detail.processing.log_run_id) {
          logView.open(detail.processing.log_run_id, unit, detail.processing.status === "running");
        }
      }
    });
    root.monitorView = view;
    view.render(state.current);
    renderAlerts(state.alerts);

    function renderAlerts(items) {
      alerts.textContent = "";
      if (!items.length) alerts.appendChild(h("li", { className: "muted", text: "No alert." }));
      items.forEach(addAlert);
    }

    function addAlert(a, prepend) {
      var empty = alerts.querySelector(".muted");
      if (empty) empty.remove();
      var item = h("li", { className: "alert a-" + a.kind, "data-testid": "alert" },
        h("span", { className: "badge qa-badge qa-" + (a.kind === "warning" ? "yellow" : "red"), text: a.kind }), " ",
        h("a", { href: "/monitor/processings/" + a.processing_id, text: a.exposure + " " + a.unit }), " ",
        h("span", { text: a.message }));
      if (prepend) alerts.insertBefore(item, alerts.firstChild); else alerts.appendChild(item);
      while (alerts.children.length > 50) alerts.removeChild(alerts.lastChild);
    }

    function reload() {
      var url = "/api/monitor/live" + (pipeline ? "?pipeline=" + encodeURIComponent(pipeline) : "");
      return getJSON(url).then(function (s) {
        view.render(s.current);
        renderAlerts(s.alerts);
        lastId = Math.max(lastId, s.last_event_id);
      });
    }

    function mine(data) { return view.detail && data.processing_id === view.detail.processing.id; }

    // The "most recent 10" list: a processing's row replaced, or a new one put on top.
    var recent = root.querySelector("[data-role=recent]");
    function recentItem(p) {
      var mark = p.qa_status === "missing" ? ["none", "–"] : p.qa_status === "normal" ? ["ok", "✓"] : ["bad", "✖"];
      return h("li", { "data-id": p.id, "data-testid": "recent-item" },
        h("a", { href: "/monitor/processings/" + p.id, className: "mono", text: p.exposure }), " ",
        h("span", { className: "badge p-" + p.status, text: p.status }), " ",
        h("a", { className: "qa-mark " + mark[0], href: "/monitor/processings/" + p.id, title: "QA " + p.qa_status, text: mark[1] }), " ",
        h("span", { className: "muted small", text: (p.flavor || "") + " · " + fmtTime(p.started_at) }));
    }
    function onRecent(p) {
      if (!recent) return;
      var item = recentItem(p);
      var old = recent.querySelector("li[data-id='" + Number(p.id) + "']");
      if (old) { recent.replaceChild(item, old); return; }
      var first = recent.querySelector("li[data-id]");
      if (first && Number(first.getAttribute("data-id")) > p.id) return;
      var empty = recent.querySelector("li.muted");
      if (empty) empty.remove();
      recent.insertBefore(item, recent.firstChild);
      while (recent.children.length > 10) recent.removeChild(recent.lastChild);
    }

    var source;
    function connect() {
      var url = "/api/monitor/stream?since=" + lastId + (pipeline ? "&pipeline=" + encodeURIComponent(pipeline) : "");
      source = new EventSource(url);
      source.onopen = function () { status.textContent = "live"; status.className = "badge pass"; root.setAttribute("data-live", "1"); };
      source.onerror = function () { status.textContent = "reconnecting…"; status.className = "badge warn"; root.setAttribute("data-live", "0"); };
      function on(kind, handler) {
        source.addEventListener(kind, function (e) {
          if (e.lastEventId) lastId = Math.max(lastId, parseInt(e.lastEventId, 10));
          root.setAttribute("data-last-event", lastId);
          handler(JSON.parse(e.data));
        });
      }
      on("processing", function (d) {
        onRecent(d);
        if (view.detail && d.id === view.detail.processing.id) {
          var p = view.detail.processing;
          Object.keys(d).forEach(function (k) { p[k] = d[k]; });
          view.renderExposure(root.querySelector("[data-role=exposure]"), view.detail);
        } else if (!view.detail || d.id > view.detail.processing.id) {
          getJSON("/api/monitor/processings/" + d.id).then(function (detail) { view.render(detail); });
        }
      });
      on("unit", function (d) { if (mine(d)) view.onUnit(d); });
      on("step", function (d) { if (mine(d)) view.onStep(d); });
      on("qa", function (d) { if (mine(d)) view.onQa(d); });
      on("alert", function (d) { addAlert(d, true); });
      on("exposure", function (d) {
        var seen = root.querySelector("[data-role=last-seen]");
        if (seen) seen.textContent = "· last exposure seen: " + d.exposure + (d.flavor ? " (" + d.flavor + ")" : "");
      });
      on("pipeline", function (d) {
        var badge = root.querySelector("[data-role=pipeline-state]");
        if (badge && (!pipeline || d.name === pipeline)) { badge.textContent = d.desired_state; badge.className = "badge " + (d.desired_state === "running" ? "pass" : "warn"); }
      });
      source.addEventListener("reset", function () { reload(); });
    }
    connect();
  }

  function staticView(root) {
    var detail = JSON.parse(document.getElementById("monitor-state").textContent);
    var logPanel = root.querySelector("[data-role=log]");
    var logView = logPanel ? new LogView(logPanel) : null;
    var view = new ProcessingView(root, {
      onUnit: function (unit) {
        if (logView && detail.processing.log_run_id) logView.open(detail.processing.log_run_id, unit, false);
      }
    });
    view.render(detail);
    // ?unit=b0 (a click on the focal plane): that unit's QA drill-down over every step.
    var unit = new URLSearchParams(window.location.search).get("unit");
    if (unit) {
      view.selectUnit(unit);
      view.showDrill(unit, null);
      var panel = root.querySelector("[data-role=drill]");
      if (panel && panel.scrollIntoView) panel.scrollIntoView();
    }
  }

  // The run page's live tail. ------------------------------------------------------------

  function runTail(root) {
    var body = root.querySelector("[data-role=lines]");
    var toggle = root.querySelector("[data-role=tail]");
    var runId = root.getAttribute("data-run");
    var unit = root.getAttribute("data-unit");
    var view = new LogView(root);
    var rows = body.querySelectorAll("[data-id]");
    if (rows.length) view.lastId = parseInt(rows[rows.length - 1].getAttribute("data-id"), 10);
    view.count = rows.length;
    function start() {
      var q = "run=" + runId + (unit ? "&unit=" + encodeURIComponent(unit) : "");
      var after = view.lastId === null ? "" : "&cursor=" + view.lastId;
      view.follow("/api/logs/stream?" + q, "/api/logs/lines?" + q + after + "&limit=1000", true);
      toggle.textContent = "Stop live tail";
      root.setAttribute("data-tailing", "1");
    }
    function stop() { view.close(); toggle.textContent = "Live tail"; root.setAttribute("data-tailing", "0"); }
    toggle.addEventListener("click", function () { if (view.source) stop(); else start(); });
    if (root.getAttribute("data-autotail") === "1") start();
  }

  function init() {
    document.querySelectorAll("[data-monitor=live]").forEach(live);
    document.querySelectorAll("[data-monitor=processing]").forEach(staticView);
    document.querySelectorAll("[data-monitor=run]").forEach(runTail);
  }

  window.VigilMonitor = { ProcessingView: ProcessingView, LogView: LogView, FocalPlane: FocalPlane };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
