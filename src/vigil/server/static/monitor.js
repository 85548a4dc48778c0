// Vigil live monitor: renders a processing (units x steps, QA colours) from its JSON and,
// on the live page, keeps it current from the server-sent events of /api/monitor/stream.
// No framework and no build step: one file served by the server.
(function () {
  "use strict";

  var STEP_MARK = { pending: "", running: "●", succeeded: "✓", failed: "✖", skipped: "–" };
  var COLOURS = { normal: "green", warning: "yellow", alarm: "red", missing: "grey" };
  var MAX_LOG_LINES = 2000;

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

  function fmtTime(iso) {
    if (!iso) return "";
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
  }

  ProcessingView.prototype.render = function (detail) {
    this.detail = detail;
    this.cells = {};
    this.rows = {};
    var grid = this.root.querySelector("[data-role=grid]");
    var card = this.root.querySelector("[data-role=exposure]");
    if (card) this.renderExposure(card, detail);
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
    if (this.selectedStep) this.showDrill(this.selectedUnit, this.selectedStep);
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
    cell.title = s + (hasQa === false ? "" : " · QA " + q);
  };

  ProcessingView.prototype.paintUnit = function (name, unit) {
    var row = this.rows[name];
    if (!row) return;
    if (unit.status) {
      var badge = row.querySelector("[data-role=status]");
      badge.className = "unit-status u-" + unit.status;
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
  };

  ProcessingView.prototype.onStep = function (data) {
    var unit = this.findUnit(data.unit);
    if (unit) {
      unit.steps.forEach(function (s) {
        if (s.name === data.step) {
          if (data.status) s.status = data.status;
          if (data.qa_status) s.qa_status = data.qa_status;
        }
      });
      if (data.status === "running") { unit.current_step = data.step; this.paintUnit(data.unit, { status: "running", current_step: data.step }); }
    }
    var cell = this.cells[data.unit + "\u0000" + data.step];
    if (cell) this.paintStep(cell, data.status, data.qa_status);
  };

  ProcessingView.prototype.onQa = function (data) {
    if (!this.detail) return;
    var qa = this.detail.qa;
    var found = false;
    for (var i = 0; i < qa.length; i++) {
      if (qa[i].unit === data.unit && qa[i].step === data.step && qa[i].key === data.key) { qa[i] = data; found = true; }
    }
    if (!found) qa.push(data);
    if (this.selectedUnit === data.unit && this.selectedStep === data.step) this.showDrill(data.unit, data.step);
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
    panel.hidden = false;
    panel.textContent = "";
    var def = null;
    this.detail.steps.forEach(function (s) { if (s.name === step) def = s; });
    panel.appendChild(h("h2", null, "QA of ", h("span", { className: "mono", text: unit }), " · " + (def && def.display_name || step)));
    var values = this.detail.qa.filter(function (q) { return q.unit === unit && q.step === step; });
    var expected = (def && def.qa) || [];
    var rows = h("tbody");
    var seen = {};
    values.forEach(function (q) {
      seen[q.key] = true;
      var vals = (q.values && q.values.length > 1) ? q.values.map(fmtNumber).join(", ") : fmtNumber(q.value);
      rows.appendChild(h("tr", { "data-testid": "qa-" + q.key },
        h("td", null, h("span", { className: "qa-dot qa-" + colour(q.status) }), " " + (q.display_name || q.key)),
        h("td", { className: "mono", text: q.key }),
        h("td", { className: "num mono", text: vals }),
        h("td", { className: "num mono", text: q.reference === null || q.reference === undefined ? "–" : (Array.isArray(q.reference) ? q.reference.map(fmtNumber).join(", ") : fmtNumber(q.reference)) }),
        h("td", { className: "mono", text: fmtRange(q.normal) }),
        h("td", { className: "mono", text: fmtRange(q.warning) }),
        h("td", null, h("span", { className: "badge qa-badge qa-" + colour(q.status), text: q.status }))));
    });
    expected.forEach(function (e) {
      if (seen[e.key]) return;
      rows.appendChild(h("tr", null, h("td", null, h("span", { className: "qa-dot qa-grey" }), " " + (e.display_name || e.key)),
        h("td", { className: "mono", text: e.key }), h("td", { className: "faint", colspan: "4", text: "no value" }),
        h("td", null, h("span", { className: "badge qa-badge qa-grey", text: "missing" }))));
    });
    panel.appendChild(h("div", { className: "table-wrap" }, h("table", { className: "data qa-table" },
      h("thead", null, h("tr", null, h("th", { text: "QA" }), h("th", { text: "Key" }), h("th", { className: "num", text: "Value" }),
        h("th", { className: "num", text: "Reference" }), h("th", { text: "Normal" }), h("th", { text: "Warning" }), h("th", { text: "Status" }))),
      rows)));
    panel.appendChild(h("p", { className: "small muted", text: "Normal and warning ranges apply to the value minus its reference; outside warning is an alarm." }));
  };

  // Log of a unit: recent lines, then a live tail. --------------------------------------

  function LogView(panel) {
    this.panel = panel;
    this.lines = panel.querySelector("[data-role=lines]");
    this.title = panel.querySelector("[data-role=log-title]");
    this.source = null;
    this.lastId = null;
    this.count = 0;
  }

  LogView.prototype.append = function (line) {
    if (this.lastId !== null && line.id <= this.lastId) return;
    this.lastId = line.id;
    var cls = "log-line lvl-" + String(line.level_name || "INFO").toLowerCase() + (line.checkpoint ? " checkpoint" : "");
    var node = h("div", { className: cls, "data-id": line.id, title: line.checkpoint ? "step " + line.checkpoint : null },
      h("span", { className: "log-time", text: fmtTime(line.time).slice(11) }), " ",
      h("span", { className: "log-level", text: line.level_name }), " ",
      h("span", { className: "log-msg", text: line.message }));
    var atBottom = this.lines.scrollTop + this.lines.clientHeight >= this.lines.scrollHeight - 20;
    this.lines.appendChild(node);
    this.count++;
    // A flood keeps the page light: older lines leave the view (they stay on the server).
    while (this.count > MAX_LOG_LINES) {
      var oldest = this.lines.querySelector(".log-line");
      if (!oldest) break;
      oldest.remove();
      this.count--;
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
    this.source.addEventListener("reset", function () {
      self.lines.appendChild(h("div", { className: "log-line lvl-warning", text: "… lines skipped (the view fell behind); they are kept on the server." }));
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

  window.VigilMonitor = { ProcessingView: ProcessingView, LogView: LogView };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
