/* The reader's unsent reads: a queue kept in localStorage, so neither a bad network, a reload nor
 * a crashed tab loses a call.
 *
 * Each submission gets one idempotency key when it is made; every retry of it sends the very same
 * body with that key, so the server stores it once however often it arrives (a timeout that did
 * reach the server, a double click, a second tab sending the same entry). A new or changed call
 * is a new submission with a new key. Entries are sent oldest first, so the later change of an
 * item always lands last.
 *
 * Each entry is its own localStorage key (prefix + idempotency key): two tabs add and remove
 * entries without ever rewriting each other's.
 */
(function () {
  "use strict";

  var RETRY_MIN_MS = 1000;
  var RETRY_MAX_MS = 30000;
  var REQUEST_TIMEOUT_MS = 15000;

  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Plain-HTTP pages outside localhost have no randomUUID; getRandomValues is everywhere.
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function SaveQueue(options) {
    this.prefix = "readerstudy.unsent." + options.userKey + ".s" + options.studyId + ".";
    this.urlFor = options.urlFor; // (arm, position) -> PUT url
    this.csrfToken = options.csrfToken;
    this.onChange = options.onChange || function () {};
    this.onResult = options.onResult || function () {};
    this.state = "saved"; // saved | saving | offline | retrying | error | signed-out
    this.lastError = null;
    this.busy = false;
    this.retryDelay = RETRY_MIN_MS;
    this.timer = null;
    var self = this;
    window.addEventListener("online", function () { self.kick(true); });
    window.addEventListener("offline", function () { self._setState("offline"); });
    // Another tab queued or finished an entry.
    window.addEventListener("storage", function (event) {
      if (event.key && event.key.indexOf(self.prefix) === 0) {
        self.onChange(self);
        self.kick(false);
      }
    });
  }

  SaveQueue.prototype.entries = function () {
    var out = [];
    for (var i = 0; i < window.localStorage.length; i++) {
      var key = window.localStorage.key(i);
      if (key && key.indexOf(this.prefix) === 0) {
        try {
          out.push(JSON.parse(window.localStorage.getItem(key)));
        } catch (e) {
          window.localStorage.removeItem(key); // unreadable: never retried forever
        }
      }
    }
    out.sort(function (a, b) { return a.created - b.created || (a.key < b.key ? -1 : 1); });
    return out;
  };

  SaveQueue.prototype.pendingFor = function (arm, position) {
    var mine = this.entries().filter(function (e) { return e.arm === arm && e.position === position; });
    return mine.length ? mine[mine.length - 1] : null;
  };

  SaveQueue.prototype._store = function (entry) {
    window.localStorage.setItem(this.prefix + entry.key, JSON.stringify(entry));
  };

  SaveQueue.prototype._drop = function (entry) {
    window.localStorage.removeItem(this.prefix + entry.key);
  };

  /* Queue a submission of (arm, position). ``body`` holds call, confidence, signs,
   * active_seconds and started_at; the idempotency key is made here, once. */
  SaveQueue.prototype.add = function (arm, position, body) {
    var previous = this.pendingFor(arm, position);
    if (previous && !previous.attempts) {
      // Never sent, so the server cannot have it: the newer submission simply replaces it.
      this._drop(previous);
    }
    var key = uuid4();
    var entry = {
      key: key,
      arm: arm,
      position: position,
      created: Date.now(),
      attempts: 0,
      body: Object.assign({}, body, { idempotency_key: key }),
    };
    this._store(entry);
    this.onChange(this);
    this.kick(true);
    return entry;
  };

  SaveQueue.prototype.kick = function (now) {
    if (now) {
      this.retryDelay = RETRY_MIN_MS;
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    }
    if (!this.busy && !this.timer) this._run();
  };

  SaveQueue.prototype._setState = function (state, error) {
    this.state = state;
    if (error !== undefined) this.lastError = error;
    this.onChange(this);
  };

  SaveQueue.prototype._later = function () {
    var self = this;
    this.timer = setTimeout(function () { self.timer = null; self._run(); }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
  };

  SaveQueue.prototype._run = function () {
    var self = this;
    var entries = this.entries();
    if (!entries.length) {
      if (this.state !== "error") this._setState("saved");
      return;
    }
    this.busy = true;
    if (["offline", "retrying", "signed-out"].indexOf(this.state) < 0) this._setState("saving");
    var entry = entries[0];
    entry.attempts += 1;
    this._store(entry);
    this._send(entry).then(function (outcome) {
      self.busy = false;
      if (outcome.kind === "done") {
        self._drop(entry);
        self.retryDelay = RETRY_MIN_MS;
        self.lastError = null;
        self.state = "saving";
        self.onResult(entry, outcome);
        self._run();
      } else if (outcome.kind === "rejected") {
        // The server refused this submission for good (locked, bad value, conflict): retrying
        // the same body cannot help; the page shows why and keeps the reader's selection.
        self._drop(entry);
        self.onResult(entry, outcome);
        self._setState("error", outcome.message);
        self._run();
      } else {
        self._setState(outcome.kind === "retry" ? outcome.state : outcome.kind, outcome.message);
        self._later();
      }
    });
  };

  SaveQueue.prototype._send = function (entry) {
    var controller = new AbortController();
    var timeout = setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS);
    return fetch(this.urlFor(entry.arm, entry.position), {
      method: "PUT",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": this.csrfToken,
      },
      body: JSON.stringify(entry.body),
      signal: controller.signal,
    }).then(function (response) {
      clearTimeout(timeout);
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        var status = response.status;
        if (status === 200 || status === 201) return { kind: "done", status: status, data: data };
        var detail = data && typeof data.detail === "string" ? data.detail : "";
        if (status === 401 || (status === 403 && /credentials|CSRF|authenticat/i.test(detail))) {
          // Logged out (session expired): keep the read until the reader logs in again.
          return { kind: "signed-out", message: "Signed out: log in again (in another tab) to send your reads" };
        }
        if (status === 403 || status === 400 || status === 404 || status === 409) {
          return { kind: "rejected", status: status, data: data, message: describe(status, data) };
        }
        return { kind: "retry", state: "retrying", message: "Server error " + status + ", retrying" };
      });
    }).catch(function () {
      clearTimeout(timeout);
      return { kind: "retry", state: "offline", message: "No connection, retrying" };
    });
  };

  function describe(status, data) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && typeof data === "object") {
      return Object.keys(data).map(function (k) {
        var v = data[k];
        return k + ": " + (Array.isArray(v) ? v.join(" ") : String(v));
      }).join("; ");
    }
    return "Not saved (HTTP " + status + ")";
  }

  window.ReaderStudyWorkstation = window.ReaderStudyWorkstation || {};
  window.ReaderStudyWorkstation.SaveQueue = SaveQueue;
  window.ReaderStudyWorkstation.uuid4 = uuid4;
})();
