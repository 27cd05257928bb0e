// Trends page: small line charts drawn on canvas (no chart library, no network).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("trends-data").textContent);
  const palette = ["#2f6fdf", "#d64545", "#2f9e6b", "#d9822b", "#7c5cc4", "#0f9fb3", "#b83280", "#52606d"];

  function lineChart(canvas, series, valueKey, maxValue) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 36;
    const days = Array.from(new Set(Object.values(series).flat().map(function (p) { return p.day; }))).sort();
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px sans-serif";
    if (!days.length) { ctx.fillStyle = "#7b8794"; ctx.fillText("无数据", w / 2 - 18, h / 2); return; }
    const max = maxValue || Math.max(1, ...Object.values(series).flat().map(function (p) { return p[valueKey]; }));
    const x = function (day) { return pad + (days.length === 1 ? 0.5 : days.indexOf(day) / (days.length - 1)) * (w - 2 * pad); };
    const y = function (v) { return h - pad - (v / max) * (h - 2 * pad); };
    ctx.strokeStyle = "#e4e7eb"; ctx.fillStyle = "#7b8794";
    [0, 0.5, 1].forEach(function (f) {
      ctx.beginPath(); ctx.moveTo(pad, y(max * f)); ctx.lineTo(w - pad, y(max * f)); ctx.stroke();
      ctx.fillText(String(Math.round(max * f)), 4, y(max * f) + 4);
    });
    ctx.fillText(days[0], pad, h - 10);
    ctx.fillText(days[days.length - 1], w - pad - 70, h - 10);
    Object.keys(series).forEach(function (name, i) {
      ctx.strokeStyle = ctx.fillStyle = palette[i % palette.length];
      ctx.beginPath();
      series[name].forEach(function (p, j) { (j ? ctx.lineTo : ctx.moveTo).call(ctx, x(p.day), y(p[valueKey])); });
      ctx.stroke();
      ctx.fillText(name, w - pad - 120, 14 + 14 * i);
    });
  }

  lineChart(document.getElementById("chart-engineers"), data.score_by_engineer, "score", 100);
  lineChart(document.getElementById("chart-clauses"), data.failures_by_clause, "failures");
})();
