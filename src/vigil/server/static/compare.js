// The compare page: sortable delta table and image pairs (synced zoom and pan, swipe,
// blink, difference with a threshold). No library. The page's state lives in the query
// string (sort, dir, view, swipe, rate, threshold), so the permalink restores it.
(function () {
  "use strict";

  var DEFAULTS = { sort: "rank", dir: "asc", view: "side", swipe: "50", rate: "500", threshold: "32" };
  var MAX_ZOOM = 32;
  var params = new URLSearchParams(window.location.search);

  function param(name) {
    var value = params.get(name);
    return value === null || value === "" ? DEFAULTS[name] : value;
  }

  // The filter form reloads the page: it carries this state along in hidden fields.
  var filterForm = document.querySelector('[data-testid="delta-filters"]');

  function setParams(changes) {
    Object.keys(changes).forEach(function (key) {
      var value = changes[key];
      var unset = value === null || value === undefined || String(value) === DEFAULTS[key];
      if (unset) params.delete(key);
      else params.set(key, String(value));
      if (filterForm) setHidden(filterForm, key, unset ? null : String(value));
    });
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    updatePermalink();
  }

  // The permalink names the exact jobs (the server's link) plus this page's view state.
  var permalink = document.querySelector('[data-testid="permalink"]');
  var permalinkBase = permalink ? permalink.getAttribute("href") : null;

  function updatePermalink() {
    if (!permalink) return;
    var url = new URL(permalinkBase, window.location.origin);
    ["sort", "dir", "view", "swipe", "rate", "threshold"].forEach(function (key) {
      if (params.has(key)) url.searchParams.set(key, params.get(key));
    });
    permalink.setAttribute("href", url.pathname + url.search);
  }

  // Delta table ----------------------------------------------------------------------

  var NUMERIC = { rank: true, a: true, b: true, delta: true, percent: true, z: true };

  function sortTable(table, key, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === "desc" ? -1 : 1;
    function rank(row) { return Number(row.dataset.rank); }
    rows.sort(function (r1, r2) {
      var order;
      if (key === "metric") {
        order = compareText(r1.dataset.metric, r2.dataset.metric) ||
          compareText(r1.dataset.dataid, r2.dataset.dataid);
        return order ? sign * order : rank(r1) - rank(r2);
      }
      var v1 = r1.dataset[key], v2 = r2.dataset[key];
      if (key !== "rank") {
        // Missing values (NaN, unknown z) last in both directions.
        if (v1 === "" && v2 === "") return rank(r1) - rank(r2);
        if (v1 === "") return 1;
        if (v2 === "") return -1;
      }
      order = Number(v1) - Number(v2);
      return order ? sign * order : rank(r1) - rank(r2);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.classList.remove("sorted-asc", "sorted-desc");
      if (th.dataset.key === key) th.classList.add(dir === "desc" ? "sorted-desc" : "sorted-asc");
      if (th.dataset.key) th.setAttribute("aria-sort", th.dataset.key === key ? (dir === "desc" ? "descending" : "ascending") : "none");
    });
    table.dataset.sort = key;
    table.dataset.dir = dir;
  }

  function compareText(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function initTable() {
    var table = document.querySelector('[data-testid="delta-table"]');
    if (!table) return;
    var key = param("sort"), dir = param("dir");
    if (!(key === "metric" || NUMERIC[key])) key = "rank";
    sortTable(table, key, dir === "desc" ? "desc" : "asc");
    table.tHead.addEventListener("click", function (event) {
      var th = event.target.closest("th[data-key]");
      if (!th) return;
      var next = th.dataset.key;
      var nextDir;
      if (next === table.dataset.sort) nextDir = table.dataset.dir === "asc" ? "desc" : "asc";
      else nextDir = next === "rank" || next === "metric" ? "asc" : "desc";
      sortTable(table, next, nextDir);
      setParams({ sort: next, dir: nextDir });
    });
  }

  function setHidden(form, name, value) {
    var input = form.querySelector('input[type="hidden"][name="' + name + '"]');
    if (value === null) { if (input) input.remove(); return; }
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    input.value = value;
  }

  // Zoom and pan, shared by the panels of one pair -----------------------------------

  // The view of a pair: zoom factor and offset, as fractions of the panel's width, so
  // that panels of different sizes show the same part of the image.
  function Viewport(pair) {
    this.pair = pair;
    this.zoom = 1;
    this.x = 0;
    this.y = 0;
    this.aspect = 1; // image height / width
  }

  Viewport.prototype.apply = function () {
    var self = this;
    this.pair.querySelectorAll(".cmp-panel").forEach(function (panel) {
      var width = panel.clientWidth || 1;
      var transform = "translate(" + (self.x * width) + "px," + (self.y * width) + "px) scale(" + self.zoom + ")";
      panel.querySelectorAll(".cmp-layer").forEach(function (layer) { layer.style.transform = transform; });
    });
    this.pair.dataset.zoom = this.zoom.toFixed(3);
  };

  Viewport.prototype.clamp = function () {
    this.zoom = Math.min(MAX_ZOOM, Math.max(1, this.zoom));
    this.x = Math.min(0, Math.max(1 - this.zoom, this.x));
    this.y = Math.min(0, Math.max(this.aspect * (1 - this.zoom), this.y));
  };

  Viewport.prototype.zoomAt = function (factor, fx, fy) {
    var next = Math.min(MAX_ZOOM, Math.max(1, this.zoom * factor));
    var ratio = next / this.zoom;
    this.x = fx - (fx - this.x) * ratio;
    this.y = fy - (fy - this.y) * ratio;
    this.zoom = next;
    this.clamp();
    this.apply();
  };

  Viewport.prototype.reset = function () {
    this.zoom = 1;
    this.x = 0;
    this.y = 0;
    this.apply();
  };

  function bindPanel(panel, viewport) {
    panel.addEventListener("wheel", function (event) {
      event.preventDefault();
      var box = panel.getBoundingClientRect();
      var width = box.width || 1;
      var factor = Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.0015));
      viewport.zoomAt(factor, (event.clientX - box.left) / width, (event.clientY - box.top) / width);
    }, { passive: false });
    var drag = null;
    panel.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { id: event.pointerId, x: event.clientX, y: event.clientY };
      panel.setPointerCapture(event.pointerId);
      panel.classList.add("dragging");
    });
    panel.addEventListener("pointermove", function (event) {
      if (!drag || drag.id !== event.pointerId) return;
      var width = panel.getBoundingClientRect().width || 1;
      viewport.x += (event.clientX - drag.x) / width;
      viewport.y += (event.clientY - drag.y) / width;
      drag.x = event.clientX;
      drag.y = event.clientY;
      viewport.clamp();
      viewport.apply();
    });
    function end(event) {
      if (!drag || drag.id !== event.pointerId) return;
      drag = null;
      panel.classList.remove("dragging");
    }
    panel.addEventListener("pointerup", end);
    panel.addEventListener("pointercancel", end);
    panel.addEventListener("dblclick", function () { viewport.reset(); });
  }

  // The FITS pairs (compare_fits.js) zoom and pan the same way.
  window.VigilCompare = { Viewport: Viewport, bindPanel: bindPanel };

  // Difference image ----------------------------------------------------------------

  function loaded(img) {
    if (img.complete && img.naturalWidth > 0) return Promise.resolve(img);
    return new Promise(function (resolve, reject) {
      img.addEventListener("load", function () { resolve(img); }, { once: true });
      img.addEventListener("error", function () { reject(new Error("cannot load " + img.src)); }, { once: true });
    });
  }

  function pixels(img, width, height) {
    var canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(img, 0, 0);
    return context.getImageData(0, 0, width, height).data;
  }

  // Per pixel: max over R, G, B of |A - B|, and A's luminance for context.
  function Difference(imgA, imgB, canvas, label) {
    var width = Math.min(imgA.naturalWidth, imgB.naturalWidth);
    var height = Math.min(imgA.naturalHeight, imgB.naturalHeight);
    var a = pixels(imgA, width, height), b = pixels(imgB, width, height);
    this.size = width * height;
    this.diff = new Uint8Array(this.size);
    this.light = new Uint8Array(this.size);
    this.max = 0;
    for (var i = 0, p = 0; i < this.size; i++, p += 4) {
      var d = Math.max(Math.abs(a[p] - b[p]), Math.abs(a[p + 1] - b[p + 1]), Math.abs(a[p + 2] - b[p + 2]));
      this.diff[i] = d;
      if (d > this.max) this.max = d;
      this.light[i] = (a[p] * 77 + a[p + 1] * 150 + a[p + 2] * 29) >> 8;
    }
    this.sameSize = imgA.naturalWidth === imgB.naturalWidth && imgA.naturalHeight === imgB.naturalHeight;
    this.canvas = canvas;
    this.label = label;
    canvas.width = width;
    canvas.height = height;
    this.context = canvas.getContext("2d");
    this.image = this.context.createImageData(width, height);
  }

  Difference.prototype.draw = function (threshold) {
    var out = this.image.data, above = 0;
    for (var i = 0, p = 0; i < this.size; i++, p += 4) {
      var d = this.diff[i];
      if (d > threshold) {
        var k = Math.min(1, d / 128);
        out[p] = 255;
        out[p + 1] = Math.round(200 * (1 - k));
        out[p + 2] = Math.round(40 * (1 - k));
        above++;
      } else {
        var g = 205 + ((this.light[i] * 45) >> 8);
        out[p] = g; out[p + 1] = g; out[p + 2] = g;
      }
      out[p + 3] = 255;
    }
    this.context.putImageData(this.image, 0, 0);
    var share = this.size ? (100 * above / this.size) : 0;
    this.canvas.dataset.above = String(above);
    this.label.textContent = "|A − B| > " + threshold + ": " + above + " px (" + share.toFixed(1) + "%) · max " + this.max +
      (this.sameSize ? "" : " · sizes differ");
  };

  // Image section ---------------------------------------------------------------------

  function initImages() {
    var section = document.querySelector('[data-testid="images"]');
    if (!section) return;
    var pairs = Array.prototype.slice.call(section.querySelectorAll('[data-testid="image-pair"]'));
    if (!pairs.length) return;
    var viewports = [];
    var differences = [];
    var threshold = document.querySelector('[data-testid="threshold"]');
    var thresholdValue = document.querySelector('[data-testid="threshold-value"]');
    var swipe = document.querySelector('[data-testid="swipe"]');
    var rate = document.querySelector('[data-testid="blink-rate"]');
    var rateValue = document.querySelector('[data-testid="blink-rate-value"]');
    var blinkButton = document.querySelector('[data-testid="blink-toggle"]');

    pairs.forEach(function (pair) {
      var viewport = new Viewport(pair);
      viewports.push(viewport);
      pair.querySelectorAll(".cmp-panel").forEach(function (panel) { bindPanel(panel, viewport); });
      var imgA = pair.querySelector('img[data-side="a"]');
      var imgB = pair.querySelector('img[data-side="b"]');
      Promise.all([loaded(imgA), loaded(imgB)]).then(function () {
        viewport.aspect = imgA.naturalHeight / imgA.naturalWidth;
        pair.querySelectorAll(".cmp-panel").forEach(function (panel) {
          panel.style.aspectRatio = imgA.naturalWidth + " / " + imgA.naturalHeight;
        });
        var difference = new Difference(imgA, imgB, pair.querySelector('[data-testid="diff-canvas"]'),
          pair.querySelector('[data-testid="diff-label"]'));
        differences.push(difference);
        difference.draw(Number(threshold.value));
        viewport.apply();
      }, function (error) {
        pair.querySelector('[data-testid="diff-label"]').textContent = error.message;
      });
    });

    // Threshold of the difference images.
    function setThreshold(value, remember) {
      threshold.value = value;
      thresholdValue.textContent = threshold.value;
      differences.forEach(function (difference) { difference.draw(Number(threshold.value)); });
      if (remember) setParams({ threshold: threshold.value });
    }
    threshold.addEventListener("input", function () { setThreshold(threshold.value, true); });

    // Swipe: B over A, clipped left of the slider.
    function setSwipe(value, remember) {
      swipe.value = value;
      var percent = Number(swipe.value);
      section.querySelectorAll('[data-testid="swipe-clip"]').forEach(function (clip) {
        clip.style.clipPath = "inset(0 0 0 " + percent + "%)";
      });
      section.querySelectorAll(".cmp-divider").forEach(function (divider) { divider.style.left = percent + "%"; });
      if (remember) setParams({ swipe: swipe.value });
    }
    swipe.addEventListener("input", function () { setSwipe(swipe.value, true); });

    // Blink: A and B alternate every `rate` milliseconds while the blink view is shown.
    var blinkTimer = null, blinking = true, showing = "a";
    var blinkPanels = section.querySelectorAll('[data-testid="panel-blink"]');
    function show(side) {
      showing = side;
      blinkPanels.forEach(function (panel) {
        panel.dataset.showing = side;
        var label = panel.querySelector('[data-testid="blink-label"]');
        if (label) label.textContent = label.dataset[side];
      });
    }
    function restartBlink() {
      if (blinkTimer !== null) window.clearInterval(blinkTimer);
      blinkTimer = null;
      if (blinking && section.dataset.view === "blink") {
        blinkTimer = window.setInterval(function () { show(showing === "a" ? "b" : "a"); }, Number(rate.value));
      }
      blinkButton.textContent = blinking ? "Pause" : "Play";
      blinkButton.setAttribute("aria-pressed", blinking ? "true" : "false");
      section.dataset.blinking = blinking && section.dataset.view === "blink" ? "true" : "false";
    }
    blinkButton.addEventListener("click", function () {
      blinking = !blinking;
      restartBlink();
    });
    function setRate(value, remember) {
      rate.value = value;
      rateValue.textContent = rate.value;
      restartBlink();
      if (remember) setParams({ rate: rate.value });
    }
    rate.addEventListener("input", function () { setRate(rate.value, true); });

    // Views.
    var switches = section.querySelectorAll('[data-testid="view-switch"] a');
    function setView(view, remember) {
      if (["side", "swipe", "blink"].indexOf(view) === -1) view = "side";
      section.dataset.view = view;
      switches.forEach(function (link) { link.classList.toggle("on", link.dataset.view === view); });
      viewports.forEach(function (viewport) { viewport.apply(); });
      restartBlink();
      if (remember) setParams({ view: view });
    }
    switches.forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        setView(link.dataset.view, true);
      });
    });

    document.querySelector('[data-testid="zoom-reset"]').addEventListener("click", function () {
      viewports.forEach(function (viewport) { viewport.reset(); });
    });
    window.addEventListener("resize", function () { viewports.forEach(function (v) { v.apply(); }); });

    setThreshold(param("threshold"), false);
    setSwipe(param("swipe"), false);
    setRate(param("rate"), false);
    setView(param("view"), false);
  }

  initTable();
  initImages();
  if (filterForm) {
    ["view", "swipe", "rate", "threshold"].forEach(function (key) {
      if (params.has(key)) setHidden(filterForm, key, params.get(key));
    });
  }
  updatePermalink();
})();
