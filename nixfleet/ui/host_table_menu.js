// The host table's row actions (see host_table.js): one row menu for all rows (placed beside its button, kept in
// view, driven by the arrow keys), copying a hostname, and a click on a compartment chip. What the user picks goes
// to the server as `row_action {host, key}` or `compartment {host, name}`. Mixed into the table.

import { COLOR_RE } from "host_table_cells";

export const menuComputed = {
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
};

export const menuMethods = {
  copy(name) {
    const done = (ok) => this.$emit("copied", { name, ok }); // the server toasts it (nixfleet/ui/toasts.py)
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
    if (["details", "copy", "output", "log"].includes(item.kind)) return true;
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
    if (item.kind === "copy") this.copy(host); // the clipboard is the browser's: no round trip
    else this.$emit("row_action", { host, key: item.key });
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
};
