// The lead's dashboard: load a snapshot over Socket.IO, then apply pushed changes.
// After a reconnect the page watches again and replaces everything with the new snapshot.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const campaignId = Number(root.dataset.campaignId);
  const socket = window.phonebank && window.phonebank.socket;
  const rows = new Map(); // session id -> row
  let figures = null;
  let chart = null;

  const STATE_LABELS = {
    waiting: "ready", preview: "preview", dialing: "dialing", ringing: "ringing",
    talking: "talking", machine: "voicemail", wrapup: "wrap-up", paused: "paused",
    disconnected: "disconnected", ended: "ended",
  };
  // How long a state may last before the page flags it (seconds).
  const LONG = { wrapup: 120, ringing: 45, dialing: 45, preview: 180 };

  const pct = (x) => (x == null ? "–" : Math.round(x * 100) + "%");
  const num = (x) => (x == null ? "–" : Number(x).toLocaleString());
  const clock = (seconds) => {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
  };
  const since = (iso) => (iso ? (Date.now() - Date.parse(iso)) / 1000 : 0);
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text != null) node.textContent = text;
    return node;
  };

  function renderVolunteers() {
    const body = document.querySelector("#volunteers tbody");
    body.replaceChildren();
    const list = [...rows.values()].sort((a, b) => (a.ended - b.ended) || a.volunteer.name.localeCompare(b.volunteer.name));
    if (!list.length) {
      const tr = el("tr", { class: "empty" });
      tr.append(el("td", { colspan: "8", class: "muted" }, "No one is calling in this campaign right now."));
      body.append(tr);
    }
    for (const row of list) {
      const tr = el("tr", { "data-session-id": row.session_id, "data-state": row.state });
      if (row.ended) tr.classList.add("inactive");
      const who = el("td", {}, row.volunteer.name);
      if (row.hand_raised_at && !row.ended) who.append(" ", el("span", { class: "hand", title: "Raised a hand" }, "✋ hand raised"));
      tr.append(who);
      const state = el("td");
      state.append(el("span", { class: "state state-" + row.state }, STATE_LABELS[row.state] || row.state));
      tr.append(state);
      tr.append(el("td", { class: "num since", "data-since": row.state_since || "" }, row.ended ? "" : clock(since(row.state_since))));
      tr.append(el("td", { class: "num" }, num(row.totals.calls)));
      tr.append(el("td", { class: "num" }, num(row.totals.contacts)));
      tr.append(el("td", { class: "num" }, clock(row.totals.talk_seconds)));
      const audio = row.audio.mode ? (row.audio.up ? "up" : "down") : "not connected";
      tr.append(el("td", { class: "audio audio-" + (row.audio.up ? "up" : "down") }, audio + (row.audio.mode ? " (" + row.audio.mode + ")" : "")));
      const actions = el("td", { class: "row-actions" });
      if (!row.ended) {
        const listen = el("button", { type: "button", "data-action": "listen" }, "Listen");
        listen.disabled = !row.audio.up;
        listen.title = row.audio.up ? "Hear this volunteer's call" : "Their audio is not connected";
        actions.append(listen,
          el("button", { type: "button", "data-action": "message" }, "Message"),
          el("button", { type: "button", "data-action": "pause" }, "Pause"),
          el("button", { type: "button", "data-action": "end", class: "link danger-text" }, "End session"));
      }
      tr.append(actions);
      body.append(tr);
    }
    const active = list.filter((r) => !r.ended).length;
    document.getElementById("volunteer-count").textContent = "(" + active + " in a session)";
    renderAlerts();
  }

  function renderFigures() {
    if (!figures) return;
    const f = figures;
    const show = { dials: num(f.dials), contacts: num(f.contacts), contact_rate: pct(f.contact_rate),
      ids: num(f.ids), dials_per_volunteer_hour: num(f.dials_per_volunteer_hour), machine_rate: pct(f.machine_rate) };
    Object.entries(show).forEach(([key, text]) => {
      const node = document.querySelector('[data-fig="' + key + '"]');
      if (node) node.textContent = text;
    });
    const buckets = document.querySelector("#buckets tbody");
    buckets.replaceChildren();
    const names = { contact: "Contacts", retry: "Try again later", bad_number: "Bad numbers", never: "Never call" };
    Object.entries(f.buckets).forEach(([bucket, count]) => {
      const tr = el("tr", { "data-bucket": bucket });
      tr.append(el("th", {}, names[bucket] || bucket), el("td", { class: "num" }, num(count)));
      buckets.append(tr);
    });
    const survey = document.getElementById("survey");
    survey.replaceChildren();
    for (const q of f.survey) {
      survey.append(el("h3", {}, q.text + (q.main ? " (IDs)" : "")));
      const table = el("table", { class: "table compact" });
      const tbody = el("tbody");
      if (!q.answers.length) {
        const tr = el("tr");
        tr.append(el("td", { class: "muted" }, "No answers yet."));
        tbody.append(tr);
      }
      q.answers.forEach((a) => {
        const tr = el("tr");
        tr.append(el("td", {}, a.answer), el("td", { class: "num" }, num(a.count)));
        tbody.append(tr);
      });
      table.append(tbody);
      survey.append(table);
    }
    const l = f.list;
    const progress = document.querySelector("#list-progress tbody");
    progress.replaceChildren();
    [["Left to call now", l.left_now, "left_now"], ["Waiting for a retry", l.waiting_retry, "waiting_retry"],
     ["With volunteers", l.with_volunteers, "with_volunteers"], ["Finished", l.finished, "finished"],
     ["Outside calling hours now", l.outside_window_now, "outside_window_now"],
     ["Unreachable: no time zone can be known", l.no_time_zone, "no_time_zone"]].forEach(([label, value, key]) => {
      const tr = el("tr", { "data-list": key });
      tr.append(el("th", {}, label), el("td", { class: "num" }, num(value)));
      progress.append(tr);
    });
    document.getElementById("list-dry").textContent = l.minutes_until_dry == null
      ? "Not enough calls in the last 30 minutes to project when the list runs dry."
      : "At the last half hour's pace (" + l.dials_per_minute + " dials a minute) the list runs dry in about " +
        (l.minutes_until_dry >= 90 ? Math.round(l.minutes_until_dry / 60) + " hours." : Math.round(l.minutes_until_dry) + " minutes.");
    renderChart();
    renderAlerts();
  }

  function renderChart() {
    if (!window.Chart || !figures) return;
    const labels = figures.per_10_minutes.map((b) => new Date(b.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    const dials = figures.per_10_minutes.map((b) => b.dials);
    const contacts = figures.per_10_minutes.map((b) => b.contacts);
    if (!chart) {
      chart = new window.Chart(document.getElementById("dials-chart"), {
        type: "bar",
        data: { labels, datasets: [{ label: "Dials", data: dials, backgroundColor: "#9db7e8" },
                                   { label: "Contacts", data: contacts, backgroundColor: "#1f6f3f" }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    } else {
      chart.data.labels = labels;
      chart.data.datasets[0].data = dials;
      chart.data.datasets[1].data = contacts;
      chart.update();
    }
  }

  function renderAlerts() {
    const alerts = [];
    for (const row of rows.values()) {
      if (row.ended) continue;
      const limit = LONG[row.state];
      if (limit && since(row.state_since) > limit) {
        alerts.push(row.volunteer.name + " has been in " + (STATE_LABELS[row.state] || row.state) + " for " + clock(since(row.state_since)) + ".");
      }
      if (row.state === "disconnected") alerts.push(row.volunteer.name + "'s page is disconnected.");
      else if (row.audio.mode && !row.audio.up) alerts.push(row.volunteer.name + "'s audio is down.");
    }
    if (figures && figures.dials >= 20) {
      if (figures.machine_rate > 0.45) alerts.push("High machine rate: " + pct(figures.machine_rate) + " of today's dials.");
      if (figures.failure_rate > 0.1) alerts.push("High failure rate: " + pct(figures.failure_rate) + " of today's dials failed.");
    }
    if (figures && figures.list.minutes_until_dry != null && figures.list.minutes_until_dry < 60) {
      alerts.push("The call list runs dry within the hour at the current pace.");
    }
    const list = document.getElementById("alerts");
    list.replaceChildren(...alerts.map((text) => el("li", { class: "alert" }, text)));
    document.getElementById("alerts-card").hidden = alerts.length === 0;
  }

  function applySnapshot(state) {
    // A push that arrived while the snapshot was on its way may be newer than the snapshot.
    const previous = new Map(rows);
    rows.clear();
    state.volunteers.forEach((row) => {
      const known = previous.get(row.session_id);
      rows.set(row.session_id, known && known.version > row.version ? known : row);
    });
    figures = state.figures;
    renderVolunteers();
    renderFigures();
    document.getElementById("dash-updated").textContent = "Live";
  }

  function watch() {
    socket.emit("dashboard.watch", { campaign_id: campaignId }, (reply) => {
      if (reply && reply.ok) applySnapshot(reply.state);
      else document.getElementById("dash-updated").textContent = (reply && reply.error) || "Cannot load the dashboard.";
    });
  }

  // --- stepping in ---------------------------------------------------------------------------
  const emulated = root.dataset.emulated === "true";
  const bar = document.getElementById("monitor-bar");
  const status = document.getElementById("monitor-status");
  let device = null;
  let leg = null; // { sessionId, call, mode, name }

  const ask = (event, data) => new Promise((resolve) => socket.emit(event, data, resolve));
  const flash = (text) => { document.getElementById("dash-updated").textContent = text; };

  function showLeg() {
    bar.hidden = !leg;
    if (!leg) return;
    status.textContent = { listen: "Listening to ", whisper: "Whispering to ", barge: "In the call with " }[leg.mode] + leg.name;
    bar.querySelectorAll("[data-mode]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === leg.mode)));
  }

  async function startListening(sessionId) {
    const row = rows.get(sessionId);
    if (leg) await stopListening();
    const reply = await ask("monitor.join", { session_id: sessionId });
    if (!reply || !reply.ok) { flash((reply && reply.error) || "Could not listen."); return; }
    const Device = emulated ? window.PhonebankSimDevice : window.Twilio.Device;
    if (device) device.destroy();
    device = new Device(reply.audio.token, emulated ? { emulatorUrl: reply.audio.emulator_url } : { logLevel: "warn" });
    leg = { sessionId, mode: "listen", name: row ? row.volunteer.name : "volunteer", call: null };
    showLeg();
    status.textContent = "Connecting to " + leg.name + "…";
    try {
      const call = await device.connect({ params: { monitor_session: String(sessionId), mode: "listen" } });
      leg.call = call;
      call.on("accept", showLeg);
      call.on("disconnect", () => { leg = null; showLeg(); });
      call.on("error", (err) => flash("Audio error: " + (err.message || err)));
      showLeg();
    } catch (err) {
      leg = null;
      showLeg();
      flash("Could not connect audio: " + (err.message || err));
    }
  }

  async function stopListening() {
    if (!leg) return;
    const current = leg;
    leg = null;
    showLeg();
    await ask("monitor.stop", { session_id: current.sessionId });
    if (current.call) current.call.disconnect();
  }

  bar.querySelectorAll("[data-mode]").forEach((button) => button.addEventListener("click", async () => {
    if (!leg) return;
    const reply = await ask("monitor.mode", { session_id: leg.sessionId, mode: button.dataset.mode });
    if (reply && reply.ok) { leg.mode = reply.mode; showLeg(); } else flash((reply && reply.error) || "Could not switch.");
  }));
  document.getElementById("monitor-stop").addEventListener("click", stopListening);

  document.querySelector("#volunteers tbody").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const sessionId = Number(button.closest("tr").dataset.sessionId);
    const row = rows.get(sessionId);
    const name = row ? row.volunteer.name : "this volunteer";
    let reply = null;
    if (button.dataset.action === "listen") return startListening(sessionId);
    if (button.dataset.action === "message") {
      const text = window.prompt("Message to " + name + " (shown on their page):");
      if (!text) return;
      reply = await ask("lead.message", { session_id: sessionId, text });
    } else if (button.dataset.action === "pause") {
      reply = await ask("lead.pause", { session_id: sessionId });
    } else if (button.dataset.action === "end") {
      if (!window.confirm("End " + name + "'s calling session?")) return;
      reply = await ask("lead.end_session", { session_id: sessionId });
    }
    flash(reply && reply.ok ? "Done." : (reply && reply.error) || "That did not work.");
  });

  socket.on("dashboard.volunteer", (row) => {
    if (row.campaign_id !== campaignId) return;
    const known = rows.get(row.session_id);
    if (known && known.version > row.version) return; // a late, older push
    rows.set(row.session_id, row);
    renderVolunteers();
  });
  socket.on("dashboard.figures", (message) => {
    if (message.campaign_id !== campaignId) return;
    figures = message.figures;
    renderFigures();
  });
  socket.on("connect", watch);
  socket.on("disconnect", () => { document.getElementById("dash-updated").textContent = "Reconnecting…"; });
  if (socket.connected) watch();
  // Time-in-state counters and long-state alerts tick locally.
  setInterval(() => {
    document.querySelectorAll("#volunteers td.since").forEach((td) => {
      if (td.dataset.since) td.textContent = clock(since(td.dataset.since));
    });
    renderAlerts();
  }, 1000);
})();
