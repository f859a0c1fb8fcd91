// The host table's view for triage (see host_table.js): status chips with live counts, the text filter, the sort
// column and direction, and the URL they live in (?status=offline,failed&q=web&sort=seen&dir=asc, written with
// history.replaceState, read by the server when the page opens: nixfleet/viewmodels/table_view.py).
// Chips of one group are ORed, groups are ANDed with each other and with the text filter. Mixed into the table.

import { byName, haystack } from "host_table_cells";

// How each health chip reads a row (the server computes the flags: `fail`, `bad`).
const HEALTH = { busy: (r) => !!r.busy, failed: (r) => !!r.failed, notok: (r) => r.bad > 0 };
const RANK = { online: 0, busy: 1, stale: 2, offline: 3 };
// The sortable columns: their header class and what a screen reader calls them.
export const SORT_COLUMNS = [
  { key: "status", cls: "c-status", label: "Status" },
  { key: "name", cls: "c-host", label: "Host" },
  { key: "cpu", cls: "c-cpu", label: "CPU" },
  { key: "ram", cls: "c-ram", label: "RAM" },
  { key: "seen", cls: "c-seen", label: "Last seen" },
  { key: "gen", cls: "c-gen", label: "Generation" },
  { key: "comp", cls: "c-comp", label: "Compartments" },
];

// The value a row sorts by in column `key` (null sorts last in both directions; the name breaks ties).
function sortValue(key, r) {
  switch (key) {
    case "status":
      return r.conn === "online" && r.busy ? RANK.busy : RANK[r.conn] ?? RANK.offline;
    case "seen":
      return r.seen || null; // UTC ISO strings of one format: they compare as text
    case "cpu":
      return r.cpu ?? null;
    case "ram":
      return r.ram ?? null;
    case "gen":
      return r.gen || null;
    case "comp":
      return r.bad ?? 0;
    default:
      return null;
  }
}

// Ids of `rows` in the order of column `key` (descending when `desc`).
export function sortedIds(rows, key, desc) {
  const dir = desc ? -1 : 1;
  const items = rows.map((r) => ({ r, v: sortValue(key, r) }));
  items.sort((a, b) => {
    if (key !== "name" && a.v !== b.v) {
      if (a.v === null) return 1;
      if (b.v === null) return -1;
      return a.v < b.v ? -dir : dir;
    }
    const named = byName(a.r, b.r) * (key === "name" ? dir : 1);
    return named || (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0);
  });
  return items.map((item) => item.r.id);
}

function sameList(a, b) {
  return !!a && a.length === b.length && a.every((id, i) => id === b[i]);
}

// Columns whose values change with every heartbeat: a change re-sorts at most every `RESORT_EVERY` ms (the rows do
// not jump under the pointer at each heartbeat, and 2,000 live hosts do not re-render the window ten times a second).
const LIVE_SORTS = new Set(["cpu", "ram", "seen"]);
export const RESORT_EVERY = 5000;

// Whether replacing row `old` by `row` moves it in the current order: 2 now, 1 at the next re-sort, 0 not at all.
export function movesInSort(key, old, row) {
  if (!old || old.name !== row.name) return 2;
  if (sortValue(key, old) === sortValue(key, row)) return 0;
  return LIVE_SORTS.has(key) ? 1 : 2;
}

export const viewComputed = {
  // The row test of the chips that are on (null: no chip is on).
  chipTest() {
    const on = this.chipsOn;
    if (!on.length) return null;
    const conn = on.filter((k) => k in RANK);
    const health = on.filter((k) => k in HEALTH).map((k) => HEALTH[k]);
    return (r) => (!conn.length || conn.includes(r.conn)) && (!health.length || health.some((test) => test(r)));
  },
  // The hosts the filters let through, in order (the same array while that does not change: a heartbeat that moves
  // no host in or out re-renders nothing but its own row). Vue passes the instance, then the previous value.
  visible(_vm, previous) {
    const needle = this.filter.toLowerCase();
    const test = this.chipTest;
    if (!needle && !test) return this.order;
    const found = this.order.filter((id) => {
      const r = this.rows[id];
      return (!test || test(r)) && (!needle || haystack(r).includes(needle));
    });
    return sameList(previous, found) ? previous : found;
  },
  // How many hosts of the whole fleet each chip matches, alone (the same object while no count moves).
  counts(_vm, previous) {
    const c = { online: 0, stale: 0, offline: 0, busy: 0, failed: 0, notok: 0 };
    for (const id of this.order) {
      const r = this.rows[id];
      if (r.conn in c) c[r.conn]++;
      for (const key in HEALTH) if (HEALTH[key](r)) c[key]++;
    }
    return previous && Object.keys(c).every((k) => c[k] === previous[k]) ? previous : c;
  },
  // What hides every host, in words: `Offline or Stale and “web”`.
  hiddenBy() {
    const label = (k) => (this.chips || []).find((c) => c.key === k)?.label || k;
    const groups = ["conn", "health"].map((g) =>
      this.chipsOn.filter((k) => (this.chips || []).find((c) => c.key === k)?.group === g).map(label),
    );
    const parts = groups.filter((g) => g.length).map((g) => g.join(" or "));
    if (this.filter) parts.push(`“${this.filter}”`);
    return parts.join(" and ");
  },
  sortChoice: {
    get() {
      return `${this.sortKey}:${this.sortDesc ? "desc" : "asc"}`;
    },
    set(value) {
      const [key, dir] = value.split(":");
      this.setSort(key, dir === "desc");
    },
  },
  viewQuery() {
    const parts = [];
    const order = (this.chips || []).map((c) => c.key);
    if (this.chipsOn.length) parts.push("status=" + order.filter((k) => this.chipsOn.includes(k)).join(","));
    if (this.filter) parts.push("q=" + encodeURIComponent(this.filter));
    if (this.sortKey !== "name" || this.sortDesc) parts.push(`sort=${this.sortKey}`, `dir=${this.sortDesc ? "desc" : "asc"}`);
    return parts.join("&");
  },
};

export const viewMethods = {
  // Take the view the page was opened with (the server read it from the URL).
  takeView(view) {
    const known = new Set((this.chips || []).map((c) => c.key));
    this.chipsOn = (view?.chips || []).filter((k) => known.has(k));
    this.filter = view?.text || "";
    this.sortKey = SORT_COLUMNS.some((c) => c.key === view?.sort) ? view.sort : "name";
    this.sortDesc = !!view?.desc;
  },
  toggleChip(key) {
    this.chipsOn = this.chipsOn.includes(key) ? this.chipsOn.filter((k) => k !== key) : [...this.chipsOn, key];
  },
  clearFilters() {
    this.chipsOn = [];
    this.filter = "";
  },
  sortBy(key) {
    if (this.sortKey === key) this.setSort(key, !this.sortDesc);
    else this.setSort(key, (this.sorts || {})[key] === "desc");
  },
  setSort(key, desc) {
    if (!SORT_COLUMNS.some((c) => c.key === key)) return;
    this.sortKey = key;
    this.sortDesc = desc;
    this.sort();
  },
  ariaSort(key) {
    return this.sortKey === key ? (this.sortDesc ? "descending" : "ascending") : "none";
  },
  // The view in the address bar (no reload, no history entry: Back leaves the page as before).
  writeUrl() {
    const query = this.viewQuery;
    const keep = new URLSearchParams(window.location.search);
    for (const k of ["status", "q", "sort", "dir"]) keep.delete(k);
    const rest = keep.toString();
    const search = [query, rest].filter(Boolean).join("&");
    const url = window.location.pathname + (search ? "?" + search : "") + window.location.hash;
    if (url !== window.location.pathname + window.location.search + window.location.hash)
      window.history.replaceState(window.history.state, "", url);
  },
  // The header row sticks below the page header (its height differs by width).
  stickBelowHeader() {
    const header = document.querySelector(".q-header");
    const top = header ? Math.max(0, Math.round(header.getBoundingClientRect().bottom)) : 0;
    this.$el.style.setProperty("--nf-sticky-top", top + "px");
  },
};
