// Call page: draw the two speakers' waveforms with every finding marked at its time,
// and move the audio to a finding (or transcript line) when it is clicked.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("timeline-data").textContent);
  const audio = document.getElementById("player");
  const canvas = document.getElementById("waveform");
  const colors = { caller: "#7c5cc4", engineer: "#2f6fdf", fail: "#d64545", warn: "#d9822b", pass: "#2f9e6b" };
  let peaks = null;

  function duration() {
    if (peaks && peaks.duration) return peaks.duration;
    if (audio && isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    return data.duration || 1;
  }

  function seek(seconds) {
    if (!audio) return;
    audio.currentTime = Math.max(0, seconds);
    draw();
  }

  function draw() {
    if (!canvas) return;
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, rowH = (h - 20) / 2, dur = duration();
    ctx.clearRect(0, 0, w, h);
    ["caller", "engineer"].forEach(function (name, row) {
      const mid = 10 + rowH * row + rowH / 2;
      ctx.fillStyle = "#9aa5b1";
      ctx.font = "12px sans-serif";
      ctx.fillText(name === "caller" ? "客户" : "工程师", 4, 10 + rowH * row + 12);
      const ch = peaks && peaks.channels[name];
      if (!ch) return;
      ctx.fillStyle = colors[name];
      for (let i = 0; i < ch.length; i++) {
        const x = (i / ch.length) * w;
        const top = mid - ch[i][1] * (rowH / 2 - 2), bottom = mid - ch[i][0] * (rowH / 2 - 2);
        ctx.fillRect(x, top, Math.max(1, w / ch.length), Math.max(1, bottom - top));
      }
    });
    data.findings.forEach(function (f) {
      const x0 = (f.start / dur) * w, x1 = Math.max(x0 + 3, (f.end / dur) * w);
      ctx.fillStyle = colors[f.verdict] || "#999";
      ctx.globalAlpha = 0.25;
      ctx.fillRect(x0, 0, x1 - x0, h);
      ctx.globalAlpha = 1;
      ctx.fillRect(x0, 0, 3, h);
      ctx.fillText(f.clause, x0 + 4, h - 4);
    });
    if (audio) {
      const x = (audio.currentTime / dur) * w;
      ctx.fillStyle = "#102a43";
      ctx.fillRect(x, 0, 2, h);
    }
  }

  function highlight(id) {
    document.querySelectorAll(".finding.active").forEach(function (el) { el.classList.remove("active"); });
    const el = document.getElementById("finding-" + id);
    if (el) { el.classList.add("active"); el.scrollIntoView({ block: "nearest" }); }
  }

  document.querySelectorAll("button.seek").forEach(function (btn) {
    btn.addEventListener("click", function () {
      seek(parseFloat(btn.dataset.start));
      const card = btn.closest(".finding");
      if (card) highlight(card.dataset.findingId);
    });
  });

  if (canvas) {
    canvas.addEventListener("click", function (ev) {
      const rect = canvas.getBoundingClientRect();
      const t = ((ev.clientX - rect.left) / rect.width) * duration();
      // A click on (or within half a second of) a finding's mark jumps to its start.
      const near = data.findings.find(function (f) { return t >= f.start - 0.5 && t <= f.end + 0.5; });
      if (near) { seek(near.start); highlight(near.id); } else { seek(t); }
    });
  }
  if (audio) {
    audio.addEventListener("timeupdate", draw);
    audio.addEventListener("loadedmetadata", draw);
  }
  if (data.peaks_url) {
    fetch(data.peaks_url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { peaks = p; draw(); document.body.dataset.peaksLoaded = "1"; });
  }
  draw();
})();
