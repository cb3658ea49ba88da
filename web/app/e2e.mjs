#!/usr/bin/env node
// Drive the web app (web/app/) in Debian's headless Chromium with playwright-core, as a viewer
// would (keyboard and clicks), and print ONE JSON object on stdout. Used by
// tests/e2e/test_web_app.py.
//
//   node web/app/e2e.mjs resume APP_URL EMAIL PASSWORD QUERY TITLE [SCREENSHOT.png]
//     context A signs in through the form, searches QUERY (e.g. misspelled), opens TITLE
//     ("titles/x") from the results, plays past 3 s, goes back (StopPlayback); context B signs in
//     as the same user, opens TITLE from continue watching and resumes.
//   node web/app/e2e.mjs limit APP_URL EMAIL PASSWORD TITLE [DIALOG.png]
//     A plays TITLE; B presses Play on it, sees the stream-limit dialog, stops A's playback
//     from there and plays.
//   node web/app/e2e.mjs signup APP_URL EMAIL PASSWORD PROFILE_NAME
//     creates an account through the sign-up form, adds a profile in the picker and lands home.
//   node web/app/e2e.mjs ops APP_URL EMAIL PASSWORD TITLE
//     an admin opens the operations page (live overview) and TITLE's QoE report.
//
// Every POST to /v1/<session>/qoe:record is captured (request body, response status) in
// `qoe`. VOD_SHOTS=<dir> saves a screenshot of each view visited, for people to look at.
//
// The browser is /usr/bin/chromium (VOD_CHROMIUM overrides); playwright-core comes from
// web/node_modules. No browser build is ever downloaded.

import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(webDir, "package.json"));
const { chromium } = require("playwright-core");

const [scenario, appUrl, email, password, ...rest] = process.argv.slice(2);
let phase = "main";
const out = { scenario, steps: [], consoleErrors: [], pageErrors: [], failedRequests: [], qoe: [] };
const shots = process.env.VOD_SHOTS || "";
async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${scenario}-${name}.png`) }).catch(() => {});
}
const step = (name, data = {}) => out.steps.push({ name, at: Date.now(), ...data });
const TIMEOUT = 30_000;

async function newViewer(browser, label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      out.consoleErrors.push({ context: label, phase, text: msg.text(), url: msg.location()?.url || "" });
    }
  });
  page.on("pageerror", (error) => out.pageErrors.push({ context: label, phase, text: String(error) }));
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().endsWith("/qoe:record")) {
      let body = null;
      try {
        body = JSON.parse(request.postData() || "null");
      } catch {
        body = { unparsable: request.postData() };
      }
      const entry = { context: label, phase, path: new URL(request.url()).pathname, body, status: null };
      out.qoe.push(entry);
      request.response().then((r) => (entry.status = r ? r.status() : null)).catch(() => {});
    }
  });
  page.on("requestfinished", async (request) => {
    const response = await request.response().catch(() => null);
    if (response && response.status() >= 400) {
      const u = new URL(request.url());
      out.failedRequests.push({ context: label, phase, url: u.origin + u.pathname, status: response.status() });
    }
  });
  return { context, page };
}

const ready = (page, view) =>
  page.waitForFunction((v) => document.body.dataset.ready === v, view, { timeout: TIMEOUT });
const appState = (page) => page.evaluate(() => window.vodApp.state());
const until = (page, predicate, arg) => page.waitForFunction(predicate, arg, { timeout: TIMEOUT });

/** Sign in with the keyboard only: type, Tab, type, Enter; Enter again picks the first profile
 * (focused in the picker). */
async function signIn(page, who = email, secret = password) {
  await page.goto(appUrl, { waitUntil: "load" });
  await ready(page, "signin");
  // #email has focus on load (autofocus): no click needed.
  await page.keyboard.type(who);
  await page.keyboard.press("Tab");
  await page.keyboard.type(secret);
  await page.keyboard.press("Enter");
  await ready(page, "profiles");
  await shot(page, "profiles");
  await page.keyboard.press("Enter");
  await ready(page, "home");
}

/** Tab (keyboard only) until the focused element matches `selector`. */
async function tabTo(page, selector, max = 60) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return i;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${selector}`);
}

async function tileKeyboard(page, selector) {
  await page.focus(selector);
  await page.keyboard.press("Enter");
}

async function playFromTitlePage(page) {
  await ready(page, "title");
  // The Play button has focus on the title page: Enter presses it.
  const focused = await page.evaluate(() => document.activeElement?.id);
  await page.keyboard.press("Enter");
  await until(page, () => window.vodApp.state().session !== null);
  return focused;
}

async function resume(browser) {
  const [query, title, screenshot] = rest;
  const a = await newViewer(browser, "A");
  await signIn(a.page);
  step("A signed in", { rows: await a.page.$$eval("section.row h2", (hs) => hs.map((x) => x.textContent)) });
  if (screenshot) {
    await a.page.screenshot({ path: screenshot });
    out.screenshot = screenshot;
  }
  await shot(a.page, "home");
  // Search as you type: "/" focuses the search box, suggestions appear, then Enter searches.
  await a.page.keyboard.press("/");
  const searchFocused = await a.page.evaluate(() => document.activeElement?.id);
  await a.page.keyboard.type(query, { delay: 40 });
  let suggestions = [];
  try {
    await a.page.waitForSelector("#suggestions:not([hidden]) li", { timeout: 5000 });
    suggestions = await a.page.$$eval("#suggestions li", (lis) => lis.map((li) => li.textContent));
  } catch {
    suggestions = [];
  }
  await a.page.keyboard.press("Enter");
  await ready(a.page, "search");
  const corrected = await a.page.$eval("#corrected", (e) => e.textContent).catch(() => null);
  const results = await a.page.$$eval("#results .tile", (ts) => ts.map((t) => t.dataset.title));
  const facets = await a.page.$$eval("#facets .chip", (cs) => cs.map((c) => ({ facet: c.dataset.facet, value: c.dataset.value })));
  await shot(a.page, "search");
  // A facet chip narrows the results (Search with filter.types=movie) and shows as pressed.
  await a.page.focus('#facets .chip[data-facet="type"][data-value="movie"]');
  await a.page.keyboard.press("Enter");
  await a.page.waitForFunction(() => location.hash.includes("type=movie") && document.body.dataset.ready === "search");
  await a.page.waitForSelector('#facets .chip[aria-pressed="true"]');
  const filtered = {
    hash: await a.page.evaluate(() => location.hash),
    pressed: await a.page.$$eval('#facets .chip[aria-pressed="true"]', (cs) => cs.map((c) => c.dataset.value)),
    results: await a.page.$$eval("#results .tile", (ts) => ts.map((t) => t.dataset.title)),
  };
  step("A searched", { query, searchFocused, suggestions, corrected, results, facets, filtered });
  // Keyboard only: Tab from the search box to the title's tile, Enter opens it.
  const tabs = await tabTo(a.page, `#results .tile[data-title="${title}"]`);
  await a.page.keyboard.press("Enter");
  await ready(a.page, "title");
  await shot(a.page, "title");
  const focused = await playFromTitlePage(a.page);
  const first = await appState(a.page);
  await until(a.page, () => window.vodApp.state().currentTime > 3.2);
  const played = await appState(a.page);
  await shot(a.page, "watch");
  // The scrubber: focus it and press ArrowLeft (seek back 5 s); the preview shows the time.
  await a.page.focus("#scrubber");
  await a.page.keyboard.press("ArrowLeft");
  // The trick-play tile comes from the manifest's image track (fetched from the edge): wait for
  // it, but not forever — the test asserts on what was shown.
  await a.page
    .waitForFunction(() => window.vodApp.state().thumbnails > 0, null, { timeout: 10_000 })
    .catch(() => {});
  const scrub = await a.page.evaluate(() => {
    const img = document.querySelector("#thumb .thumb-img");
    return {
      thumbVisible: !document.getElementById("thumb").hidden,
      thumbTime: document.querySelector("#thumb .thumb-time").textContent,
      currentTime: window.vodApp.state().currentTime,
      thumbnails: window.vodApp.state().thumbnails,
      thumbImage: img.hidden ? "" : img.style.backgroundImage,
      thumbWidth: img.style.width,
    };
  });
  await shot(a.page, "scrub");
  // Play on past 3 s again (the title is 6 s: seeking forward would finish it).
  await until(a.page, () => window.vodApp.state().currentTime > 3.2);
  step("A played", { tabs, focusedOnTitlePage: focused, first, played, scrub });
  await a.page.click("#back");
  await ready(a.page, "title");
  // The last QoE batch is sent before StopPlayback: wait until every POST has an answer.
  await until(a.page, () => window.vodApp.state().qoe.batches + window.vodApp.state().qoe.failed > 0);
  step("A went back", { state: await appState(a.page) });
  await a.context.close();

  const b = await newViewer(browser, "B");
  await signIn(b.page);
  const cw = await b.page.$$eval('section.row[data-kind="ROW_KIND_CONTINUE_WATCHING"] .tile', (ts) =>
    ts.map((t) => ({
      title: t.dataset.title,
      progress: Number(t.querySelector('[role="progressbar"]')?.getAttribute("aria-valuenow")),
    })),
  );
  step("B signed in", { continueWatching: cw });
  const selector = cw.some((t) => t.title === title)
    ? `section.row[data-kind="ROW_KIND_CONTINUE_WATCHING"] .tile[data-title="${title}"]`
    : `.tile[data-title="${title}"]`;
  await tileKeyboard(b.page, selector);
  await playFromTitlePage(b.page);
  await until(b.page, () => window.vodApp.state().currentTime > 0 && !window.vodApp.state().paused);
  step("B resumed", { state: await appState(b.page) });
  // Escape leaves the player (StopPlayback) back to the title page.
  await b.page.keyboard.press("Escape");
  await ready(b.page, "title");
  step("B left with Escape", { state: await appState(b.page) });

  // An expired or otherwise refused access token: the app trades its refresh token and retries.
  phase = "refresh";
  await b.page.evaluate(() => {
    const me = JSON.parse(sessionStorage.getItem("vod.auth"));
    me.token = `${me.token.split(".").slice(0, 2).join(".")}.bad-signature`;
    sessionStorage.setItem("vod.auth", JSON.stringify(me));
  });
  await b.page.evaluate(() => (location.hash = "#/home"));
  await ready(b.page, "home");
  step("B refreshed", {
    view: await b.page.evaluate(() => document.body.dataset.ready),
    signedIn: (await appState(b.page)).signedIn,
    rows: await b.page.$$eval("section.row", (rs) => rs.length),
  });
  await b.context.close();
}

async function limit(browser) {
  const [title, dialogShot] = rest;
  const id = title.replace(/^titles\//, "");
  const a = await newViewer(browser, "A");
  await signIn(a.page);
  await a.page.evaluate((i) => (location.hash = `#/title/${i}`), id);
  await playFromTitlePage(a.page);
  await until(a.page, () => window.vodApp.state().currentTime > 1);
  const aSession = (await appState(a.page)).session;
  step("A playing", { session: aSession });

  const b = await newViewer(browser, "B");
  await signIn(b.page);
  await b.page.evaluate((i) => (location.hash = `#/title/${i}`), id);
  await ready(b.page, "title");
  await b.page.keyboard.press("Enter");
  await until(b.page, () => window.vodApp.state().limitDialogOpen);
  const listed = await b.page.$$eval("#limit-sessions li", (lis) =>
    lis.map((li) => ({ session: li.dataset.session, text: li.textContent })),
  );
  const focus = await b.page.evaluate(() => document.activeElement?.textContent);
  if (dialogShot) await b.page.screenshot({ path: dialogShot });
  step("B saw the limit dialog", { listed, focus });
  await b.page.keyboard.press("Enter"); // "Stop playback there" has focus
  await until(b.page, () => window.vodApp.state().currentTime > 1);
  step("B playing", { state: await appState(b.page) });
  // A notices at its next heartbeat.
  await until(a.page, () => window.vodApp.state().stoppedRemotely);
  step("A told", { state: await appState(a.page), toast: await a.page.$eval("#toast", (t) => t.textContent) });
  // B's own heartbeat (every heartbeatInterval) carries its position.
  await until(b.page, () => window.vodApp.state().heartbeats > 0);
  step("B heartbeat", { state: await appState(b.page) });
  await b.page.click("#back");
  await ready(b.page, "title");
  await a.context.close();
  await b.context.close();
}

async function signup(browser) {
  const [profileName] = rest;
  const v = await newViewer(browser, "A");
  await v.page.goto(appUrl, { waitUntil: "load" });
  await ready(v.page, "signin");
  await shot(v.page, "signin");
  await tabTo(v.page, "#to-signup");
  await v.page.keyboard.press("Enter");
  await ready(v.page, "signup");
  await v.page.waitForFunction(() => document.querySelectorAll("#su-plan option").length > 0);
  const plans = await v.page.$$eval("#su-plan option", (os) => os.map((o) => o.value));
  await v.page.keyboard.type(email.split("@")[0]); // name has focus
  await v.page.keyboard.press("Tab");
  await v.page.keyboard.type(email);
  await v.page.keyboard.press("Tab");
  await v.page.keyboard.type(password);
  await v.page.selectOption("#su-plan", "plans/basic");
  await shot(v.page, "signup");
  await v.page.focus("#su-password");
  await v.page.keyboard.press("Enter");
  await ready(v.page, "profiles");
  const before = await v.page.$$eval(".profile", (bs) => bs.map((b) => b.dataset.profile));
  await v.page.focus("#new-profile");
  await v.page.keyboard.type(profileName);
  await v.page.keyboard.press("Enter");
  await ready(v.page, "home");
  await shot(v.page, "home-new-profile");
  step("signed up", { plans, before, state: await appState(v.page), who: await v.page.$eval("#who", (e) => e.textContent) });
  // The picker now lists both profiles.
  await v.page.evaluate(() => (location.hash = "#/profiles"));
  await ready(v.page, "profiles");
  const after = await v.page.$$eval(".profile", (bs) => bs.map((b) => ({ name: b.dataset.profile, label: b.textContent })));
  step("profiles", { after });
  await v.context.close();
}

async function ops(browser) {
  const [title] = rest;
  const v = await newViewer(browser, "admin");
  await signIn(v.page);
  const navVisible = await v.page.$eval("#nav-ops", (a) => !a.hidden);
  await v.page.evaluate(() => (location.hash = "#/ops"));
  await ready(v.page, "ops");
  await v.page.waitForSelector("#ops-plays, #ops-unavailable");
  const first = await v.page.evaluate(() => ({
    plays: document.querySelector("#ops-plays .statvalue")?.textContent ?? null,
    ttff50: document.querySelector("#ops-ttff50 .statvalue")?.textContent ?? null,
    updated: document.getElementById("ops-updated")?.textContent ?? null,
    unavailable: document.getElementById("ops-unavailable")?.textContent ?? null,
    edges: [...document.querySelectorAll("#ops-edges .barrow")].map((r) => r.textContent),
    titles: [...document.querySelectorAll("main a[href^='#/ops/']")].map((a) => a.textContent),
    experiments: [...document.querySelectorAll("#ops-experiments [data-experiment]")].map((p) => ({
      id: p.dataset.experiment,
      variants: [...p.querySelectorAll("tbody tr")].map((r) => [...r.children].map((c) => c.textContent)),
      srmAlert: p.querySelector("[role=alert]")?.textContent ?? null,
    })),
  }));
  await shot(v.page, "overview");
  let refreshed = null;
  if (!first.unavailable) {
    // Live: the "updated" line is redrawn by the next refresh.
    await v.page.waitForFunction((u) => document.getElementById("ops-updated")?.textContent !== u, first.updated, { timeout: 15_000 }).catch(() => {});
    refreshed = await v.page.evaluate(() => document.getElementById("ops-updated")?.textContent ?? null);
  }
  step("overview", { navVisible, first, refreshed });
  await v.page.evaluate((i) => (location.hash = `#/ops/${i}`), title.replace(/^titles\//, ""));
  await ready(v.page, "ops");
  await v.page.waitForSelector("#report-heading, #ops-unavailable");
  const report = await v.page.evaluate(() => ({
    heading: document.querySelector("main h1")?.textContent ?? null,
    rungs: [...document.querySelectorAll("#report-rungs tbody th")].map((t) => t.textContent),
    recommendations: [...document.querySelectorAll("#report-recommendations li")].map((l) => l.textContent),
    unavailable: document.getElementById("ops-unavailable")?.textContent ?? null,
  }));
  await shot(v.page, "report");
  step("report", { report });
  await v.context.close();
}

async function main() {
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
    ],
  });
  try {
    if (scenario === "resume") await resume(browser);
    else if (scenario === "limit") await limit(browser);
    else if (scenario === "signup") await signup(browser);
    else if (scenario === "ops") await ops(browser);
    else throw new Error(`unknown scenario ${scenario}`);
  } catch (error) {
    out.fatal = String(error?.stack || error);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main();
