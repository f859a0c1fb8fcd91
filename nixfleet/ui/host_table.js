// The live host table (see host_table_.py). Server → `snapshot` prop (full render) and `apply(tx)` (row transactions
// that chain by version); a transaction that does not follow the shown version asks the server for a resync.
// "Last seen" ticks here, once a second, without any server round trip.

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

function byName(a, b) {
  return a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" });
}

// Each row reads its host from the injected store, so an update re-renders that row only (never the 2,000-row list).
const HostRow = {
  props: { id: String },
  inject: ["nfRows"],
  template: `
    <div class="nf-row nf-tr" role="row" :class="'is-' + row.conn" :style="{ '--hc': color }" :data-host="row.id" :data-conn="row.conn">
      <div class="nf-td c-status" role="cell">
        <span class="nf-dot" :class="'is-' + status" role="img" :aria-label="statusLabel" :title="statusLabel">
          <span v-if="status === 'online'" class="nf-ripple" :key="row.seen"></span>
        </span>
      </div>
      <div class="nf-td c-host" role="cell">
        <div class="nf-host">
          <i class="material-icons" aria-hidden="true" :style="{ color }">{{ device[1] }}</i>
          <span class="nf-hostname" :style="{ color }" :title="row.name">{{ row.name }}</span>
        </div>
      </div>
      <div class="nf-td c-type" role="cell">
        <div class="nf-type" :style="{ color }" :title="typeLabel" :aria-label="typeLabel">
          <span v-if="os" v-html="os[1]"></span>
          <i v-if="location" class="material-icons" aria-hidden="true">{{ location[1] }}</i>
        </div>
      </div>
      <div class="nf-td c-cpu" role="cell">
        <div v-if="row.cpu != null" class="nf-metric" :title="metricsLabel">
          <div class="nf-meter"><div :class="level(row.cpu)" :style="{ width: pct(row.cpu) }"></div></div>
          <span class="nf-num" :class="{ 'is-high': row.cpu >= 80 }">{{ Math.round(row.cpu) }}%</span>
        </div>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-ram" role="cell">
        <div v-if="row.ram != null" class="nf-metric" :title="metricsLabel">
          <div class="nf-meter"><div :class="level(row.ram)" :style="{ width: pct(row.ram) }"></div></div>
          <span class="nf-num" :class="{ 'is-high': row.ram >= 80 }">{{ Math.round(row.ram) }}%</span>
        </div>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-seen" role="cell"><span class="nf-ago" :data-seen="row.seen || ''" :data-hb="row.hb" :data-conn="row.conn"></span></div>
      <div class="nf-td c-agent" role="cell">
        <span v-if="row.agent" class="nf-agent" :class="{ 'is-outdated': row.outdated }"
              :title="row.outdated ? 'Agent ' + row.agent + ' is outdated' : 'Agent ' + row.agent">{{ row.agent }}</span>
        <span v-else class="nf-none">—</span>
      </div>
      <div class="nf-td c-gen" role="cell">
        <span v-if="row.gen" class="nf-gen" :title="'Configuration: ' + row.gen">{{ row.gen.slice(0, 7) }}</span>
        <span v-else class="nf-none">—</span>
      </div>
    </div>`,
  computed: {
    row() {
      return this.nfRows[this.id] || { id: this.id, name: "", conn: "offline" }; // removed: about to unmount
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
  },
  methods: {
    pct(value) {
      return `${Math.max(0, Math.min(100, value))}%`;
    },
    level(value) {
      return value >= 80 ? "is-high" : value >= 60 ? "is-warn" : "";
    },
    paint() {
      const el = this.$el.querySelector?.(".nf-ago");
      if (el) paintAge(el, serverNow());
    },
  },
  mounted() {
    this.paint();
  },
  updated() {
    this.paint();
  },
};

export default {
  components: { "nf-host-row": HostRow },
  template: `
    <div class="nf-card nf-host-table" :data-version="version">
      <div class="nf-card-head">
        <span class="nf-card-title">Hosts</span>
        <span class="nf-live-badge" title="This table updates by itself">live</span>
        <span class="nf-spacer"></span>
        <label class="nf-search">
          <i class="material-icons" aria-hidden="true">search</i>
          <input v-model.trim="filter" type="search" placeholder="Filter hosts…" aria-label="Filter hosts" spellcheck="false">
        </label>
      </div>
      <div class="nf-table-scroll">
        <div class="nf-hosts" role="table" aria-label="Hosts">
          <div role="rowgroup">
            <div class="nf-tr nf-thead" role="row">
              <div class="nf-th c-status" role="columnheader" aria-label="Status"></div>
              <div class="nf-th c-host nf-th-count" role="columnheader"><b>{{ online }}</b>/{{ order.length }} Hosts</div>
              <div class="nf-th" role="columnheader">Type</div>
              <div class="nf-th" role="columnheader">CPU</div>
              <div class="nf-th" role="columnheader">RAM</div>
              <div class="nf-th" role="columnheader">Last seen</div>
              <div class="nf-th" role="columnheader">Agent</div>
              <div class="nf-th" role="columnheader">Gen</div>
            </div>
          </div>
          <div role="rowgroup">
            <nf-host-row v-for="id in visible" :key="id" :id="id"></nf-host-row>
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
    </div>`,
  props: {
    snapshot: Object,
  },
  data() {
    // `rows` is mutated in place, never replaced: the rows hold a reference to it (provide/inject)
    return { rows: {}, order: [], online: 0, version: -1, filter: "", awaitingReset: false };
  },
  provide() {
    return { nfRows: this.rows };
  },
  computed: {
    visible() {
      const needle = this.filter.toLowerCase();
      if (!needle) return this.order;
      return this.order.filter((id) => {
        const row = this.rows[id];
        return [row.name, row.os, row.loc, row.dev, row.agent, row.gen].some((v) => String(v || "").toLowerCase().includes(needle));
      });
    },
    agentUrl() {
      return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws";
    },
  },
  watch: {
    "snapshot.seq"() {
      this.load();
    },
  },
  created() {
    this.load();
  },
  mounted() {
    this.ticker = setInterval(() => this.tick(), 1000);
  },
  unmounted() {
    clearInterval(this.ticker);
  },
  methods: {
    load() {
      for (const id of Object.keys(this.rows)) delete this.rows[id];
      for (const row of JSON.parse(this.snapshot.rows)) this.rows[row.id] = row;
      this.version = this.snapshot.version;
      clockSkew = this.snapshot.now - Date.now();
      this.awaitingReset = false;
      this.sort();
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
        this.rows[row.id] = row;
      }
      for (const id of tx.remove) {
        if (id in this.rows) {
          online -= this.rows[id].conn === "online";
          delete this.rows[id];
          reorder = true;
        }
      }
      if (reorder) this.sort();
      if (online !== this.online) this.online = online;
      this.version = tx.version;
      clockSkew = tx.now - Date.now();
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
    tick() {
      const now = serverNow();
      for (const el of this.$el.querySelectorAll(".nf-ago")) paintAge(el, now);
    },
  },
};
