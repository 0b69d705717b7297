// Draws every <canvas data-chart="ID"> from the JSON configuration in <script id="ID">, on load and
// after htmx swaps. Charts are drawn without animation, so prints and screenshots show them complete.
(function () {
  "use strict";
  function draw(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var source = document.getElementById(canvas.dataset.chart);
      if (!source || typeof Chart === "undefined") { return; }
      new Chart(canvas, JSON.parse(source.textContent));
      canvas.dataset.drawn = "yes";
    });
    document.body.dataset.charts = document.querySelectorAll("canvas[data-drawn]").length;
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) { window.print(); }
  });
  window.addEventListener("beforeprint", function () {
    Object.values(Chart.instances).forEach(function (chart) { chart.resize(); });
  });
})();
