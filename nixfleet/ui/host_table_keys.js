// The host table's selection and keyboard (see host_table.js): ticking rows (Shift selects a range), selecting all
// and clearing; `/` or Ctrl/Cmd+F focus the filter, Ctrl/Cmd+A selects all, Escape closes or clears, Ctrl+1..9
// reports `hotkey {tab}`. The selection goes to the server as `selection {ids}`. Mixed into the table.

import { RENDER_ALL_UP_TO } from "host_table_window";

function isTyping(target) {
  return !!target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function dialogOpen() {
  return !!document.querySelector(".q-dialog");
}

export const selectionComputed = {
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
};

export const keyMethods = {
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
};
