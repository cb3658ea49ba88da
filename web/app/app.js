// vodmesh web app: sign in / sign up, profile picker, home, search, title page, player and the
// operations page (admins). Hash routes:
//   #/signin  #/signup  #/profiles  #/home  #/search/<query>[?genre=..]  #/title/<id>  #/watch/<id>
//   #/ops  #/ops/<title id>
// The gateway serves the app on its front port, so the API is this page's origin (?api=<url>
// overrides it, e.g. when web/ is served by `python3 -m http.server`). Tests read window.vodApp.

import { Api, ApiError, CODE, seconds } from "./api.js";
import { QoeReporter, qoeStats } from "./qoe.js";
import { viewOperations } from "./ops.js";

const shaka = window.shaka;
const params = new URLSearchParams(location.search);
const api = new Api(params.get("api") || location.origin, () => auth()?.token || null, renew);

let renewing = null;
/** The access token expired: trade the (single-use) refresh token for new ones, once at a time. */
function renew() {
  if (!renewing) {
    renewing = (async () => {
      const me = auth();
      if (!me?.refresh) return false;
      try {
        const { tokens } = await api.refresh(me.refresh);
        sessionStorage.setItem(AUTH_KEY, JSON.stringify({
          ...me, token: tokens.accessToken, refresh: tokens.refreshToken,
        }));
        return true;
      } catch {
        return false;
      }
    })().finally(() => setTimeout(() => (renewing = null), 0));
  }
  return renewing;
}

const $ = (id) => document.getElementById(id);
const main = $("main");
const errors = [];

// --- state ------------------------------------------------------------------------------------

const AUTH_KEY = "vod.auth";
/** @returns {{token: string, refresh: string, profile: string, user: string, email: string} | null} */
function auth() {
  try {
    return JSON.parse(sessionStorage.getItem(AUTH_KEY) || "null");
  } catch {
    return null;
  }
}

function deviceId() {
  let id = localStorage.getItem("vod.deviceId");
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    id = `web-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    localStorage.setItem("vod.deviceId", id);
  }
  return id;
}

/** Title data seen in home rows and search hits, by "titles/{id}". */
const titles = new Map();
function remember(item) {
  const old = titles.get(item.title) || {};
  const merged = { ...old };
  for (const [k, v] of Object.entries(item)) {
    if (v !== "" && v !== 0 && v != null && !(Array.isArray(v) && !v.length)) merged[k] = v;
  }
  titles.set(item.title, merged);
  return merged;
}

const watch = { session: null, video: null, heartbeats: 0, lastHeartbeat: null, stoppedRemotely: false, lastStop: null, thumbnails: 0 };

window.vodApp = {
  errors,
  route: () => location.hash || "#/",
  state: () => ({
    route: location.hash,
    signedIn: !!auth(),
    session: watch.session ? watch.session.name : null,
    resumePosition: watch.session ? seconds(watch.session.resumePosition) : null,
    heartbeatInterval: watch.session ? seconds(watch.session.heartbeatInterval) : null,
    currentTime: watch.video ? watch.video.currentTime : 0,
    paused: watch.video ? watch.video.paused : true,
    heartbeats: watch.heartbeats,
    lastHeartbeat: watch.lastHeartbeat,
    stoppedRemotely: watch.stoppedRemotely,
    limitDialogOpen: $("limit-dialog").open,
    lastStop: watch.lastStop,
    profile: auth()?.profile || null,
    admin: !!auth()?.admin,
    qoe: { ...qoeStats },
    thumbnails: watch.thumbnails,
  }),
};

window.addEventListener("error", (e) => errors.push(String(e.error?.stack || e.message)));
window.addEventListener("unhandledrejection", (e) => errors.push(String(e.reason?.stack || e.reason)));

// --- helpers ----------------------------------------------------------------------------------

/** Tiny element builder: h("a.tile", {href}, child...). */
function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const node = document.createElement(name);
  if (classes.length) node.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "style") node.setAttribute("style", v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const idOf = (title) => title.replace(/^titles\//, "");

function hue(text) {
  let n = 0;
  for (const c of text) n = (n * 31 + c.charCodeAt(0)) >>> 0;
  return n % 360;
}

/** Artwork when the title has some, else a gradient from its name. */
function art(item, big = false) {
  const uri = item.artworkUri || item.thumbnailUri;
  const hu = hue(item.title || "");
  const style = uri
    ? `background-image: linear-gradient(#0000 50%, #000c), url("${encodeURI(uri)}")`
    : `background-image: linear-gradient(135deg, hsl(${hu} 55% 30%), hsl(${(hu + 50) % 360} 60% 12%))`;
  const name = item.displayName || idOf(item.title || "");
  return h("div.art", { style, "aria-hidden": "true" }, h("span.monogram", {}, big ? name : name.split(/\s+/).slice(0, 2).join(" ")));
}

function facts(item) {
  return h(
    "div.facts",
    {},
    item.releaseYear ? h("span.year", {}, item.releaseYear) : null,
    item.maturityRating ? h("span.rating", {}, item.maturityRating) : null,
    item.durationSeconds ? h("span", {}, formatDuration(item.durationSeconds)) : null,
    item.genres?.length ? h("span", {}, item.genres.slice(0, 2).join(" · ")) : null,
  );
}

function formatDuration(s) {
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.round(s / 60)} min`;
  return `${Math.round(s)} s`;
}

function tile(item, progress = false) {
  remember(item);
  const fraction = Math.max(0, Math.min(1, item.watchedFraction || 0));
  const label = [item.displayName, item.releaseYear || "", item.maturityRating || ""]
    .filter(Boolean)
    .join(", ");
  return h(
    "a.tile",
    { href: `#/title/${idOf(item.title)}`, "aria-label": label, "data-title": item.title },
    art(item),
    progress
      ? h("div.progress", { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
          "aria-valuenow": Math.round(fraction * 100), "aria-label": "watched" },
          h("span", { style: `width: ${(fraction * 100).toFixed(1)}%` }))
      : null,
    h("div.meta", {}, h("span.name", {}, item.displayName || idOf(item.title)), facts(item)),
  );
}

let toastTimer = null;
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 5000);
}

function describe(error) {
  if (error instanceof ApiError) return error.message;
  return String(error?.message || error);
}

/** Signed out (or the token expired): back to the form. */
function signOut() {
  sessionStorage.removeItem(AUTH_KEY);
  sessionStorage.removeItem(USER_KEY);
  titles.clear();
  location.hash = "#/signin";
}

function guard(error) {
  if (error instanceof ApiError && (error.status === 401 || error.code === CODE.UNAUTHENTICATED)) {
    signOut();
    return true;
  }
  return false;
}

/** Replace the main view's content (null/false children are skipped). */
function show(...nodes) {
  main.replaceChildren(...nodes.flat().filter((n) => n != null && n !== false));
}

function loading(text = "Loading…") {
  show(h("p.empty", { "aria-busy": "true" }, text));
}

// --- views ------------------------------------------------------------------------------------

function viewSignIn() {
  const error = h("p.error", { role: "alert", id: "signin-error", hidden: true });
  const email = h("input", { id: "email", name: "email", type: "email", required: true,
    autocomplete: "username", autofocus: true });
  const password = h("input", { id: "password", name: "password", type: "password",
    required: true, autocomplete: "current-password" });
  const submit = h("button.primary", { type: "submit", id: "signin-submit" }, "Sign in");
  const form = h(
    "form",
    {
      "aria-labelledby": "signin-heading",
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        error.hidden = true;
        try {
          await signInWith(email.value.trim(), password.value);
        } catch (e) {
          error.textContent =
            e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)
              ? "Incorrect email or password."
              : `Could not sign in: ${describe(e)}`;
          error.hidden = false;
          submit.disabled = false;
          password.focus();
        }
      },
    },
    h("span.brand", {}, "vod", h("b", {}, "mesh")),
    h("h1", { id: "signin-heading" }, "Sign in"),
    h("label", {}, "Email", email),
    h("label", {}, "Password", password),
    error,
    submit,
    h("p.alt", {}, "New here? ", h("a", { href: "#/signup", id: "to-signup" }, "Create an account")),
  );
  show(h("section.signin", {}, form));
  email.focus();
}

/** Login, then the profile picker. The user-level token is kept to list and create profiles. */
async function signInWith(email, password) {
  const login = await api.login(email, password);
  sessionStorage.setItem(USER_KEY, JSON.stringify({
    token: login.tokens.accessToken,
    refresh: login.tokens.refreshToken,
    user: login.user.name,
    email: login.user.email || email,
    name: login.user.displayName || email,
    admin: (login.user.roles || []).includes("admin"),
  }));
  location.hash = "#/profiles";
}

const USER_KEY = "vod.user";
function account() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}
const accountApi = () => new Api(api.base, () => account()?.token || null);

async function viewSignUp() {
  const error = h("p.error", { role: "alert", hidden: true });
  const name = h("input", { id: "su-name", name: "name", required: true, autocomplete: "name", maxlength: 80 });
  const email = h("input", { id: "su-email", name: "email", type: "email", required: true, autocomplete: "username" });
  const password = h("input", { id: "su-password", name: "password", type: "password", required: true,
    minlength: 8, autocomplete: "new-password" });
  const plan = h("select", { id: "su-plan", name: "plan" });
  const region = h("select", { id: "su-region", name: "region" },
    ["US", "GB"].map((r) => h("option", { value: r }, r === "US" ? "United States" : "United Kingdom")));
  const submit = h("button.primary", { type: "submit" }, "Create account");
  const form = h("form", {
    "aria-labelledby": "signup-heading",
    onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      error.hidden = true;
      try {
        await api.signUp(email.value.trim(), password.value, name.value.trim(), plan.value, region.value);
        await signInWith(email.value.trim(), password.value);
      } catch (e) {
        error.textContent = e instanceof ApiError && e.status === 409
          ? "An account with this email already exists. Sign in instead."
          : `Could not create the account: ${describe(e)}`;
        error.hidden = false;
        submit.disabled = false;
      }
    },
  },
  h("span.brand", {}, "vod", h("b", {}, "mesh")),
  h("h1", { id: "signup-heading" }, "Create your account"),
  h("label", {}, "Name", name),
  h("label", {}, "Email", email),
  h("label", {}, "Password (8 characters or more)", password),
  h("label", {}, "Plan", plan),
  h("label", {}, "Country", region),
  error,
  submit,
  h("p.alt", {}, "Already have an account? ", h("a", { href: "#/signin" }, "Sign in")));
  show(h("section.signin", {}, form));
  name.focus();
  try {
    const { plans = [] } = await api.plans();
    plan.replaceChildren(...plans.map((p) => h("option", { value: p.name },
      `${p.displayName || p.name} · ${p.maxStreams} screen${p.maxStreams === 1 ? "" : "s"}`
      + (p.maxResolution ? `, up to ${p.maxResolution}p` : ""))));
  } catch {
    plan.replaceChildren(...["basic", "standard", "premium"].map((n) => h("option", { value: `plans/${n}` }, n)));
  }
}

const AVATAR_HUES = [12, 200, 130, 280, 45];

async function viewProfiles() {
  const me = account();
  if (!me) {
    location.replace("#/signin");
    return;
  }
  loading("Loading profiles…");
  const { profiles = [] } = await accountApi().profiles(me.user);
  const choose = async (profile) => {
    const issued = await accountApi().issueToken(profile.name);
    sessionStorage.setItem(AUTH_KEY, JSON.stringify({
      token: issued.tokens.accessToken,
      refresh: issued.tokens.refreshToken,
      profile: profile.name,
      profileName: profile.displayName || idOf(profile.name),
      user: me.user,
      email: me.email,
      admin: me.admin,
    }));
    location.hash = "#/home";
  };
  const error = h("p.error", { role: "alert", hidden: true });
  const newName = h("input", { id: "new-profile", required: true, maxlength: 40, placeholder: "Name" });
  const kids = h("input", { type: "checkbox", id: "new-profile-kids" });
  const add = h("form.add-profile", {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const { profile } = await accountApi().createProfile(me.user, newName.value.trim(),
          kids.checked ? "MATURITY_LIMIT_OLDER_KIDS" : "MATURITY_LIMIT_ALL");
        await choose(profile);
      } catch (e) {
        error.textContent = `Could not add the profile: ${describe(e)}`;
        error.hidden = false;
      }
    },
  },
  h("h2", {}, "Add a profile"),
  h("label", {}, "Name", newName),
  h("label.check", {}, kids, "Kids profile (older kids ratings)"),
  h("button.ghost", { type: "submit" }, "Add profile"),
  error);
  const list = h("ul.profiles", { role: "list" }, profiles.map((profile, i) => {
    const label = profile.displayName || idOf(profile.name);
    return h("li", {}, h("button.profile", {
      type: "button", "data-profile": profile.name,
      onclick: () => choose(profile).catch((e) => { error.textContent = describe(e); error.hidden = false; }),
    },
    h("span.avatar", { "aria-hidden": "true", style: `background: hsl(${AVATAR_HUES[i % 5]} 60% 45%)` }, label[0]?.toUpperCase() || "?"),
    h("span", {}, label),
    profile.maturityLimit && profile.maturityLimit !== "MATURITY_LIMIT_ALL" && profile.maturityLimit !== "MATURITY_LIMIT_UNSPECIFIED"
      ? h("small", {}, "Kids") : null));
  }));
  show(h("section.picker", { "aria-labelledby": "picker-heading" },
    h("h1", { id: "picker-heading" }, "Who's watching?"), list, add));
  list.querySelector("button")?.focus();
}

async function viewHome() {
  loading();
  const me = auth();
  const home = await api.home(me.profile);
  const rows = (home.rows || []).filter((row) => row.items?.length);
  for (const item of titles.values()) item.watchedFraction = 0; // continue watching says anew
  show(
    h("h1.sr-only", {}, "Home"),
    rows.length ? null : h("p.empty", {}, "Nothing to watch yet."),
    ...rows.map((row) => {
      const cw = row.kind === "ROW_KIND_CONTINUE_WATCHING";
      const heading = `row-${row.kind}-${row.becauseOf || ""}`.replace(/[^\w-]/g, "-");
      return h(
        "section.row",
        { "aria-labelledby": heading, "data-kind": row.kind },
        h("h2", { id: heading }, row.heading,
          row.degraded ? h("span.degraded", {}, "(popular picks while we catch up)") : null),
        h("div.tiles", {}, row.items.map((item) => tile(item, cw))),
      );
    }),
  );
}

/** Facet field -> [URL parameter, heading, SearchFilter field]. */
const FACETS = {
  FACET_FIELD_TYPE: ["type", "Type", "types"],
  FACET_FIELD_GENRE: ["genre", "Genre", "genres"],
  FACET_FIELD_RELEASE_YEAR: ["year", "Year", null],
  FACET_FIELD_MATURITY_RATING: ["rating", "Rating", "maturityRatings"],
};

function searchHash(query, selected) {
  const qs = new URLSearchParams(selected).toString();
  return `#/search/${encodeURIComponent(query)}${qs ? `?${qs}` : ""}`;
}

async function viewSearch(arg) {
  const [query, qs = ""] = arg.split("?");
  const selected = Object.fromEntries(new URLSearchParams(qs));
  const input = $("search-input");
  if (input.value !== query) input.value = query;
  loading(`Searching for “${query}”…`);
  const filter = {};
  for (const [param, , field] of Object.values(FACETS)) {
    if (!selected[param]) continue;
    if (field) filter[field] = selected[param];
    else {
      filter.releaseYearMin = selected[param];
      filter.releaseYearMax = selected[param];
    }
  }
  const result = await api.search(query, auth().profile, filter);
  const hits = result.hits || [];
  const groups = (result.facets || [])
    .filter((f) => FACETS[f.field] && f.values?.length)
    .map((f) => {
      const [param, heading] = FACETS[f.field];
      const known = f.values.filter((v) => v.value && v.value !== "0"); // "0": year not known
      const values = f.field === "FACET_FIELD_RELEASE_YEAR"
        ? [...known].sort((a, b) => String(b.value).localeCompare(String(a.value))).slice(0, 8)
        : known.slice(0, 8);
      if (!values.length) return null;
      return h("div.facet", { role: "group", "aria-label": heading },
        h("span.facet-name", {}, heading),
        values.map((v) => {
          const on = selected[param] === String(v.value);
          const next = { ...selected };
          if (on) delete next[param];
          else next[param] = String(v.value);
          return h("a.chip", { href: searchHash(query, next), "aria-pressed": String(on),
            "data-facet": param, "data-value": v.value },
          `${v.value} `, h("span.count", {}, v.count));
        }));
    })
    .filter(Boolean);
  show(
    h("h1", {}, `Results for “${query}”`),
    result.correctedQuery && result.correctedQuery.toLowerCase() !== query.trim().toLowerCase()
      ? h("p.corrected", { id: "corrected" }, "Showing results for ", h("strong", {}, result.correctedQuery))
      : null,
    groups.length ? h("nav.facets", { id: "facets", "aria-label": "Filter results" }, groups) : null,
    hits.length
      ? h("div.grid", { id: "results" }, hits.map((hit) => tile(hit.summary)))
      : h("p.empty", {}, "No titles match."),
  );
}

function viewTitle(id) {
  const name = `titles/${id}`;
  const item = titles.get(name) || { title: name, displayName: id };
  const fraction = item.watchedFraction || 0;
  const play = h("button.primary", { id: "play", onclick: () => (location.hash = `#/watch/${id}`) },
    fraction > 0 ? "▶ Resume" : "▶ Play");
  show(
    h(
      "section.hero",
      { "aria-labelledby": "title-heading" },
      art(item, true),
      h(
        "div",
        {},
        h("h1", { id: "title-heading" }, item.displayName || id),
        facts(item),
        item.synopsis ? h("p.synopsis", {}, item.synopsis) : null,
        item.reason ? h("p.synopsis", {}, item.reason) : null,
        fraction > 0
          ? h("div.progress.wide", { role: "progressbar", "aria-label": "watched",
              "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(fraction * 100) },
              h("span", { style: `width: ${(fraction * 100).toFixed(1)}%` }))
          : null,
        h("div.actions", {},
          play,
          h("button.ghost", { onclick: () => history.back() }, "Back")),
      ),
    ),
  );
  play.focus();
}

class Cancelled extends Error {}

const DEVICE_NAMES = { web: "Web browser", tv: "TV", mobile: "Phone", tablet: "Tablet", console: "Game console" };

/** A QuotaFailure description ("titles/x on users/u/profiles/p, web web-1a2b") for people. */
function screenOf(description) {
  const m = /^(titles\/\S+) on users\/[^/]+\/profiles\/([^,\s]+), (\S+) (\S+)$/.exec(description || "");
  if (!m) return description || "Another screen";
  const [, title, profile, kind, device] = m;
  const name = titles.get(title)?.displayName || idOf(title);
  return `${DEVICE_NAMES[kind] || kind} ${device} · watching ${name} · profile ${profile}`;
}

/** The stream-limit dialog: resolves to the session to stop, or null (cancelled). */
function chooseSessionToStop(error) {
  const dialog = $("limit-dialog");
  const list = $("limit-sessions");
  const violations = error.quotaViolations();
  const text = error.message || "your plan's stream limit is reached";
  $("limit-text").textContent = `${text[0].toUpperCase()}${text.slice(1)}.`.replace(/\.\.$/, ".");
  return new Promise((resolve) => {
    const done = (value) => {
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onClose = () => done(null);
    list.replaceChildren(
      ...violations.map((v) =>
        h(
          "li",
          { "data-session": v.subject },
          h("span.desc", {}, h("span", {}, screenOf(v.description)), h("small", {}, v.subject)),
          h("button.primary", { type: "button", onclick: () => done(v.subject) }, "Stop playback there"),
        ),
      ),
    );
    if (!violations.length) list.replaceChildren(h("li", {}, "Stop playback on another screen, then try again."));
    $("limit-cancel").onclick = () => done(null);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    list.querySelector("button")?.focus();
  });
}

async function startPlayback(title) {
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return (await api.start(auth().profile, title, deviceId())).session;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 429) throw error;
      const other = await chooseSessionToStop(error);
      if (!other) throw new Cancelled();
      await api.stop(other);
    }
  }
  throw new Error("the stream limit is still reached");
}

/** A speaker icon (inline SVG: no icon font, nothing fetched), struck through when muted. */
function speaker(muted) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML = '<path fill="currentColor" d="M3 9v6h4l5 4V5L7 9H3z"/>' + (muted
    ? '<path stroke="currentColor" stroke-width="2" d="M16 9l6 6M22 9l-6 6"/>'
    : '<path fill="none" stroke="currentColor" stroke-width="2" d="M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12"/>');
  return svg;
}

const clock = (t) => {
  const s = Math.max(0, Math.floor(t || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

/**
 * The scrubber under the video: a range input (arrow keys seek 5 s, Page keys 30 s) with the
 * trick-play thumbnail of the hovered or focused time above it. Thumbnails come from the
 * manifest's image track (Shaka's getImageTracks/getThumbnails: a DASH image AdaptationSet or
 * HLS EXT-X-IMAGE-STREAM-INF pointing at the title's sprite sheet); without one, only the time.
 */
function scrubber(video, getPlayer) {
  const range = h("input", { type: "range", id: "scrubber", min: 0, max: 0, step: 0.1, value: 0,
    "aria-label": "Position", "aria-valuetext": "0:00" });
  const now = h("span.time", { id: "time-now" }, "0:00");
  const total = h("span.time", {}, "0:00");
  const thumb = h("div.thumb", { id: "thumb", hidden: true, "aria-hidden": "true" },
    h("div.thumb-img"), h("span.thumb-time"));
  const playPause = h("button.ghost.icon", { type: "button", id: "play-pause", "aria-label": "Pause",
    onclick: () => (video.paused ? video.play().catch(() => {}) : video.pause()) }, "❚❚");
  let dragging = false;
  const sync = () => {
    if (Number.isFinite(video.duration)) {
      range.max = String(video.duration);
      total.textContent = clock(video.duration);
    }
    if (!dragging) range.value = String(video.currentTime);
    now.textContent = clock(video.currentTime);
    range.setAttribute("aria-valuetext", `${clock(video.currentTime)} of ${clock(video.duration)}`);
    range.style.setProperty("--pct", `${(video.currentTime / (video.duration || 1)) * 100}%`);
  };
  const preview = async (time, x) => {
    thumb.querySelector(".thumb-time").textContent = clock(time);
    thumb.style.left = `${x}px`;
    thumb.hidden = false;
    const player = getPlayer();
    const track = player?.getImageTracks?.()[0];
    const img = thumb.querySelector(".thumb-img");
    if (!track) {
      img.hidden = true;
      return;
    }
    const t = await player.getThumbnails(track.id, time).catch(() => null);
    if (!t?.uris?.length) return;
    watch.thumbnails += 1;
    img.hidden = false;
    img.style.cssText = `width:${t.width}px;height:${t.height}px;background:url("${encodeURI(t.uris[0])}") ` +
      `-${t.positionX}px -${t.positionY}px / ${t.imageWidth}px ${t.imageHeight}px`;
  };
  const at = (clientX) => {
    const box = range.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return { time: f * (video.duration || 0), x: f * box.width };
  };
  range.addEventListener("pointermove", (e) => { const p = at(e.clientX); preview(p.time, p.x); });
  range.addEventListener("pointerleave", () => { if (document.activeElement !== range) thumb.hidden = true; });
  range.addEventListener("input", () => {
    dragging = true;
    const f = Number(range.value) / (video.duration || 1);
    preview(Number(range.value), f * range.getBoundingClientRect().width);
  });
  range.addEventListener("change", () => {
    dragging = false;
    video.currentTime = Number(range.value);
    setTimeout(() => { if (document.activeElement !== range) thumb.hidden = true; }, 800);
  });
  range.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    video.currentTime = Math.min(video.duration || 0, Math.max(0, video.currentTime + step));
    const f = video.currentTime / (video.duration || 1);
    preview(video.currentTime, f * range.getBoundingClientRect().width);
  });
  range.addEventListener("blur", () => (thumb.hidden = true));
  video.addEventListener("timeupdate", sync);
  video.addEventListener("durationchange", sync);
  video.addEventListener("play", () => { playPause.textContent = "❚❚"; playPause.setAttribute("aria-label", "Pause"); });
  video.addEventListener("pause", () => { playPause.textContent = "▶"; playPause.setAttribute("aria-label", "Play"); });
  return h("div.scrub", {}, playPause, now, h("div.track", {}, range, thumb), total);
}

async function viewWatch(id, setCleanup) {
  const clickAt = performance.now();
  const title = `titles/${id}`;
  const item = titles.get(title) || { displayName: id };
  const video = h("video", { id: "video", autoplay: true, playsinline: true });
  video.muted = true; // autoplay policy; the viewer unmutes with the controls
  const status = h("span.status", { id: "player-status", role: "status" }, "Starting…");
  const back = h("button.ghost", { id: "back", onclick: () => history.back() }, "← Back");
  const mute = h("button.ghost.icon", { type: "button", id: "mute", "aria-label": "Unmute",
    onclick: () => {
      video.muted = !video.muted;
      mute.setAttribute("aria-label", video.muted ? "Unmute" : "Mute");
      mute.replaceChildren(speaker(video.muted));
    } }, speaker(true));
  let player = null;
  show(
    h("section.watch", { "aria-label": `Playing ${item.displayName}` },
      video,
      h("div.bar", {}, back, h("h1", {}, item.displayName || id), status),
      h("div.controls", {}, scrubber(video, () => player), mute)),
  );
  back.focus();

  let alive = true;
  let timer = null;
  let session = null;
  let qoe = null;
  const stopLocal = async () => {
    clearTimeout(timer);
    timer = null;
    if (player) {
      const p = player;
      player = null;
      await p.destroy().catch(() => {});
    }
  };
  setCleanup(async (keepalive = false) => {
    alive = false;
    const position = video.currentTime;
    if (qoe) {
      const reporter = qoe;
      qoe = null;
      const sent = reporter.stop(keepalive); // the last batch, before the session stops
      if (!keepalive) await sent;
    }
    await stopLocal();
    if (session && !watch.stoppedRemotely) watch.lastStop = { session: session.name, position };
    watch.video = null;
    if (session && !watch.stoppedRemotely) {
      const name = session.name;
      session = null;
      watch.session = null;
      await api.stop(name, position, keepalive).catch(() => {});
    }
    watch.session = null;
  });

  watch.heartbeats = 0;
  watch.lastHeartbeat = null;
  watch.stoppedRemotely = false;
  try {
    session = await startPlayback(title);
  } catch (error) {
    if (error instanceof Cancelled) {
      if (alive) history.back();
      return;
    }
    throw error;
  }
  if (!alive) {
    await api.stop(session.name).catch(() => {});
    return;
  }
  watch.session = session;
  watch.video = video;
  watch.thumbnails = 0;

  player = new shaka.Player();
  await player.attach(video);
  qoe = new QoeReporter(api, session.name, clickAt);
  qoe.attach(player, video);
  player.addEventListener("error", (event) => {
    status.textContent = `Playback error ${event.detail?.code ?? ""}`;
  });
  if (session.encrypted && session.licenseUrl) {
    player.configure({ drm: { servers: { "org.w3.clearkey": session.licenseUrl } } });
  }
  const resume = seconds(session.resumePosition);
  try {
    await player.load(session.manifestUrl, resume > 0 ? resume : null);
  } catch (error) {
    if (!alive || error?.code === 7000 /* LOAD_INTERRUPTED */) return;
    status.textContent = `Could not load the video (Shaka ${error?.code ?? error})`;
    return;
  }
  if (!alive) return;
  qoe?.loaded(player);
  video.play().catch(() => {});
  status.textContent = resume > 0 ? `Resumed at ${resume.toFixed(1)} s` : "";

  const beat = async () => {
    if (!alive || !session) return;
    const state = video.paused ? "PLAYER_STATE_PAUSED"
      : player?.isBuffering() ? "PLAYER_STATE_BUFFERING" : "PLAYER_STATE_PLAYING";
    let next = seconds(session.heartbeatInterval) || 10;
    try {
      const answer = await api.heartbeat(session.name, video.currentTime, state);
      watch.heartbeats += 1;
      watch.lastHeartbeat = video.currentTime;
      next = seconds(answer.heartbeatInterval) || next;
    } catch (error) {
      if (!alive) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
        // Stopped from another screen (or expired): this screen's slot is gone.
        watch.stoppedRemotely = true;
        await stopLocal();
        status.textContent = "Playback was stopped from another screen.";
        toast("Playback was stopped from another screen.");
        return;
      }
    }
    if (alive) timer = setTimeout(beat, next * 1000);
  };
  timer = setTimeout(beat, (seconds(session.heartbeatInterval) || 10) * 1000);
}

// --- search box with suggestions ----------------------------------------------------------------

function setupSearch() {
  const form = $("search-form");
  const input = $("search-input");
  const list = $("suggestions");
  let active = -1;
  let seq = 0;
  let debounce = null;
  const options = () => [...list.querySelectorAll("li")];
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    const all = options();
    active = all.length ? (index + all.length) % all.length : -1;
    all.forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
    if (active >= 0) input.setAttribute("aria-activedescendant", all[active].id);
  };
  const pick = (suggestion) => {
    close();
    input.value = suggestion.text;
    if (suggestion.title) {
      remember({ title: suggestion.title, displayName: suggestion.text });
      location.hash = `#/title/${idOf(suggestion.title)}`;
    } else {
      location.hash = `#/search/${encodeURIComponent(suggestion.text)}`;
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(debounce);
    const prefix = input.value.trim();
    if (!prefix) return close();
    debounce = setTimeout(async () => {
      const mine = ++seq;
      let answer;
      try {
        answer = await api.suggest(prefix);
      } catch (error) {
        if (!guard(error)) close();
        return;
      }
      if (mine !== seq || input.value.trim() !== prefix) return;
      const suggestions = answer.suggestions || [];
      if (!suggestions.length) return close();
      list.replaceChildren(
        ...suggestions.map((s, i) => {
          const start = s.match?.start || 0;
          const length = s.match?.length || 0;
          const text = [...s.text];
          return h(
            "li",
            { id: `suggestion-${i}`, role: "option", "aria-selected": "false",
              onmousedown: (e) => { e.preventDefault(); pick(s); } },
            text.slice(0, start).join(""),
            h("mark", {}, text.slice(start, start + length).join("")),
            text.slice(start + length).join(""),
          );
        }),
      );
      list._suggestions = suggestions;
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }, 120);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
    else if (event.key === "Escape") { close(); }
    else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      pick(list._suggestions[active]);
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    seq++;
    close();
    const query = input.value.trim();
    if (query) location.hash = `#/search/${encodeURIComponent(query)}`;
  });
}

// --- router -----------------------------------------------------------------------------------

let cleanup = null;
let routing = 0;

async function route() {
  const mine = ++routing;
  if (cleanup) {
    const leave = cleanup;
    cleanup = null;
    await leave();
  }
  if (mine !== routing) return;
  const [, view = "", ...rest] = (location.hash || "#/").slice(1).split("/");
  const arg = decodeURIComponent(rest.join("/"));
  const signedIn = !!auth();
  const open = ["signin", "signup"].includes(view) || (view === "profiles" && account());
  if (!signedIn && !open) {
    location.replace("#/signin");
    return;
  }
  if (signedIn && (view === "signin" || view === "signup" || view === "")) {
    location.replace("#/home");
    return;
  }
  $("topbar").hidden = !signedIn || view === "watch" || view === "profiles";
  $("nav-ops").hidden = !auth()?.admin;
  $("who").textContent = auth()?.profileName || "";
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.dataset.nav === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  document.body.dataset.view = view;
  try {
    if (view === "signin") viewSignIn();
    else if (view === "signup") await viewSignUp();
    else if (view === "profiles") await viewProfiles();
    else if (view === "ops") await viewOperations({ api, main, h, show, arg, isCurrent: () => mine === routing && location.hash.startsWith("#/ops") });
    else if (view === "home") await viewHome();
    else if (view === "search") await viewSearch(arg);
    else if (view === "title") viewTitle(arg);
    else if (view === "watch") await viewWatch(arg, (fn) => (cleanup = fn));
    else location.replace("#/home");
  } catch (error) {
    if (guard(error)) return;
    if (mine !== routing) return;
    show(
      h("p.error", { role: "alert" }, `Something went wrong: ${describe(error)}`),
      h("button.ghost", { onclick: () => route() }, "Try again"),
    );
  }
  if (mine !== routing) return;
  // Keyboard users land in the new view: views that focus a control (Play, Back, the form) keep it.
  if (!main.contains(document.activeElement) && document.activeElement !== $("search-input")) {
    main.focus({ preventScroll: true });
  }
  document.body.dataset.ready = view;
}

window.addEventListener("hashchange", route);
// Arrow keys move between tiles of a row (and between rows with Up/Down); Home/End jump.
main.addEventListener("keydown", (event) => {
  const tileEl = event.target.closest?.(".tile");
  if (!tileEl) return;
  const group = tileEl.parentElement;
  const tiles = [...group.querySelectorAll(":scope > .tile")];
  const i = tiles.indexOf(tileEl);
  let next = null;
  if (event.key === "ArrowRight") next = tiles[i + 1];
  else if (event.key === "ArrowLeft") next = tiles[i - 1];
  else if (event.key === "Home") next = tiles[0];
  else if (event.key === "End") next = tiles[tiles.length - 1];
  else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const groups = [...main.querySelectorAll(".tiles, .grid")];
    const g = groups[groups.indexOf(group) + (event.key === "ArrowDown" ? 1 : -1)];
    next = g?.querySelectorAll(":scope > .tile")[Math.min(i, g.children.length - 1)];
  }
  if (!next) return;
  event.preventDefault();
  next.focus();
  next.scrollIntoView({ block: "nearest", inline: "nearest" });
});
// "/" jumps to the search box (not while typing); space toggles pause on the player.
window.addEventListener("keydown", (event) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "");
  if (event.key === "/" && !typing && !$("topbar").hidden) {
    event.preventDefault();
    $("search-input").focus();
  } else if (event.key === " " && document.body.dataset.view === "watch" && document.activeElement?.tagName !== "BUTTON" && watch.video) {
    event.preventDefault();
    if (watch.video.paused) watch.video.play().catch(() => {});
    else watch.video.pause();
  }
});
window.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.dataset.view === "watch" && !$("limit-dialog").open) {
    history.back();
  }
});
window.addEventListener("pagehide", () => {
  if (cleanup) cleanup(true);
});
$("sign-out").addEventListener("click", () => signOut());
// The skip link moves focus without touching the hash (the hash is the router's).
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

if (shaka) shaka.polyfill.installAll();
setupSearch();
route();
