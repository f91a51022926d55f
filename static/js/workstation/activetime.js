/* Active time on each case: counts only while the tab is visible and the reader has touched the
 * mouse, wheel or keyboard within IDLE_MS, so a coffee break or a hidden tab is not reading time.
 * Kept per item in sessionStorage, so a reload within the sitting does not reset it. */
(function () {
  "use strict";

  var IDLE_MS = 60000;
  var TICK_MS = 1000;

  function ActiveTime(storageKey) {
    this.storageKey = storageKey;
    this.totals = {};
    this.started = {};
    try {
      var saved = JSON.parse(window.sessionStorage.getItem(storageKey) || "{}");
      this.totals = saved.totals || {};
      this.started = saved.started || {};
    } catch (e) { /* a fresh start */ }
    this.current = null;
    this.lastInput = Date.now();
    this.lastTick = Date.now();
    var self = this;
    ["mousemove", "mousedown", "wheel", "keydown", "touchstart"].forEach(function (type) {
      window.addEventListener(type, function () { self.lastInput = Date.now(); }, { passive: true, capture: true });
    });
    document.addEventListener("visibilitychange", function () {
      self._tick();
      if (!document.hidden) self.lastInput = Date.now();
    });
    setInterval(function () { self._tick(); }, TICK_MS);
  }

  ActiveTime.prototype.isActive = function () {
    return !document.hidden && Date.now() - this.lastInput < IDLE_MS;
  };

  ActiveTime.prototype._tick = function () {
    var now = Date.now();
    var elapsed = now - this.lastTick;
    this.lastTick = now;
    // Time counts until IDLE_MS after the last input; a hidden tab counts nothing.
    if (this.current && !document.hidden) {
      var from = now - elapsed;
      var credited = Math.max(0, Math.min(now, this.lastInput + IDLE_MS) - from);
      if (credited > 0) {
        this.totals[this.current] = (this.totals[this.current] || 0) + credited / 1000;
        this._save();
      }
    }
  };

  ActiveTime.prototype._save = function () {
    try {
      window.sessionStorage.setItem(this.storageKey, JSON.stringify({ totals: this.totals, started: this.started }));
    } catch (e) { /* storage full: the time is approximate then */ }
  };

  ActiveTime.prototype.switchTo = function (itemKey) {
    this._tick();
    this.current = itemKey;
    this.lastInput = Date.now();
    if (itemKey && !this.started[itemKey]) {
      this.started[itemKey] = new Date().toISOString();
      this._save();
    }
  };

  ActiveTime.prototype.secondsOn = function (itemKey) {
    this._tick();
    return Math.round((this.totals[itemKey] || 0) * 10) / 10;
  };

  ActiveTime.prototype.startedAt = function (itemKey) {
    return this.started[itemKey] || null;
  };

  window.ReaderStudyWorkstation = window.ReaderStudyWorkstation || {};
  window.ReaderStudyWorkstation.ActiveTime = ActiveTime;
})();
