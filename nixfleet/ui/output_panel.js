// The output panel's body (see output_panel.py): the tab strip and tools arrive as children (default slot); this
// component owns the line view, the resize grip and the copy to the clipboard. Lines arrive as `reset(tab, {lines,
// earlier, loading})` and `append(tab, lines, dropped)`; every open tab is kept here so switching tabs is instant.
// Lines are plain DOM (never Vue-reactive): a nix build can print thousands of them.

const ANSI_RE = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;
const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const STAMP = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const MIN_HEIGHT = 120;
// Below this width (phones, narrow windows) the panel starts collapsed unless the user chose otherwise (CSS agrees).
const NARROW = "(max-width: 1000px)";
const BAD_RE = /(^|[^a-z])(error|fatal|failed|fail)([^a-z]|$)/i;
const WARN_RE = /(^|[^a-z])(warning|warn)([^a-z]|$)/i;
const ICONS = {
  start: "▶",
  ok: "✓",
  fail: "✗",
  partial: "◐",
  muted: "–",
  "ev-info": "•",
  "ev-error": "✗",
  "ev-warn": "!",
  "ev-success": "✓",
};

// The text of a line; an event's host is coloured where the message names it (else it leads the line).
function fillText(text, line) {
  const plain = String(line.x ?? "").replace(ANSI_RE, "");
  const host = line.h;
  if (!host) {
    text.textContent = plain;
    return;
  }
  const name = () => {
    const b = document.createElement("b");
    b.className = "nf-ol-h";
    b.textContent = host;
    if (line.c) b.style.setProperty("--hc", line.c); // CSS lightens a colour too dark to read
    return b;
  };
  if (!plain.includes(host)) {
    text.append(name(), " ", plain);
    return;
  }
  plain.split(host).forEach((part, i) => {
    if (i > 0) text.append(name());
    if (part) text.append(part);
  });
}

function clock(ts) {
  if (!ts) return ["", ""];
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return ["", ""];
  return [TIME.format(date), STAMP.format(date)];
}

function lineElement(line) {
  const row = document.createElement("div");
  row.className = `nf-ol k-${line.k}`;
  if (line.k === "out" || line.k === "err") {
    // nix and git write their progress to stderr: only what reads like a problem stands out
    if (BAD_RE.test(line.x)) row.classList.add("is-bad");
    else if (WARN_RE.test(line.x)) row.classList.add("is-warn");
  }
  const [short, full] = clock(line.t);
  const time = document.createElement("span");
  time.className = "nf-ol-t";
  time.textContent = short;
  if (full) time.title = full;
  row.appendChild(time);
  const icon = ICONS[line.k];
  if (icon) {
    const mark = document.createElement("span");
    mark.className = "nf-ol-i";
    mark.textContent = icon;
    mark.setAttribute("aria-hidden", "true");
    row.appendChild(mark);
  }
  const text = document.createElement("span");
  text.className = "nf-ol-x";
  fillText(text, line);
  if (line.a) text.title = line.a;
  row.appendChild(text);
  return row;
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // plain-HTTP dashboards on a LAN have no Clipboard API: the old way still works within the click's activation
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

export default {
  template: `
    <section :class="['nf-output', 'is-' + variant, { 'is-collapsed': collapsed, 'is-dragging': dragging,
                      'is-autocollapse': autocollapse }]"
             :style="{ '--nf-output-h': shownHeight + 'px', '--nf-output-font': font + 'px' }"
             aria-label="Output panel" :data-active="active" :data-collapsed="collapsed ? 'true' : 'false'">
      <div v-if="variant === 'dock'" v-show="!collapsed" class="nf-output-grip" role="separator" aria-orientation="horizontal" tabindex="0"
           aria-label="Resize the output panel" :aria-valuenow="shownHeight" title="Drag to resize"
           @pointerdown="startDrag" @keydown="gripKey"></div>
      <slot></slot>
      <div v-show="!collapsed" class="nf-output-view">
        <div ref="body" class="nf-output-body" role="log" aria-live="off" :aria-label="'Output of ' + active"
             tabindex="0" @scroll.passive="onScroll"></div>
        <button v-show="!pinned" type="button" class="nf-output-jump" @click="toBottom">↓ Latest</button>
        <div v-if="progress" class="nf-output-status" aria-live="polite">{{ progress }}</div>
      </div>
    </section>`,
  props: {
    active: String,
    font: { type: Number, default: 13 },
    collapsed: Boolean,
    height: { type: Number, default: 180 },
    cap: { type: Number, default: 2000 },
    variant: { type: String, default: "dock" },
    progress: { type: String, default: "" },
    initial: Object,
    autocollapse: Boolean,
  },
  data() {
    return { dragHeight: null, dragging: false, pinned: true };
  },
  computed: {
    shownHeight() {
      return Math.round(this.dragHeight ?? this.height);
    },
  },
  created() {
    this.buffers = {}; // tab → {lines, earlier, loading}; not reactive on purpose
    if (this.initial) this.buffers[this.active] = { lines: this.initial.lines || [], earlier: this.initial.earlier || 0 };
  },
  mounted() {
    this.render();
    if (this.variant === "dock") {
      // also when a window is made narrow later: CSS shows the bar at once, the server is told to agree
      this.narrowQuery = window.matchMedia(NARROW);
      this.onNarrow = () => this.narrowQuery.matches && this.autocollapse && this.tellNarrow();
      this.narrowQuery.addEventListener("change", this.onNarrow);
      this.onNarrow();
    }
    const footer = document.querySelector(".q-footer");
    if (this.variant === "dock" && footer && window.ResizeObserver) {
      // the dock sits on the footer (or below a short page); what floats just above it (the phone's selection bar)
      // reads --nf-above-dock: the height from the bottom of the window to the dock's top
      const dock = this.$el.parentElement;
      const root = document.documentElement;
      const place = () => {
        this.placing = null;
        const gap = Math.max(footer.offsetHeight, Math.round(window.innerHeight - dock.getBoundingClientRect().top));
        root.style.setProperty("--nf-above-dock", `${gap}px`);
      };
      this.onPlace = () => (this.placing ??= requestAnimationFrame(place));
      this.footerObserver = new ResizeObserver(() => {
        dock.style.setProperty("--nf-footer-h", `${footer.offsetHeight}px`);
        this.onPlace();
      });
      this.footerObserver.observe(footer);
      this.footerObserver.observe(dock);
      const page = document.querySelector(".nf-page"); // a page growing moves a dock that is not at the bottom
      if (page) this.footerObserver.observe(page);
      window.addEventListener("scroll", this.onPlace, { passive: true });
      window.addEventListener("resize", this.onPlace, { passive: true });
    }
  },
  unmounted() {
    this.footerObserver?.disconnect();
    window.removeEventListener("scroll", this.onPlace);
    window.removeEventListener("resize", this.onPlace);
    this.stopDrag?.();
    this.narrowQuery?.removeEventListener("change", this.onNarrow);
    clearTimeout(this.narrowTimer);
  },
  watch: {
    height() {
      this.dragHeight = null;
    },
    active() {
      this.pinned = true;
      this.render();
    },
    collapsed(now) {
      if (!now) this.$nextTick(() => this.toBottom());
    },
  },
  methods: {
    // CSS already shows the panel collapsed; the server learns it once the socket is up (events sent earlier are lost)
    tellNarrow(tries = 500) {
      if (window.did_handshake) this.$emit("narrow");
      else if (tries > 0) this.narrowTimer = setTimeout(() => this.tellNarrow(tries - 1), 20);
    },
    buffer(tab) {
      return (this.buffers[tab] ??= { lines: [], earlier: 0, loading: false });
    },
    reset(tab, data) {
      this.buffers[tab] = {
        lines: data.lines || [],
        earlier: data.earlier || 0,
        loading: !!data.loading,
        cap: data.cap || this.cap,
      };
      if (tab === this.active) {
        this.pinned = true;
        this.render();
      }
    },
    append(tab, lines, dropped) {
      const buf = this.buffer(tab);
      const cap = buf.cap || this.cap;
      buf.earlier += dropped || 0;
      buf.lines.push(...lines);
      const over = Math.max(0, buf.lines.length - cap);
      if (over > 0) {
        buf.lines.splice(0, over);
        buf.earlier += over;
      }
      if (tab !== this.active) return;
      const body = this.$refs.body;
      if (!body || buf.loading) return;
      if (dropped || over >= cap) {
        this.render(); // more arrived at once than the tab holds
        return;
      }
      body.querySelector(".nf-ol-empty")?.remove();
      const first = body.querySelector(".nf-ol:not(.nf-ol-earlier)");
      for (let i = 0, row = first; i < over && row; i++) {
        const next = row.nextElementSibling;
        row.remove(); // the oldest lines leave the view as the newest arrive (the tab keeps `cap`)
        row = next;
      }
      this.showEarlier(body, buf.earlier);
      const fragment = document.createDocumentFragment();
      for (const line of lines) fragment.appendChild(lineElement(line));
      body.appendChild(fragment);
      if (this.pinned) body.scrollTop = body.scrollHeight;
    },
    drop(tab) {
      delete this.buffers[tab];
    },
    showEarlier(body, earlier) {
      let more = body.querySelector(".nf-ol-earlier");
      if (earlier <= 0) {
        more?.remove();
        return;
      }
      if (!more) {
        more = document.createElement("div");
        more.className = "nf-ol nf-ol-earlier";
        body.prepend(more);
      }
      more.textContent = `… ${earlier.toLocaleString()} earlier lines (Download has the whole log)`;
    },
    render() {
      const body = this.$refs.body;
      if (!body) return;
      const buf = this.buffer(this.active);
      const fragment = document.createDocumentFragment();
      for (const line of buf.lines) fragment.appendChild(lineElement(line));
      if (buf.loading || buf.lines.length === 0) {
        const note = document.createElement("div");
        note.className = "nf-ol nf-ol-empty";
        note.textContent = buf.loading ? "Loading the log…" : "No output yet.";
        fragment.appendChild(note);
      }
      body.replaceChildren(fragment);
      this.showEarlier(body, buf.earlier);
      if (this.pinned) body.scrollTop = body.scrollHeight;
    },
    onScroll() {
      const body = this.$refs.body;
      this.pinned = body.scrollHeight - body.scrollTop - body.clientHeight < 24;
    },
    toBottom() {
      const body = this.$refs.body;
      if (body) body.scrollTop = body.scrollHeight;
      this.pinned = true;
    },
    async copy(text) {
      try {
        await writeClipboard(text);
      } catch (error) {
        this.$emit("copy_failed", { reason: String(error) });
      }
    },
    clamp(height) {
      return Math.max(MIN_HEIGHT, Math.min(height, Math.round(window.innerHeight * 0.8)));
    },
    startDrag(event) {
      if (event.button !== 0) return;
      event.preventDefault();
      const startY = event.clientY;
      const startHeight = this.shownHeight;
      this.dragging = true;
      const move = (e) => {
        this.dragHeight = this.clamp(startHeight + (startY - e.clientY));
      };
      const up = () => {
        this.stopDrag();
        if (this.dragHeight !== null) this.$emit("resize", { height: this.shownHeight });
      };
      this.stopDrag = () => {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        this.dragging = false;
        this.stopDrag = null;
      };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    },
    gripKey(event) {
      const step = event.shiftKey ? 80 : 20;
      const delta = { ArrowUp: step, ArrowDown: -step }[event.key];
      if (!delta) return;
      event.preventDefault();
      this.dragHeight = this.clamp(this.shownHeight + delta);
      this.$emit("resize", { height: this.shownHeight });
    },
  },
};
