// Polls an import job's status until it finishes and updates the page in place.
(function () {
  "use strict";
  const card = document.getElementById("job");
  if (!card) return;
  const url = card.dataset.statusUrl;
  const el = (id) => document.getElementById(id);
  const labels = { pending: "Queued", running: "Running", retrying: "Retrying", succeeded: "Succeeded", failed: "Failed" };

  async function poll() {
    let job;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 403 || response.status === 404) return; // logged out or gone: stop
      if (!response.ok) throw new Error(response.status);
      job = await response.json();
    } catch (error) {
      setTimeout(poll, 3000);
      return;
    }
    el("job-status").textContent = labels[job.status] || job.status;
    el("job-status").className = "status " + job.status;
    el("job-attempts").textContent = "(attempt " + job.attempts + ")";
    el("job-attempts").hidden = job.attempts < 2; // shown once a retry or a resumption happened
    el("job-progress").value = job.progress;
    el("job-progress").className = job.status;
    el("job-percent").textContent = job.progress + "%";
    el("job-stage").textContent = job.stage;
    el("job-progress-block").hidden = job.status === "failed"; // the error says what failed
    if (job.error) { el("job-error").textContent = job.error; el("job-error").hidden = false; }
    el("job-nothing-changed").hidden = job.status !== "failed";
    if (job.cohort) { el("job-cohort").querySelector("strong").textContent = job.cohort; el("job-cohort").hidden = false; }
    if (job.status !== "succeeded" && job.status !== "failed") setTimeout(poll, 1000);
  }
  poll();
})();
