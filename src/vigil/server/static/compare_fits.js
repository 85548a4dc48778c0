// The compare page's FITS pairs: A, B and A - B drawn from their values (fetched from
// /api/compare/fits as float32), a stretch shared by A and B, colour bars in the images'
// unit, and a readout of the three values under the pointer. Zoom and pan are those of
// compare.js (window.VigilCompare), synced across the three panels of a pair.
(function () {
  "use strict";

  var shared = window.VigilCompare;
  var section = document.querySelector('[data-testid="fits"]');
  if (!section || !shared) return;

  // Colour maps: stops of [position, r, g, b].
  var IMAGE_MAP = [[0, 13, 8, 135], [0.25, 126, 3, 168], [0.5, 204, 71, 120], [0.75, 248, 149, 64], [1, 240, 249, 33]];
  var DIFF_MAP = [[0, 33, 102, 172], [0.25, 103, 169, 207], [0.5, 247, 247, 247], [0.75, 239, 138, 98], [1, 178, 24, 43]];

  function colour(map, t) {
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    for (var i = 1; i < map.length; i++) {
      if (t <= map[i][0]) {
        var a = map[i - 1], b = map[i], k = (t - a[0]) / (b[0] - a[0]);
        return [a[1] + k * (b[1] - a[1]), a[2] + k * (b[2] - a[2]), a[3] + k * (b[3] - a[3])];
      }
    }
    var last = map[map.length - 1];
    return [last[1], last[2], last[3]];
  }

  // A value with *digits* significant digits (default 7, a float32's), plain or in
  // exponent form.
  function format(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "NaN";
    if (value === 0) return "0";
    digits = digits || 7;
    var size = Math.abs(value);
    if (size >= 1e6 || size < 1e-4) return value.toExponential(digits - 1);
    return String(Number(value.toPrecision(digits)));
  }

  function decode(text, count) {
    var binary = window.atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    var all = new Float32Array(bytes.buffer);
    return [all.subarray(0, count), all.subarray(count, 2 * count), all.subarray(2 * count, 3 * count)];
  }

  // FITS row 1 is the bottom of the image: canvas row y shows FITS row height - y.
  function draw(canvas, values, width, height, map, low, high) {
    canvas.width = width;
    canvas.height = height;
    var context = canvas.getContext("2d");
    var image = context.createImageData(width, height);
    var out = image.data, span = high - low;
    for (var row = 0; row < height; row++) {
      var target = (height - 1 - row) * width * 4;
      for (var col = 0; col < width; col++) {
        var v = values[row * width + col], p = target + col * 4;
        if (!Number.isFinite(v)) { out[p + 3] = 0; continue; }
        var c = colour(map, (v - low) / span);
        out[p] = c[0]; out[p + 1] = c[1]; out[p + 2] = c[2]; out[p + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
  }

  function colourBar(bar, map, low, high, unit) {
    var canvas = bar.querySelector("canvas");
    var context = canvas.getContext("2d");
    var image = context.createImageData(canvas.width, 1);
    for (var i = 0; i < canvas.width; i++) {
      var c = colour(map, i / (canvas.width - 1));
      image.data[i * 4] = c[0]; image.data[i * 4 + 1] = c[1]; image.data[i * 4 + 2] = c[2]; image.data[i * 4 + 3] = 255;
    }
    context.putImageData(image, 0, 0);
    var ticks = bar.querySelector(".cmp-ticks");
    ticks.textContent = "";
    [low, (low + high) / 2, high].forEach(function (value) {
      var tick = document.createElement("span");
      tick.textContent = format(value, 4);
      ticks.appendChild(tick);
    });
    var label = document.createElement("span");
    label.className = "cmp-unit";
    label.textContent = unit || "no unit (BUNIT not set)";
    ticks.appendChild(label);
    bar.dataset.low = String(low);
    bar.dataset.high = String(high);
    bar.dataset.unit = unit;
  }

  function showNote(pair, text) {
    var note = pair.querySelector('[data-testid="fits-note"]');
    note.textContent = text;
    note.hidden = false;
  }

  var viewports = [];

  function initPair(pair) {
    var body = pair.querySelector('[data-testid="fits-body"]');
    fetch(pair.dataset.url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error((data.detail && data.detail.message) || ("HTTP " + response.status));
          return data;
        });
      })
      .then(function (data) {
        if (data.note || !data.values) {
          pair.dataset.state = "note";
          showNote(pair, data.note || "These images cannot be compared by value.");
          return;
        }
        var width = data.width, height = data.height;
        var arrays = decode(data.values, width * height);
        var canvases = pair.querySelectorAll("canvas[data-side]");
        draw(canvases[0], arrays[0], width, height, IMAGE_MAP, data.low, data.high);
        draw(canvases[1], arrays[1], width, height, IMAGE_MAP, data.low, data.high);
        draw(canvases[2], arrays[2], width, height, DIFF_MAP, -data.limit, data.limit);
        colourBar(pair.querySelector('[data-testid="colorbar-images"]'), IMAGE_MAP, data.low, data.high, data.unit);
        colourBar(pair.querySelector('[data-testid="colorbar-diff"]'), DIFF_MAP, -data.limit, data.limit, data.unit);
        var summary = width + " × " + height + " px · " + data.differing + " px differ · max |A − B| " +
          format(data.max_abs) + (data.unit ? " " + data.unit : "");
        if (data.notes.length) summary += " · " + data.notes.join(" ");
        pair.querySelector('[data-testid="fits-summary"]').textContent = summary;
        body.hidden = false;

        var viewport = new shared.Viewport(pair);
        viewport.aspect = height / width;
        viewports.push(viewport);
        var readout = pair.querySelector('[data-testid="fits-readout"]');
        pair.querySelectorAll(".cmp-panel").forEach(function (panel) {
          panel.style.aspectRatio = width + " / " + height;
          shared.bindPanel(panel, viewport);
          panel.addEventListener("pointermove", function (event) {
            var box = panel.getBoundingClientRect();
            var size = box.width || 1;
            var u = ((event.clientX - box.left) / size - viewport.x) / viewport.zoom;
            var v = ((event.clientY - box.top) / size - viewport.y) / viewport.zoom;
            var col = Math.floor(u * width), down = Math.floor(v * width);
            if (col < 0 || col >= width || down < 0 || down >= height) return;
            var row = height - 1 - down, i = row * width + col;
            var a = arrays[0][i], b = arrays[1][i], d = arrays[2][i];
            var unit = data.unit ? " " + data.unit : "";
            readout.textContent = "x " + (col + 1) + ", y " + (row + 1) + ": A = " + format(a) + unit +
              " · B = " + format(b) + unit + " · A − B = " + format(d) + unit;
            readout.dataset.col = String(col);
            readout.dataset.row = String(row);
            readout.dataset.a = String(a);
            readout.dataset.b = String(b);
            readout.dataset.diff = String(d);
          });
        });
        viewport.apply();
        pair.dataset.state = "drawn";
      })
      .catch(function (error) {
        pair.dataset.state = "note";
        showNote(pair, "Cannot load the values: " + error.message);
      });
  }

  section.querySelectorAll('[data-testid="fits-pair"]').forEach(initPair);
  var reset = section.querySelector('[data-testid="fits-zoom-reset"]');
  if (reset) reset.addEventListener("click", function () { viewports.forEach(function (v) { v.reset(); }); });
  window.addEventListener("resize", function () { viewports.forEach(function (v) { v.apply(); }); });
})();
