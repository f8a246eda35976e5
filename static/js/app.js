// Every signed-in page opens one Socket.IO connection (same origin, session cookie).
// Page scripts use window.phonebank.socket; the header dot shows the connection state.
(function () {
  "use strict";
  const dot = document.getElementById("conn-status");
  const setState = (state, title) => {
    if (!dot) return;
    dot.dataset.state = state;
    dot.title = title;
  };
  // Signing out ends this login's sockets too; the form's own redirect then shows the
  // "signed out" message, so the disconnect below must not race it with another redirect.
  let signingOut = false;
  const signOut = document.getElementById("sign-out");
  if (signOut) signOut.addEventListener("submit", () => { signingOut = true; });
  const socket = io({ transports: ["websocket", "polling"], withCredentials: true });
  socket.on("connect", () => setState("connected", "Live connection up"));
  socket.on("disconnect", (reason) => {
    setState("disconnected", "Live connection lost (" + reason + "), reconnecting…");
    if (reason === "io server disconnect" && !signingOut) {
      // The server ended this session (signed out elsewhere, or deactivated): go to sign-in.
      window.location.assign("/login");
    }
  });
  socket.on("connect_error", (err) => setState("disconnected", "Cannot connect: " + err.message));
  window.phonebank = { socket: socket };
})();
