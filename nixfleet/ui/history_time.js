// A UTC ISO timestamp shown in the browser's time zone and locale: `time` (13:04:05), `datetime` (Nov 25, 13:04:05)
// or `ago` (3m ago, refreshed every 15 s); the full local date and time is the tooltip.

const FORMATS = {
  time: new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }),
  datetime: new Intl.DateTimeFormat(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }),
};
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

function ago(seconds) {
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${Math.floor(seconds)}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export default {
  template: `<time class="nf-time" :datetime="iso || undefined" :title="full">{{ text }}</time>`,
  props: { iso: String, mode: { type: String, default: "datetime" }, empty: { type: String, default: "—" } },
  data() {
    return { now: Date.now() };
  },
  computed: {
    date() {
      const date = this.iso ? new Date(this.iso) : null;
      return date && !Number.isNaN(date.getTime()) ? date : null;
    },
    text() {
      if (!this.date) return this.empty;
      if (this.mode === "ago") return ago(Math.max(0, (this.now - this.date.getTime()) / 1000));
      return (FORMATS[this.mode] || FORMATS.datetime).format(this.date);
    },
    full() {
      return this.date ? FULL.format(this.date) : "";
    },
  },
  mounted() {
    if (this.mode === "ago") this.timer = setInterval(() => (this.now = Date.now()), 15000);
  },
  unmounted() {
    clearInterval(this.timer);
  },
};
