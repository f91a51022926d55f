// Polls the model runs' status and updates the runs table in place (progress, ETA, messages).
(function () {
  "use strict";
  const root = document.getElementById("runs");
  if (!root) return;
  const url = root.dataset.statusUrl;
  const ended = new Set(["succeeded", "failed", "cancelled"]);

  function update(run) {
    const row = root.querySelector('tr[data-run="' + run.type + "-" + run.id + '"]');
    if (!row) return false;
    const field = (name) => row.querySelector('[data-field="' + name + '"]');
    field("status").textContent = run.status_display;
    field("status").className = "status " + run.status;
    field("progress").value = run.progress;
    field("percent").textContent = Math.round(run.progress * 100) + "%";
    field("eta").textContent = run.eta_seconds !== null && !ended.has(run.status) ? run.eta_seconds + " s" : "";
    field("message").textContent = run.error || run.stage;
    field("message").className = run.error ? "error" : "";
    return true;
  }

  async function poll() {
    let data;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 403 || response.status === 404) return;
      if (!response.ok) throw new Error(response.status);
      data = await response.json();
    } catch (error) {
      setTimeout(poll, 3000);
      return;
    }
    let active = false;
    let unknown = false;
    for (const run of data.runs) {
      if (!update(run)) unknown = !ended.has(run.status) || unknown;
      if (!ended.has(run.status)) active = true;
    }
    // A run queued since the page was drawn (e.g. by a finished training run): redraw once.
    if (unknown) { window.location.reload(); return; }
    setTimeout(poll, active ? 1500 : 5000);
  }
  poll();
})();
