// MarkIt reading surface (Streamlit components v2, no build step, no outside request).
//
// One module, two roles, chosen by the data it is mounted with:
// - bytes (a "MKPX" pixel payload, see markit_core/imaging/client_payload.py): the
//   *store*. It parses the payload once and keeps it in a page-wide map keyed by case
//   id, so the current case and the prefetched next one are both ready to paint;
// - a JSON object: the *reader*. It paints the case from the store on a canvas and
//   does window/level (left drag, presets on keys 1-5), zoom about the cursor (wheel),
//   pan (middle/right drag or shift-drag), fit / 1:1 / invert, frame scrolling, and
//   draws every reader's regions and an optional RGBA overlay in image coordinates.
//   It sends back only the view (debounced), for the draft's timing and for opening
//   the drawing canvas on the same view.

const G = (window.__markitReader ||= {
  payloads: new Map(), // case id -> parsed payload
  overlays: new Map(), // case id -> { id: overlay_id, bitmap }
  tiles: new Map(), // case id -> full-resolution tile of the visible part (zoomed in)
  views: new Map(), // case id -> the view the reader left it at
  readers: new Set(),
  stats: { paints: [], steps: [], zooms: [], lastPaint: null },
});
const MAX_PAYLOADS = 6;
const PRESET_KEYS = ["header", "auto", "chest", "lung", "bone"];
const PRESET_NAMES = { header: "Header", auto: "Auto", chest: "Chest", lung: "Lung", bone: "Bone" };
const MAX_ZOOM = 32;
const SEND_DELAY_MS = 350;
// Asked to report its first paint (the page holds its other parts back until then): report
// anyway after this long, so a payload that never comes cannot keep them away.
const PAINT_REPORT_FALLBACK_MS = 3000;

// -- the store -----------------------------------------------------------------------

function parsePayload(bytes) {
  const b = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const magic = String.fromCharCode(b[0], b[1], b[2], b[3]);
  if (magic !== "MKPX") throw new Error("MarkIt reader: not a pixel payload");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hlen = dv.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + hlen)));
  const base = b.byteOffset + 8 + hlen;
  if (header.kind === "overlay") {
    const [oOff, oLen] = header.overlay;
    return { header, png: new Uint8Array(b.buffer, base + oOff, oLen) };
  }
  if (header.kind === "tile") {
    // full-resolution pixels of one rectangle, in the case payload's encoding
    const n = header.cols * header.rows;
    const pixels =
      header.pixel_kind === "u16"
        ? new Uint16Array(b.buffer, base, n)
        : new Uint8Array(b.buffer, base, n * 3);
    return { header, pixels };
  }
  const [pOff, pLen] = header.pixels;
  const pixels =
    header.kind === "u16"
      ? new Uint16Array(b.buffer, base + pOff, pLen / 2)
      : new Uint8Array(b.buffer, base + pOff, pLen);
  return { header, pixels };
}

function storeOverlay({ header, png }) {
  // one overlay per case (an AI heat map); the reader paints it only while its data names
  // this overlay_id, so switching labels or turning it off never shows a stale map
  const id = header.case;
  const old = G.overlays.get(id);
  if (old && old.id === header.overlay_id) return;
  const entry = { id: header.overlay_id, bitmap: null };
  G.overlays.set(id, entry);
  while (G.overlays.size > MAX_PAYLOADS) G.overlays.delete(G.overlays.keys().next().value);
  createImageBitmap(new Blob([png], { type: "image/png" })).then((bmp) => {
    entry.bitmap = bmp;
    G.readers.forEach((r) => r.caseId === id && r.schedule());
  });
}

function storeTile(tile) {
  // one tile per case (the visible part at full resolution); a new one replaces it
  const id = tile.header.case;
  const old = G.tiles.get(id);
  if (old && old.header.tile_id === tile.header.tile_id) return;
  G.tiles.set(id, { ...tile, key: null, canvas: null, at: performance.now() });
  while (G.tiles.size > MAX_PAYLOADS) G.tiles.delete(G.tiles.keys().next().value);
  G.readers.forEach((r) => r.caseId === id && r.schedule());
}

function store(bytes) {
  const payload = parsePayload(bytes);
  if (payload.header.kind === "overlay") return storeOverlay(payload);
  if (payload.header.kind === "tile") return storeTile(payload);
  const id = payload.header.case;
  const old = G.payloads.get(id);
  // the same case mounted again (current after being prefetched): keep what is painted
  if (old && old.pixels.byteLength === payload.pixels.byteLength) return;
  G.payloads.delete(id);
  G.payloads.set(id, payload);
  while (G.payloads.size > MAX_PAYLOADS) G.payloads.delete(G.payloads.keys().next().value);
  G.readers.forEach((r) => r.caseId === id && r.onPayload());
}

// -- window/level ----------------------------------------------------------------------

function toRgba(h, view, src, out32) {
  // payload (or tile) pixels -> packed RGBA through the window/level of ``view``
  if (h.kind === "u16") {
    const lut = greyLut(h, view);
    for (let i = 0; i < out32.length; i++) out32[i] = lut[src[i]];
    return;
  }
  const inv = view.invert;
  for (let i = 0, j = 0; i < out32.length; i++, j += 3) {
    let r = src[j];
    let g = src[j + 1];
    let b = src[j + 2];
    if (inv) [r, g, b] = [255 - r, 255 - g, 255 - b];
    out32[i] = 0xff000000 | (b << 16) | (g << 8) | r;
  }
}

function greyLut(h, view) {
  // modality value of each stored level -> 8-bit grey, packed as little-endian RGBA
  const n = h.kind === "u16" ? 65536 : 256;
  const lut = new Uint32Array(n);
  const invert = h.monochrome1 !== view.invert;
  const voi = view.voi && h.voi_lut;
  const { center, width } = view;
  const fn = h.function;
  let lower, span;
  if (fn === "LINEAR_EXACT") {
    lower = center - width / 2;
    span = width;
  } else {
    const w = Math.max(width, 1);
    lower = center - 0.5 - (w - 1) / 2;
    span = w - 1;
  }
  const top = Math.min(n, Math.ceil((h.range[1] - h.intercept) / h.slope) + 2);
  for (let i = 0; i < top; i++) {
    const v = i * h.slope + h.intercept;
    let g;
    if (voi) {
      const t = voi.table;
      g = t[Math.min(Math.max(Math.round(v) - voi.first, 0), t.length - 1)];
    } else if (fn === "SIGMOID") {
      g = 255 / (1 + Math.exp((-4 * (v - center)) / Math.max(width, 1e-6)));
    } else if (span <= 0) {
      g = v > center - 0.5 ? 255 : 0;
    } else {
      g = ((v - lower) * 255) / span;
    }
    g = g < 0 ? 0 : g > 255 ? 255 : g | 0;
    if (invert) g = 255 - g;
    lut[i] = 0xff000000 | (g << 16) | (g << 8) | g;
  }
  for (let i = top; i < n; i++) lut[i] = lut[top - 1];
  return lut;
}

// -- the reader ------------------------------------------------------------------------

class Reader {
  constructor(root) {
    this.root = root;
    this.canvas = root.querySelector("canvas.mk-canvas");
    this.ctx = this.canvas.getContext("2d", { alpha: false });
    this.status = root.querySelector(".mk-status");
    this.bar = root.querySelector(".mk-bar");
    this.off = document.createElement("canvas");
    this.offCtx = this.off.getContext("2d");
    this.imageKey = null;
    this.caseId = null;
    this.view = null;
    this.data = {};
    this.pending = null; // input event time waiting for its paint
    this.pendingKind = null;
    this.sendTimer = null;
    this.lastSent = null;
    this.drag = null;
    this.frameQueued = false;
    this.bind();
    G.readers.add(this);
  }

  update(data, setStateValue, setTriggerValue) {
    this.setStateValue = setStateValue;
    this.setTriggerValue = setTriggerValue;
    this.data = data || {};
    const [w, h] = this.data.size || [640, 640];
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${h}px`;
    }
    if (this.caseId !== this.data.case) {
      this.caseId = this.data.case;
      this.view = null;
      this.clickedAt = G.clickedAt ?? null;
    }
    if (this.data.report_paint && this.reportedPaint !== this.caseId) this.awaitPaint();
    this.onPayload();
  }

  // The first paint of a case the page asked about: reported once, after the frame is
  // on screen, so the page's next run (the rest of the page) starts only then.
  awaitPaint() {
    if (this.paintWanted === this.caseId) return;
    this.paintWanted = this.caseId;
    clearTimeout(this.paintFallback);
    this.paintFallback = setTimeout(() => this.reportPaint(), PAINT_REPORT_FALLBACK_MS);
  }

  reportPaint() {
    const c = this.paintWanted;
    if (c === null || c === undefined) return;
    clearTimeout(this.paintFallback);
    this.paintWanted = null;
    this.reportedPaint = c;
    if (this.setTriggerValue) this.setTriggerValue("painted", c);
  }

  payload() {
    return G.payloads.get(this.caseId);
  }

  onPayload() {
    const p = this.payload();
    if (!p) {
      this.status.textContent = "Loading image…";
      return;
    }
    if (!this.view) this.view = this.initialView(p.header);
    this.buildToolbar(p.header);
    this.schedule();
  }

  initialView(h) {
    const kept = G.views.get(this.caseId) || this.data.view;
    if (kept && kept.case === this.caseId) return { ...kept };
    const [c, w] = h.presets.header || [128, 256];
    return {
      case: this.caseId,
      center: c,
      width: w,
      preset: h.kind === "u16" ? "header" : null,
      voi: !!h.voi_lut,
      invert: false,
      zoom: null,
      pan: null,
      frame: 0,
    };
  }

  // -- geometry (mirrors markit_core.imaging.display.view_mapping) --

  fit() {
    const h = this.payload().header;
    return Math.min(this.canvas.width / h.image_cols, this.canvas.height / h.image_rows);
  }

  geometry() {
    const h = this.payload().header;
    const vw = this.canvas.width;
    const vh = this.canvas.height;
    const fit = this.fit();
    const z = Math.min(Math.max(this.view.zoom ?? fit, Math.min(fit, 1) / 8), MAX_ZOOM);
    const cw = Math.min(h.image_cols, vw / z);
    const ch = Math.min(h.image_rows, vh / z);
    let [cx, cy] = this.view.pan ?? [h.image_cols / 2, h.image_rows / 2];
    cx = Math.min(Math.max(cx, cw / 2), h.image_cols - cw / 2);
    cy = Math.min(Math.max(cy, ch / 2), h.image_rows - ch / 2);
    // image smaller than the viewport: centre it
    const x0 = cw >= h.image_cols ? h.image_cols / 2 - vw / (2 * z) : cx - vw / (2 * z);
    const y0 = ch >= h.image_rows ? h.image_rows / 2 - vh / (2 * z) : cy - vh / (2 * z);
    return { z, x0, y0, cx, cy, fit };
  }

  // -- painting --

  schedule(kind, t) {
    if (kind && this.pending === null) {
      this.pending = t ?? performance.now();
      this.pendingKind = kind;
    }
    if (this.frameQueued) return;
    this.frameQueued = true;
    requestAnimationFrame(() => {
      this.frameQueued = false;
      this.paint();
    });
  }

  ensureImage(p) {
    const h = p.header;
    const v = this.view;
    const frame = Math.min(Math.max(v.frame, 0), h.frames - 1);
    const key = `${h.case}|${frame}|${v.center}|${v.width}|${v.invert}|${v.voi}`;
    if (key === this.imageKey) return;
    if (this.off.width !== h.cols || this.off.height !== h.rows) {
      this.off.width = h.cols;
      this.off.height = h.rows;
      this.imageData = null;
    }
    this.imageData ||= this.offCtx.createImageData(h.cols, h.rows);
    const n = h.cols * h.rows;
    const src =
      h.kind === "u16"
        ? p.pixels.subarray(frame * n, (frame + 1) * n)
        : p.pixels.subarray(frame * n * 3, (frame + 1) * n * 3);
    toRgba(h, v, src, new Uint32Array(this.imageData.data.buffer));
    this.offCtx.putImageData(this.imageData, 0, 0);
    this.imageKey = key;
  }

  paintTile(h, z, x0, y0) {
    // zoomed past the payload's resolution: the visible part at full resolution on top
    const t = G.tiles.get(h.case);
    const v = this.view;
    if (!t || h.factor <= 1 || z * h.factor <= 1 || t.header.frame !== v.frame) return;
    const th = t.header;
    const key = `${th.tile_id}|${v.center}|${v.width}|${v.invert}|${v.voi}`;
    if (t.key !== key) {
      t.canvas ||= document.createElement("canvas");
      t.canvas.width = th.cols;
      t.canvas.height = th.rows;
      const tctx = t.canvas.getContext("2d");
      const data = tctx.createImageData(th.cols, th.rows);
      toRgba(h, v, t.pixels, new Uint32Array(data.data.buffer));
      tctx.putImageData(data, 0, 0);
      t.key = key;
    }
    this.ctx.imageSmoothingEnabled = z < 1;
    this.ctx.drawImage(t.canvas, (th.x0 - x0) * z, (th.y0 - y0) * z, th.cols * z, th.rows * z);
  }

  paint() {
    const p = this.payload();
    if (!p || !this.view) return;
    const h = p.header;
    this.ensureImage(p);
    const { z, x0, y0 } = this.geometry();
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = z * h.factor < 1;
    const dw = h.cols * h.factor * z;
    const dh = h.rows * h.factor * z;
    ctx.drawImage(this.off, -x0 * z, -y0 * z, dw, dh);
    this.paintTile(h, z, x0, y0);
    const opacity = this.data.overlay_opacity ?? 0.4;
    const overlay = G.overlays.get(h.case);
    const wanted = this.data.overlay_id;
    if (wanted && overlay && overlay.id === wanted && overlay.bitmap && opacity > 0) {
      ctx.globalAlpha = opacity;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(overlay.bitmap, -x0 * z, -y0 * z, h.image_cols * z, h.image_rows * z);
      ctx.globalAlpha = 1;
    }
    this.paintRegions(z, x0, y0);
    this.caption(z);
    const now = performance.now();
    G.stats.lastPaint = { case: h.case, t: now, frame: this.view.frame };
    if (this.paintWanted === h.case) {
      requestAnimationFrame(() => setTimeout(() => this.reportPaint(), 0));
    }
    G.stats.paints.push(now);
    if (G.stats.paints.length > 200) G.stats.paints.shift();
    if (this.pending !== null) {
      const list = this.pendingKind === "zoom" ? G.stats.zooms : G.stats.steps;
      list.push(now - this.pending);
      if (list.length > 500) list.shift();
      this.pending = null;
    }
    G.views.set(this.caseId, { ...this.view });
    this.canvas.dataset.case = String(h.case);
    this.canvas.dataset.painted = String(G.stats.paints.length);
  }

  paintRegions(z, x0, y0) {
    const ctx = this.ctx;
    ctx.lineWidth = 2;
    for (const r of this.data.regions || []) {
      if ((r.f || 0) !== this.view.frame || !r.p || !r.p.length) continue;
      const pts = r.p.map(([x, y]) => [(x - x0) * z, (y - y0) * z]);
      ctx.strokeStyle = r.c || "#ff0";
      ctx.setLineDash(r.mine ? [] : [6, 4]);
      ctx.beginPath();
      if (r.s === "rect") {
        const [a, b] = [pts[0], pts[pts.length - 1]];
        ctx.rect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
      } else {
        ctx.moveTo(pts[0][0], pts[0][1]);
        for (const [x, y] of pts.slice(1)) ctx.lineTo(x, y);
        if (r.s === "polygon") ctx.closePath();
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  caption(z) {
    const h = this.payload().header;
    const v = this.view;
    const win = h.kind !== "u16" ? "colour" : v.voi ? "header VOI LUT" : `L ${fmt(v.center)} / W ${fmt(v.width)}`;
    const zoom = v.zoom === null ? `fit (${z.toFixed(2)}×)` : `${z.toFixed(2)}×`;
    const frame = h.frames > 1 ? ` · frame ${v.frame + 1} of ${h.frames}` : "";
    const inv = v.invert ? " · inverted" : "";
    const preset = v.preset ? ` (${PRESET_NAMES[v.preset]})` : "";
    this.status.textContent = `Window ${win}${preset} · zoom ${zoom}${inv}${frame} · ${h.image_cols}×${h.image_rows} px`;
    this.root.querySelectorAll("[data-zoom]").forEach((b) => {
      const which = b.dataset.zoom;
      b.classList.toggle("on", (which === "fit" && v.zoom === null) || (which === "1" && v.zoom === 1));
    });
    this.root.querySelectorAll("[data-preset]").forEach((b) => b.classList.toggle("on", b.dataset.preset === v.preset));
    const invBtn = this.root.querySelector("[data-act=invert]");
    if (invBtn) invBtn.classList.toggle("on", v.invert);
  }

  // -- changes --

  changed(kind, t) {
    this.schedule(kind, t);
    this.queueSend();
  }

  queueSend() {
    clearTimeout(this.sendTimer);
    this.sendTimer = setTimeout(() => this.send(), SEND_DELAY_MS);
  }

  send() {
    clearTimeout(this.sendTimer);
    this.sendTimer = null;
    if (!this.view || !this.setStateValue || !this.payload()) return;
    const { z, cx, cy } = this.geometry();
    const out = {
      ...this.view,
      zoom: this.view.zoom === null ? null : z,
      pan: this.view.zoom === null ? null : [cx, cy],
      viewport: [this.canvas.width, this.canvas.height],
    };
    const text = JSON.stringify(out);
    if (text === this.lastSent) return;
    this.lastSent = text;
    this.setStateValue("view", out);
  }

  setPreset(name, t) {
    const h = this.payload()?.header;
    if (!h || h.kind !== "u16" || !h.presets[name]) return;
    const [c, w] = h.presets[name];
    Object.assign(this.view, { center: c, width: w, preset: name, voi: name === "header" && !!h.voi_lut });
    this.changed("step", t);
  }

  zoomAt(factor, mx, my, t) {
    const { z, x0, y0, fit } = this.geometry();
    const nz = Math.min(Math.max(z * factor, Math.min(fit, 1) / 8), MAX_ZOOM);
    const ix = x0 + mx / z;
    const iy = y0 + my / z;
    const nx0 = ix - mx / nz;
    const ny0 = iy - my / nz;
    this.view.zoom = nz;
    this.view.pan = [nx0 + this.canvas.width / (2 * nz), ny0 + this.canvas.height / (2 * nz)];
    this.clampPan();
    this.changed("zoom", t);
  }

  clampPan() {
    const { cx, cy } = this.geometry();
    this.view.pan = [cx, cy];
  }

  setZoom(which) {
    if (which === "fit") {
      this.view.zoom = null;
      this.view.pan = null;
    } else {
      const { cx, cy } = this.geometry();
      this.view.zoom = 1;
      this.view.pan = [cx, cy];
      this.clampPan();
    }
    this.changed("zoom");
  }

  stepFrame(delta) {
    const h = this.payload()?.header;
    if (!h) return;
    const f = Math.min(Math.max(this.view.frame + delta, 0), h.frames - 1);
    if (f === this.view.frame) return;
    this.view.frame = f;
    this.changed("step");
  }

  // -- input --

  bind() {
    const c = this.canvas;
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("pointerdown", (e) => {
      if (!this.view) return;
      c.focus({ preventScroll: true });
      c.setPointerCapture(e.pointerId);
      const pan = e.button === 1 || e.button === 2 || e.shiftKey || this.mode === "pan";
      this.drag = { pan, x: e.clientX, y: e.clientY, view: { ...this.view }, geo: this.geometry() };
      e.preventDefault();
    });
    c.addEventListener("pointermove", (e) => {
      const d = this.drag;
      if (!d) return;
      const dx = e.clientX - d.x;
      const dy = e.clientY - d.y;
      if (d.pan) {
        const z = d.geo.z;
        this.view.zoom = z;
        this.view.pan = [d.geo.cx - dx / z, d.geo.cy - dy / z];
        this.clampPan();
        this.changed("zoom", e.timeStamp);
      } else {
        const h = this.payload().header;
        if (h.kind !== "u16") return;
        const span = Math.max(h.range[1] - h.range[0], 1);
        const k = span / 600;
        this.view.width = Math.max(1, d.view.width + dx * k);
        this.view.center = d.view.center + dy * k;
        this.view.preset = null;
        this.view.voi = false;
        this.changed("step", e.timeStamp);
      }
    });
    const end = (e) => {
      if (this.drag && c.hasPointerCapture(e.pointerId)) c.releasePointerCapture(e.pointerId);
      this.drag = null;
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("pointerleave", () => this.sendTimer && this.send());
    c.addEventListener(
      "wheel",
      (e) => {
        if (!this.view) return;
        e.preventDefault();
        const h = this.payload()?.header;
        if (e.shiftKey && h && h.frames > 1) {
          this.stepFrame(e.deltaY > 0 ? 1 : -1);
          return;
        }
        const r = c.getBoundingClientRect();
        const unit = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1;
        this.zoomAt(Math.exp((-e.deltaY * unit) / 600), e.clientX - r.left, e.clientY - r.top, e.timeStamp);
      },
      { passive: false },
    );
    c.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || !this.view) return;
      const i = "12345".indexOf(e.key);
      let handled = true;
      if (i >= 0) this.setPreset(PRESET_KEYS[i], e.timeStamp);
      else if (e.key === "i") this.toggleInvert();
      else if (e.key === "f") this.setZoom("fit");
      else if (e.key === "o") this.setZoom("1");
      else if (e.key === "ArrowDown" || e.key === "PageDown") this.stepFrame(1);
      else if (e.key === "ArrowUp" || e.key === "PageUp") this.stepFrame(-1);
      else handled = false;
      if (handled) {
        e.preventDefault();
        e.stopPropagation(); // the page's label shortcuts use the same digits
      }
    });
  }

  toggleInvert() {
    this.view.invert = !this.view.invert;
    this.changed("step");
  }

  buildToolbar(h) {
    const sig = `${h.case}|${h.kind}|${h.frames}`;
    if (this.bar.dataset.sig === sig) return;
    this.bar.dataset.sig = sig;
    this.bar.replaceChildren();
    const button = (text, title, attrs, onClick) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.title = title;
      Object.entries(attrs).forEach(([k, v]) => (b.dataset[k] = v));
      b.addEventListener("click", onClick);
      this.bar.appendChild(b);
      return b;
    };
    if (h.kind === "u16") {
      PRESET_KEYS.forEach((name, i) =>
        button(`${i + 1} ${PRESET_NAMES[name]}`, `Window preset (key ${i + 1} over the image)`, { preset: name }, () =>
          this.setPreset(name),
        ),
      );
    }
    button("Fit", "Fit the image (f)", { zoom: "fit" }, () => this.setZoom("fit"));
    button("1:1", "One image pixel per screen pixel (o)", { zoom: "1" }, () => this.setZoom("1"));
    button("Invert", "Invert (i)", { act: "invert" }, () => this.toggleInvert());
    if (h.frames > 1) {
      button("◀", "Previous frame (↑ or shift+wheel)", { act: "prev" }, () => this.stepFrame(-1));
      button("▶", "Next frame (↓ or shift+wheel)", { act: "next" }, () => this.stepFrame(1));
    }
  }
}

function fmt(x) {
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

// Remember the moment a "Submit & next" or navigation click happens, so the reader can
// report how long the next picture took (benchmarks/browser.py reads G.stats).
if (!G.clickHook) {
  G.clickHook = true;
  document.addEventListener(
    "click",
    (e) => {
      const t = e.target && e.target.closest && e.target.closest("button");
      if (t) G.clickedAt = performance.now();
    },
    true,
  );
}

const readers = new WeakMap();

// On the login page: load the frontend chunks and fonts the annotate page will use
// (names from ui/components/reader/__init__.py), once the page is idle.
function warmFrontend({ chunks = [], fonts = [] }) {
  if (G.warmed) return;
  G.warmed = true;
  const main = document.querySelector('script[src*="static/js/index"]');
  const base = main ? new URL(".", main.src) : new URL("static/js/", document.baseURI);
  const later = window.requestIdleCallback || ((f) => setTimeout(f, 50));
  later(() => {
    const loads = chunks.map((name) => import(new URL(name, base).href));
    for (const font of fonts) if (document.fonts) loads.push(document.fonts.load(font));
    Promise.allSettled(loads).then(() => (G.warmedUp = true)); // benchmarks/browser.py waits
  });
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  // mounted on the login page only to have this module loaded before the first case
  if (data && data.warm) {
    warmFrontend(data);
    return () => {};
  }
  if (data instanceof Uint8Array) {
    store(data);
    return () => {};
  }
  let reader = readers.get(parentElement);
  if (!reader) {
    reader = new Reader(parentElement);
    readers.set(parentElement, reader);
  }
  reader.update(data, setStateValue, setTriggerValue);
  return () => {
    G.readers.delete(reader);
    readers.delete(parentElement);
  };
}
