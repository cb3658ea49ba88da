// vodmesh player harness: plays one per-session manifest with Shaka Player.
//
//   index.html?manifest=<HLS master or DASH MPD URL>[&license=<ClearKey licence URL>][&title=<text>]
//
// Shaka is loaded by index.html from ../node_modules (served locally, no CDN) and is a global.
// Tests read window.vodPlayer:
//   state()          -> {loaded, currentTime, duration, paused, ended, playing, buffering,
//                        readyState, videoWidth, videoHeight, activeHeight, manifestType}
//   tracks()         -> [{id, height, width, bandwidth, videoCodec, audioCodec, active}],
//                       Shaka's variant tracks, highest first
//   heights()        -> distinct video heights of tracks(), highest first
//   loadedTracks(), loadedHeights() -> the same, as listed right after the manifest loaded
//   switches()       -> Shaka's variant switch history [{time, type, id, height, bandwidth}]
//   errors           -> [{code, category, severity, message}] Shaka and page errors
//   licenseRequests  -> [{url, requestedKids, ok, status, kids}] ClearKey licence requests seen
//                       by Shaka's networking engine (kids: base64url key ids in the response)

const shaka = window.shaka;
const params = new URLSearchParams(window.location.search);
const manifestUrl = params.get("manifest");
const licenseUrl = params.get("license");
const title = params.get("title");

const video = document.getElementById("video");
const el = (id) => document.getElementById(id);

const errors = [];
const licenseRequests = [];
let player = null;
let loaded = false;
// Tracks as Shaka listed them right after loading the manifest: later on Shaka may hide a
// variant for a while (streaming.maxDisabledTime) after a failed segment, so tracks() can shrink.
let loadedTracks = [];

function textOf(buffer) {
  try {
    return new TextDecoder().decode(buffer);
  } catch {
    return "";
  }
}

function jsonOf(buffer) {
  try {
    return JSON.parse(textOf(buffer));
  } catch {
    return null;
  }
}

// Shaka error data can nest errors, responses and headers: keep what fits on a line.
function brief(value) {
  if (value && typeof value.code === "number" && typeof value.category === "number") {
    const data = (value.data || []).filter((d) => d === null || typeof d !== "object");
    return { code: value.code, category: value.category, data: data.slice(0, 3).map(brief) };
  }
  if (typeof value === "string") return value.length > 300 ? `${value.slice(0, 300)}…` : value;
  if (value === null || typeof value !== "object") return value;
  return `[${value.constructor?.name || "object"}]`;
}

const CATEGORIES = [
  "", "network", "text", "media", "manifest", "streaming", "DRM", "player", "cast", "storage", "ads",
];
const CODES = {
  1001: "bad HTTP status",
  1002: "HTTP request failed (network or CORS)",
  1003: "request timed out",
  3016: "the video element reported a decode error",
  4000: "manifest could not be parsed",
  6001: "no supported key system",
  6007: "licence request failed",
  6008: "the CDM rejected the licence",
  6014: "a key expired",
};

function message(error) {
  const what = CODES[error.code] ? `: ${CODES[error.code]}` : "";
  const cause = (error.data || []).find((d) => d && typeof d.code === "number");
  const status = cause && cause.code === 1001 && Array.isArray(cause.data) ? cause.data[1] : null;
  const http = status ? ` (HTTP ${status})` : cause ? ` (${CODES[cause.code] || cause.code})` : "";
  return `Shaka error ${error.code} [${CATEGORIES[error.category] || error.category}]${what}${http}`;
}

function describe(error) {
  if (error && typeof error.code === "number" && typeof error.category === "number") {
    return {
      code: error.code,
      category: error.category,
      severity: error.severity,
      message: message(error),
      data: (error.data || []).map(brief),
    };
  }
  return { code: null, category: null, severity: null, message: String(error?.message || error) };
}

function recordError(error) {
  const entry = describe(error);
  errors.push(entry);
  // A failed licence request: mark the ones still pending with the HTTP status Shaka saw.
  if (entry.category === 6 /* DRM */) {
    const cause = (error.data || []).find((d) => d && typeof d.code === "number");
    const status = cause && Array.isArray(cause.data) ? cause.data[1] : null;
    for (const request of licenseRequests) {
      if (request.ok === null) {
        request.ok = false;
        request.status = typeof status === "number" ? status : null;
      }
    }
  }
  const box = el("error");
  box.hidden = false;
  box.textContent = errors.map((e) => e.message).join("\n");
}

function tracks() {
  if (!player) return [];
  return player
    .getVariantTracks()
    .map((t) => ({
      id: t.id,
      height: t.height,
      width: t.width,
      bandwidth: t.bandwidth,
      videoCodec: t.videoCodec,
      audioCodec: t.audioCodec,
      active: t.active,
    }))
    .sort((a, b) => (b.height || 0) - (a.height || 0) || b.bandwidth - a.bandwidth);
}

function distinctHeights(list) {
  return [...new Set(list.map((t) => t.height).filter(Boolean))].sort((a, b) => b - a);
}

function heights() {
  return distinctHeights(tracks());
}

function state() {
  const active = tracks().find((t) => t.active);
  return {
    loaded,
    currentTime: video.currentTime,
    duration: Number.isFinite(video.duration) ? video.duration : null,
    paused: video.paused,
    ended: video.ended,
    playing: !video.paused && !video.ended && video.readyState > 2,
    buffering: player ? player.isBuffering() : false,
    readyState: video.readyState,
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
    activeHeight: active ? active.height : null,
    manifestType: player ? player.getManifestType() : null,
  };
}

// Shaka's variant switches so far (ABR and manual), with the height switched to.
function switches() {
  if (!player) return [];
  const heightOf = new Map(player.getVariantTracks().map((t) => [t.id, t.height]));
  return player.getStats().switchHistory.map((s) => ({
    time: s.timestamp,
    type: s.type,
    id: s.id,
    height: heightOf.get(s.id) ?? null,
    fromAdaptation: s.fromAdaptation,
    bandwidth: s.bandwidth,
  }));
}

window.vodPlayer = {
  state,
  tracks,
  heights,
  loadedTracks: () => loadedTracks.slice(),
  loadedHeights: () => distinctHeights(loadedTracks),
  switches,
  errors,
  licenseRequests,
  player: () => player,
};

function render() {
  const s = state();
  const stateText = errors.length
    ? "error"
    : s.ended
      ? "ended"
      : s.buffering
        ? "buffering"
        : s.playing
          ? "playing"
          : s.loaded
            ? "paused"
            : "loading";
  el("st-state").textContent = stateText;
  el("st-state").className = stateText === "playing" ? "playing" : "";
  el("st-time").textContent =
    `${s.currentTime.toFixed(1)} s` + (s.duration ? ` / ${s.duration.toFixed(1)} s` : "");
  el("st-rung").textContent = s.videoHeight ? `${s.videoWidth}×${s.videoHeight}` : "–";
  const ladder = heights();
  el("st-ladder").textContent = ladder.length ? ladder.map((h) => `${h}p`).join(" · ") : "–";
  if (licenseUrl) {
    const granted = licenseRequests.filter((r) => r.ok).length;
    el("st-drm").textContent = `ClearKey · ${granted}/${licenseRequests.length} licences`;
  }
  const badge = el("badge");
  badge.hidden = !s.videoHeight;
  badge.textContent = s.videoHeight ? `${s.videoHeight}p` : "";
}

async function main() {
  el("title").textContent = title || (manifestUrl ? manifestUrl.split("?")[0].split("/").slice(-2).join("/") : "No manifest");
  window.addEventListener("error", (event) => recordError(event.error || event.message));
  window.addEventListener("unhandledrejection", (event) => recordError(event.reason));
  setInterval(render, 250);
  render();

  if (!shaka) {
    recordError(new Error("Shaka Player did not load (run scripts/web-deps)"));
    return;
  }
  if (!manifestUrl) {
    recordError(new Error("missing ?manifest=<url>"));
    return;
  }
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) {
    recordError(new Error("this browser is not supported by Shaka Player"));
    return;
  }

  video.muted = true;
  video.autoplay = true;
  player = new shaka.Player();
  await player.attach(video);
  player.addEventListener("error", (event) => recordError(event.detail));

  if (licenseUrl) {
    player.configure({ drm: { servers: { "org.w3.clearkey": licenseUrl } } });
    el("st-drm").textContent = "ClearKey";
  }

  const net = player.getNetworkingEngine();
  const LICENSE = shaka.net.NetworkingEngine.RequestType.LICENSE;
  net.registerRequestFilter((type, request) => {
    if (type !== LICENSE) return;
    const body = request.body ? jsonOf(request.body) : null;
    licenseRequests.push({
      url: request.uris[0],
      requestedKids: body && Array.isArray(body.kids) ? body.kids : [],
      ok: null,
      status: null,
      kids: [],
    });
  });
  net.registerResponseFilter((type, response) => {
    if (type !== LICENSE) return;
    const entry =
      licenseRequests.find((r) => r.ok === null && r.url === response.originalUri) ||
      licenseRequests.find((r) => r.ok === null);
    if (!entry) return;
    const body = jsonOf(response.data);
    entry.ok = true;
    entry.status = response.status ?? 200;
    entry.kids = body && Array.isArray(body.keys) ? body.keys.map((k) => k.kid) : [];
  });

  try {
    await player.load(manifestUrl);
    loaded = true;
    loadedTracks = tracks();
    await video.play().catch((e) => recordError(e));
  } catch (error) {
    recordError(error);
  }
  render();
}

main();
