#!/usr/bin/env node
// Plays a title in the real web app (web/app, served by the gateway on the front port) in Debian's
// headless Chromium, driven by playwright-core, optionally on a link shaped by Chromium's own
// network emulation (DevTools protocol: Network.emulateNetworkConditions), and prints ONE JSON
// object on stdout with what the browser itself saw of each play. Used by
// benchmarks/browser_qoe_bench.py (which reads the QoE pipeline's numbers for the same plays).
//
//   node benchmarks/browser_qoe.mjs CONFIG_JSON
//     CONFIG_JSON: {"appUrl": "http://127.0.0.1:PORT/", "title": "titles/x", "seconds": 20,
//                   "viewers": [{"email": "...", "password": "..."}, ...],
//                   "throttle": null | {"latencyMs": 50, "downloadBps": 10e6, "uploadBps": 10e6}}
//
// One play per viewer, one after the other, each in a fresh browser context (empty cache, its own
// CDP session): the throttle is set before the app is loaded, so sign-in, the API calls, the
// manifests, the license and the segments all go through it. Per play: sign in with the form,
// open the title page, press Enter on Play (focused) and keep playing `seconds` from that
// keypress, then "← Back" (the app sends its last QoE batch, then StopPlayback).
//
// Browser-side measurements, independent of web/app/qoe.js: TTFF = the keydown's event timestamp
// to the first video frame presented (requestVideoFrameCallback on the player's <video>, found
// with a MutationObserver); stalls = `waiting` to the next `playing` on that element after the
// first frame; played = wall time after the first frame less stalls. The QoE batches the app
// POSTs are captured too (their FIRST_FRAME value and REBUFFER_END sums, and the status codes).
//
// The browser is /usr/bin/chromium (VOD_CHROMIUM overrides); playwright-core comes from
// web/node_modules (scripts/web-deps). No browser build is ever downloaded.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const webDir = join(root, "web");
const executablePath = process.env.VOD_CHROMIUM || "/usr/bin/chromium";

function fail(message) {
  process.stdout.write(JSON.stringify({ fatal: message }) + "\n");
  process.exit(2);
}

if (!existsSync(executablePath)) fail(`${executablePath} is missing: run scripts/web-deps`);
if (!existsSync(join(webDir, "node_modules", "playwright-core", "package.json"))) {
  fail("web/node_modules/playwright-core is missing: run scripts/web-deps");
}
const require = createRequire(join(webDir, "package.json"));
const { chromium } = require("playwright-core");

const config = JSON.parse(process.argv[2] || "null") || fail("usage: browser_qoe.mjs CONFIG_JSON");
const TIMEOUT = 60_000;

/** Installed in every page before the app's scripts: watches for the player's <video>. */
function instrument() {
  const bench = { keydownAt: null, firstFrameAt: null, stalls: [], stallStart: null, ended: false };
  window.__bench = bench;
  addEventListener(
    "keydown",
    (e) => {
      if (e.key === "Enter" && document.activeElement?.id === "play") bench.keydownAt = e.timeStamp;
    },
    true,
  );
  const hook = (video) => {
    if (video.__benchHooked) return;
    video.__benchHooked = true;
    const onFrame = (now, meta) => {
      if (bench.firstFrameAt !== null) return;
      bench.firstFrameAt = now;
      bench.firstMediaTime = meta?.mediaTime ?? video.currentTime;
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
    else video.addEventListener("playing", () => onFrame(performance.now()), { once: true });
    video.addEventListener("waiting", () => {
      if (bench.firstFrameAt !== null && bench.stallStart === null) bench.stallStart = performance.now();
    });
    const endStall = () => {
      if (bench.stallStart !== null) {
        bench.stalls.push(performance.now() - bench.stallStart);
        bench.stallStart = null;
      }
    };
    video.addEventListener("playing", endStall);
    video.addEventListener("ended", () => {
      endStall();
      bench.ended = true;
    });
  };
  new MutationObserver(() => {
    const video = document.getElementById("video");
    if (video) hook(video);
  }).observe(document, { childList: true, subtree: true });
}

const ready = (page, view) =>
  page.waitForFunction((v) => document.body.dataset.ready === v, view, { timeout: TIMEOUT });

async function play(browser, viewer, index) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const result = { index, email: viewer.email, consoleErrors: [], pageErrors: [], qoe: [] };
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("console", (m) => m.type() === "error" && result.consoleErrors.push(m.text()));
    page.on("pageerror", (e) => result.pageErrors.push(String(e)));
    page.on("request", (request) => {
      if (request.method() !== "POST" || !request.url().endsWith("/qoe:record")) return;
      let body = null;
      try {
        body = JSON.parse(request.postData() || "null");
      } catch {
        body = null;
      }
      const entry = { events: body?.events ?? [], status: null };
      result.qoe.push(entry);
      request.response().then((r) => (entry.status = r ? r.status() : null)).catch(() => {});
    });
    const cdp = await context.newCDPSession(page);
    // Every request the page makes (wall clock when sent, bytes on the wire when finished): the
    // ones sent between the keypress and the first frame are what TTFF waited for.
    const wire = new Map();
    cdp.on("Network.requestWillBeSent", (e) => wire.set(e.requestId, { at: e.wallTime * 1000, bytes: 0 }));
    cdp.on("Network.loadingFinished", (e) => {
      const r = wire.get(e.requestId);
      if (r) r.bytes = e.encodedDataLength;
    });
    await cdp.send("Network.enable");
    if (config.throttle) {
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: config.throttle.latencyMs,
        downloadThroughput: config.throttle.downloadBps / 8,
        uploadThroughput: config.throttle.uploadBps / 8,
      });
    }
    await page.addInitScript(instrument);

    await page.goto(config.appUrl, { waitUntil: "load" });
    await ready(page, "signin");
    await page.fill("#email", viewer.email);
    await page.focus("#email");
    await page.keyboard.press("Tab");
    await page.keyboard.type(viewer.password);
    await page.keyboard.press("Enter");
    await ready(page, "profiles");
    await page.keyboard.press("Enter");
    await ready(page, "home");
    await page.evaluate((id) => (location.hash = `#/title/${id}`), config.title.replace(/^titles\//, ""));
    await ready(page, "title");
    await page.focus("#play");
    const wallStart = Date.now();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => window.__bench.firstFrameAt !== null, null, { timeout: TIMEOUT });
    // Play on until `seconds` after the keypress (or the end of the title).
    const until = wallStart + config.seconds * 1000;
    while (Date.now() < until) {
      if (await page.evaluate(() => window.__bench.ended)) break;
      await page.waitForTimeout(Math.min(500, Math.max(0, until - Date.now())));
    }
    const seen = await page.evaluate(() => {
      const b = window.__bench;
      const now = performance.now();
      const open = b.stallStart !== null ? now - b.stallStart : 0;
      const stallMs = b.stalls.reduce((a, x) => a + x, 0) + open;
      const video = document.getElementById("video");
      const q = video?.getVideoPlaybackQuality?.();
      return {
        origin: performance.timeOrigin,
        keydownAt: b.keydownAt,
        firstFrameAt: b.firstFrameAt,
        // media time behind the wall clock since the first frame, whatever the events said
        lagMs: Math.max(0, now - b.firstFrameAt - ((video?.currentTime ?? 0) - (b.firstMediaTime ?? 0)) * 1000),
        ttffMs: b.firstFrameAt - b.keydownAt,
        keydownSeen: b.keydownAt !== null,
        stalls: b.stalls.length + (b.stallStart !== null ? 1 : 0),
        stallMs,
        playedMs: Math.max(0, now - b.firstFrameAt - stallMs),
        currentTime: video ? video.currentTime : null,
        ended: b.ended,
        droppedFrames: q ? q.droppedVideoFrames : null,
        totalFrames: q ? q.totalVideoFrames : null,
        resolution: video ? `${video.videoWidth}x${video.videoHeight}` : null,
        state: window.vodApp.state(),
      };
    });
    Object.assign(result, seen);
    const [from, to] = [seen.origin + seen.keydownAt, seen.origin + seen.firstFrameAt];
    const before = [...wire.values()].filter((r) => r.at >= from && r.at <= to);
    result.requestsBeforeFirstFrame = before.length;
    result.bytesBeforeFirstFrame = before.reduce((a, r) => a + r.bytes, 0);
    // Back: the app flushes its last QoE batch, then stops the session.
    await page.click("#back");
    await page.waitForFunction(() => window.vodApp.state().session === null, null, { timeout: TIMEOUT });
    const deadline = Date.now() + TIMEOUT;
    while (result.qoe.some((e) => e.status === null) && Date.now() < deadline) await page.waitForTimeout(50);
    result.qoeStats = (await page.evaluate(() => window.vodApp.state())).qoe;
    const events = result.qoe.flatMap((e) => e.events);
    const first = events.find((e) => e.kind === "QOE_EVENT_KIND_FIRST_FRAME");
    result.appTtffMs = first ? Number(first.valueMs) : null;
    result.appRebufferMs = events
      .filter((e) => e.kind === "QOE_EVENT_KIND_REBUFFER_END")
      .reduce((a, e) => a + Number(e.valueMs), 0);
    result.appPlayedMs = events
      .filter((e) => e.kind === "QOE_EVENT_KIND_PLAYING")
      .reduce((a, e) => a + Number(e.valueMs), 0);
    result.appStalls = events.filter((e) => e.kind === "QOE_EVENT_KIND_REBUFFER_START").length;
    result.renditions = [...new Set(events.map((e) => e.rendition).filter(Boolean))];
    result.qoeStatuses = result.qoe.map((e) => e.status);
    delete result.qoe;
  } catch (error) {
    result.error = String(error?.stack || error);
  } finally {
    await context.close().catch(() => {});
  }
  return result;
}

async function main() {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--autoplay-policy=no-user-gesture-required",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const out = { chromium: browser.version(), throttle: config.throttle, plays: [] };
  try {
    for (const [i, viewer] of config.viewers.entries()) out.plays.push(await play(browser, viewer, i));
  } catch (error) {
    out.fatal = String(error?.stack || error);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main();
