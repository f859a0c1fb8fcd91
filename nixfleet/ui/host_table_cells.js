// What the host table's cells show (see host_table.js): icons and labels for OS, location, device, compartments
// and running commands; "last seen" and running times painted against the server's clock; the name order and the
// text the filter searches.

const APPLE_SVG =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" d="M16.37 12.74c-.02-2.4 1.96-3.56 2.05-3.61-1.12-1.63-2.86-1.86-3.48-1.88-1.47-.15-2.88.87-3.63.87-.76 0-1.9-.85-3.13-.83-1.6.03-3.09.94-3.92 2.38-1.68 2.9-.43 7.2 1.2 9.56.8 1.15 1.75 2.44 3 2.39 1.2-.05 1.66-.78 3.12-.78 1.45 0 1.86.78 3.13.75 1.3-.02 2.12-1.17 2.9-2.33.92-1.34 1.3-2.64 1.32-2.7-.03-.01-2.53-.97-2.56-3.82zM13.97 5.7c.66-.81 1.11-1.92.99-3.04-.96.04-2.12.64-2.8 1.44-.61.71-1.16 1.85-1.01 2.94 1.07.08 2.16-.54 2.82-1.34z"/></svg>';
const NIX_SVG =
  '<svg viewBox="0 0 24 24" aria-hidden="true"><g fill="none" stroke="currentColor" stroke-width="2.1" stroke-linecap="round">' +
  [0, 60, 120, 180, 240, 300]
    .map((a) => `<path transform="rotate(${a} 12 12)" d="M12 12V2.6M12 6.2 9.2 3.8M12 6.2l2.8-2.4"/>`)
    .join("") +
  "</g></svg>";

export const OS = { nixos: ["NixOS", NIX_SVG], macos: ["macOS", APPLE_SVG] };
export const LOCATIONS = { home: ["Home", "home"], office: ["Office", "business"], cloud: ["Cloud", "cloud"] };
export const DEVICES = {
  server: ["server", "dns"],
  desktop: ["desktop", "desktop_windows"],
  laptop: ["laptop", "laptop_mac"],
  gaming: ["gaming rig", "sports_esports"],
  vm: ["VM", "view_in_ar"],
};
export const COLOR_RE = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;
export const COMPARTMENTS = [
  ["agent", "Agent"],
  ["git", "Git"],
  ["lock", "Lock"],
  ["system", "System"],
  ["tests", "Tests"],
];
export const STATUS_ICONS = { ok: "check", outdated: "arrow_upward", error: "priority_high", working: "sync", unknown: "remove" };
export const ACTION_LABELS = {
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
export const RUN_STATES = {
  PENDING: ["starting", "run", ""],
  VALIDATING: ["starting", "run", ""],
  EXECUTING: ["", "run", ""],
  AWAITING_RECONNECT: ["waiting for the agent to reconnect", "reconnect", "sync"],
  RUNNING_WARNING: ["taking longer than expected", "warn", "hourglass_bottom"],
  TIMEOUT_PENDING: ["timed out: decide in the bar above", "timeout", "hourglass_disabled"],
};

let clockSkew = 0; // server time minus browser time (ms), refreshed with every transaction

export function serverNow() {
  return Date.now() + clockSkew;
}

// Learn the skew from a server timestamp (`now`, ms) sent with a full render or a transaction.
export function setClockSkew(now) {
  clockSkew = now - Date.now();
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
export function paintAge(el, now) {
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
export function paintElapsed(el, now) {
  const since = Date.parse(el.dataset.nfElapsed || "");
  const text = Number.isNaN(since) ? "" : formatElapsed((now - since) / 1000);
  if (el.textContent !== text) el.textContent = text;
}

const COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

export function byName(a, b) {
  return COLLATOR.compare(a.name, b.name);
}

// What the filter searches, lower-cased once per row object (rows are replaced on update, so this never goes stale).
const HAYSTACKS = new WeakMap();

export function haystack(row) {
  let hay = HAYSTACKS.get(row);
  if (hay === undefined) {
    hay = [row.name, row.os, row.loc, row.dev, row.agent, row.gen].map((v) => String(v || "").toLowerCase()).join("\n");
    HAYSTACKS.set(row, hay);
  }
  return hay;
}
