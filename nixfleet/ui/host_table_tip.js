// The host table's one tooltip (see host_table.js): shown for any `[data-tip]` element and for compartment chips
// (their status, message and what a click does; on touch the first tap explains). Mixed into the table.

import { ACTION_LABELS, COMPARTMENTS } from "host_table_cells";

export const tipMethods = {
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
};
