// The volunteer's calling page. It renders from the server's full state ("session.state"),
// so a reconnect or reload resumes exactly where the volunteer was; the half-filled form is
// kept on the server (outcome.draft) and in localStorage. Protocol: docs/protocol.md.
(function () {
  "use strict";
  const root = document.getElementById("calling");
  const campaignId = Number(root.dataset.campaignId);
  const emulated = root.dataset.emulated === "true";
  const socket = window.phonebank.socket;
  const $ = (id) => document.getElementById(id);
  const DRAFT_KEY = "phonebank.draft." + campaignId;

  let state = null; // the last snapshot
  let form = null; // questions, outcomes, skip reasons
  let device = null; // Twilio.Device or the emulator's SimDevice
  let audioCall = null;
  let tokenTimer = null;
  let selectedOutcome = null;
  let renderedCallId = null; // the call the form belongs to
  let draftTimer = null;
  let callInHand = false; // a call under way, or ended with no outcome yet

  // Leaving mid-call (Back, closing the tab) would leave the voter alone on the line and
  // the outcome unrecorded: the browser asks first.
  window.addEventListener("beforeunload", (event) => {
    if (!callInHand) return;
    event.preventDefault();
    event.returnValue = "";
  });

  // --- talking to the server ------------------------------------------------------------

  function send(event, data) {
    return new Promise((resolve) => {
      socket.timeout(15000).emit(event, data || {}, (err, reply) => {
        if (err) {
          resolve({
            ok: false,
            unanswered: true,
            error: "No answer from the server; check your connection.",
          });
          return;
        }
        if (reply && reply.state) render(reply.state);
        resolve(reply || { ok: false, error: "Empty reply" });
      });
    });
  }

  function join() {
    send("session.join", { campaign_id: campaignId }).then((reply) => {
      if (!reply.ok) {
        showNotice(reply.error, true);
        return;
      }
      form = reply.form;
      buildForm();
      render(state || reply.state); // the newest snapshot so far, now with its form
    });
  }

  socket.on("connect", () => {
    if (form) send("session.resume"); else join();
  });
  if (socket.connected) join();
  socket.on("session.state", (snapshot) => {
    if (snapshot.session && snapshot.session.campaign.id === campaignId) render(snapshot);
  });

  // --- audio ------------------------------------------------------------------------------

  $("mic-test").addEventListener("click", async () => {
    const meter = $("mic-level");
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      ctx.createMediaStreamSource(stream).connect(analyser);
      const data = new Uint8Array(analyser.fftSize);
      let peak = 0;
      const started = performance.now();
      const tick = () => {
        analyser.getByteTimeDomainData(data);
        let level = 0;
        for (const v of data) level = Math.max(level, Math.abs(v - 128) / 128);
        peak = Math.max(peak, level);
        meter.value = level;
        if (performance.now() - started < 3000) requestAnimationFrame(tick);
        else {
          stream.getTracks().forEach((t) => t.stop());
          ctx.close();
          $("mic-result").textContent = peak > 0.02
            ? "Your microphone works."
            : "We heard nothing: check your microphone is plugged in and not muted.";
        }
      };
      $("mic-result").textContent = "Say something…";
      tick();
    } catch (e) {
      $("mic-result").textContent = "The browser could not use a microphone: " + e.message;
    }
  });

  $("audio-browser").addEventListener("click", async () => {
    $("audio-error").textContent = "";
    const reply = await send("audio.connect", { mode: "browser" });
    if (!reply.ok) { $("audio-error").textContent = reply.error; return; }
    try {
      await startDevice(reply.audio);
    } catch (e) {
      $("audio-error").textContent = "Could not connect audio: " + (e.message || e);
    }
  });

  $("audio-phone").addEventListener("click", async () => {
    $("audio-error").textContent = "";
    const reply = await send("audio.connect", { mode: "phone" });
    if (!reply.ok) $("audio-error").textContent = reply.error;
    else showNotice("We are calling your phone. Answer it to connect.");
  });

  async function startDevice(audio) {
    const Device = emulated ? window.PhonebankSimDevice : window.Twilio.Device;
    const options = emulated ? { emulatorUrl: audio.emulator_url } : { logLevel: "warn" };
    if (device) device.destroy();
    device = new Device(audio.token, options);
    scheduleTokenRefresh(audio.ttl_seconds);
    audioCall = await device.connect({ params: { session_id: String(state.session.id) } });
    if (state) render(state);
    audioCall.on("disconnect", () => {
      audioCall = null;
      if (state && !state.session.ended) showNotice("Your audio disconnected. Reconnect it to keep calling.", true);
    });
    audioCall.on("error", (e) => showNotice("Audio problem: " + (e.message || e), true));
  }

  window.addEventListener("pagehide", () => {
    // Twilio notices a closed page's WebRTC leg by itself; the emulator is told.
    if (emulated && audioCall) audioCall.disconnect({ keepalive: true });
  });

  function scheduleTokenRefresh(ttlSeconds) {
    clearTimeout(tokenTimer);
    tokenTimer = setTimeout(async () => {
      const reply = await send("audio.token");
      if (reply.ok && device) {
        device.updateToken(reply.audio.token);
        scheduleTokenRefresh(reply.audio.ttl_seconds);
      }
    }, Math.max(30, ttlSeconds * 0.8) * 1000);
  }

  // --- controls ---------------------------------------------------------------------------

  $("btn-ready").addEventListener("click", () => send("volunteer.ready", { ready: true }));
  $("btn-pause").addEventListener("click", () => send("volunteer.ready", { ready: false }));
  $("btn-call").addEventListener("click", () => send("call.dial").then(reportError));
  let handRaised = false;
  $("btn-hand").addEventListener("click", () => {
    send("volunteer.raise_hand", { raised: !handRaised }).then(reportError);
  });
  $("btn-hangup").addEventListener("click", () => send("call.hangup").then(reportError));
  $("btn-skip").addEventListener("click", () => {
    send("voter.skip", { reason: $("skip-reason").value }).then(reportError);
  });
  $("btn-end").addEventListener("click", () => {
    if (!confirm("End this calling session?")) return;
    send("session.end").then(() => {
      if (audioCall) audioCall.disconnect();
      if (device) device.destroy();
    });
  });

  function reportError(reply) {
    if (!reply.ok) showNotice(reply.error, true);
  }

  // --- the survey and outcome form ---------------------------------------------------------

  function buildForm() {
    const box = $("questions");
    box.innerHTML = "";
    for (const q of form.questions) {
      const wrap = document.createElement("fieldset");
      wrap.className = "question";
      wrap.dataset.questionId = q.id;
      const legend = document.createElement("legend");
      legend.textContent = q.prompt + (q.is_main ? " ★" : "");
      wrap.appendChild(legend);
      if (q.kind === "text") {
        const input = document.createElement("input");
        input.type = "text";
        input.name = "q" + q.id;
        input.setAttribute("aria-label", q.prompt);
        wrap.appendChild(input);
      } else {
        for (const choice of q.choices) {
          const label = document.createElement("label");
          label.className = "choice";
          const input = document.createElement("input");
          input.type = q.kind === "single" ? "radio" : "checkbox";
          input.name = "q" + q.id;
          input.value = choice;
          label.appendChild(input);
          label.appendChild(document.createTextNode(" " + choice));
          wrap.appendChild(label);
        }
      }
      box.appendChild(wrap);
    }
    const buttons = $("outcome-buttons");
    buttons.innerHTML = "";
    for (const o of form.outcomes) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "outcome-btn bucket-" + o.bucket;
      b.dataset.code = o.code;
      b.innerHTML = (o.shortcut ? "<kbd></kbd> " : "") + "<span></span>";
      if (o.shortcut) b.querySelector("kbd").textContent = o.shortcut;
      b.querySelector("span").textContent = o.label;
      b.addEventListener("click", () => selectOutcome(o.code));
      buttons.appendChild(b);
    }
    const skip = $("skip-reason");
    skip.innerHTML = "";
    for (const [value, label] of Object.entries(form.skip_reasons || {})) {
      const opt = document.createElement("option");
      opt.value = value;
      opt.textContent = label;
      skip.appendChild(opt);
    }
    $("outcome-form").addEventListener("change", () => { applyVisibility(); saveDraft(); });
    $("notes").addEventListener("input", saveDraft);
    $("outcome-form").addEventListener("submit", (e) => { e.preventDefault(); submitOutcome(); });
  }

  function answers() {
    const result = {};
    for (const q of form.questions) {
      const wrap = document.querySelector(`.question[data-question-id="${q.id}"]`);
      if (wrap.hidden) continue;
      if (q.kind === "text") {
        const v = wrap.querySelector("input").value.trim();
        if (v) result[q.id] = v;
      } else if (q.kind === "single") {
        const checked = wrap.querySelector("input:checked");
        if (checked) result[q.id] = checked.value;
      } else {
        const values = [...wrap.querySelectorAll("input:checked")].map((i) => i.value);
        if (values.length) result[q.id] = values;
      }
    }
    return result;
  }

  function applyVisibility() {
    const current = {};
    for (const q of form.questions) {
      const wrap = document.querySelector(`.question[data-question-id="${q.id}"]`);
      let visible = true;
      if (q.show_if) {
        const shown = current[q.show_if.question_id];
        const values = Array.isArray(shown) ? shown : [shown];
        visible = values.includes(q.show_if.value);
      }
      wrap.hidden = !visible;
      if (visible) {
        const checked = [...wrap.querySelectorAll("input:checked")].map((i) => i.value);
        current[q.id] = q.kind === "multiple" ? checked : checked[0];
      }
    }
  }

  function selectOutcome(code) {
    selectedOutcome = code;
    for (const b of document.querySelectorAll(".outcome-btn")) {
      b.setAttribute("aria-pressed", b.dataset.code === code ? "true" : "false");
    }
    const outcome = form.outcomes.find((o) => o.code === code);
    $("callback-field").hidden = !(outcome && outcome.is_callback);
    saveDraft();
  }

  function currentDraft() {
    return {
      call_id: renderedCallId,
      outcome: selectedOutcome,
      answers: answers(),
      notes: $("notes").value,
      callback_at: $("callback-at").value || null,
    };
  }

  function saveDraft() {
    if (!renderedCallId) return;
    const draft = currentDraft();
    localStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => send("outcome.draft", draft), 400);
  }

  function restoreDraft(draft) {
    $("outcome-form").reset();
    selectedOutcome = null;
    if (draft && draft.call_id === renderedCallId) {
      for (const [qid, value] of Object.entries(draft.answers || {})) {
        const values = Array.isArray(value) ? value : [value];
        for (const input of document.querySelectorAll(`[name="q${qid}"]`)) {
          if (input.type === "text") input.value = value;
          else input.checked = values.includes(input.value);
        }
      }
      $("notes").value = draft.notes || "";
      if (draft.callback_at) $("callback-at").value = draft.callback_at;
      if (draft.outcome) selectOutcome(draft.outcome);
    }
    applyVisibility();
    for (const b of document.querySelectorAll(".outcome-btn")) {
      b.setAttribute("aria-pressed", b.dataset.code === selectedOutcome ? "true" : "false");
    }
    $("callback-field").hidden = !(selectedOutcome &&
      form.outcomes.find((o) => o.code === selectedOutcome && o.is_callback));
  }

  function submissionId(callId) {
    // One id per call, kept across reloads, so a resubmission is recognised as the same one.
    const key = "phonebank.submission." + callId;
    let id = localStorage.getItem(key);
    if (!id) {
      id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
      localStorage.setItem(key, id);
    }
    return id;
  }

  async function submitOutcome() {
    $("outcome-error").textContent = "";
    if (!selectedOutcome) { $("outcome-error").textContent = "Choose an outcome."; return; }
    const draft = currentDraft();
    let callbackAt = null;
    if (draft.callback_at) callbackAt = new Date(draft.callback_at).toISOString();
    $("submit-outcome").disabled = true;
    const callId = renderedCallId;
    const payload = {
      call_id: callId,
      submission_id: submissionId(callId),
      outcome: selectedOutcome,
      answers: draft.answers,
      notes: draft.notes,
      callback_at: callbackAt,
    };
    // A save that got no answer (a busy server, a dropped connection) is sent again with the
    // same submission id, which the server recognises: it is recorded once, never lost.
    let reply = await send("outcome.submit", payload);
    for (let attempt = 1; reply.unanswered && attempt < 4; attempt++) {
      $("outcome-error").textContent = "Still saving… (the server is slow to answer)";
      reply = await send("outcome.submit", payload);
    }
    $("submit-outcome").disabled = false;
    if (!reply.ok) { $("outcome-error").textContent = reply.error; return; }
    localStorage.removeItem(DRAFT_KEY);
    localStorage.removeItem("phonebank.submission." + callId);
  }

  document.addEventListener("keydown", (e) => {
    if (!form || $("outcome-card").hidden) return;
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "textarea" || (tag === "input" && e.target.type === "text")) return;
    const outcome = form.outcomes.find((o) => o.shortcut && o.shortcut === e.key);
    if (outcome) { e.preventDefault(); selectOutcome(outcome.code); return; }
    if (e.key === "Enter" && selectedOutcome) { e.preventDefault(); submitOutcome(); }
  });

  // --- rendering --------------------------------------------------------------------------

  const STATE_LABELS = {
    waiting: "Waiting for a voter",
    preview: "Read, then call",
    dialing: "Dialing…",
    ringing: "Ringing…",
    talking: "Talking",
    machine: "Answering machine",
    wrapup: "Wrap-up",
    paused: "Paused",
    ended: "Ended",
  };
  const NOTICES = {
    outside_hours: "Nobody on this list may be called right now (calling hours in their time zone).",
    waiting_for_retry: "Everyone left is waiting for a retry.",
    others_calling: "Everyone left is being called by other volunteers right now.",
    list_finished: "This list is finished. Thank you!",
    machine: "That was an answering machine; the message is being left for you.",
    voter_withdrawn: "That voter can no longer be called; getting the next one.",
    claim_expired: "That voter was waiting too long and went back to the list; here is the next one.",
    call_limit: "That voter has had as many calls as their state allows in 24 hours; getting the next one.",
    provider_error: "The call could not be placed.",
    lead_message: "Message from your lead —",
    paused_by_lead: "",
  };

  function fmtDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const m = Math.floor(seconds / 60);
    const s = String(seconds % 60).padStart(2, "0");
    return m + ":" + s;
  }

  function showNotice(text, isError) {
    const n = $("notice");
    n.hidden = !text;
    n.textContent = text || "";
    n.className = "notice" + (isError ? " notice-error" : "");
  }

  function render(snapshot) {
    // A reply built before a concurrent change can arrive after that change's push.
    if (state && snapshot.session.id === state.session.id && snapshot.version < state.version) {
      return;
    }
    state = snapshot;
    const s = snapshot.session;
    const st = s.state;
    $("state-pill").dataset.state = st;
    $("state-pill").textContent = STATE_LABELS[st] || st;
    $("total-calls").textContent = s.totals.calls;
    $("total-contacts").textContent = s.totals.contacts;
    $("total-talk").textContent = fmtDuration(s.totals.talk_seconds);

    if (s.ended) {
      callInHand = false;
      for (const id of ["audio-setup", "loop", "actionbar"]) $(id).hidden = true;
      $("ended").hidden = false;
      $("ended-totals").textContent = `${s.totals.calls} calls, ${s.totals.contacts} conversations.`;
      showNotice("");
      return;
    }
    // A reloaded page has no audio of its own even if an older page's leg is still up.
    const needsAudio = s.campaign.dialing_mode !== "manual" &&
      (!s.audio.up || (s.audio.mode === "browser" && !audioCall));
    $("audio-setup").hidden = !needsAudio;
    $("loop").hidden = false;
    $("actionbar").hidden = false;

    const notice = s.notice || {};
    let text = NOTICES[notice.reason] || "";
    if (notice.message) text += " " + notice.message;
    if (notice.next_at && notice.reason === "outside_hours") {
      text += " Next possible call: " + new Date(notice.next_at).toLocaleString() + ".";
    }
    showNotice(text, notice.reason === "provider_error" || notice.reason === "error");

    const voter = snapshot.voter;
    const call = snapshot.call;
    $("voter-empty").hidden = !!voter;
    $("voter-details").hidden = !voter;
    $("script-card").hidden = !voter;
    $("waiting-text").textContent = s.ready
      ? "Finding your next voter…"
      : "Press Ready to get your next voter.";
    if (voter) {
      $("voter-name").textContent = voter.name;
      $("voter-place").textContent = [voter.city, voter.region].filter(Boolean).join(", ") || "—";
      $("voter-phone").textContent = `${voter.phone.type || "phone"} ${voter.phone.masked || ""}`;
      $("voter-attempt").textContent = voter.attempts + 1; // the card is from the claim
      $("voter-number").hidden = !voter.phone.number;
      $("voter-number").textContent = voter.phone.number
        ? "Dial this number from your phone: " + voter.phone.number : "";
      $("voter-tags").textContent = voter.tags.length ? "Tags: " + voter.tags.join(", ") : "";
      $("voter-history-count").textContent = voter.history.length;
      const hist = $("voter-history");
      hist.innerHTML = "";
      for (const h of voter.history) {
        const li = document.createElement("li");
        li.textContent = `${new Date(h.at).toLocaleDateString()} · ${h.campaign || ""} · ${h.outcome || ""}` +
          (h.notes ? ` — ${h.notes}` : "");
        hist.appendChild(li);
      }
      $("script").innerHTML = voter.script_html; // server-rendered, escaped HTML
    }

    const callState = call ? call.state : null;
    $("call-status").hidden = !call;
    if (call) {
      $("call-status-text").textContent = STATE_LABELS[st] || callState;
    }
    const inCall = ["dialing", "ringing", "talking", "machine"].includes(callState);
    const wrapup = st === "wrapup" || (call && call.manual && callState === "talking");
    callInHand = !!call && (inCall || wrapup);
    $("outcome-card").hidden = !(call && (wrapup || callState === "talking"));
    // The form is built from session.join's reply; a snapshot that arrives first (a push,
    // or that very reply) leaves the draft for the render after it, so nothing typed is lost.
    if (call && form && call.id !== renderedCallId) {
      renderedCallId = call.id;
      let draft = snapshot.draft;
      if (!draft || draft.call_id !== call.id) {
        try { draft = JSON.parse(localStorage.getItem(DRAFT_KEY) || "null"); } catch (e) { draft = null; }
      }
      restoreDraft(draft);
    } else if (!call) {
      renderedCallId = null;
    }

    $("btn-ready").hidden = s.ready || needsAudio;
    $("btn-pause").hidden = !s.ready;
    handRaised = Boolean(s.hand_raised);
    $("btn-hand").textContent = handRaised ? "Lower hand" : "Raise hand";
    $("btn-hand").classList.toggle("raised", handRaised);
    $("btn-call").hidden = !(voter && !call && s.campaign.dialing_mode !== "power") || needsAudio;
    $("btn-call").textContent = s.campaign.dialing_mode === "manual" ? "Show number and call" : "Call";
    $("btn-hangup").hidden = !(inCall && !(call && call.manual));
    $("skip-box").hidden = !(voter && !call);
  }

  // Timers for the state and the call.
  setInterval(() => {
    if (!state) return;
    const since = state.session.state_since ? new Date(state.session.state_since) : null;
    $("state-timer").textContent = since ? fmtDuration((Date.now() - since) / 1000) : "";
    const call = state.call;
    if (call && call.answered_at && !call.ended_at) {
      $("call-timer").textContent = fmtDuration((Date.now() - new Date(call.answered_at)) / 1000);
    } else if (call && call.duration_seconds != null) {
      $("call-timer").textContent = fmtDuration(call.duration_seconds);
    } else {
      $("call-timer").textContent = "";
    }
  }, 1000);
})();
