/* The reader workstation: the session and items from /api/v1/, the calls, the keys, the
 * save queue and the navigation. Items are addressed only by (arm, position) of the reader's own
 * order (in the URL fragment #a{arm}-p{pos}); nothing here names a node, a patient or a series. */
(function () {
  "use strict";

  var WS = window.ReaderStudyWorkstation;
  var root = document.getElementById("workstation");
  if (!root) return;

  var studyId = Number(root.dataset.studyId);
  var userKey = root.dataset.userKey;
  var apiBase = root.dataset.apiBase;
  var studyUrl = apiBase + "studies/" + studyId;

  function $(id) { return document.getElementById(id); }
  function itemKey(arm, position) { return "a" + arm + "-p" + position; }
  function itemUrl(arm, position) { return studyUrl + "/arms/" + arm + "/items/" + position; }

  var metrics = window.__workstationMetrics = window.__workstationMetrics || { opens: [], renders: 0 };

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) {
        var err = new Error("HTTP " + r.status + " for " + url);
        err.status = r.status;
        throw err;
      }
      return r.json();
    });
  }

  // ---- state -------------------------------------------------------------------------------
  var session = null;
  var current = null; // {arm, position, key, item, images, outline}
  var openToken = 0;
  // The item asked for last: `current` changes only when its description arrives, so a hash
  // change made while another item is opening is compared with this, not with `current`.
  var requestedKey = null;
  var prefetched = {}; // item key -> promise of {images, outline}
  var references = {}; // item key -> practice reference shown after its save
  var serverReads = {}; // item key -> read as the server last said
  var draftsKey = "readerstudy.drafts." + userKey + ".s" + studyId;

  function loadDrafts() {
    try { return JSON.parse(window.localStorage.getItem(draftsKey) || "{}"); } catch (e) { return {}; }
  }
  function saveDraft(key, selection) {
    var drafts = loadDrafts();
    if (selection) drafts[key] = selection; else delete drafts[key];
    window.localStorage.setItem(draftsKey, JSON.stringify(drafts));
  }

  var activeTime = new WS.ActiveTime("readerstudy.active." + userKey + ".s" + studyId);

  var viewer = new WS.Viewer(
    { main: $("ws-viewport"), coronal: $("ws-coronal"), sagittal: $("ws-sagittal") },
    { onSlice: showSlice, onRender: showRender }
  );

  var queue = new WS.SaveQueue({
    userKey: userKey,
    studyId: studyId,
    csrfToken: root.dataset.csrfToken,
    urlFor: function (arm, position) { return itemUrl(arm, position) + "/read"; },
    onChange: showSaveState,
    onResult: onSaveResult,
  });

  var nextPrefetch = Promise.resolve();
  window.__workstation = {
    viewer: viewer,
    queue: queue,
    metrics: metrics,
    state: function () { return current; },
    // Resolves when the case on screen and the next one are fully loaded (benchmarks, tests).
    whenIdle: function () {
      return nextPrefetch.then(function () { return viewer.whenIdle(); }).then(function () { return true; });
    },
  };

  // ---- overlays and indicators ------------------------------------------------------------
  function showSlice(number, count) {
    $("ws-slice").min = "1";
    $("ws-slice").max = String(Math.max(1, count));
    $("ws-slice").value = String(number);
    $("ws-slice-label").textContent = "Slice " + number + " / " + count;
    $("ws-ov-tl").textContent = (current && current.item ? current.item.label : "") + "\nIm " + number + " / " + count;
    root.dataset.slice = String(number);
  }

  function showRender(r) {
    $("ws-ov-bl").textContent = "W " + Math.round(r.windowWidth) + "  L " + Math.round(r.windowCenter);
    $("ws-ov-br").textContent = "Zoom " + r.scale.toFixed(2) + "×";
  }

  function showSaveState(q) {
    var el = $("ws-save");
    var unsent = q.entries().length;
    var state = q.state;
    if (state === "saved" && unsent) state = "saving";
    if (!navigator.onLine && unsent) state = "offline";
    var text = {
      saved: "✓ All reads saved",
      saving: "Saving… (" + unsent + ")",
      offline: "Offline: " + unsent + " unsent, kept and retrying",
      retrying: "Server not answering: " + unsent + " unsent, kept and retrying",
      "signed-out": q.lastError || "Signed out",
      error: "Not saved: " + (q.lastError || "refused"),
    }[state];
    if (state === "error" && unsent) text += " (" + unsent + " still sending)";
    el.dataset.state = state;
    el.textContent = text;
    el.title = q.lastError || "";
    if (current) renderCallPanel();
  }

  function message(text) {
    var m = $("ws-message");
    m.textContent = text || "";
    m.hidden = !text;
  }

  function showError(text) {
    var e = $("ws-error");
    e.textContent = text || "";
    e.hidden = !text;
  }

  // ---- the session ---------------------------------------------------------------------------
  var sessionRefresh = null;
  function refreshSession() {
    if (sessionRefresh) return sessionRefresh;
    sessionRefresh = getJSON(studyUrl + "/session").then(function (s) {
      session = s;
      sessionRefresh = null;
      renderSession();
      return s;
    }, function (err) { sessionRefresh = null; throw err; });
    return sessionRefresh;
  }

  function renderSession() {
    $("ws-progress").textContent = session.items_read + " / " + session.items_total + " read";
    $("ws-arm").textContent = session.arm_name || "";
    $("ws-finish-btn").hidden = !session.can_finish;
    $("ws-instructions-text").textContent = session.instructions || "No instructions were given for this study.";
  }

  function buildCallPanel() {
    var box = $("ws-call-buttons");
    box.textContent = "";
    session.calls.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "ws-call";
      b.dataset.call = c.code;
      var k = document.createElement("kbd");
      k.textContent = c.key;
      var l = document.createElement("span");
      l.textContent = c.label;
      b.appendChild(k);
      b.appendChild(l);
      b.addEventListener("click", function () { b.blur(); selectCall(c.code); });
      box.appendChild(b);
    });
    $("ws-confidence").hidden = !session.ask_confidence;
    $("ws-signs").hidden = !session.ask_signs;
    var list = $("ws-sign-list");
    list.textContent = "";
    (session.signs || []).forEach(function (s) {
      var label = document.createElement("label");
      label.className = "ws-sign";
      var input = document.createElement("input");
      input.type = "checkbox";
      input.value = s.code;
      input.addEventListener("change", function () { input.blur(); updateSelection({ signs: checkedSigns() }); });
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + s.label));
      list.appendChild(label);
    });
  }

  function checkedSigns() {
    return Array.prototype.filter.call($("ws-sign-list").querySelectorAll("input"), function (i) { return i.checked; })
      .map(function (i) { return i.value; });
  }

  // ---- the current selection ---------------------------------------------------------------
  function sameSelection(a, b) {
    if (!a || !b) return false;
    return a.call === b.call && (a.confidence === undefined ? null : a.confidence) === (b.confidence === undefined ? null : b.confidence) &&
      JSON.stringify((a.signs || []).slice().sort()) === JSON.stringify((b.signs || []).slice().sort());
  }

  /* What the reader has for this item: an unsaved choice, else the newest unsent submission,
   * else what the server stored. */
  function selectionFor(key, arm, position) {
    var draft = loadDrafts()[key];
    if (draft) return { sel: draft, status: "draft" };
    var pending = queue.pendingFor(arm, position);
    if (pending) return { sel: pending.body, status: "pending" };
    if (serverReads[key]) return { sel: serverReads[key], status: "saved" };
    return { sel: null, status: "none" };
  }

  function isLocked() {
    if (!current || !current.item) return true;
    return !!current.item.locked || (!!serverReads[current.key] && session && session.allow_read_changes === false);
  }

  function updateSelection(change) {
    if (!current || !current.item) return;
    if (isLocked()) { showError("This read is locked and can no longer be changed."); return; }
    var now = selectionFor(current.key, current.arm, current.position).sel || {};
    var next = {
      call: now.call || null,
      confidence: now.confidence === undefined ? null : now.confidence,
      signs: (now.signs || []).slice(),
    };
    Object.assign(next, change);
    showError("");
    var saved = serverReads[current.key];
    var pending = queue.pendingFor(current.arm, current.position);
    // Back to what is already saved or on its way: no draft to keep.
    if (sameSelection(next, pending ? pending.body : saved)) saveDraft(current.key, null);
    else saveDraft(current.key, next);
    renderCallPanel();
  }

  function selectCall(code) { updateSelection({ call: code }); }

  function changeConfidence(delta) {
    if (!session || !session.ask_confidence) return;
    var now = selectionFor(current.key, current.arm, current.position).sel || {};
    var base = typeof now.confidence === "number" ? now.confidence : 50;
    updateSelection({ confidence: Math.max(0, Math.min(100, base + delta)) });
  }

  function renderCallPanel() {
    if (!current || !current.item || !session) return;
    var s = selectionFor(current.key, current.arm, current.position);
    var sel = s.sel || {};
    var locked = isLocked();
    Array.prototype.forEach.call($("ws-call-buttons").children, function (b) {
      b.classList.toggle("is-selected", b.dataset.call === sel.call);
      b.disabled = locked;
    });
    var conf = typeof sel.confidence === "number" ? sel.confidence : null;
    $("ws-confidence-value").textContent = conf === null ? "not set" : String(conf);
    $("ws-confidence-range").value = String(conf === null ? 50 : conf);
    $("ws-confidence-range").disabled = locked;
    Array.prototype.forEach.call($("ws-sign-list").querySelectorAll("input"), function (i) {
      i.checked = (sel.signs || []).indexOf(i.value) >= 0;
      i.disabled = locked;
    });
    $("ws-locked").hidden = !current.item.locked;
    var status = $("ws-label");
    status.dataset.status = s.status;
    var word = { draft: "not saved yet", pending: "sending…", saved: "saved", none: "not read" }[s.status];
    status.textContent = current.item.label + " · " + word;
    $("ws-practice").hidden = !current.item.is_practice;
    var ref = references[current.key];
    var refBox = $("ws-reference");
    refBox.hidden = !ref;
    if (ref) {
      var mine = serverReads[current.key];
      var right = mine && mine.call === ref.call;
      refBox.className = "ws-reference " + (right ? "is-right" : "is-wrong");
      refBox.textContent = "Reference: " + ref.label + (mine ? (right ? " — your call agrees." : " — your call differs.") : "") + " Press Enter to go on.";
    }
    $("ws-prev").disabled = !current.item.previous;
    $("ws-next").disabled = !current.item.next;
  }

  // ---- saving --------------------------------------------------------------------------------
  function saveAndNext() {
    if (!current || !current.item) return;
    if (isLocked()) { goNext(); return; }
    var key = current.key;
    var s = selectionFor(key, current.arm, current.position);
    if (!s.sel || !s.sel.call) {
      showError("Choose a call first: 1, 2 or 3.");
      return;
    }
    if (s.status === "draft" && session.ask_confidence && typeof s.sel.confidence !== "number") {
      showError("Set your confidence first: the slider, or [ and ].");
      return;
    }
    if (s.status !== "draft") {
      // Nothing new to send (a second Enter, or reviewing a read case): just move on, except that
      // a practice item waits for its reference first.
      if (current.item.is_practice && !references[key] && s.status === "pending") return;
      goNext();
      return;
    }
    var body = {
      call: s.sel.call,
      confidence: session.ask_confidence && typeof s.sel.confidence === "number" ? s.sel.confidence : null,
      signs: session.ask_signs ? (s.sel.signs || []) : [],
      active_seconds: activeTime.secondsOn(key),
      started_at: activeTime.startedAt(key),
    };
    queue.add(current.arm, current.position, body);
    saveDraft(key, null);
    delete references[key];
    renderCallPanel();
    if (!current.item.is_practice) goNext();
  }

  function onSaveResult(entry, outcome) {
    var key = itemKey(entry.arm, entry.position);
    if (outcome.kind === "done" && outcome.data) {
      if (outcome.data.read) serverReads[key] = outcome.data.read;
      if (outcome.data.reference) references[key] = outcome.data.reference;
    } else if (outcome.kind === "rejected") {
      // Refused for good: the reader's choice goes back to being a draft, so nothing is lost.
      var drafts = loadDrafts();
      if (!drafts[key]) saveDraft(key, { call: entry.body.call, confidence: entry.body.confidence, signs: entry.body.signs });
      if (current && current.key === key) showError("Not saved: " + outcome.message);
    }
    if (current && current.key === key) renderCallPanel();
    refreshSession().catch(function () {});
  }

  // ---- navigation -----------------------------------------------------------------------------
  function goNext() {
    if (current && current.item && current.item.next) {
      openItem(current.item.next.arm, current.item.next.position);
    } else {
      showDone();
    }
  }

  function goPrevious() {
    if (current && current.item && current.item.previous) {
      openItem(current.item.previous.arm, current.item.previous.position);
    }
  }

  function showDone() {
    refreshSession().then(function (s) {
      var unsent = queue.entries().length;
      var all = s.items_read >= s.items_total;
      $("ws-done-title").textContent = all ? "Every case is read" : "End of the list";
      $("ws-done-text").textContent = all
        ? "Finish the study to hand in your reads. You can still go back and review before you do."
        : (s.items_total - s.items_read) + " case(s) still unread" + (unsent ? ", " + unsent + " read(s) still being sent" : "") + ".";
      $("ws-done-finish").hidden = !s.can_finish;
      openModal("ws-done");
    }).catch(function () {});
  }

  function finishStudy() {
    if (queue.entries().length) {
      $("ws-done-text").textContent = "Your last reads are still being sent; finish when the indicator says saved.";
      openModal("ws-done");
      return;
    }
    fetch(studyUrl + "/finish", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": root.dataset.csrfToken },
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.ok) {
          $("ws-done-title").textContent = "Study finished";
          $("ws-done-text").textContent = "Thank you. Your reads are handed in.";
          $("ws-done-finish").hidden = true;
          $("ws-done-worklist").hidden = false;
          $("ws-finish-btn").hidden = true;
        } else {
          $("ws-done-text").textContent = (data && data.detail) || "The study cannot be finished yet.";
        }
        openModal("ws-done");
      });
    }).catch(function () {
      $("ws-done-text").textContent = "No connection: try again in a moment.";
      openModal("ws-done");
    });
  }

  /* The images description of an item, asked for once (a prefetch and the open share it). The
   * outline comes after it and never holds up the first image. */
  function fetchImages(arm, position) {
    var key = itemKey(arm, position);
    if (!prefetched[key]) {
      prefetched[key] = getJSON(itemUrl(arm, position) + "/images").then(function (images) {
        var outline = { slices: {} };
        getJSON(images.outline_url).then(function (data) {
          Object.assign(outline, data);
          viewer.outlineArrived(outline);
        }).catch(function () { /* no outline: the reader still sees the image */ });
        return { images: images, outline: outline };
      });
      prefetched[key].catch(function () { delete prefetched[key]; });
    }
    return prefetched[key];
  }

  function openItem(arm, position) {
    var token = ++openToken;
    var key = itemKey(arm, position);
    requestedKey = key;
    var t0 = performance.now();
    var wasPrefetched = !!prefetched[key];
    history.replaceState(null, "", "#" + key);
    activeTime.switchTo(key);
    showError("");
    closeModals();
    var itemP = getJSON(itemUrl(arm, position));
    var imagesP = fetchImages(arm, position);
    // The image does not wait for the item's description (labels, read state): both are asked
    // for at once and each is shown when it comes.
    var shown = imagesP.then(function (bundle) {
      if (token !== openToken) return null;
      return viewer.open(bundle.images, bundle.outline, key).then(function (result) {
        if (!result || token !== openToken) return null;
        var ms = performance.now() - t0;
        metrics.opens.push({ ms: ms, prefetched: wasPrefetched && result.prefetched, slices: bundle.images.slice_count });
        metrics.lastOpen = ms;
        performance.mark("workstation-first-image");
        return bundle;
      });
    });
    var described = itemP.then(function (item) {
      if (token !== openToken) return null;
      serverReads[key] = item.read || null;
      current = { arm: arm, position: position, key: key, item: item };
      renderCallPanel();
      renderAi(item.ai);
      message("");
      return item;
    });
    return Promise.all([described, shown]).then(function (both) {
      if (token !== openToken || !both[0] || !both[1]) return;
      current.images = both[1].images;
      showSlice(viewer.displayNumber(viewer.index), viewer.imageIds.length);
      root.dataset.ready = key;
      prefetchNext(both[0], key);
    }).catch(function (err) {
      if (token !== openToken) return;
      message(err.status === 404 ? "This case cannot be opened."
        : err.status ? "The server did not answer (HTTP " + err.status + "): retrying…"
        : "No connection: the case opens when it is back. Your calls are kept.");
      if (err.status !== 404) setTimeout(function () { if (token === openToken) openItem(arm, position); }, 3000);
    });
  }

  function prefetchNext(item, key) {
    var keep = [key];
    if (item.next) {
      var nextKey = itemKey(item.next.arm, item.next.position);
      keep.push(nextKey);
      nextPrefetch = fetchImages(item.next.arm, item.next.position).then(function (bundle) {
        if (current && current.key === key) viewer.prefetch(bundle.images, nextKey);
      }).catch(function () {});
    }
    // Only this case and the next one stay cached; so do their descriptions.
    viewer.retain(keep);
    Object.keys(prefetched).forEach(function (k) { if (keep.indexOf(k) < 0) delete prefetched[k]; });
  }

  function renderAi(ai) {
    var box = $("ws-ai");
    box.hidden = !ai;
    if (!ai) return;
    $("ws-ai-model").textContent = "Model: " + ai.model;
    var bars = $("ws-ai-bars");
    bars.textContent = "";
    var labels = {};
    (session.calls || []).forEach(function (c) { labels[c.code] = c.label; });
    Object.keys(ai.probabilities || {}).forEach(function (code) {
      var p = Number(ai.probabilities[code]);
      var row = document.createElement("div");
      row.className = "ws-ai-row";
      var name = document.createElement("span");
      name.textContent = labels[code] || code;
      var meter = document.createElement("meter");
      meter.min = 0; meter.max = 1; meter.value = p;
      var val = document.createElement("span");
      val.textContent = (p * 100).toFixed(0) + "%";
      row.appendChild(name); row.appendChild(meter); row.appendChild(val);
      bars.appendChild(row);
    });
  }

  // ---- modals ---------------------------------------------------------------------------------
  function openModal(id) { closeModals(); $(id).hidden = false; }
  function closeModals() {
    Array.prototype.forEach.call(document.querySelectorAll(".ws-modal"), function (m) { m.hidden = true; });
  }
  function modalOpen() {
    return Array.prototype.some.call(document.querySelectorAll(".ws-modal"), function (m) { return !m.hidden; });
  }

  // ---- controls -------------------------------------------------------------------------------
  var outlineOn = true;
  function toggleOutline() {
    outlineOn = !outlineOn;
    viewer.setOutline(outlineOn);
    $("ws-outline").classList.toggle("is-active", outlineOn);
    root.dataset.outline = outlineOn ? "on" : "off";
  }

  function setTool(name) {
    viewer.setTool(name);
    Array.prototype.forEach.call(document.querySelectorAll("[data-tool]"), function (b) {
      b.classList.toggle("is-active", b.dataset.tool === name);
    });
  }

  function wire() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-tool]"), function (b) {
      b.addEventListener("click", function () { b.blur(); setTool(b.dataset.tool); });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-preset]"), function (b) {
      b.addEventListener("click", function () { b.blur(); viewer.preset(b.dataset.preset); });
    });
    $("ws-goto").addEventListener("click", function (e) { e.currentTarget.blur(); viewer.gotoNode(); });
    $("ws-reset").addEventListener("click", function (e) { e.currentTarget.blur(); viewer.reset(); });
    $("ws-outline").addEventListener("click", function (e) { e.currentTarget.blur(); toggleOutline(); });
    $("ws-clear").addEventListener("click", function (e) { e.currentTarget.blur(); viewer.clearMeasurements(); });
    $("ws-opacity").addEventListener("input", function (e) { viewer.setOpacity(Number(e.target.value) / 100); });
    $("ws-slice").addEventListener("input", function (e) { viewer.scrollToNumber(Number(e.target.value)); });
    $("ws-prev-slice").addEventListener("click", function (e) { e.currentTarget.blur(); viewer.scrollBy(-1); });
    $("ws-next-slice").addEventListener("click", function (e) { e.currentTarget.blur(); viewer.scrollBy(1); });
    $("ws-confidence-range").addEventListener("input", function (e) { updateSelection({ confidence: Number(e.target.value) }); });
    $("ws-confidence-range").addEventListener("change", function (e) { e.target.blur(); });
    $("ws-save-next").addEventListener("click", function (e) { e.currentTarget.blur(); saveAndNext(); });
    $("ws-prev").addEventListener("click", function (e) { e.currentTarget.blur(); goPrevious(); });
    $("ws-next").addEventListener("click", function (e) { e.currentTarget.blur(); goNext(); });
    $("ws-help-btn").addEventListener("click", function (e) { e.currentTarget.blur(); openModal("ws-help"); });
    $("ws-instructions-btn").addEventListener("click", function (e) { e.currentTarget.blur(); openModal("ws-instructions"); });
    $("ws-finish-btn").addEventListener("click", function (e) { e.currentTarget.blur(); showDone(); });
    $("ws-done-finish").addEventListener("click", function () { finishStudy(); });
    Array.prototype.forEach.call(document.querySelectorAll(".ws-close"), function (b) {
      b.addEventListener("click", closeModals);
    });
    window.addEventListener("beforeunload", function (e) {
      // The queue survives a reload, but a closed browser sends nothing until it comes back.
      if (queue.entries().length) { e.preventDefault(); e.returnValue = ""; }
    });
    window.addEventListener("hashchange", function () {
      var a = parseHash();
      if (a && itemKey(a.arm, a.position) !== requestedKey) openItem(a.arm, a.position);
    });
    document.addEventListener("keydown", onKey);
  }

  function onKey(e) {
    var target = e.target;
    var inRange = target && target.type === "range";
    if (e.key === "Escape") { closeModals(); return; }
    if (modalOpen()) {
      if (e.key === "?") closeModals();
      return;
    }
    if (e.ctrlKey || e.metaKey) return;
    if (e.altKey) {
      if (e.key === "ArrowRight") { e.preventDefault(); goNext(); }
      if (e.key === "ArrowLeft") { e.preventDefault(); goPrevious(); }
      return;
    }
    if (inRange && /^Arrow|^Page|^Home$|^End$/.test(e.key)) return; // the slider's own keys
    var handled = true;
    switch (e.key) {
      case "1": case "2": case "3": {
        var call = session && session.calls.filter(function (c) { return String(c.key) === e.key; })[0];
        if (call) selectCall(call.code);
        break;
      }
      case "Enter": saveAndNext(); break;
      case "ArrowUp": viewer.scrollBy(-1); break;
      case "ArrowDown": viewer.scrollBy(1); break;
      case "PageUp": viewer.scrollBy(-5); break;
      case "PageDown": viewer.scrollBy(5); break;
      case "Home": viewer.scrollToNumber(1); break;
      case "End": viewer.scrollToNumber(1e9); break;
      case "s": case "S": viewer.preset("soft"); break;
      case "n": case "N": viewer.preset("node"); break;
      case "b": case "B": viewer.preset("bone"); break;
      case "w": case "W": setTool("Wwwc"); break;
      case "p": case "P": setTool("Pan"); break;
      case "z": case "Z": setTool("Zoom"); break;
      case "l": case "L": setTool("Length"); break;
      case "d": case "D": setTool("Bidirectional"); break;
      case "o": case "O": toggleOutline(); break;
      case "g": case "G": viewer.gotoNode(); break;
      case "r": case "R": viewer.reset(); break;
      case "i": case "I": openModal("ws-instructions"); break;
      case "+": case "=": viewer.zoomBy(1.25); break;
      case "-": case "_": viewer.zoomBy(0.8); break;
      case "[": changeConfidence(-10); break;
      case "]": changeConfidence(10); break;
      case "Delete": case "Backspace": viewer.clearMeasurements(); break;
      case "?": openModal("ws-help"); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  }

  function parseHash() {
    var m = /^#a(\d+)-p(\d+)$/.exec(window.location.hash);
    return m ? { arm: Number(m[1]), position: Number(m[2]) } : null;
  }

  // ---- start ------------------------------------------------------------------------------------
  wire();
  showSaveState(queue);
  queue.kick(true);
  refreshSession().then(function () {
    buildCallPanel();
    var start = parseHash() || (session.next_item ? { arm: session.next_item.arm, position: session.next_item.position } : null);
    if (!start) {
      // Everything is read: open the first item for review and offer to finish.
      start = { arm: session.arm_position || 1, position: 1 };
      if (session.finished) message("You have finished this study.");
    }
    openItem(start.arm, start.position);
    if (!session.next_item && !session.finished) showDone();
  }).catch(function (err) {
    message("Could not start the session (" + err.message + "). Reload the page to try again.");
  });
})();
