// Live board: calls in progress with elapsed time, and findings as they arrive over SSE.
(function () {
  "use strict";
  const calls = {};
  JSON.parse(document.getElementById("live-data").textContent).forEach(function (c) { calls[c.call_id] = c; });
  const tbody = document.querySelector("#live-calls tbody");
  const alerts = document.getElementById("alerts");
  const status = document.getElementById("sse-status");
  const verdictCn = { fail: "不合格", warn: "提醒", pass: "合格" };

  function elapsed(c) {
    const start = Date.parse(c.started_at);
    if (isNaN(start)) return "";
    const s = Math.max(0, Math.floor((Date.now() - start) / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function render() {
    tbody.replaceChildren();
    Object.values(calls).forEach(function (c) {
      const tr = document.createElement("tr");
      tr.id = "live-" + c.call_id;
      tr.append(text("td", c.call_id), text("td", c.engineer || "振铃中…"), text("td", c.line || ""),
        text("td", c.caller || ""), text("td", elapsed(c), "elapsed"));
      const td = document.createElement("td");
      // A malformed finding (null, a string) is skipped, never allowed to stop the board.
      (c.findings || []).forEach(function (f) {
        if (f && typeof f === "object") td.append(text("span", String(f.clause || "?"), "tag " + (f.verdict || "")));
      });
      tr.append(td);
      tbody.append(tr);
    });
    document.getElementById("no-live").hidden = Object.keys(calls).length > 0;
  }

  function alert(event) {
    const f = event.finding && typeof event.finding === "object" ? event.finding : {};
    const c = calls[event.call_id] || {};
    const li = document.createElement("li");
    li.className = "fresh " + (f.verdict || "");
    li.dataset.callId = event.call_id;
    li.append(text("strong", (f.clause || "") + " " + (verdictCn[f.verdict] || "")), " ",
      text("span", (c.engineer || event.call_id) + "：" + (f.message || f.heard || f.rule_id || "")));
    if (f.recommended) li.append(text("div", "建议话术：“" + f.recommended + "”", "recommended"));
    alerts.prepend(li);
  }

  const source = new EventSource("/api/live/events");
  source.onopen = function () { status.textContent = "已连接"; document.body.dataset.sse = "open"; };
  source.onerror = function () { status.textContent = "连接中断，正在重连…"; };
  function parse(m) {
    try { const e = JSON.parse(m.data); return e && typeof e === "object" && e.call_id ? e : null; }
    catch (err) { return null; }
  }
  source.addEventListener("call_started", function (m) {
    const e = parse(m);
    if (!e) return;
    calls[e.call_id] = Object.assign({ findings: [] }, e);
    render();
  });
  source.addEventListener("engineer_answered", function (m) {
    const e = parse(m);
    if (!e) return;
    if (calls[e.call_id]) { calls[e.call_id].engineer = e.engineer; render(); }
  });
  source.addEventListener("finding", function (m) {
    const e = parse(m);
    if (!e) return;
    if (calls[e.call_id]) calls[e.call_id].findings.push(e.finding);
    alert(e);
    render();
  });
  source.addEventListener("call_ended", function (m) {
    const e = parse(m);
    if (e) delete calls[e.call_id];
    render();
  });
  setInterval(function () {
    document.querySelectorAll("#live-calls tr").forEach(function (tr) {
      const c = calls[tr.id.slice(5)];
      if (c) tr.querySelector(".elapsed").textContent = elapsed(c);
    });
  }, 1000);
  render();
})();
