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
const out = { scenario, steps: [], consoleErrors: [], pageErrors: [], failedRequests: [] };
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

/** Sign in with the keyboard only: type, Tab, type, Enter. */
async function signIn(page) {
  await page.goto(appUrl, { waitUntil: "load" });
  await ready(page, "signin");
  await page.focus("#email");
  await page.keyboard.type(email);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await ready(page, "home");
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
  // Search as you type: suggestions appear, then Enter searches.
  await a.page.focus("#search-input");
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
  step("A searched", { query, suggestions, corrected, results });
  await tileKeyboard(a.page, `#results .tile[data-title="${title}"]`);
  const focused = await playFromTitlePage(a.page);
  const first = await appState(a.page);
  await until(a.page, () => window.vodApp.state().currentTime > 3.2);
  const played = await appState(a.page);
  step("A played", { focusedOnTitlePage: focused, first, played });
  await a.page.click("#back");
  await ready(a.page, "title");
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
    else throw new Error(`unknown scenario ${scenario}`);
  } catch (error) {
    out.fatal = String(error?.stack || error);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main();
