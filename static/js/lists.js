// Lists: the column-mapping form and the live import progress on a list's page.
(function () {
  "use strict";

  // --- mapping page: show only the details that apply to each column's choice ---
  const SLOTTED = ["phone", "phone_area_code", "phone_country_code", "phone_is_cell"];
  document.querySelectorAll("#mapping-table tbody tr").forEach((row) => {
    const select = row.querySelector(".field-select");
    const update = () => {
      const field = select.value;
      row.querySelector(".slot").hidden = !SLOTTED.includes(field);
      row.querySelector(".type").hidden = field !== "phone";
      row.querySelector(".custom-name").hidden = field !== "custom";
      row.classList.toggle("inactive", field === "ignore");
    };
    select.addEventListener("change", update);
    update();
  });

  // --- list page: progress pushed over Socket.IO ---
  const box = document.getElementById("import-progress");
  if (!box || box.hidden) return;
  const listId = Number(box.dataset.listId);
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const badge = document.getElementById("list-status");
  const fmt = (n) => Number(n || 0).toLocaleString();
  const duration = (s) => (s >= 90 ? Math.round(s / 60) + " min" : Math.max(1, Math.round(s)) + " s");

  function show(state) {
    if (!state) return;
    badge.textContent = state.status;
    badge.className = "badge badge-list-" + state.status;
    if (["done", "failed", "cancelled"].includes(state.status)) {
      window.location.reload();
      return;
    }
    const p = state.progress;
    if (state.status === "queued" || !p) {
      text.textContent = state.status === "queued" ? "Waiting for the import to start…" : "Starting…";
      return;
    }
    bar.value = p.fraction;
    bar.textContent = Math.round(p.fraction * 100) + "%";
    const parts = [fmt(p.rows) + " rows done (" + Math.round(p.fraction * 100) + "%)"];
    if (p.rate) parts.push(fmt(p.rate) + " rows/s");
    if (p.phase === "saving") parts.push("saving…");
    else if (p.seconds_left != null) parts.push("about " + duration(p.seconds_left) + " left");
    text.textContent = parts.join(" · ");
  }

  const socket = window.phonebank && window.phonebank.socket;
  let pollTimer = null;
  const poll = () =>
    fetch("/lists/" + listId + "/progress", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then(show)
      .catch(() => {});
  const watch = () =>
    socket.emit("list.watch", { list_id: listId }, (reply) => {
      if (reply && reply.ok) show(reply.state);
    });
  if (socket) {
    socket.on("list.progress", (state) => state.id === listId && show(state));
    socket.on("list.finished", (state) => state.id === listId && show(state));
    // After a reconnect, watch again: the reply carries the current state, so nothing is missed.
    socket.on("connect", () => {
      clearInterval(pollTimer);
      watch();
    });
    socket.on("disconnect", () => {
      pollTimer = setInterval(poll, 3000);
    });
    if (socket.connected) watch();
  } else {
    pollTimer = setInterval(poll, 2000);
  }
})();
