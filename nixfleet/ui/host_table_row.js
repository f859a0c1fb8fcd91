// One row of the host table (see host_table.js); below 1024 px the same row lays out as a card (CSS only).

import {
  ACTION_LABELS,
  COLOR_RE,
  COMPARTMENTS,
  DEVICES,
  LOCATIONS,
  OS,
  RUN_STATES,
  STATUS_ICONS,
  paintAge,
  paintElapsed,
  serverNow,
} from "host_table_cells";

// Each row reads its host from the injected store, so an update re-renders that row only (never the 2,000-row list).
export const HostRow = {
  props: { id: String, index: Number, last: Boolean },
  inject: ["nfRows", "nfSel", "nfTable"],
  template: `
    <div class="nf-row nf-tr" role="row" :aria-rowindex="index + 2"
         :class="['is-' + row.conn, { 'is-selected': selected, 'is-busy': !!row.run, 'has-fail': !row.run && !!row.fail, 'is-last': last }]"
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
          <a class="nf-hostname" :href="'/hosts/' + encodeURIComponent(row.id)" :style="{ color }"
             :data-tip="row.name + ' · open its page'">{{ row.name }}</a>
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
        <button v-else-if="row.fail" type="button" class="nf-lastfail" :data-tip="row.fail.text + ' — ' + row.fail.why"
                :aria-label="row.fail.text + ': ' + row.fail.why + '. Show the output'"
                @click="nfTable.$emit('row_action', { host: row.id, key: 'output' })">
          <span class="nf-lastfail-op"><i class="material-icons" aria-hidden="true">error_outline</i><span class="nf-lastfail-text">{{ row.fail.text }}</span></span>
          <span class="nf-lastfail-why">{{ row.fail.why }}</span>
        </button>
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
