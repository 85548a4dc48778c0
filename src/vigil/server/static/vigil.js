// Loaded by every page (the Content-Security-Policy allows no inline script):
// - a form control with data-autosubmit submits its form when changed;
// - every Bokeh figure of the page is drawn: <script type="application/json"
//   data-bokeh-item="TARGET">. When a figure is drawn its element gets data-drawn="true";
//   once every figure is, so does <html> (data-plots-drawn="true"): tests, benchmarks and
//   scripts wait on that attribute.
(function () {
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
