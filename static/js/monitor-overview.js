// The leads' overview: every campaign they run, live. Watches each campaign's dashboard room
// and keeps one line per campaign; after a reconnect it watches again (fresh snapshots).
(function () {
  "use strict";
  const table = document.getElementById("overview");
  const socket = window.phonebank && window.phonebank.socket;
  if (!table || !socket) return;
  const ids = table.dataset.campaignIds.split(",").map(Number);
  const campaigns = new Map(); // id -> { rows: Map(session id -> row), figures }
  const CALL_STATES = ["dialing", "ringing", "talking", "machine"];
  const pct = (x) => (x == null ? "–" : Math.round(x * 100) + "%");
  const num = (x) => (x == null ? "–" : Number(x).toLocaleString());

  function render(id) {
    const c = campaigns.get(id);
    const tr = table.querySelector('tr[data-campaign-id="' + id + '"]');
    if (!c || !tr) return;
    const rows = [...c.rows.values()].filter((r) => !r.ended);
    const set = (col, text) => { tr.querySelector('[data-col="' + col + '"]').textContent = text; };
    set("active", num(rows.length));
    set("on_call", num(rows.filter((r) => CALL_STATES.includes(r.state)).length));
    set("hands", num(rows.filter((r) => r.hand_raised_at).length));
    if (c.figures) {
      set("dials", num(c.figures.dials));
      set("contacts", num(c.figures.contacts));
      set("contact_rate", pct(c.figures.contact_rate));
      set("left_now", num(c.figures.list.left_now));
    }
    const alerts = [];
    for (const [cid, camp] of campaigns) {
      const name = table.querySelector('tr[data-campaign-id="' + cid + '"] strong').textContent;
      for (const r of camp.rows.values()) {
        if (r.ended) continue;
        if (r.hand_raised_at) alerts.push(r.volunteer.name + " (" + name + ") raised a hand.");
        if (r.state === "disconnected") alerts.push(r.volunteer.name + " (" + name + ") is disconnected.");
      }
    }
    document.getElementById("overview-alerts").replaceChildren(
      ...alerts.map((text) => Object.assign(document.createElement("li"), { className: "alert", textContent: text })));
  }

  function watchAll() {
    ids.forEach((id) => socket.emit("dashboard.watch", { campaign_id: id }, (reply) => {
      if (!reply || !reply.ok) return;
      const rows = new Map(reply.state.volunteers.map((r) => [r.session_id, r]));
      campaigns.set(id, { rows, figures: reply.state.figures });
      render(id);
      document.getElementById("overview-updated").textContent = "Live";
    }));
  }

  socket.on("dashboard.volunteer", (row) => {
    const c = campaigns.get(row.campaign_id);
    if (!c) return;
    const known = c.rows.get(row.session_id);
    if (known && known.version > row.version) return;
    c.rows.set(row.session_id, row);
    render(row.campaign_id);
  });
  socket.on("dashboard.figures", (message) => {
    const c = campaigns.get(message.campaign_id);
    if (!c) return;
    c.figures = message.figures;
    render(message.campaign_id);
  });
  socket.on("connect", watchAll);
  socket.on("disconnect", () => { document.getElementById("overview-updated").textContent = "Reconnecting…"; });
  if (socket.connected) watchAll();
})();
