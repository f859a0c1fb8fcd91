// Windowing for the host table (see host_table.js): only the rows in and near the viewport exist in the DOM; the
// others are stand-in padding of their measured (or estimated) height, so filtering, clearing the filter and live
// updates cost what the visible rows cost, not what 2,000 rows cost. Mixed into the table as computed and methods.

// Rows rendered beyond each edge of the viewport (px): scrolling by up to a screen never shows an empty gap.
const OVERSCAN = 600;
// Up to this many matching rows all are rendered (no windowing): a small fleet keeps the browser's own find (Ctrl+F)
// and Tab through every row; above it, Ctrl/Cmd+F first focuses the table's filter, which searches every host.
export const RENDER_ALL_UP_TO = 150;
// Height assumed for a row not measured yet, until the first rendered rows are (px; a desktop row: 44 px + border).
export const ROW_ESTIMATE = 45;

// The host of the row that holds keyboard focus, if any.
function focusedHost() {
  return document.activeElement?.closest?.(".nf-tbody [data-host]")?.dataset.host ?? null;
}

export const windowComputed = {
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
};

export const windowMethods = {
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
};
