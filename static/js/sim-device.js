// Stand-in for the Twilio Voice SDK's Device when phonebank runs against its built-in Twilio
// emulator (development, tests). Same shape as the part of Twilio.Device the calling page uses:
// new Device(token, {emulatorUrl}); device.connect({params}) → Promise<Call>; call.on("accept" |
// "disconnect" | "error"); call.disconnect(); call.mute(); device.updateToken(); device.destroy().
// The emulator verifies the access token and plays the leg like Twilio (docs/twilio-emulator.md).
(function () {
  "use strict";

  class Emitter {
    constructor() { this.handlers = {}; }
    on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; }
    emit(name, ...args) { for (const fn of this.handlers[name] || []) fn(...args); }
  }

  class SimCall extends Emitter {
    constructor(device, sid) {
      super();
      this.device = device;
      this.parameters = { CallSid: sid };
      this.sid = sid;
      this.state = "open";
      this.muted = false;
      this.poller = setInterval(() => this.poll(), 2000);
    }

    async poll() {
      try {
        const res = await fetch(`${this.device.url}/_emulator/client/status?call_sid=${this.sid}`);
        if (!res.ok) return;
        const info = await res.json();
        if (["completed", "failed", "busy", "no-answer", "canceled"].includes(info.status)) {
          this.closed();
        }
      } catch (e) {
        // The emulator is unreachable: keep trying; the server tracks the leg itself.
      }
    }

    closed() {
      if (this.state === "closed") return;
      this.state = "closed";
      clearInterval(this.poller);
      this.emit("disconnect", this);
    }

    status() { return this.state; }
    mute(flag = true) { this.muted = flag; this.emit("mute", flag, this); }
    isMuted() { return this.muted; }

    async disconnect(options = {}) {
      if (this.state === "closed") return;
      try {
        await fetch(`${this.device.url}/_emulator/client/disconnect`, {
          method: "POST",
          keepalive: !!options.keepalive,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ call_sid: this.sid }),
        });
      } finally {
        this.closed();
      }
    }
  }

  class SimDevice extends Emitter {
    constructor(token, options) {
      super();
      this.token = token;
      this.url = (options && options.emulatorUrl || "").replace(/\/$/, "");
      this.calls = [];
      this.simulated = true;
    }

    updateToken(token) { this.token = token; }

    async connect({ params } = {}) {
      const res = await fetch(`${this.url}/_emulator/client/connect`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: this.token, params: params || {} }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        const error = new Error(body.message || body.error || `emulator refused (${res.status})`);
        error.code = body.code;
        throw error;
      }
      const call = new SimCall(this, body.call_sid);
      this.calls.push(call);
      setTimeout(() => call.emit("accept", call), 0);
      return call;
    }

    disconnectAll() { for (const call of this.calls) call.disconnect(); }
    destroy() { this.disconnectAll(); this.emit("destroyed"); }
  }

  window.PhonebankSimDevice = SimDevice;
})();
