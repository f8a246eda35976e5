// An export's page: polls the job's status until the file is ready, then shows the link.
(function () {
  "use strict";
  const box = document.getElementById("export-job");
  if (!box) return;
  const state = document.getElementById("export-state");
  const bar = document.getElementById("export-progress");
  const link = document.getElementById("export-download");

  async function poll() {
    let job;
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      job = await response.json();
    } catch (e) {
      state.textContent = "Checking again…";
      setTimeout(poll, 2000);
      return;
    }
    if (job.ready) {
      bar.hidden = true;
      state.textContent = "Ready: " + job.rows.toLocaleString() + " rows.";
      link.hidden = false;
      return;
    }
    if (job.status === "failed") {
      bar.hidden = true;
      state.textContent = job.error || "The export failed.";
      return;
    }
    if (job.fraction !== null) bar.value = job.fraction;
    state.textContent = job.status === "queued"
      ? "Waiting to start…"
      : "Writing rows: " + job.rows.toLocaleString() + (job.total ? " of " + job.total.toLocaleString() : "") + "…";
    setTimeout(poll, 1000);
  }
  if (link.hidden && !bar.hidden) poll();
})();
