// ChildLink: live inbox for /alerts. Opens the Server-Sent Events stream of the person's inbox
// (/api/v1/alerts/stream; the session cookie authenticates it) and puts each new alert at the
// top of the table, or refreshes its row when the alert was updated. Text is set with
// textContent only (never HTML from the server's data). EventSource reconnects by itself and
// sends Last-Event-ID, so nothing is lost across a dropped connection.
(function () {
  "use strict";

  var box = document.getElementById("alert-inbox");
  if (!box || !window.EventSource) {
    return;
  }
  var lang = box.getAttribute("data-lang") === "en" ? 1 : 0;
  var labels = JSON.parse(box.getAttribute("data-labels") || "{}");
  var statusFilter = box.getAttribute("data-status-filter") || "";
  var liveStatus = document.getElementById("live-status");
  var badge = document.getElementById("alert-badge");
  var table = document.getElementById("alerts");
  var tbody = table ? table.querySelector("tbody") : null;
  var seen = {};

  function pick(zh, en) {
    var first = lang ? en : zh;
    var second = lang ? zh : en;
    return first || second || "";
  }

  function labelOf(kind, value) {
    var pair = (labels[kind] || {})[value];
    return pair ? pair[lang] || pair[0] : value;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return "";
    }
    // The server renders UTC; keep the table consistent.
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    if (text !== undefined && text !== null) {
      td.textContent = text;
    }
    return td;
  }

  function badgeSpan(text, className) {
    var span = document.createElement("span");
    span.className = "badge " + (className || "");
    span.textContent = text;
    return span;
  }

  function buildRow(alert) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-alert-id", alert.id);
    tr.setAttribute("data-status", alert.status);
    tr.setAttribute("data-severity", alert.severity);
    var sev = cell();
    sev.appendChild(badgeSpan(labelOf("severity", alert.severity), "sev-" + alert.severity));
    tr.appendChild(sev);
    var title = cell(null, "wrap");
    var link = document.createElement("a");
    link.href = "/alerts/" + encodeURIComponent(alert.id);
    link.textContent = pick(alert.title_zh, alert.title_en);
    title.appendChild(link);
    tr.appendChild(title);
    tr.appendChild(cell(pick(alert.risk_label_zh, alert.risk_label_en)));
    var status = cell();
    var statusBadge = badgeSpan(labelOf("status", alert.status), "");
    statusBadge.setAttribute("data-status-label", "");
    status.appendChild(statusBadge);
    if (alert.escalation_level) {
      status.appendChild(document.createTextNode(" "));
      status.appendChild(badgeSpan("\u2191" + alert.escalation_level, "warn"));
    }
    tr.appendChild(status);
    tr.appendChild(cell(when(alert.opened_at), "mono muted"));
    return tr;
  }

  function countOpen() {
    if (!tbody || !badge) {
      return;
    }
    var open = 0;
    var rows = tbody.querySelectorAll("tr[data-alert-id]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-status") !== "closed") {
        open++;
      }
    }
    badge.textContent = String(open);
  }

  function show(entry) {
    if (!tbody || !entry || !entry.alert) {
      return;
    }
    if (seen[entry.item_id]) {
      return;
    }
    seen[entry.item_id] = true;
    var alert = entry.alert;
    if (statusFilter && alert.status !== statusFilter) {
      return;
    }
    var row = buildRow(alert);
    row.className = "alert-new";
    var old = tbody.querySelector('tr[data-alert-id="' + String(alert.id).replace(/[^0-9a-f-]/gi, "") + '"]');
    if (old) {
      old.parentNode.removeChild(old);
    }
    tbody.insertBefore(row, tbody.firstChild);
    var empty = document.getElementById("alerts-empty");
    if (empty) {
      empty.parentNode.removeChild(empty);
    }
    countOpen();
  }

  function setLive(on) {
    if (!liveStatus) {
      return;
    }
    liveStatus.setAttribute("data-connected", on ? "true" : "false");
    liveStatus.textContent = box.getAttribute(on ? "data-text-connected" : "data-text-disconnected") || "";
  }

  var url = box.getAttribute("data-stream-url");
  var since = box.getAttribute("data-since");
  if (since) {
    url += (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(since);
  }
  var source = new EventSource(url, { withCredentials: true });
  source.addEventListener("open", function () {
    setLive(true);
  });
  source.addEventListener("error", function () {
    setLive(false);
  });
  source.addEventListener("alert", function (event) {
    try {
      show(JSON.parse(event.data));
    } catch (problem) {
      // A malformed event is dropped; the next page load shows the alert anyway.
    }
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
