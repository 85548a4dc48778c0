// Loaded by every page (the Content-Security-Policy allows no inline script):
// - a form control with data-autosubmit submits its form when changed;
// - every Bokeh figure of the page is drawn: <script type="application/json"
//   data-bokeh-item="TARGET">. When a figure is drawn its element gets data-drawn="true";
//   once every figure is, so does <html> (data-plots-drawn="true"): tests, benchmarks and
//   scripts wait on that attribute.
// - a page that dropped stale filters names its clean URL in <meta name="vigil-replace-url">:
//   the address bar shows it, so that the permalink leaves them out;
// - a shift+click on a series point (the "vigil:select-point" event of vigil.plots) fills
//   the element [data-point-url] with the point's panel: the #point-detail section of
//   that URL with &job= and &base= added. It gets data-job (the job shown) once filled.
(function () {
  var replace = document.querySelector('meta[name="vigil-replace-url"]');
  if (replace && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", replace.getAttribute("content"));
  }

  var pointRequest = 0;
  document.addEventListener("vigil:select-point", function (event) {
    var panel = document.querySelector("[data-point-url]");
    var detail = event.detail || {};
    if (!panel || detail.job == null) return;
    var url = panel.getAttribute("data-point-url") + "&job=" + encodeURIComponent(detail.job);
    if (detail.base != null) url += "&base=" + encodeURIComponent(detail.base);
    var request = ++pointRequest;
    panel.setAttribute("aria-busy", "true");
    fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (request !== pointRequest) return;
        // Our own page, escaped by the server: its section is moved in as nodes.
        var section = new DOMParser().parseFromString(html, "text/html").getElementById("point-detail");
        if (!section) throw new Error("no point detail");
        panel.replaceChildren(document.importNode(section, true));
        panel.setAttribute("data-job", String(detail.job));
        panel.scrollIntoView({ block: "nearest" });
      })
      .catch(function (error) {
        if (request !== pointRequest) return;
        var note = document.createElement("p");
        note.className = "notice warn";
        note.textContent = "Could not load job " + detail.job + ": " + error.message;
        panel.replaceChildren(note);
      })
      .finally(function () {
        if (request === pointRequest) panel.removeAttribute("aria-busy");
      });
  });

  document.addEventListener("change", function (event) {
    var control = event.target;
    if (control && control.form && control.hasAttribute && control.hasAttribute("data-autosubmit")) {
      control.form.submit();
    }
  });

  var pending = 0;

  function drawn(target) {
    var el = document.getElementById(target);
    if (el) el.setAttribute("data-drawn", "true");
    pending -= 1;
    if (pending === 0) document.documentElement.setAttribute("data-plots-drawn", "true");
  }

  function whenIdle(doc, done) {
    if (doc.is_idle) {
      done();
    } else {
      var once = false;
      doc.idle.connect(function () {
        if (!once) {
          once = true;
          done();
        }
      });
    }
  }

  function draw() {
    var items = document.querySelectorAll("script[data-bokeh-item]");
    pending = items.length;
    if (pending === 0) {
      document.documentElement.setAttribute("data-plots-drawn", "true");
      return;
    }
    items.forEach(function (el) {
      var target = el.getAttribute("data-bokeh-item");
      Bokeh.embed.embed_item(JSON.parse(el.textContent), target).then(function (views) {
        // embed_item resolves to the view manager of the document it made.
        var doc = Bokeh.documents.find(function (d) { return d.views_manager === views; });
        if (doc) whenIdle(doc, function () { drawn(target); });
        else drawn(target);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
