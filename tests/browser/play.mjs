#!/usr/bin/env node
// Drive the player harness (web/player/) in Debian's headless Chromium with playwright-core and
// print ONE JSON object on stdout describing what happened.
//
//   node tests/browser/play.mjs PAGE_URL [--until S] [--timeout S] [--screenshot FILE.png]
//        [--license-match TEXT] [--action STEP]...
//
//   --until S          wait until the video's currentTime passes S seconds (default 5)
//   --timeout S        give up waiting after S seconds of wall time (default 20)
//   --screenshot FILE  save a PNG of the page once the target time is reached (or at timeout)
//   --license-match T  network requests whose URL (less its query) contains T are recorded as
//                      licence requests,
//                      with status, requested kids and the kids in the response body
//                      (default "/licenses/clearkey")
//   --action STEP      run after the wait, in order; STEP is one of
//                        wait:S          keep playing for S more seconds
//                        report          snapshot the player state into "reports"
//                        stdin           print "@@waiting" on stderr, wait for a line on stdin
//                                        (lets a test act, e.g. stop the session, meanwhile)
//                        replay-license  POST the last licence request body again, from the
//                                        page, to the same URL; result goes to "replays"
//
// playwright-core is resolved from web/node_modules (scripts/web-deps installs it); the browser is
// /usr/bin/chromium (VOD_CHROMIUM overrides; VOD_CHROMIUM_ARGS adds flags). No browser build is
// ever downloaded.

import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const webDir = process.env.VOD_WEB_DIR || join(root, "web");
const require = createRequire(join(webDir, "package.json"));
const { chromium } = require("playwright-core");

function parseArgs(argv) {
  const opts = {
    url: null,
    until: 5,
    timeout: 20,
    screenshot: null,
    licenseMatch: "/licenses/clearkey",
    actions: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--until") opts.until = Number(value());
    else if (arg === "--timeout") opts.timeout = Number(value());
    else if (arg === "--screenshot") opts.screenshot = value();
    else if (arg === "--license-match") opts.licenseMatch = value();
    else if (arg === "--action") opts.actions.push(value());
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`);
    else if (!opts.url) opts.url = arg;
    else throw new Error(`unexpected argument ${arg}`);
  }
  if (!opts.url) throw new Error("usage: play.mjs PAGE_URL [--until S] [--timeout S] ...");
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function kidsOf(text) {
  try {
    const body = JSON.parse(text);
    if (Array.isArray(body.kids)) return body.kids;
    if (Array.isArray(body.keys)) return body.keys.map((k) => k.kid);
  } catch {
    // not JSON
  }
  return [];
}

function readLine() {
  return new Promise((resolveLine) => {
    const rl = createInterface({ input: process.stdin });
    let done = false;
    const finish = (line) => {
      if (done) return;
      done = true;
      rl.close();
      resolveLine(line);
    };
    rl.once("line", finish);
    rl.once("close", () => finish(null));
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const out = {
    url: opts.url,
    target: opts.until,
    reached: false,
    timedOut: false,
    currentTime: 0,
    state: null,
    tracks: [],
    heights: [],
    loadedHeights: [],
    errors: [],
    consoleErrors: [],
    pageErrors: [],
    licenseRequests: [],
    playerLicenseRequests: [],
    failedRequests: [],
    switches: [],
    reports: [],
    replays: [],
    screenshot: null,
    elapsedSeconds: 0,
  };
  let phase = "play";
  const pending = [];

  const browser = await chromium.launch({
    executablePath: process.env.VOD_CHROMIUM || "/usr/bin/chromium",
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
      // Extra flags for debugging, e.g. VOD_CHROMIUM_ARGS="--disable-web-security".
      ...(process.env.VOD_CHROMIUM_ARGS || "").split(/\s+/).filter(Boolean),
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 860 } });
    const page = await context.newPage();

    page.on("console", (msg) => {
      if (msg.type() === "error") {
        out.consoleErrors.push({ phase, text: msg.text(), location: msg.location()?.url || "" });
      }
    });
    page.on("pageerror", (error) => out.pageErrors.push({ phase, text: String(error) }));

    const records = new Map();
    const isLicence = (url) => {
      const u = new URL(url);
      return (u.origin + u.pathname).includes(opts.licenseMatch);
    };
    page.on("request", (request) => {
      if (request.method() === "OPTIONS" || !isLicence(request.url())) return;
      const body = request.postData() || "";
      const entry = {
        phase,
        url: request.url(),
        method: request.method(),
        body,
        requestedKids: kidsOf(body),
        status: null,
        kids: [],
        failure: null,
      };
      records.set(request, entry);
      out.licenseRequests.push(entry);
    });
    page.on("response", (response) => {
      const entry = records.get(response.request());
      if (!entry) return;
      entry.status = response.status();
      pending.push(
        response
          .text()
          .then((text) => {
            entry.kids = kidsOf(text);
            if (entry.status >= 400) entry.failure = text.slice(0, 500);
          })
          .catch((e) => {
            entry.failure = `body unavailable: ${e.message}`;
          }),
      );
    });
    // Every request that failed or got an HTTP error, licence or not (segments, manifests...).
    const brief = (url) => {
      const u = new URL(url);
      return u.origin + u.pathname;
    };
    page.on("requestfailed", (request) => {
      const failure = request.failure()?.errorText || "failed";
      const entry = records.get(request);
      if (entry) entry.failure = failure;
      out.failedRequests.push({ phase, url: brief(request.url()), status: null, failure });
    });
    page.on("requestfinished", async (request) => {
      const response = await request.response().catch(() => null);
      if (response && response.status() >= 400) {
        out.failedRequests.push({ phase, url: brief(request.url()), status: response.status() });
      }
    });

    const snapshot = () =>
      page.evaluate(() => {
        const p = window.vodPlayer;
        if (!p) return null;
        return {
          state: p.state(),
          tracks: p.tracks(),
          heights: p.heights(),
          loadedTracks: p.loadedTracks(),
          loadedHeights: p.loadedHeights(),
          errors: p.errors.slice(),
          switches: p.switches(),
          licenseRequests: p.licenseRequests.map((r) => ({ ...r })),
        };
      });

    await page.goto(opts.url, { waitUntil: "load", timeout: opts.timeout * 1000 });
    const deadline = started + opts.timeout * 1000;
    let snap = null;
    for (;;) {
      snap = await snapshot();
      if (snap && snap.state.currentTime > opts.until) {
        out.reached = true;
        break;
      }
      // A critical Shaka error (severity 2) or a page error ends the wait early.
      if (snap && snap.errors.some((e) => e.severity === 2 || e.severity === null)) break;
      if (Date.now() > deadline) {
        out.timedOut = true;
        break;
      }
      await sleep(200);
    }
    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot });
      out.screenshot = opts.screenshot;
    }

    phase = "actions";
    for (const action of opts.actions) {
      if (action.startsWith("wait:")) {
        await sleep(Number(action.slice(5)) * 1000);
      } else if (action === "report") {
        out.reports.push({ at: elapsed(), ...(await snapshot()) });
      } else if (action === "stdin") {
        process.stderr.write("@@waiting\n");
        await readLine();
      } else if (action === "replay-license") {
        const last = [...out.licenseRequests].reverse().find((r) => r.phase === "play");
        if (!last) {
          out.replays.push({ url: null, status: null, error: "no licence request to replay" });
          continue;
        }
        const result = await page.evaluate(
          async ({ url, body }) => {
            try {
              const response = await fetch(url, { method: "POST", body });
              return { url, status: response.status, text: await response.text() };
            } catch (e) {
              return { url, status: null, error: String(e) };
            }
          },
          { url: last.url, body: last.body },
        );
        out.replays.push({ ...result, kids: kidsOf(result.text || "") });
      } else {
        throw new Error(`unknown action ${action}`);
      }
    }

    snap = await snapshot();
    await Promise.allSettled(pending);
    if (snap) {
      out.state = snap.state;
      out.currentTime = snap.state.currentTime;
      out.tracks = snap.tracks;
      out.heights = snap.heights;
      out.loadedHeights = snap.loadedHeights;
      out.errors = snap.errors;
      out.playerLicenseRequests = snap.licenseRequests;
      out.switches = snap.switches;
    }
    await context.close();
  } finally {
    await browser.close();
  }
  out.elapsedSeconds = elapsed();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ fatal: String(error?.stack || error) }) + "\n");
  process.exit(1);
});
