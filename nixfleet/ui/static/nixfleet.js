// NixFleet page helpers: the footer's connection indicator (no server round trip), a toast's "Show output" button
// (nixfleet/ui/toasts.py), whose click becomes the page event `nf_output {host}`, and giving the focus back to what
// had it before a dialog opened (nixfleet/ui/dialogs.py calls `nfRestoreFocus` when a dialog is answered: Quasar's
// own refocus does not survive the dialog's round trip through the server).
(() => {
  const LABELS = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…", offline: "Offline" };

  function connectionState() {
    const socket = window.socket;
    if (!navigator.onLine) return "offline";
    if (socket && socket.connected && window.did_handshake) return "connected";
    if (socket && window.did_handshake) return "reconnecting";
    return "connecting";
  }

  function update() {
    const state = connectionState();
    for (const el of document.querySelectorAll("[data-nf-conn]")) {
      if (el.dataset.state !== state) {
        el.dataset.state = state;
        el.textContent = LABELS[state];
        el.title = state === "connected" ? "Live: changes appear as they happen" : "Changes will appear when the connection is back";
      }
    }
  }

  setInterval(update, 250); // cheap and local: no server round trip
  window.addEventListener("online", update);
  window.addEventListener("offline", update);
  document.addEventListener("DOMContentLoaded", update);
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
