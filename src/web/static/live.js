// The cameras' live view on the page: a "Live" button on each camera's card opens a WebRTC view over
// WHEP (POST /api/whep/<camera> with the offer, DELETE the returned Location to end it). The offer goes at
// once, without its candidates; they follow as the browser gathers them, PATCHed to the Location (trickle
// ICE, RFC 9725 section 4.3): waiting for gathering to finish cost a tenth of a second or more.
// No external assets; the card itself is app.js's, this only adds its own block to it.

(() => {
  const views = new Map();

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** The trickle-ice-sdpfrag (RFC 8840) of candidates gathered so far; null in the list: gathering is done. */
  function fragment(pc, candidates) {
    const sdp = pc.localDescription?.sdp ?? "";
    const lines = ["ice-ufrag", "ice-pwd"].map((key) => sdp.match(new RegExp(`^a=${key}:.*$`, "m"))?.[0]);
    let mid;
    for (const candidate of candidates) {
      if (candidate === null) lines.push("a=end-of-candidates");
      // An empty one ends a generation of candidates; the null after it ends gathering.
      if (!candidate?.candidate) continue;
      if (candidate.sdpMid != null && candidate.sdpMid !== mid) lines.push(`a=mid:${(mid = candidate.sdpMid)}`);
      lines.push(`a=${candidate.candidate}`);
    }
    return `${lines.filter(Boolean).join("\r\n")}\r\n`;
  }

  /** One PATCH at a time with all that is queued; a failure is logged only (the view may be up already). */
  function trickle(view) {
    if (!view.location || view.patching || view.pending.length === 0 || view.ended) return;
    const body = fragment(view.pc, view.pending.splice(0));
    view.patching = true;
    const headers = { "Content-Type": "application/trickle-ice-sdpfrag" };
    if (view.etag) headers["If-Match"] = view.etag;
    fetch(view.location, { method: "PATCH", headers, body })
      .then((response) => {
        if (response.status !== 204) console.warn(`live view: candidates refused (${response.status})`);
      })
      .catch((error) => console.warn(`live view: candidates not sent (${error.message})`))
      .finally(() => {
        view.patching = false;
        trickle(view);
      });
  }

  const clock = (date) => date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  async function start(card, block) {
    const id = card.getAttribute("data-device");
    const status = block.querySelector(".live-status");
    const button = block.querySelector("button");
    const requested = performance.now();
    // One transport for all (as WHEP asks): its candidates are the only ones to trickle.
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    const view = { pc, location: undefined, etag: undefined, pending: [], video: element("video") };
    pc.addEventListener("icecandidate", (event) => {
      view.pending.push(event.candidate);
      trickle(view);
    });
    views.set(id, view);
    button.textContent = "Stop";
    status.className = "live-status";
    status.textContent = "connecting…";
    const video = view.video;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.controls = true;
    block.append(video);
    const stream = new MediaStream();
    video.srcObject = stream;
    pc.addEventListener("track", (event) => stream.addTrack(event.track));
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addEventListener("connectionstatechange", () => {
      if (views.get(id) !== view) return;
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        stop(card, block, "the live view ended");
      }
    });
    video.addEventListener(
      "loadeddata",
      () => {
        const seconds = ((performance.now() - requested) / 1000).toFixed(1);
        status.textContent = `live since ${clock(view.startedAt ?? new Date())} (first picture after ${seconds} s)`;
        block.setAttribute("data-first-frame-ms", String(Math.round(performance.now() - requested)));
      },
      { once: true },
    );
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const response = await fetch(`/api/whep/${encodeURIComponent(id)}`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (response.status !== 201) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.error ?? `the bridge answered ${response.status}`);
      }
      view.location = response.headers.get("Location") ?? undefined;
      view.etag = response.headers.get("ETag") ?? undefined;
      const started = Date.parse(response.headers.get("X-Session-Started") ?? "");
      view.startedAt = Number.isNaN(started) ? new Date() : new Date(started);
      if (views.get(id) !== view) return end(view);
      await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
      trickle(view);
      status.textContent = `connecting… (asked at ${clock(view.startedAt)})`;
    } catch (error) {
      stop(card, block, `no live view: ${error.message}`, true);
    }
  }

  function end(view) {
    view.ended = true;
    view.pc.close();
    view.video.srcObject = null;
    view.video.remove();
    if (view.location) fetch(view.location, { method: "DELETE", keepalive: true }).catch(() => undefined);
    view.location = undefined;
  }

  function stop(card, block, message, failed) {
    const id = card.getAttribute("data-device");
    const view = views.get(id);
    views.delete(id);
    if (view) end(view);
    block.querySelector("button").textContent = "Live";
    const status = block.querySelector(".live-status");
    status.className = failed ? "live-status live-error" : "live-status";
    status.textContent = message ?? "";
  }

  function addTo(card) {
    if (card.querySelector(".live-view") || !card.querySelector(".stream")) return;
    const block = element("div", "live-view");
    const button = element("button", "live-button", "Live");
    button.type = "button";
    block.append(button, element("p", "live-status"));
    button.addEventListener("click", () => {
      if (views.has(card.getAttribute("data-device"))) stop(card, block, "stopped");
      else void start(card, block);
    });
    card.append(block);
  }

  function scan() {
    for (const card of document.querySelectorAll("#devices [data-device]")) addTo(card);
  }

  document.addEventListener("DOMContentLoaded", () => {
    scan();
    const list = document.querySelector("#devices");
    if (list) new MutationObserver(scan).observe(list, { childList: true, subtree: true });
  });
  // Leaving the page ends its views at once (the bridge would notice only when the connection lapses).
  window.addEventListener("pagehide", () => {
    for (const view of views.values()) end(view);
    views.clear();
  });
})();
