// The live host table (see host_table.py). Server → `snapshot` prop (full render) and `apply(tx)` (row transactions
// that chain by version); a transaction that does not follow the shown version asks the server for a resync.
// "Last seen" and running times tick here, once a second, without any server round trip.
// Selection, the row menu and the tooltip live here too (one menu and one tooltip for all rows); what they trigger
// goes to the server as events: `row_action {host, key}`, `compartment {host, name}`, `selection {ids}`,
// `hotkey {tab}`. Below 1024 px the same rows lay out as cards (CSS only).
// Only the rows in and near the viewport exist in the DOM (windowing): the others are stand-in padding of their
// measured (or estimated) height, so filtering, clearing the filter and live updates cost what the visible rows cost,
// not what 2,000 rows cost. Rows are plain (markRaw) objects replaced whole on update; each rendered row reads its
// own entry, so an update re-renders that row only, and an update to a row out of view renders nothing.

import { markRaw } from "vue";

const APPLE_SVG =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M16.37 12.74c-.02-2.4 1.96-3.56 2.05-3.61-1.12-1.63-2.86-1.86-3.48-1.88-1.47-.15-2.88.87-3.63.87-.76 0-1.9-.85-3.13-.83-1.6.03-3.09.94-3.92 2.38-1.68 2.9-.43 7.2 1.2 9.56.8 1.15 1.75 2.44 3 2.39 1.2-.05 1.66-.78 3.12-.78 1.45 0 1.86.78 3.13.75 1.3-.02 2.12-1.17 2.9-2.33.92-1.34 1.3-2.64 1.32-2.7-.03-.01-2.53-.97-2.56-3.82zM13.97 5.7c.66-.81 1.11-1.92.99-3.04-.96.04-2.12.64-2.8 1.44-.61.71-1.16 1.85-1.01 2.94 1.07.08 2.16-.54 2.82-1.34z"/></svg>';
const NIX_SVG =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><g fill="none" stroke="currentColor" stroke-width="2.1" stroke-linecap="round">' +
  [0, 60, 120, 180, 240, 300]
    .map((a) => `<path transform="rotate(${a} 12 12)" d="M12 12V2.6M12 6.2 9.2 3.8M12 6.2l2.8-2.4"/>`)
    .join("") +
  "</g></svg>";

const OS = { nixos: ["NixOS", NIX_SVG], macos: ["macOS", APPLE_SVG] };
const LOCATIONS = { home: ["Home", "home"], office: ["Office", "business"], cloud: ["Cloud", "cloud"] };
const DEVICES = {
  server: ["server", "dns"],
  desktop: ["desktop", "desktop_windows"],
  laptop: ["laptop", "laptop_mac"],
  gaming: ["gaming rig", "sports_esports"],
  vm: ["VM", "view_in_ar"],
};
const COLOR_RE = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;
const COMPARTMENTS = [
  ["agent", "Agent"],
  ["git", "Git"],
  ["lock", "Lock"],
  ["system", "System"],
  ["tests", "Tests"],
];
const STATUS_ICONS = { ok: "check", outdated: "arrow_upward", error: "priority_high", working: "sync", unknown: "remove" };
const ACTION_LABELS = {
  pull: "Pull",
  switch: "Switch",
  "pull-switch": "Pull + Switch",
  test: "Test",
  "check-version": "Check version",
  "refresh-git": "Re-fetch version.json",
  "refresh-lock": "Re-check lock",
  "refresh-system": "Re-check system",
  "refresh-all": "Re-check all",
};
// command state -> [words for the tooltip, tone, icon in place of the spinner]
const RUN_STATES = {
  PENDING: ["starting", "run", ""],
  VALIDATING: ["starting", "run", ""],
  EXECUTING: ["", "run", ""],
  AWAITING_RECONNECT: ["waiting for the agent to reconnect", "reconnect", "sync"],
  RUNNING_WARNING: ["taking longer than expected", "warn", "hourglass_bottom"],
  TIMEOUT_PENDING: ["timed out: decide in the bar above", "timeout", "hourglass_disabled"],
};

let clockSkew = 0; // server time minus browser time (ms), refreshed with every transaction

function serverNow() {
  return Date.now() + clockSkew;
}

function formatAge(seconds) {
  if (seconds < 60) return `${Math.floor(seconds)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

function formatElapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

// Paint one "last seen" cell; this code owns its text and class (Vue renders the element empty).
function paintAge(el, now) {
  const seen = el.dataset.seen ? Date.parse(el.dataset.seen) : NaN;
  let text = "never";
  let cls = "nf-ago is-off";
  if (!Number.isNaN(seen)) {
    const age = Math.max(0, (now - seen) / 1000);
    const interval = Number(el.dataset.hb) || 5;
    text = formatAge(age);
    if (el.dataset.conn === "offline") cls = "nf-ago is-off";
    else if (age <= 2 * interval + 1) cls = "nf-ago is-ok";
    else if (age <= 3 * interval + 1) cls = "nf-ago is-warn";
    else cls = "nf-ago is-old";
    if (el._nfSeen !== el.dataset.seen) {
      el._nfSeen = el.dataset.seen;
      el.title = new Date(seen).toLocaleString();
    }
  }
  if (el.textContent !== text) el.textContent = text;
  if (el.className !== cls) el.className = cls;
}

// Paint a running time (`data-nf-elapsed` = start, UTC ISO); the context bar's alert rows use it too.
function paintElapsed(el, now) {
  const since = Date.parse(el.dataset.nfElapsed || "");
  const text = Number.isNaN(since) ? "" : formatElapsed((now - since) / 1000);
  if (el.textContent !== text) el.textContent = text;
}

const COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function byName(a, b) {
  return COLLATOR.compare(a.name, b.name);
}

// What the filter searches, lower-cased once per row object (rows are replaced on update, so this never goes stale).
const HAYSTACKS = new WeakMap();

function haystack(row) {
  let hay = HAYSTACKS.get(row);
  if (hay === undefined) {
    hay = [row.name, row.os, row.loc, row.dev, row.agent, row.gen].map((v) => String(v || "").toLowerCase()).join("\n");
    HAYSTACKS.set(row, hay);
  }
  return hay;
}

// Rows rendered beyond each edge of the viewport (px): scrolling by up to a screen never shows an empty gap.
const OVERSCAN = 600;
// Up to this many matching rows all are rendered (no windowing): a small fleet keeps the browser's own find (Ctrl+F)
// and Tab through every row; above it, Ctrl/Cmd+F first focuses the table's filter, which searches every host.
const RENDER_ALL_UP_TO = 150;
// Height assumed for a row not measured yet, until the first rendered rows are (px; a desktop row: 44 px + border).
const ROW_ESTIMATE = 45;

function isTyping(target) {
  return !!target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

// The host of the row that holds keyboard focus, if any.
function focusedHost() {
  return document.activeElement?.closest?.(".nf-tbody [data-host]")?.dataset.host ?? null;
}

function dialogOpen() {
  return !!document.querySelector(".q-dialog");
}

// Each row reads its host from the injected store, so an update re-renders that row only (never the 2,000-row list).
const HostRow = {
  props: { id: String, index: Number, last: Boolean },
  inject: ["nfRows", "nfSel", "nfTable"],
  template: `
    <div class="nf-row nf-tr" role="row" :aria-rowindex="index + 2"
         :class="['is-' + row.conn, { 'is-selected': selected, 'is-busy': !!row.run, 'is-last': last }]"
         :style="{ '--hc': color }" :data-host="row.id" :data-conn="row.conn" :aria-selected="selected">
      <div class="nf-td c-sel" role="cell">
        <button type="button" class="nf-check" role="checkbox" :aria-checked="selected ? 'true' : 'false'"
                :aria-label="'Select ' + row.name" @click="nfTable.toggle(id, $event)">
          <i class="material-icons" aria-hidden="true">{{ selected ? 'check_box' : 'check_box_outline_blank' }}</i>
        </button>
      </div>
      <div class="nf-td c-status" role="cell">
        <span class="nf-dot" :class="'is-' + status" role="img" :aria-label="statusLabel" :data-tip="statusLabel">
          <span v-if="status === 'online'" class="nf-ripple" :key="row.seen"></span>
        </span>
      </div>
      <div class="nf-td c-host" role="cell">
        <div class="nf-host">
          <i class="material-icons" aria-hidden="true" :style="{ color }">{{ device[1] }}</i>
          <button type="button" class="nf-hostname" :style="{ color }" :data-tip="row.name + ' · click to copy'"
                  :aria-label="'Copy hostname ' + row.name" @click="nfTable.copy(row.name)">{{ row.name }}</button>
        </div>
      </div>
      <div class="nf-td c-type" role="cell">
        <div class="nf-type" :style="{ color }" :data-tip="typeLabel" role="img" :aria-label="typeLabel">
          <span v-if="os" v-html="os[1]"></span>
          <i v-if="location" class="material-icons" aria-hidden="true">{{ location[1] }}</i>
        </div>
      </div>
      <div class="nf-td c-cpu" role="cell">
        <div v-if="row.cpu != null" class="nf-metric" :data-tip="metricsLabel">
          <div class="nf-meter"><div :class="level(row.cpu)" :style="{ width: pct(row.cpu) }"></div></div>
          <span class="nf-num" :class="{ 'is-high': row.cpu >= 80 }">{{ Math.round(row.cpu) }}%</span>
        </div>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-ram" role="cell">
        <div v-if="row.ram != null" class="nf-metric" :data-tip="metricsLabel">
          <div class="nf-meter"><div :class="level(row.ram)" :style="{ width: pct(row.ram) }"></div></div>
          <span class="nf-num" :class="{ 'is-high': row.ram >= 80 }">{{ Math.round(row.ram) }}%</span>
        </div>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-seen" role="cell"><span class="nf-ago" :data-seen="row.seen || ''" :data-hb="row.hb" :data-conn="row.conn"></span></div>
      <div class="nf-td c-agent" role="cell">
        <span v-if="row.agent" class="nf-agent" :class="{ 'is-outdated': row.outdated }"
              :data-tip="row.outdated ? 'Agent ' + row.agent + ' is outdated' : 'Agent ' + row.agent">{{ row.agent }}</span>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-gen" role="cell">
        <span v-if="row.gen" class="nf-gen" :data-tip="'Configuration: ' + row.gen">{{ row.gen.slice(0, 7) }}</span>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-comp" role="cell">
        <div class="nf-comps" role="group" :aria-label="'Status of ' + row.name">
          <button v-for="c in comps" :key="c.name" type="button" class="nf-comp" :class="'is-' + c.status"
                  :data-host="row.id" :data-comp="c.name" :aria-label="c.aria" @click="nfTable.compartment(row.id, c.name, $event)">
            <i class="material-icons" aria-hidden="true">{{ c.icon }}</i><span>{{ c.label }}</span>
          </button>
        </div>
      </div>
      <div class="nf-td c-run" role="cell">
        <div v-if="run" class="nf-job" :class="'is-' + run.tone" :data-tip="run.tip" role="status" :aria-label="run.tip">
          <div class="nf-job-line">
            <i v-if="run.icon" class="material-icons nf-job-icon" aria-hidden="true">{{ run.icon }}</i>
            <span v-else class="nf-job-spin" aria-hidden="true"></span>
            <span class="nf-job-op">{{ run.label }}</span>
            <span class="nf-elapsed" :data-nf-elapsed="run.since || ''"></span>
          </div>
          <div class="nf-job-bar" aria-hidden="true">
            <span v-for="p in run.phases" :key="p.name" class="nf-job-seg" :class="'is-' + p.status"></span>
          </div>
        </div>
        <span v-else-if="row.conn === 'online'" class="nf-idle">idle</span>
      </div>
      <div class="nf-td c-menu" role="cell">
        <button type="button" class="nf-menu-btn" :aria-label="'Actions for ' + row.name" aria-haspopup="menu"
                :aria-expanded="nfTable.menuFor === id ? 'true' : 'false'" @click="nfTable.openMenu(id, $event)">
          <i class="material-icons" aria-hidden="true">more_vert</i>
        </button>
      </div>
    </div>`,
  computed: {
    row() {
      return this.nfRows[this.id] || { id: this.id, name: "", conn: "offline" }; // removed: about to unmount
    },
    selected() {
      return !!this.nfSel[this.id];
    },
    color() {
      return COLOR_RE.test(this.row.color || "") ? this.row.color : "#7aa2f7";
    },
    status() {
      return this.row.conn === "online" && this.row.busy ? "busy" : this.row.conn;
    },
    statusLabel() {
      return { online: "Online", busy: "Online, running a command", stale: "Stale: no heartbeat", offline: "Offline" }[
        this.status
      ];
    },
    os() {
      return OS[this.row.os];
    },
    location() {
      return LOCATIONS[this.row.loc];
    },
    device() {
      return DEVICES[this.row.dev] || [this.row.dev || "host", "dns"];
    },
    typeLabel() {
      const loc = this.location ? this.location[0] : "";
      const os = this.os ? this.os[0] : this.row.os || "unknown OS";
      const ver = this.row.os_ver ? " " + this.row.os_ver : "";
      return `${this.row.name}: ${loc} ${this.device[0]} running ${os}${ver}`.replace("  ", " ");
    },
    metricsLabel() {
      const f = (v, d = 0) => (v == null ? "—" : Number(v).toFixed(d));
      return `CPU ${f(this.row.cpu)}%  RAM ${f(this.row.ram)}%  Swap ${f(this.row.swap)}%  Load ${f(this.row.load, 2)}`;
    },
    comps() {
      const all = this.row.comp || {};
      return COMPARTMENTS.map(([name, label]) => {
        const c = all[name] || { status: "unknown", message: "Not reported" };
        const action = c.action ? ACTION_LABELS[c.action] || c.action : "";
        const aria = `${label}: ${c.status}. ${c.message || ""}${action ? ". Click to " + action.toLowerCase() : ""}`;
        return { name, label, status: c.status, icon: STATUS_ICONS[c.status] || "remove", aria };
      });
    },
    run() {
      const run = this.row.run;
      if (!run) return null;
      const [state, tone, icon] = run.kill ? ["stopping", "warn", "stop_circle"] : RUN_STATES[run.status] || ["", "run", ""];
      const phases = run.phases && run.phases.length ? run.phases : [{ name: run.op, status: "in_progress" }];
      const steps = phases.map((p) => `${p.name} ${p.status.replace("_", " ")}`).join(", ");
      const tip = `${run.label}${run.pipeline ? " (pipeline)" : ""}${state ? " — " + state : ""}${steps ? " · " + steps : ""}`;
      return { ...run, state, tone, icon, phases, tip };
    },
  },
  methods: {
    pct(value) {
      return `${Math.max(0, Math.min(100, value))}%`;
    },
    level(value) {
      return value >= 80 ? "is-high" : value >= 60 ? "is-warn" : "";
    },
    paint() {
      const now = serverNow();
      const el = this.$el.querySelector?.(".nf-ago");
      if (el) paintAge(el, now);
      const run = this.$el.querySelector?.(".nf-elapsed");
      if (run) paintElapsed(run, now);
    },
  },
  mounted() {
    this.paint();
    this.nfTable.measureSoon();
  },
  updated() {
    this.paint();
    this.nfTable.measureSoon(); // a card's height can change (a running command adds a line)
  },
};

export default {
  components: { "nf-host-row": HostRow },
  template: `
    <div class="nf-card nf-host-table" :data-version="version" @pointerover="tipOver" @pointerout="tipOut"
         @focusin="tipOver" @focusout="tipOut">
      <div class="nf-card-head">
        <span class="nf-card-title">Hosts</span>
        <span class="nf-live-badge" data-tip="This table updates by itself">live</span>
        <span class="nf-spacer"></span>
        <label class="nf-search">
          <i class="material-icons" aria-hidden="true">search</i>
          <input ref="filterInput" v-model.trim="filter" type="search" placeholder="Filter hosts…" aria-label="Filter hosts"
                 aria-keyshortcuts="/" spellcheck="false">
        </label>
      </div>
      <div class="nf-table-scroll">
        <div class="nf-hosts" role="table" aria-label="Hosts" :aria-rowcount="visible.length + 1">
          <div role="rowgroup">
            <div class="nf-tr nf-thead" role="row" aria-rowindex="1">
              <div class="nf-th c-sel" role="columnheader">
                <button type="button" class="nf-check" role="checkbox" :aria-checked="allState"
                        :aria-label="allState === 'false' ? 'Select all hosts' : 'Clear selection'" @click="toggleAll">
                  <i class="material-icons" aria-hidden="true">{{ allIcon }}</i>
                </button>
              </div>
              <div class="nf-th c-status" role="columnheader" aria-label="Status"></div>
              <div class="nf-th c-host nf-th-count" role="columnheader"><b>{{ online }}</b>/{{ order.length }} Hosts</div>
              <div class="nf-th c-type" role="columnheader">Type</div>
              <div class="nf-th c-cpu" role="columnheader">CPU</div>
              <div class="nf-th c-ram" role="columnheader">RAM</div>
              <div class="nf-th c-seen" role="columnheader">Last seen</div>
              <div class="nf-th c-agent" role="columnheader">Agent</div>
              <div class="nf-th c-gen" role="columnheader">Gen</div>
              <div class="nf-th c-comp" role="columnheader">Status</div>
              <div class="nf-th c-run" role="columnheader">Activity</div>
              <div class="nf-th c-menu" role="columnheader" aria-label="Actions"></div>
            </div>
          </div>
          <div ref="body" class="nf-tbody" role="rowgroup" @focusin="rowFocus" @focusout="rowBlur"
               :style="{ paddingTop: frame.padTop + 'px', paddingBottom: frame.padBottom + 'px' }">
            <nf-host-row v-for="r in shown" :key="r.id" :id="r.id" :index="r.index" :last="r.index === visible.length - 1"
                         :class="{ 'is-pinned': r.top !== null }" :style="r.top === null ? null : { top: r.top + 'px' }">
            </nf-host-row>
          </div>
        </div>
      </div>
      <div v-if="!order.length" class="nf-empty">
        <i class="material-icons" aria-hidden="true">lan</i>
        <div class="nf-empty-title">No hosts yet</div>
        <div>Hosts appear here the moment their agent connects.</div>
        <code>NIXFLEET_URL={{ agentUrl }} NIXFLEET_TOKEN=… nixfleet agent</code>
      </div>
      <div v-else-if="!visible.length" class="nf-empty">
        <div class="nf-empty-title">No host matches “{{ filter }}”</div>
      </div>
      <teleport to="body">
        <div v-if="menuFor && menuRow" ref="menu" class="nf-rowmenu" role="menu" :aria-label="'Actions for ' + menuRow.name"
             :style="{ top: menuPos.top + 'px', left: menuPos.left + 'px', visibility: menuPos.ready ? 'visible' : 'hidden' }"
             @keydown="menuKey" @pointerover="tipOver" @pointerout="tipOut">
          <div class="nf-rowmenu-head" :style="{ color: menuColor }">{{ menuRow.name }}</div>
          <template v-for="item in menuItems" :key="item.key">
            <div v-if="item.divider" class="nf-rowmenu-sep" role="separator"></div>
            <button type="button" role="menuitem" class="nf-rowmenu-item" :class="{ 'is-danger': item.danger }"
                    :aria-disabled="item.enabled ? 'false' : 'true'" :data-key="item.key"
                    :data-tip="item.why || null" @click="pick(item)">
              <i class="material-icons" aria-hidden="true">{{ item.icon }}</i>
              <span>{{ item.label }}</span>
            </button>
          </template>
        </div>
        <div v-if="tip.show" class="nf-floating-tip" role="tooltip"
             :style="tip.right != null ? { top: tip.top + 'px', right: tip.right + 'px' } : { top: tip.top + 'px', left: tip.left + 'px' }"
             :class="tip.cls">
          <div v-if="tip.title" class="nf-tip-title">{{ tip.title }}</div>
          <div v-for="(line, i) in tip.lines" :key="i" class="nf-tip-line">{{ line }}</div>
          <div v-if="tip.action" class="nf-tip-action">{{ tip.action }}</div>
        </div>
      </teleport>
    </div>`,
  props: {
    snapshot: Object,
    menu: Array,
  },
  data() {
    // `rows` and `sel` are mutated in place, never replaced: the rows hold references to them (provide/inject)
    return {
      rows: {},
      sel: {},
      order: [],
      online: 0,
      version: -1,
      filter: "",
      focusId: null, // the host whose row holds keyboard focus (kept rendered while it does)
      awaitingReset: false,
      anchor: null,
      menuFor: null,
      menuPos: { top: 0, left: 0, ready: false },
      menuOpener: null,
      tip: { show: false, top: 0, left: 0, right: null, title: "", lines: [], action: "", cls: "" },
      tipEl: null,
      touched: false,
      // the viewport relative to the rows: `top` = how far the viewport's top lies below the first row (px)
      view: { top: 0, height: window.innerHeight || 900 },
      heightsRev: 0, // bumped when a measured row height changes
    };
  },
  provide() {
    return { nfRows: this.rows, nfSel: this.sel, nfTable: this };
  },
  computed: {
    visible() {
      const needle = this.filter.toLowerCase();
      if (!needle) return this.order;
      return this.order.filter((id) => haystack(this.rows[id]).includes(needle));
    },
    // The window of `visible` that is rendered, and the padding that stands in for the rows before and after it.
    frame() {
      void this.heightsRev;
      const list = this.visible;
      const heights = this.heights;
      const guess = this.estimate;
      const all = list.length <= RENDER_ALL_UP_TO;
      const from = all ? -Infinity : this.view.top - OVERSCAN;
      const to = all ? Infinity : this.view.top + this.view.height + OVERSCAN;
      let y = 0;
      let i = 0;
      for (let h; i < list.length && y + (h = heights.get(list[i]) ?? guess) <= from; i++) y += h;
      const start = i;
      const padTop = y;
      for (; i < list.length && y < to; i++) y += heights.get(list[i]) ?? guess;
      const end = i;
      let padBottom = 0;
      for (; i < list.length; i++) padBottom += heights.get(list[i]) ?? guess;
      // The row holding keyboard focus stays rendered when it leaves the window: out of the flow, at its own place
      // (off screen by the overscan), so focus and Tab order survive scrolling.
      let pin = null;
      const focused = this.focusId;
      if (focused && (start > 0 || end < list.length) && focusedHost() === focused) {
        const f = list.indexOf(focused);
        if (f >= 0 && (f < start || f >= end)) {
          let top = 0;
          for (let k = 0; k < f; k++) top += heights.get(list[k]) ?? guess;
          pin = { id: focused, index: f, top };
        }
      }
      const last = this.lastFrame;
      if (
        last && last.start === start && last.end === end && last.padTop === padTop && last.padBottom === padBottom &&
        last.pin?.id === pin?.id && last.pin?.top === pin?.top
      )
        return last; // unchanged: nothing re-renders
      return (this.lastFrame = { start, end, padTop, padBottom, pin });
    },
    // The rows to render: the window, plus the focused row pinned before or after it.
    shown() {
      const { start, end, pin } = this.frame;
      const rows = this.visible.slice(start, end).map((id, i) => ({ id, index: start + i, top: null }));
      if (pin) pin.index < start ? rows.unshift(pin) : rows.push(pin);
      return rows;
    },
    selectedCount() {
      return Object.keys(this.sel).length;
    },
    allState() {
      const n = this.selectedCount;
      if (!n) return "false";
      return n >= this.order.length ? "true" : "mixed";
    },
    allIcon() {
      return { false: "check_box_outline_blank", true: "check_box", mixed: "indeterminate_check_box" }[this.allState];
    },
    agentUrl() {
      return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws";
    },
    menuRow() {
      return this.menuFor ? this.rows[this.menuFor] : null;
    },
    menuColor() {
      return COLOR_RE.test(this.menuRow?.color || "") ? this.menuRow.color : "#7aa2f7";
    },
    menuItems() {
      const row = this.menuRow;
      if (!row) return [];
      return (this.menu || []).map((item) => {
        const enabled = this.itemEnabled(item, row);
        return { ...item, enabled, why: enabled ? "" : this.itemWhy(item, row) };
      });
    },
  },
  watch: {
    "snapshot.seq"() {
      this.load();
    },
  },
  created() {
    this.heights = new Map(); // host id -> measured row height (px); not reactive, `heightsRev` tells
    this.estimate = ROW_ESTIMATE;
    this.lastFrame = null;
    this.measuring = 0;
    this.load();
  },
  mounted() {
    this.ticker = setInterval(() => this.tick(), 1000);
    this.measureSoon();
    this.onKey = (e) => this.key(e);
    this.onPointer = (e) => {
      this.touched = e.pointerType === "touch";
      if (this.menuFor && this.$refs.menu && !this.$refs.menu.contains(e.target) && !e.target.closest?.(".nf-menu-btn"))
        this.closeMenu(false);
    };
    this.onScroll = (e) => {
      // only scrolling that moves the table matters (the output panel scrolls by itself as lines arrive)
      const target = e?.target;
      const moves = (el) => !target || target === document || target === window || (el && target.contains?.(el));
      if (moves(this.$el)) this.locate();
      if (this.menuFor && moves(this.menuOpener)) this.placeMenu(false); // follow the button
      if (this.tip.show && moves(this.tipEl)) this.hideTip();
    };
    this.onResize = (e) => {
      this.heights.clear(); // another width, maybe another layout (cards): measure again
      this.estimate = ROW_ESTIMATE;
      this.heightsRev++;
      this.onScroll(e);
      this.measureSoon();
    };
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("pointerdown", this.onPointer, true);
    window.addEventListener("scroll", this.onScroll, true);
    window.addEventListener("resize", this.onResize);
  },
  updated() {
    this.measureSoon(); // the window moved or the rows changed: learn the new rows' heights
  },
  unmounted() {
    clearInterval(this.ticker);
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("pointerdown", this.onPointer, true);
    window.removeEventListener("scroll", this.onScroll, true);
    window.removeEventListener("resize", this.onResize);
    cancelAnimationFrame(this.measuring);
  },
  methods: {
    load() {
      for (const id of Object.keys(this.rows)) delete this.rows[id];
      for (const row of JSON.parse(this.snapshot.rows)) this.rows[row.id] = markRaw(row);
      this.version = this.snapshot.version;
      clockSkew = this.snapshot.now - Date.now();
      this.awaitingReset = false;
      this.sort();
      this.dropUnknownSelection();
    },
    apply(tx) {
      if (tx.version <= this.version) return; // a full render already covered it
      if (tx.base !== this.version) {
        if (!this.awaitingReset) {
          this.awaitingReset = true;
          this.$emit("resync", { have: this.version, base: tx.base });
        }
        return;
      }
      let reorder = false;
      let online = this.online;
      for (const row of tx.upsert) {
        const old = this.rows[row.id];
        if (!old || old.name !== row.name) reorder = true;
        online += (row.conn === "online") - (old?.conn === "online");
        // unchanged bulky fields (compartments, ops, refusals) are left out of the transaction: keep ours
        this.rows[row.id] = markRaw(old && !("comp" in row) ? { ...row, comp: old.comp, ops: old.ops, why: old.why } : row);
      }
      for (const id of tx.remove) {
        if (id in this.rows) {
          online -= this.rows[id].conn === "online";
          delete this.rows[id];
          this.heights.delete(id);
          reorder = true;
        }
      }
      if (reorder) this.sort();
      if (online !== this.online) this.online = online;
      this.version = tx.version;
      clockSkew = tx.now - Date.now();
      if (tx.remove.length) this.dropUnknownSelection();
      if (this.menuFor && !this.rows[this.menuFor]) this.closeMenu(false);
    },
    // The server's beacon: the version it last sent this tab. Behind it, a transaction was lost: ask for a full
    // render (again, if an earlier request got lost too). Ahead of it only happens when a full render overtook the
    // beacon on the way (NiceGUI sends prop updates before queued method calls): the beacon is stale, ignore it.
    beacon(b) {
      if (b.version > this.version) {
        this.awaitingReset = true;
        this.$emit("resync", { have: this.version, beacon: b.version });
      }
    },
    sort() {
      const rows = Object.values(this.rows);
      this.order = rows.sort(byName).map((row) => row.id);
      this.online = rows.filter((row) => row.conn === "online").length;
    },
    // -- windowing ------------------------------------------------------------------------------------------------
    // Where the viewport is relative to the rows (on scroll, resize, and after renders: content above may move).
    locate() {
      const body = this.$refs.body;
      if (!body) return;
      const top = Math.round(-body.getBoundingClientRect().top);
      const height = window.innerHeight;
      if (top !== this.view.top) this.view.top = top;
      if (height !== this.view.height) this.view.height = height;
    },
    rowFocus(e) {
      this.focusId = e.target.closest?.("[data-host]")?.dataset.host ?? null;
    },
    rowBlur(e) {
      if (!e.relatedTarget || !this.$refs.body?.contains(e.relatedTarget)) this.focusId = null;
    },
    measureSoon() {
      if (!this.measuring) this.measuring = requestAnimationFrame(() => this.measure());
    },
    // Record the heights of the rendered rows (once per frame at most); the window and its padding follow.
    measure() {
      this.measuring = 0;
      const body = this.$refs.body;
      if (!body) return;
      let changed = false;
      let sum = 0;
      let n = 0;
      for (const el of body.children) {
        const id = el.dataset.host;
        const h = el.offsetHeight;
        if (!id || !h) continue; // hidden (another view): nothing to learn
        sum += h;
        n++;
        if (this.heights.get(id) !== h) {
          this.heights.set(id, h);
          changed = true;
        }
      }
      if (n) this.estimate = sum / n;
      if (changed) this.heightsRev++;
      this.locate();
    },
    tick() {
      this.locate();
      const now = serverNow();
      for (const el of this.$el.querySelectorAll(".nf-ago")) paintAge(el, now);
      for (const el of document.querySelectorAll("[data-nf-elapsed]")) paintElapsed(el, now);
    },

    // -- selection ------------------------------------------------------------------------------------------------
    emitSelection() {
      this.$emit("selection", { ids: this.order.filter((id) => this.sel[id]) });
    },
    setSelected(ids, on) {
      for (const id of ids) {
        if (on) this.sel[id] = true;
        else delete this.sel[id];
      }
    },
    toggle(id, event) {
      const on = !this.sel[id];
      const list = this.visible;
      const from = this.anchor ? list.indexOf(this.anchor) : -1;
      const to = list.indexOf(id);
      if (event?.shiftKey && from >= 0 && to >= 0) {
        const [a, b] = from < to ? [from, to] : [to, from];
        this.setSelected(list.slice(a, b + 1), !!this.sel[this.anchor]);
      } else {
        this.setSelected([id], on);
        this.anchor = id;
      }
      this.emitSelection();
    },
    toggleAll() {
      if (this.selectedCount) this.clearSelection();
      else this.selectAll();
    },
    selectAll() {
      this.setSelected(this.visible, true);
      this.emitSelection();
    },
    clearSelection() {
      const had = this.selectedCount > 0;
      for (const id of Object.keys(this.sel)) delete this.sel[id];
      this.anchor = null;
      if (had) this.emitSelection();
    },
    dropUnknownSelection() {
      let dropped = false;
      for (const id of Object.keys(this.sel)) {
        if (!this.rows[id]) {
          delete this.sel[id];
          dropped = true;
        }
      }
      if (dropped) this.emitSelection();
    },

    // -- row actions ---------------------------------------------------------------------------------------------
    copy(name) {
      const done = (ok) =>
        window.Quasar?.Notify?.create({
          message: ok ? `Copied ${name}` : `Could not copy ${name}`,
          icon: ok ? "content_copy" : "warning",
          position: "bottom-right",
          timeout: 1500,
          color: "nf", // no Quasar colour classes (see actions.py)
          textColor: "nf",
          classes: ok ? "nf-toast is-positive" : "nf-toast is-warning",
        });
      const fallback = () => {
        const area = document.createElement("textarea");
        area.value = name;
        area.setAttribute("readonly", "");
        area.style.position = "fixed";
        area.style.opacity = "0";
        document.body.appendChild(area);
        area.select();
        let ok = false;
        try {
          ok = document.execCommand("copy");
        } catch (e) {
          ok = false;
        }
        area.remove();
        done(ok);
      };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(name).then(() => done(true), fallback);
      else fallback();
    },
    compartment(host, name, event) {
      const chip = event?.currentTarget;
      if (this.touched && chip && this.tipEl !== chip) {
        this.showTip(chip); // touch: the first tap explains, the second acts
        return;
      }
      this.hideTip();
      this.$emit("compartment", { host, name });
    },
    itemEnabled(item, row) {
      if (item.kind === "stop") return !!row.busy && row.conn !== "offline";
      if (item.kind === "output" || item.kind === "log") return true;
      return (row.ops || []).includes(item.op);
    },
    itemWhy(item, row) {
      if (item.kind === "stop") return "Nothing is running";
      if (row.busy) return `Busy: ${row.run?.label || row.cmd_op || "a command"} is running`;
      return (row.why || {})[item.op] || "Not available right now";
    },
    openMenu(id, event) {
      if (this.menuFor === id) {
        this.closeMenu(true);
        return;
      }
      this.hideTip();
      this.menuOpener = event.currentTarget;
      this.menuFor = id;
      this.menuPos = { top: 0, left: 0, ready: false };
      this.$nextTick(() => this.placeMenu());
    },
    placeMenu(focus = true) {
      const menu = this.$refs.menu;
      const opener = this.menuOpener;
      if (!menu || !opener) return;
      const r = opener.getBoundingClientRect();
      if (!opener.isConnected || r.bottom < 0 || r.top > window.innerHeight) {
        this.closeMenu(false); // its row scrolled away
        return;
      }
      const w = menu.offsetWidth;
      const h = menu.offsetHeight;
      const vw = document.documentElement.clientWidth;
      const vh = window.innerHeight;
      let top = r.bottom + 4; // below the button; else above it; else as low as the viewport allows
      if (top + h > vh - 8) top = r.top - h - 4 >= 8 ? r.top - h - 4 : Math.max(8, vh - h - 8);
      const left = Math.max(8, Math.min(r.right - w, vw - w - 8));
      this.menuPos = { top, left, ready: true };
      if (focus) this.$nextTick(() => menu.querySelector('.nf-rowmenu-item[aria-disabled="false"]')?.focus()); // once visible
    },
    closeMenu(refocus) {
      const opener = this.menuOpener;
      this.menuFor = null;
      this.menuOpener = null;
      if (refocus && opener?.isConnected) opener.focus();
    },
    pick(item) {
      const host = this.menuFor;
      if (!item.enabled || !host) return;
      this.closeMenu(true);
      this.$emit("row_action", { host, key: item.key });
    },
    menuKey(e) {
      const items = [...this.$refs.menu.querySelectorAll('.nf-rowmenu-item[aria-disabled="false"]')];
      const at = items.indexOf(document.activeElement);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const next = e.key === "ArrowDown" ? (at + 1) % items.length : (at - 1 + items.length) % items.length;
        items[next]?.focus();
      } else if (e.key === "Home" || e.key === "End") {
        e.preventDefault();
        items[e.key === "Home" ? 0 : items.length - 1]?.focus();
      } else if (e.key === "Tab") {
        this.closeMenu(false);
      }
    },

    // -- tooltip -------------------------------------------------------------------------------------------------
    tipOver(e) {
      const el = e.target?.closest?.("[data-tip], .nf-comp");
      if (!el || el === this.tipEl || !(this.$el.contains(el) || this.$refs.menu?.contains(el))) return;
      if (e.type === "pointerover" && e.pointerType === "touch") return;
      this.showTip(el);
    },
    tipOut(e) {
      if (!this.tipEl) return;
      const to = e.relatedTarget;
      if (to && this.tipEl.contains(to)) return;
      this.hideTip();
    },
    showTip(el) {
      let title = "";
      let lines = [];
      let action = "";
      let cls = "";
      if (el.classList.contains("nf-comp")) {
        const row = this.rows[el.dataset.host] || {};
        const label = (COMPARTMENTS.find(([n]) => n === el.dataset.comp) || [])[1] || el.dataset.comp;
        const c = (row.comp || {})[el.dataset.comp] || { status: "unknown", message: "Not reported" };
        title = `${label} · ${c.status}`;
        lines = [c.message, c.hint].filter(Boolean);
        const verb = c.action ? ACTION_LABELS[c.action] || c.action : "";
        if (c.status === "working") action = "Running — Stop is in the row menu";
        else if (verb) action = (this.touched ? "Tap again: " : "Click: ") + verb;
        cls = "is-" + c.status;
      } else {
        lines = [el.dataset.tip];
      }
      if (!lines.length && !title) return;
      this.tipEl = el;
      const r = el.getBoundingClientRect();
      const vw = document.documentElement.clientWidth;
      const left = Math.max(8, Math.min(r.left, vw - 328));
      const top = r.bottom + 8 + 90 > window.innerHeight ? Math.max(8, r.top - 96) : r.bottom + 8;
      const menu = this.$refs.menu?.contains(el) ? this.$refs.menu.getBoundingClientRect() : null;
      if (menu && menu.left > 240) {
        // beside the menu, not over its other items
        this.tip = { show: true, top: r.top, left: 0, right: vw - menu.left + 8, title, lines, action, cls };
        return;
      }
      this.tip = { show: true, top, left, right: null, title, lines, action, cls };
    },
    hideTip() {
      this.tipEl = null;
      if (this.tip.show) this.tip = { ...this.tip, show: false };
    },

    // -- keyboard ------------------------------------------------------------------------------------------------
    key(e) {
      if (e.defaultPrevented) return;
      const typing = isTyping(e.target);
      if (e.key === "Escape") {
        if (this.menuFor) {
          e.preventDefault();
          this.closeMenu(true);
        } else if (this.tip.show) {
          this.hideTip();
        } else if (!dialogOpen() && !typing && this.selectedCount) {
          this.clearSelection();
        }
        return;
      }
      if (typing || dialogOpen()) return;
      const find = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "f";
      if ((e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey) || (find && this.visible.length > RENDER_ALL_UP_TO)) {
        // the filter finds every host; the browser's find sees only the rendered rows of a long list (Ctrl+F again,
        // now typing in the filter, opens it)
        e.preventDefault();
        this.$refs.filterInput?.focus();
        this.$refs.filterInput?.select();
      } else if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "a") {
        e.preventDefault();
        this.selectAll();
      } else if (e.ctrlKey && !e.metaKey && !e.altKey && /^[1-9]$/.test(e.key)) {
        e.preventDefault();
        this.$emit("hotkey", { tab: Number(e.key) });
      }
    },
  },
};
