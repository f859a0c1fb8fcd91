// NixFleet page helpers that need no server round trip: the footer's connection indicator.
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
