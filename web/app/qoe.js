// Quality-of-experience reporting from the player: events are collected while a session plays and
// POSTed in batches to the gateway (vod.gateway.v1.QoeService/RecordQoeEvents,
// POST /v1/{session}/qoe:record; the contract is proto/vod/gateway/v1/qoe.proto).
//
// Batches go every FLUSH_MS, on stop and on pagehide (fetch keepalive: sendBeacon cannot carry
// the Authorization header). QoE never gets in the viewer's way: a failed POST is counted, not
// shown and not retried, and when the endpoint is not deployed (404/501) the reporter switches
// itself off for the rest of the page so the console holds at most that one line.

const FLUSH_MS = 10_000;
const MAX_BATCH = 500; // RecordQoeEventsRequest.events max_items

/** Counters shared by every reporter of this page (tests and the operations page read them). */
export const qoeStats = { batches: 0, events: 0, failed: 0, disabled: false, lastStatus: null };

let batchSeq = 0;
const pageId = [...crypto.getRandomValues(new Uint8Array(4))].map((b) => b.toString(16).padStart(2, "0")).join("");

/** int64 fields travel as JSON strings. */
const i64 = (n) => String(Math.max(0, Math.round(Number(n) || 0)));

export class QoeReporter {
  /**
   * @param {import("./api.js").Api} api
   * @param {string} session "sessions/<id>"
   * @param {number} clickAt performance.now() when the viewer pressed Play
   */
  constructor(api, session, clickAt) {
    this.api = api;
    this.session = session;
    this.clickAt = clickAt;
    this.queue = [];
    this.rendition = "";
    this.bitrate = 0;
    this.playedMs = 0;
    this.lastTick = null;
    this.droppedReported = 0;
    this.firstFrame = false;
    this.stallStart = null;
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.detach = () => {};
  }

  /** One event; `offsetMs` is measured from the click on Play. */
  record(kind, { valueMs = 0, errorCode = "", droppedFrames = 0 } = {}) {
    if (this.queue.length >= MAX_BATCH) return;
    const event = {
      kind: `QOE_EVENT_KIND_${kind}`,
      offsetMs: i64(performance.now() - this.clickAt),
      valueMs: i64(valueMs),
      bitrateBps: i64(this.bitrate),
      droppedFrames: i64(droppedFrames),
      errorCode: String(errorCode).replace(/[^A-Za-z0-9._:-]/g, "").slice(0, 64),
    };
    if (this.rendition) event.rendition = this.rendition;
    this.queue.push(event);
  }

  /** The variant now playing: "720p" and its bandwidth. */
  track(player) {
    const active = player?.getVariantTracks?.().find((t) => t.active);
    if (!active) return false;
    const rendition = active.height ? `${active.height}p` : "";
    const changed = rendition !== this.rendition || active.bandwidth !== this.bitrate;
    this.rendition = rendition;
    this.bitrate = active.bandwidth || 0;
    return changed;
  }

  /** Listen to a Shaka player and its video element until `stop()`. */
  attach(player, video) {
    const on = (target, type, fn) => {
      target.addEventListener(type, fn);
      return () => target.removeEventListener(type, fn);
    };
    const offs = [
      on(player, "buffering", (e) => {
        if (!this.firstFrame) return; // start-up buffering is STARTUP/FIRST_FRAME's business
        if (e.buffering && this.stallStart === null) {
          this.stallStart = performance.now();
          this.record("REBUFFER_START");
        } else if (!e.buffering && this.stallStart !== null) {
          this.record("REBUFFER_END", { valueMs: performance.now() - this.stallStart });
          this.stallStart = null;
        }
      }),
      on(player, "adaptation", () => {
        if (this.track(player)) this.record("BITRATE_SWITCH", { valueMs: 0 });
      }),
      on(player, "variantchanged", () => {
        if (this.track(player)) this.record("BITRATE_SWITCH", { valueMs: 0 });
      }),
      on(player, "error", (e) => this.record("ERROR", { errorCode: String(e.detail?.code ?? "unknown") })),
      on(video, "timeupdate", () => this.tick(video)),
      on(video, "pause", () => this.tick(video, true)),
      on(video, "ended", () => {
        this.tick(video, true);
        this.record("ENDED");
      }),
    ];
    this.detach = () => offs.forEach((off) => off());
    this.video = video;
    this.track(player);
    // FIRST_FRAME: the first painted frame where the browser can tell, else the first "playing".
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => this.firstFramePainted());
    else offs.push(on(video, "playing", () => this.firstFramePainted()));
  }

  /** STARTUP: the manifest is loaded and the player is ready to start. */
  loaded(player) {
    this.track(player);
    this.record("STARTUP", { valueMs: performance.now() - this.clickAt });
  }

  /** FIRST_FRAME: the first frame is on screen (value = ms since the click). */
  firstFramePainted() {
    if (this.firstFrame) return;
    this.firstFrame = true;
    this.record("FIRST_FRAME", { valueMs: performance.now() - this.clickAt });
  }

  tick(video, pausing = false) {
    const now = performance.now();
    if (this.lastTick !== null && !video.paused && !video.seeking) this.playedMs += now - this.lastTick;
    this.lastTick = pausing ? null : now;
  }

  /** PLAYING (ms played since the last report) and DROPPED_FRAMES (new drops), then send. */
  summarize(video) {
    if (video) {
      this.tick(video, video.paused);
      const quality = video.getVideoPlaybackQuality?.();
      const dropped = quality ? quality.droppedVideoFrames : 0;
      if (dropped > this.droppedReported) {
        this.record("DROPPED_FRAMES", { droppedFrames: dropped - this.droppedReported });
        this.droppedReported = dropped;
      }
    }
    if (this.playedMs >= 1) {
      this.record("PLAYING", { valueMs: this.playedMs });
      this.playedMs = 0;
    }
  }

  /** Send what is queued. Never throws; resolves when the POST settled. */
  async flush(keepalive = false) {
    if (this.video) this.summarize(this.video);
    if (!this.queue.length || qoeStats.disabled) {
      this.queue = [];
      return;
    }
    const events = this.queue.splice(0, MAX_BATCH);
    const batchId = `b-${pageId}-${++batchSeq}`;
    try {
      await this.api.recordQoe(this.session, batchId, events, keepalive);
      qoeStats.batches += 1;
      qoeStats.events += events.length;
      qoeStats.lastStatus = 200;
    } catch (error) {
      qoeStats.failed += 1;
      qoeStats.lastStatus = error?.status ?? null;
      if (error?.status === 404 || error?.status === 501) qoeStats.disabled = true;
    }
  }

  /** Stop listening and send the last batch (keepalive when the page is going away). */
  stop(keepalive = false) {
    clearInterval(this.timer);
    if (this.stallStart !== null) {
      this.record("REBUFFER_END", { valueMs: performance.now() - this.stallStart });
      this.stallStart = null;
    }
    const done = this.flush(keepalive);
    this.detach();
    this.video = null;
    return done;
  }
}
