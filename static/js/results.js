// Results pages: sortable tables (click a heading) and the charts of the campaign page.
(function () {
  "use strict";

  function cellValue(cell) {
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    const number = Number(raw.replace(/[,%\s]|h|min/g, ""));
    return Number.isFinite(number) && raw !== "" && raw !== "–" ? number : raw.toLowerCase();
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    const headings = table.tHead.rows[0].cells;
    [...headings].forEach((th, index) => {
      th.tabIndex = 0;
      th.setAttribute("role", "columnheader");
      th.setAttribute("aria-sort", "none");
      th.classList.add("sort-heading");
      const sort = () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        for (const other of headings) other.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = [...body.rows];
        rows.sort((a, b) => {
          const x = cellValue(a.cells[index]);
          const y = cellValue(b.cells[index]);
          const order = x < y ? -1 : x > y ? 1 : 0;
          return ascending ? order : -order;
        });
        body.append(...rows);
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  }

  if (!window.Chart) return;
  const seriesEl = document.getElementById("series-data");
  const colors = { dials: "#1b5fd1", contacts: "#1f7a3f" };

  function bar(canvas, labels, datasets) {
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels, datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  if (seriesEl) {
    const series = JSON.parse(seriesEl.textContent);
    const days = document.getElementById("days-chart");
    if (days) {
      bar(days, series.days.map((d) => d.day), [
        { label: "Dials", data: series.days.map((d) => d.dials), backgroundColor: colors.dials },
        { label: "Contacts", data: series.days.map((d) => d.contacts), backgroundColor: colors.contacts },
      ]);
    }
    const hours = document.getElementById("hours-chart");
    if (hours) {
      bar(hours, series.hours.map((h) => String(h.hour).padStart(2, "0") + ":00"), [
        { label: "Dials", data: series.hours.map((h) => h.dials), backgroundColor: colors.dials },
        { label: "Contacts", data: series.hours.map((h) => h.contacts), backgroundColor: colors.contacts },
      ]);
    }
  }
  for (const canvas of document.querySelectorAll("canvas.question-chart")) {
    const labels = JSON.parse(canvas.dataset.labels);
    const counts = JSON.parse(canvas.dataset.counts);
    new window.Chart(canvas, {
      type: "bar",
      data: { labels, datasets: [{ label: "Answers", data: counts, backgroundColor: colors.dials }] },
      options: {
        indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }
})();
