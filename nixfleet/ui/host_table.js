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
// The table is split by concern: host_table_cells.js (what a cell shows), host_table_row.js (one row),
// host_table_window.js (windowing), host_table_keys.js (selection, keyboard), host_table_menu.js (row menu and
// actions), host_table_tip.js (the tooltip), host_table_view.js (status chips, sort, the view in the URL); NiceGUI
// serves them as the component's dependencies (host_table.py).

import { markRaw } from "vue";
import { paintAge, paintElapsed, serverNow, setClockSkew } from "host_table_cells";
import { keyMethods, selectionComputed } from "host_table_keys";
import { menuComputed, menuMethods } from "host_table_menu";
import { HostRow } from "host_table_row";
import { tipMethods } from "host_table_tip";
import { RESORT_EVERY, SORT_COLUMNS, movesInSort, sortedIds, viewComputed, viewMethods } from "host_table_view";
import { ROW_ESTIMATE, windowComputed, windowMethods } from "host_table_window";

// The header cells after the checkbox: class and text (the sortable ones become buttons: host_table_view.js).
const HEAD = [
  ["c-status", "", "Status"],
  ["c-host", ""],
  ["c-type", "Type"],
  ["c-cpu", "CPU"],
  ["c-ram", "RAM"],
  ["c-seen", "Last seen"],
  ["c-agent", "Agent"],
  ["c-gen", "Gen"],
  ["c-comp", "Compartments"],
  ["c-run", "Activity"],
  ["c-menu", "", "Actions"],
];

export default {
  components: { "nf-host-row": HostRow },
  template: `
    <div class="nf-card nf-host-table" :data-version="version" @pointerover="tipOver" @pointerout="tipOut"
         @focusin="tipOver" @focusout="tipOut">
      <div class="nf-card-head">
        <span class="nf-card-title">Hosts</span>
        <span class="nf-live-badge" data-tip="This table updates by itself">live</span>
        <span class="nf-spacer"></span>
        <div class="nf-chips" role="group" aria-label="Show only hosts that are">
          <button v-for="(c, i) in chips" :key="c.key" type="button" class="nf-chip"
                  :class="['is-' + c.key, { 'is-on': chipsOn.includes(c.key), 'is-group': i && c.group !== chips[i - 1].group }]"
                  :aria-pressed="chipsOn.includes(c.key) ? 'true' : 'false'" :data-chip="c.key" :data-tip="c.tip"
                  @click="toggleChip(c.key)">
            <span class="nf-chip-dot" aria-hidden="true"></span>{{ c.label }} <span class="nf-chip-count">{{ counts[c.key] }}</span>
          </button>
        </div>
        <label class="nf-sort-pick">
          <i class="material-icons" aria-hidden="true">sort</i>
          <select v-model="sortChoice" aria-label="Sort hosts by">
            <template v-for="col in sortColumns" :key="col.key">
              <option :value="col.key + ':asc'">{{ col.label }} ↑</option>
              <option :value="col.key + ':desc'">{{ col.label }} ↓</option>
            </template>
          </select>
        </label>
        <label class="nf-search">
          <i class="material-icons" aria-hidden="true">search</i>
          <input ref="filterInput" v-model.trim="filter" type="search" placeholder="Filter hosts…" aria-label="Filter hosts"
                 aria-keyshortcuts="/" spellcheck="false">
        </label>
      </div>
      <div class="nf-table-scroll">
        <div class="nf-hosts" role="table" aria-label="Hosts" :aria-rowcount="visible.length + 1">
          <div role="rowgroup" class="nf-thead-group">
            <div class="nf-tr nf-thead" role="row" aria-rowindex="1">
              <div class="nf-th c-sel" role="columnheader">
                <button type="button" class="nf-check" role="checkbox" :aria-checked="allState"
                        :aria-label="allState === 'false' ? 'Select all hosts' : 'Clear selection'" @click="toggleAll">
                  <i class="material-icons" aria-hidden="true">{{ allIcon }}</i>
                </button>
              </div>
              <div v-for="col in head" :key="col.cls" class="nf-th" :class="[col.cls, { 'is-sorted': col.key && sortKey === col.key }]"
                   role="columnheader" :aria-sort="col.key ? ariaSort(col.key) : null" :aria-label="col.key ? null : col.aria">
                <button v-if="col.key" type="button" class="nf-sort" :data-sort="col.key" @click="sortBy(col.key)"
                        :aria-label="col.key === 'status' ? 'Status' : null" :data-tip="col.key === 'status' ? 'Sort by status' : null">
                  <span v-if="col.key === 'name'" class="nf-th-count"><b>{{ online }}</b>/{{ order.length }} Hosts</span>
                  <span v-else-if="col.text">{{ col.text }}</span>
                  <i class="material-icons nf-sort-icon" aria-hidden="true">{{ sortKey === col.key ? (sortDesc ? 'arrow_downward' : 'arrow_upward') : 'unfold_more' }}</i>
                </button>
                <template v-else>{{ col.text }}</template>
              </div>
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
      <div v-else-if="!visible.length" class="nf-empty" role="status">
        <i class="material-icons" aria-hidden="true">filter_alt_off</i>
        <div class="nf-empty-title">No host matches {{ hiddenBy }}</div>
        <div>All {{ order.length }} hosts are hidden by the filters.</div>
        <button type="button" class="nf-clear-filters" @click="clearFilters">Clear filters</button>
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
    chips: Array,
    sorts: Object,
    startView: Object, // the view the page was opened with (its URL)
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
      chipsOn: [], // the status chips that are on (host_table_view.js)
      sortKey: "name",
      sortDesc: false,
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
    head() {
      const sorting = Object.fromEntries(SORT_COLUMNS.map((c) => [c.cls, c]));
      return HEAD.map(([cls, text, aria]) => ({ cls, text, aria: aria || null, key: sorting[cls]?.key }));
    },
    sortColumns() {
      return SORT_COLUMNS;
    },
    agentUrl() {
      return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws";
    },
    ...viewComputed,
    ...windowComputed,
    ...selectionComputed,
    ...menuComputed,
  },
  watch: {
    "snapshot.seq"() {
      this.load();
    },
    viewQuery() {
      this.writeUrl();
    },
  },
  created() {
    this.heights = new Map(); // host id -> measured row height (px); not reactive, `heightsRev` tells
    this.estimate = ROW_ESTIMATE;
    this.lastFrame = null;
    this.measuring = 0;
    this.resortDue = false; // a heartbeat moved a host in a CPU, RAM or last-seen order: re-sort soon
    this.sortedAt = 0;
    this.takeView(this.startView);
    this.load();
  },
  mounted() {
    this.ticker = setInterval(() => this.tick(), 1000);
    this.stickBelowHeader();
    this.writeUrl();
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
      this.stickBelowHeader();
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
      setClockSkew(this.snapshot.now);
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
        const moves = movesInSort(this.sortKey, old, row);
        if (moves === 2) reorder = true;
        else if (moves === 1) this.resortDue = true;
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
      setClockSkew(tx.now);
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
      this.order = sortedIds(rows, this.sortKey, this.sortDesc);
      this.resortDue = false;
      this.sortedAt = performance.now();
      this.online = rows.filter((row) => row.conn === "online").length;
    },
    tick() {
      this.locate();
      if (this.resortDue && performance.now() - this.sortedAt >= RESORT_EVERY) this.sort();
      const now = serverNow();
      for (const el of this.$el.querySelectorAll(".nf-ago")) paintAge(el, now);
      for (const el of document.querySelectorAll("[data-nf-elapsed]")) paintElapsed(el, now);
    },
    ...viewMethods,
    ...windowMethods,
    ...keyMethods,
    ...menuMethods,
    ...tipMethods,
  },
};
