// NixFleet page helpers: the connection state (no server round trip), a toast's "Show output" button
// (nixfleet/ui/toasts.py), whose click becomes the page event `nf_output {host}`, and giving the focus back to what
// had it before a dialog opened (nixfleet/ui/dialogs.py calls `nfRestoreFocus` when a dialog is answered: Quasar's
// own refocus does not survive the dialog's round trip through the server).
// While the tab's socket is down (the server stopped, the network gone), <html> carries data-nf-link="down" and
// --nf-down-since ("21:04:05"): the stylesheets grey the live badges, status dots and metrics and say since when,
// so nothing shows the last green as if it were current. Recovery needs nothing from the user: socket.io
// reconnects (nixfleet/ui/sync_status.py) and the tab catches up, or NiceGUI reloads the page.
(() => {
  const LABELS = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", offline: "Offline" };
  const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  let downSince = null; // when this tab lost the server it had (null: it has it, or never had it yet)
  let watched = null; // the socket whose events are followed
  let leaving = false; // the page is being left: its socket closing is no lost connection

  function connectionState() {
    const socket = window.socket;
    if (!navigator.onLine) return "offline";
    if (socket && socket.connected && window.did_handshake) return "connected";
    if (socket && window.did_handshake) return "reconnecting";
    return "connecting";
  }

  function showPage(state) {
    const root = document.documentElement;
    const down = !leaving && (state === "reconnecting" || (state === "offline" && window.did_handshake));
    if (down && downSince === null) {
      downSince = new Date();
      root.style.setProperty("--nf-down-since", JSON.stringify(TIME.format(downSince)));
      root.dataset.nfLink = "down";
    } else if (!down && downSince !== null) {
      downSince = null;
      root.style.removeProperty("--nf-down-since");
      delete root.dataset.nfLink;
    }
  }

  function label(state) {
    if (downSince === null) return LABELS[state];
    const since = `since ${TIME.format(downSince)}`;
    return state === "offline" ? `Offline ${since}` : `Disconnected ${since}`;
  }

  function update() {
    // Quasar's loading bar is a progressbar with no name: name it (screen readers announce "Loading")
    for (const bar of document.querySelectorAll(".q-loading-bar:not([aria-label])")) bar.setAttribute("aria-label", "Loading");
    const state = connectionState();
    showPage(state);
    for (const el of document.querySelectorAll("[data-nf-conn]")) {
      const text = label(state);
      if (el.dataset.state !== state || el.textContent !== text) {
        el.dataset.state = state;
        el.textContent = text;
        el.title =
          state === "connected" ? "Live: changes appear as they happen" : "Changes will appear when the connection is back";
      }
    }
  }

  // socket.io says at once when the server went away; the interval covers the socket being created or replaced
  function watchSocket() {
    const socket = window.socket;
    if (socket && socket !== watched && typeof socket.on === "function") {
      watched = socket;
      socket.on("disconnect", update);
      socket.on("connect", update);
      socket.io?.on?.("reconnect_attempt", update);
    }
    update();
  }

  setInterval(watchSocket, 250); // cheap and local: no server round trip
  window.addEventListener("beforeunload", () => {
    leaving = true;
    setTimeout(() => (leaving = false), 3000); // still here (a download, not a navigation): count drops again
  });
  window.addEventListener("online", update);
  window.addEventListener("offline", update);
  document.addEventListener("DOMContentLoaded", watchSocket);
})();

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-nf-output]") : null;
  if (button && typeof emitEvent === "function") emitEvent("nf_output", { host: button.dataset.nfOutput });
});

let nfFocusBeforeDialog = null;
document.addEventListener(
  "focusin",
  (event) => {
    if (event.target instanceof Element && !event.target.closest(".q-dialog")) nfFocusBeforeDialog = event.target;
  },
  true,
);

window.nfRestoreFocus = () => {
  const active = document.activeElement;
  if (active && active !== document.body && !active.closest(".q-dialog")) return; // the user moved on meanwhile
  const last = nfFocusBeforeDialog;
  const target = last?.isConnected ? last : last?.id ? document.getElementById(last.id) : null;
  target?.focus({ preventScroll: true });
};
