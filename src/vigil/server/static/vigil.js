// Draw every Bokeh figure of the page: <script type="application/json" data-bokeh-item="TARGET">.
(function () {
  function draw() {
    document.querySelectorAll("script[data-bokeh-item]").forEach(function (el) {
      var target = el.getAttribute("data-bokeh-item");
      Bokeh.embed.embed_item(JSON.parse(el.textContent), target);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
