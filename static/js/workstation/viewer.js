/* The image side of the workstation: Cornerstone set up for one axial stack plus a coronal and a
 * sagittal reformat through the node, the node's outline, window presets, a byte-capped image
 * cache and a bounded prefetch.
 *
 * Images are `wadouri:` ids of the authenticated image endpoints (the session cookie goes with
 * every request); decoding happens on the main thread (the endpoints send uncompressed explicit
 * VR little endian, so there is no codec to run and no web worker to load). */
(function () {
  "use strict";

  var cs = window.cornerstone;
  var tools = window.cornerstoneTools;
  var wado = window.cornerstoneWADOImageLoader;

  // Decoded pixels held by Cornerstone; the loader keeps each file's bytes beside them, so the
  // real footprint is about twice this. Enough for the current and the next 60-slice 512x512
  // series several times over, small enough for a long session on an ordinary workstation.
  var CACHE_BYTES = 192 * 1024 * 1024;
  var LOAD_CONCURRENCY = 6; // the case on screen
  var PREFETCH_CONCURRENCY = 3; // the next case, while the reader works

  var PRESETS = {
    soft: { label: "Soft tissue", width: 350, center: 50 },
    node: { label: "Node", width: 200, center: 70 },
    bone: { label: "Bone", width: 2000, center: 500 },
  };

  var OUTLINE_COLOUR = "#ffd400";
  var CROSS_COLOUR = "rgba(64, 196, 255, 0.85)";

  function setup() {
    wado.external.cornerstone = cs;
    wado.external.dicomParser = window.dicomParser;
    tools.external.cornerstone = cs;
    tools.external.cornerstoneMath = window.cornerstoneMath;
    tools.external.Hammer = window.Hammer;
    tools.init({ showSVGCursors: false, mouseEnabled: true, touchEnabled: false });
    cs.imageCache.setMaximumSizeBytes(CACHE_BYTES);
  }

  function absolute(url) {
    return "wadouri:" + new URL(url, window.location.href).href;
  }

  function reformatIds(info) {
    return Object.keys(info.reformats || {}).map(function (k) { return absolute(info.reformats[k]); });
  }

  function clamp(x, lo, hi) { return Math.max(lo, Math.min(hi, x)); }

  /* Runs ``jobs`` (functions returning promises) ``concurrency`` at a time; cancel() stops
   * starting new ones. */
  function pool(jobs, concurrency) {
    var cancelled = false;
    var next = 0;
    function worker() {
      if (cancelled || next >= jobs.length) return Promise.resolve();
      var job = jobs[next++];
      return job().catch(function () {}).then(worker);
    }
    var runners = [];
    for (var i = 0; i < concurrency; i++) runners.push(worker());
    return { done: Promise.all(runners), cancel: function () { cancelled = true; } };
  }

  /* Slice indices from ``centre`` outwards: the slices the reader looks at first load first. */
  function centreOut(count, centre) {
    var order = [centre];
    for (var d = 1; order.length < count; d++) {
      if (centre + d < count) order.push(centre + d);
      if (centre - d >= 0) order.push(centre - d);
    }
    return order;
  }

  function Viewer(elements, callbacks) {
    setup();
    this.main = elements.main;
    this.minis = { coronal: elements.coronal, sagittal: elements.sagittal };
    this.callbacks = callbacks || {};
    this.info = null;
    this.outline = null;
    this.imageIds = [];
    this.index = 0;
    this.showOutline = true;
    this.opacity = 0.8;
    this.voi = { windowWidth: PRESETS.soft.width, windowCenter: PRESETS.soft.center };
    this.loading = null;
    this.prefetching = null;
    this.prefetchKey = null;
    this.token = 0;
    this.sets = {}; // image_set_key -> imageIds, for the cache purge
    this.metrics = window.__workstationMetrics = window.__workstationMetrics || { opens: [], renders: 0 };
    this.metrics.renders = 0;

    var self = this;
    cs.enable(this.main);
    Object.keys(this.minis).forEach(function (k) { cs.enable(self.minis[k]); });

    tools.addTool(tools.WwwcTool);
    tools.addTool(tools.PanTool);
    tools.addTool(tools.ZoomTool, { configuration: { minScale: 0.2, maxScale: 25, preventZoomOutsideImage: false } });
    tools.addTool(tools.LengthTool);
    tools.addTool(tools.BidirectionalTool);
    this.setTool("Wwwc");

    this.main.addEventListener(cs.EVENTS.IMAGE_RENDERED, function (e) { self._onMainRendered(e); });
    Object.keys(this.minis).forEach(function (k) {
      var el = self.minis[k];
      el.addEventListener(cs.EVENTS.IMAGE_RENDERED, function (e) { self._onMiniRendered(k, e); });
      // A double click on a reformat jumps the axial view to that level.
      el.addEventListener("dblclick", function (e) {
        if (!self.info || !cs.getEnabledElement(el).image) return;
        var p = cs.pageToPixel(el, e.pageX, e.pageY);
        self.scrollTo(self._sliceOfReformatRow(Math.floor(p.y)));
      });
    });
    this.main.addEventListener("wheel", function (e) {
      e.preventDefault();
      if (e.deltaY) self.scrollBy(e.deltaY > 0 ? 1 : -1); // wheel down: towards the feet
    }, { passive: false });
    window.addEventListener("resize", function () {
      [self.main, self.minis.coronal, self.minis.sagittal].forEach(function (el) {
        try { cs.resize(el, false); } catch (err) { /* no image yet */ }
      });
    });
  }

  Viewer.PRESETS = PRESETS;

  Viewer.prototype.setTool = function (name) {
    ["Wwwc", "Pan", "Zoom", "Length", "Bidirectional"].forEach(function (t) {
      if (t !== name) tools.setToolPassive(t);
    });
    tools.setToolActive(name, { mouseButtonMask: 1 });
    // The other buttons keep their usual radiology meaning whatever the left button does.
    if (name !== "Pan") tools.setToolActive("Pan", { mouseButtonMask: 4 });
    if (name !== "Zoom") tools.setToolActive("Zoom", { mouseButtonMask: 2 });
    this.tool = name;
  };

  /* Shows a case: ``info`` is the images endpoint's answer, ``outline`` the outline endpoint's.
   * Resolves when its first image is on screen. */
  Viewer.prototype.open = function (info, outline, setKey) {
    var self = this;
    var token = ++this.token;
    var t0 = performance.now();
    var prefetched = false;
    this.info = info;
    this.outline = outline || { slices: {} };
    this.imageIds = info.slices.map(absolute);
    this.sets[setKey] = this.imageIds.concat(reformatIds(info));
    this.setKey = setKey;
    this.index = clamp(info.node.central_slice, 0, this.imageIds.length - 1);
    if (this.loading) this.loading.cancel();
    if (this.prefetchKey === setKey && this.prefetching) {
      // The series being prefetched is this one: let it finish instead of starting over.
      this.prefetching = null;
    } else if (this.prefetching) {
      this.prefetching.cancel();
      this.prefetching = null;
    }
    var first = this.imageIds[this.index];
    prefetched = !!cs.imageCache.getImageLoadObject(first);
    this.voi = { windowWidth: info.default_window.width, windowCenter: info.default_window.center };
    return cs.loadAndCacheImage(first).then(function (image) {
      if (token !== self.token) return null;
      var viewport = self._nodeViewport(image);
      cs.displayImage(self.main, image, viewport);
      var ms = performance.now() - t0;
      self._notifySlice();
      // The rest of the stack, nearest slices first, then the reformats.
      var order = centreOut(self.imageIds.length, self.index);
      self.loading = pool(order.map(function (i) {
        return function () { return cs.loadAndCacheImage(self.imageIds[i]); };
      }), LOAD_CONCURRENCY);
      self._openMinis(info, token);
      return { prefetched: prefetched, ms: ms };
    });
  };

  Viewer.prototype._openMinis = function (info, token) {
    var self = this;
    Object.keys(this.minis).forEach(function (k) {
      var url = info.reformats && info.reformats[k];
      var el = self.minis[k];
      if (!url) return;
      cs.loadAndCacheImage(absolute(url)).then(function (image) {
        if (token !== self.token) return;
        cs.displayImage(el, image, self._miniViewport(k, el, image));
      }).catch(function () { /* the axial view is what matters; the panel stays dark */ });
    });
  };

  /* The node centred, zoomed so that the view spans about 9 cm of neck (more around a large
   * node): the node big enough to judge its margin, with the fat and vessels around it. */
  Viewer.prototype._nodeViewport = function (image) {
    var vp = cs.getDefaultViewportForImage(this.main, image);
    var info = this.info;
    var bbox = info.node.bbox;
    var spacing = Math.min(info.row_spacing_mm || 1, info.column_spacing_mm || 1);
    var nodeMm = Math.max(bbox[4] - bbox[1], bbox[5] - bbox[2]) * spacing;
    var fovMm = Math.max(90, 4 * nodeMm);
    var canvas = cs.getEnabledElement(this.main).canvas;
    var side = Math.min(canvas.width, canvas.height);
    var fit = vp.scale;
    vp.scale = clamp((side * spacing) / fovMm, fit, fit * 3);
    vp.translation = {
      x: image.columns / 2 - (info.node.centroid[2] + 0.5),
      y: image.rows / 2 - (info.node.centroid[1] + 0.5),
    };
    vp.voi = Object.assign({}, this.voi);
    return vp;
  };

  /* A reformat centred on the node at about 12 cm across. */
  Viewer.prototype._miniViewport = function (kind, el, image) {
    var vp = cs.getDefaultViewportForImage(el, image);
    var info = this.info;
    var c = info.node.centroid;
    var x = kind === "coronal" ? c[2] : c[1];
    var y = this._reformatRowOfSlice(c[0]);
    var spacing = Math.min(info.row_spacing_mm || 1, info.column_spacing_mm || 1);
    var canvas = cs.getEnabledElement(el).canvas;
    var fit = vp.scale;
    vp.scale = clamp((Math.min(canvas.width, canvas.height) * spacing) / 120, fit, fit * 4);
    vp.translation = { x: image.columns / 2 - (x + 0.5), y: image.rows / 2 - (y + 0.5) };
    vp.voi = Object.assign({}, this.voi);
    return vp;
  };

  Viewer.prototype.scrollTo = function (i) {
    if (!this.imageIds.length) return;
    i = clamp(i, 0, this.imageIds.length - 1);
    if (i === this.index) return;
    this.index = i;
    var self = this;
    var token = this.token;
    var id = this.imageIds[i];
    cs.loadAndCacheImage(id).then(function (image) {
      // Only the latest request is shown: fast scrolling never shows a stale slice last.
      if (token !== self.token || self.imageIds[self.index] !== id) return;
      cs.displayImage(self.main, image);
      self._notifySlice();
    });
    this._notifySlice();
    this._redrawMinisSoon();
  };

  /* The reformats' slice line follows scrolling at most every 100 ms: redrawing them on every
   * slice would halve the scrolling rate on a slow machine. */
  Viewer.prototype._redrawMinisSoon = function () {
    var self = this;
    if (this._minisTimer) return;
    this._minisTimer = setTimeout(function () {
      self._minisTimer = null;
      self._redrawMinis();
    }, 100);
  };

  /* Slices are stored inferior to superior when the series' normal points up; the reader
   * counts and scrolls them from the head down, as on every PACS. */
  Viewer.prototype._headFirst = function () {
    return !!(this.info && this.info.reformat_rows_descending);
  };

  Viewer.prototype.displayNumber = function (index) {
    return this._headFirst() ? this.imageIds.length - index : index + 1;
  };

  /* Moves ``n`` slices towards the feet (negative: towards the head). */
  Viewer.prototype.scrollBy = function (n) { this.scrollTo(this.index + (this._headFirst() ? -n : n)); };

  /* Shows displayed slice ``k`` (1 = the top of the head). */
  Viewer.prototype.scrollToNumber = function (k) {
    this.scrollTo(this._headFirst() ? this.imageIds.length - k : k - 1);
  };

  Viewer.prototype._reformatRowOfSlice = function (index) {
    return this._headFirst() ? this.imageIds.length - 1 - index : index;
  };

  Viewer.prototype._sliceOfReformatRow = function (row) {
    return this._headFirst() ? this.imageIds.length - 1 - row : row;
  };

  Viewer.prototype._notifySlice = function () {
    if (this.callbacks.onSlice) this.callbacks.onSlice(this.displayNumber(this.index), this.imageIds.length);
  };

  Viewer.prototype.preset = function (name) {
    var p = PRESETS[name];
    if (!p) return;
    this.voi = { windowWidth: p.width, windowCenter: p.center };
    var self = this;
    [this.main, this.minis.coronal, this.minis.sagittal].forEach(function (el) {
      var e = cs.getEnabledElement(el);
      if (!e.image) return;
      var vp = cs.getViewport(el);
      vp.voi = Object.assign({}, self.voi);
      cs.setViewport(el, vp);
    });
  };

  Viewer.prototype.gotoNode = function () {
    if (!this.info) return;
    var e = cs.getEnabledElement(this.main);
    this.scrollTo(this.info.node.central_slice);
    if (!e.image) return;
    var vp = this._nodeViewport(e.image);
    vp.voi = cs.getViewport(this.main).voi;
    cs.setViewport(this.main, vp);
  };

  Viewer.prototype.reset = function () {
    var e = cs.getEnabledElement(this.main);
    if (!e.image) return;
    this.voi = { windowWidth: this.info.default_window.width, windowCenter: this.info.default_window.center };
    this.gotoNode();
    var self = this;
    [this.main, this.minis.coronal, this.minis.sagittal].forEach(function (el) {
      var en = cs.getEnabledElement(el);
      if (!en.image) return;
      var vp = el === self.main ? cs.getViewport(el) : self._miniViewport(el === self.minis.coronal ? "coronal" : "sagittal", el, en.image);
      vp.voi = Object.assign({}, self.voi);
      cs.setViewport(el, vp);
    });
  };

  Viewer.prototype.zoomBy = function (factor) {
    var e = cs.getEnabledElement(this.main);
    if (!e.image) return;
    var vp = cs.getViewport(this.main);
    vp.scale = clamp(vp.scale * factor, 0.2, 25);
    cs.setViewport(this.main, vp);
  };

  /* An outline object that was filled in after its case opened: redraw if it is on screen. */
  Viewer.prototype.outlineArrived = function (outline) {
    if (this.outline === outline) this._redrawAll();
  };

  Viewer.prototype.setOutline = function (visible) {
    this.showOutline = visible;
    this._redrawAll();
  };

  Viewer.prototype.setOpacity = function (opacity) {
    this.opacity = opacity;
    this._redrawAll();
  };

  Viewer.prototype.clearMeasurements = function () {
    var manager = tools.globalImageIdSpecificToolStateManager;
    this.imageIds.forEach(function (id) {
      var state = manager.saveImageIdToolState(id);
      if (state) {
        delete state.Length;
        delete state.Bidirectional;
      }
    });
    this._redrawAll();
  };

  Viewer.prototype._redrawAll = function () {
    if (cs.getEnabledElement(this.main).image) cs.updateImage(this.main);
    this._redrawMinis();
  };

  Viewer.prototype._redrawMinis = function () {
    var self = this;
    Object.keys(this.minis).forEach(function (k) {
      if (cs.getEnabledElement(self.minis[k]).image) cs.updateImage(self.minis[k]);
    });
  };

  function drawPolygons(ctx, polygons, lineWidth) {
    polygons.forEach(function (poly) {
      if (!poly || poly.length < 2) return;
      ctx.beginPath();
      // Points are Cornerstone image coordinates already (pixel edges: x, y = column, row).
      ctx.moveTo(poly[0][0], poly[0][1]);
      for (var i = 1; i < poly.length; i++) ctx.lineTo(poly[i][0], poly[i][1]);
      ctx.closePath();
      ctx.lineWidth = lineWidth;
      ctx.stroke();
    });
  }

  Viewer.prototype._onMainRendered = function (e) {
    this.metrics.renders += 1;
    var detail = e.detail;
    if (this.showOutline && this.outline && this.outline.slices) {
      var polygons = this.outline.slices[String(this.index)];
      if (polygons && polygons.length && detail.image.imageId === this.imageIds[this.index]) {
        var ctx = detail.canvasContext;
        ctx.save();
        cs.setToPixelCoordinateSystem(detail.enabledElement, ctx);
        ctx.globalAlpha = this.opacity;
        ctx.strokeStyle = OUTLINE_COLOUR;
        drawPolygons(ctx, polygons, 1.5 / detail.viewport.scale);
        ctx.restore();
      }
    }
    if (this.callbacks.onRender) {
      this.callbacks.onRender({
        windowWidth: detail.viewport.voi.windowWidth,
        windowCenter: detail.viewport.voi.windowCenter,
        scale: detail.viewport.scale,
        imageId: detail.image.imageId,
      });
    }
  };

  Viewer.prototype._onMiniRendered = function (kind, e) {
    var detail = e.detail;
    var ctx = detail.canvasContext;
    ctx.save();
    cs.setToPixelCoordinateSystem(detail.enabledElement, ctx);
    var scale = detail.viewport.scale;
    // Where the axial slice on screen cuts this plane (rows of a reformat are slices).
    ctx.strokeStyle = CROSS_COLOUR;
    ctx.lineWidth = 1 / scale;
    ctx.setLineDash([4 / scale, 4 / scale]);
    ctx.beginPath();
    var y = this._reformatRowOfSlice(this.index) + 0.5;
    ctx.moveTo(0, y);
    ctx.lineTo(detail.image.columns, y);
    ctx.stroke();
    ctx.setLineDash([]);
    var polygons = this.outline && this.outline[kind];
    if (this.showOutline && polygons && polygons.length) {
      ctx.globalAlpha = this.opacity;
      ctx.strokeStyle = OUTLINE_COLOUR;
      drawPolygons(ctx, polygons, 1.5 / scale);
    }
    ctx.restore();
  };

  /* Loads another case's series into the cache while the reader works (one case ahead only). */
  Viewer.prototype.prefetch = function (info, setKey) {
    if (this.prefetchKey === setKey && this.prefetching) return;
    if (this.prefetching) this.prefetching.cancel();
    var ids = info.slices.map(absolute);
    this.sets[setKey] = ids.concat(reformatIds(info));
    this.prefetchKey = setKey;
    var order = centreOut(ids.length, clamp(info.node.central_slice, 0, ids.length - 1));
    var jobs = order.map(function (i) { return function () { return cs.loadAndCacheImage(ids[i]); }; });
    Object.keys(info.reformats || {}).forEach(function (k) {
      jobs.push(function () { return cs.loadAndCacheImage(absolute(info.reformats[k])); });
    });
    var self = this;
    // The case on screen first: the prefetch waits for its stack.
    var before = this.loading ? this.loading.done : Promise.resolve();
    var handle = { cancelled: false, inner: null };
    handle.cancel = function () { handle.cancelled = true; if (handle.inner) handle.inner.cancel(); };
    this.prefetching = handle;
    handle.done = before.then(function () {
      if (handle.cancelled) return null;
      handle.inner = pool(jobs, PREFETCH_CONCURRENCY);
      return handle.inner.done;
    });
  };

  /* Resolves when the case on screen and the prefetch are fully loaded (for measurements). */
  Viewer.prototype.whenIdle = function () {
    return Promise.all([
      this.loading ? this.loading.done : null,
      this.prefetching ? this.prefetching.done : null,
    ]);
  };

  /* Drops every cached image that belongs to neither ``keepKeys`` set: on a case change only the
   * case on screen and the one prefetched stay. */
  Viewer.prototype.retain = function (keepKeys) {
    var keep = {};
    var self = this;
    keepKeys.forEach(function (k) { (self.sets[k] || []).forEach(function (id) { keep[id] = true; }); });
    Object.keys(this.sets).forEach(function (k) { if (keepKeys.indexOf(k) < 0) delete self.sets[k]; });
    cs.imageCache.cachedImages.slice().forEach(function (entry) {
      if (!keep[entry.imageId]) {
        try { cs.imageCache.removeImageLoadObject(entry.imageId); } catch (err) { /* already gone */ }
      }
    });
  };

  Viewer.prototype.cacheInfo = function () {
    return cs.imageCache.getCacheInfo();
  };

  window.ReaderStudyWorkstation = window.ReaderStudyWorkstation || {};
  window.ReaderStudyWorkstation.Viewer = Viewer;
})();
