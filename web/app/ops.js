// The operations page (admins): live QoE from the players next to the edges' hit ratios and the
// encode queue (GET /v1/operations:overview, refreshed every REFRESH_MS while the page is open),
// and a title's ladder report (GET /v1/titles/<id>/qoeReport: per-rung QoE and recommendations).
// Bars are plain CSS; nothing is loaded from elsewhere.

import { ApiError } from "./api.js";

const REFRESH_MS = 3000;
const num = (v) => Number(v || 0);
const ms = (v) => (num(v) >= 1000 ? `${(num(v) / 1000).toFixed(2)} s` : `${Math.round(num(v))} ms`);
const pct = (v, digits = 1) => `${(num(v) * 100).toFixed(digits)}%`;

/** Why the page cannot draw: permission or an undeployed QoE service. */
function unavailable(h, error) {
  if (error instanceof ApiError && error.status === 403) {
    return h("p.empty", { id: "ops-unavailable" }, "The operations page is for administrators.");
  }
  if (error instanceof ApiError && (error.status === 404 || error.status === 501)) {
    return h("p.empty", { id: "ops-unavailable" },
      "QoE reporting is not running in this deployment yet (no QoE service answers).");
  }
  return null;
}

/** A labelled horizontal bar: fraction in [0, 1] of the track. */
function bar(h, label, fraction, text, tone = "") {
  const f = Math.max(0, Math.min(1, num(fraction)));
  return h("div.barrow", {},
    h("span.barlabel", { title: label }, label),
    h("span.bartrack", { role: "meter", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 1,
      "aria-valuenow": f.toFixed(3) },
    h(`span.barfill${tone ? `.${tone}` : ""}`, { style: `width: ${(f * 100).toFixed(1)}%` })),
    h("span.barvalue", {}, text));
}

function tiles(h, total, queue) {
  const stat = (label, value, id) => h("div.stat", { id }, h("span.statvalue", {}, value), h("span.statlabel", {}, label));
  return h("div.stats", {},
    stat("plays", String(num(total?.plays)), "ops-plays"),
    stat("time to first frame p50", ms(total?.ttffP50Ms), "ops-ttff50"),
    stat("p95", ms(total?.ttffP95Ms), "ops-ttff95"),
    stat("p99", ms(total?.ttffP99Ms), "ops-ttff99"),
    stat("rebuffer ratio", pct(total?.rebufferRatio, 2), "ops-rebuffer"),
    stat("error rate", pct(total?.errorRate, 2), "ops-errors"),
    // -1 is the contract's "could not be read": no tile rather than a wrong number.
    queue === null || queue === undefined || num(queue) < 0 ? null : stat("encode queue", String(num(queue)), "ops-queue"));
}

/** A table of aggregates with a TTFF bar scaled to the largest p95 of the group. */
function aggregates(h, heading, rows, key, link) {
  if (!rows?.length) return h("section.panel", {}, h("h2", {}, heading), h("p.empty", {}, "No plays in the window."));
  const worst = Math.max(...rows.map((r) => num(r.ttffP95Ms)), 1);
  return h("section.panel", { "aria-label": heading },
    h("h2", {}, heading),
    h("table.ops", {},
      h("thead", {}, h("tr", {}, ["", "plays", "TTFF p50", "p95", "p99", "rebuffer", "errors"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {},
        h("th", { scope: "row" }, link ? link(r) : r[key] || "—"),
        h("td", {}, String(num(r.plays))),
        h("td", {}, h("span.inline-bar", {}, h("span", { style: `width:${(num(r.ttffP50Ms) / worst) * 100}%` })), ms(r.ttffP50Ms)),
        h("td", {}, ms(r.ttffP95Ms)),
        h("td", {}, ms(r.ttffP99Ms)),
        h("td", {}, pct(r.rebufferRatio, 2)),
        h("td", {}, pct(r.errorRate, 2)))))));
}

function edgesPanel(h, edges) {
  return h("section.panel", { "aria-label": "Edges", id: "ops-edges" },
    h("h2", {}, "Edge cache hit ratio"),
    edges?.length
      ? edges.map((e) => bar(h, `${e.edge || "edge"} (${e.regionCode || "?"})`, e.hitRatio,
        e.reachable === false ? "unreachable" : `${pct(e.hitRatio)} of ${num(e.requests)}`,
        e.reachable === false ? "bad" : num(e.hitRatio) < 0.5 ? "warn" : "good"))
      : h("p.empty", {}, "No edge reports yet."));
}

const METRIC = {
  METRIC_PLAYS_PER_PROFILE_DAY: "plays per profile-day",
  METRIC_HOURS_PER_PROFILE_DAY: "hours per profile-day",
  METRIC_RETENTION_7D: "7-day retention",
  METRIC_TTFF_MS: "time to first frame (ms)",
  METRIC_PLAY_ERROR_RATE: "play error rate",
};
const signed = (v, digits = 3) => `${num(v) >= 0 ? "+" : ""}${num(v).toFixed(digits)}`;

/** One experiment's read-out: per variant the primary metric against control with its interval,
 * and the sample-ratio check (a broken split is flagged, its numbers not to be read). */
function experimentPanel(h, report) {
  const e = report.experiment || {};
  const id = String(e.name || "").replace(/^experiments\//, "");
  const state = String(e.state || "").replace("EXPERIMENT_STATE_", "").toLowerCase();
  const variants = report.variants || [];
  const primary = variants[0]?.primary?.metric;
  return h("section.panel", { "aria-label": `Experiment ${id}`, "data-experiment": id },
    h("h3", {}, `${e.displayName || id} `, h("span.live", {}, `${state} · layer ${e.layer || "?"}`)),
    report.sampleRatioMismatch
      ? h("p.empty.bad", { role: "alert" }, `Sample ratio mismatch (p = ${num(report.srmPValue).toExponential(1)}): the split is broken; do not read these numbers.`)
      : null,
    h("table.ops", {},
      h("caption", {}, `${METRIC[primary] || primary || "primary metric"}, ${num(report.confidencePercent) || 95}% intervals`),
      h("thead", {}, h("tr", {}, ["variant", "profiles", "share", "mean", "Δ vs control", "interval", "p"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, variants.map((v, i) => {
        const m = v.primary || {};
        return h("tr", { "data-variant": v.variant },
          h("th", { scope: "row" }, v.variant + (i === 0 ? " (control)" : "")),
          h("td", {}, String(num(v.exposedProfiles))),
          h("td", {}, `${num(v.expectedSharePercent)}%`),
          h("td", {}, num(m.mean).toFixed(3)),
          h("td", {}, i === 0 ? "—" : `${signed(m.delta)} (${signed(num(m.relativeDelta) * 100, 1)}%)`),
          h("td", {}, i === 0 ? "—" : `[${signed(m.deltaCiLow)}, ${signed(m.deltaCiHigh)}]`),
          h("td", {}, i === 0 ? "—" : num(m.pValue).toFixed(3)));
      }))),
    (report.guardrailViolations || []).length
      ? h("ul.recs", {}, report.guardrailViolations.map((g) => h("li", {}, h("strong", {}, "Guardrail "), g)))
      : null);
}

/** The running and stopped experiments' read-outs; a note instead when none or not allowed. */
async function experimentsSection(api, h) {
  let listed;
  try {
    listed = await api.experiments();
  } catch (error) {
    if (error instanceof ApiError) {
      return h("section.panel", { id: "ops-experiments" }, h("h2", {}, "Experiments"),
        h("p.empty", {}, "Experiments are not available in this deployment."));
    }
    throw error;
  }
  const shown = (listed.experiments || []).filter((e) => e.state !== "EXPERIMENT_STATE_DRAFT");
  const reports = await Promise.all(shown.map((e) => api.experimentReport(e.name).catch(() => null)));
  const drawn = reports.filter(Boolean);
  return h("section", { id: "ops-experiments", "aria-label": "Experiments" },
    h("h2", {}, "Experiments"),
    drawn.length ? drawn.map((r) => experimentPanel(h, r)) : h("p.empty", {}, "No running experiments."));
}

async function drawOverview({ api, h, show, isCurrent }) {
  let overview;
  try {
    overview = await api.overview(300);
  } catch (error) {
    const note = unavailable(h, error);
    if (!note) throw error;
    show(h("h1", {}, "Operations"), note);
    return false;
  }
  const experiments = await experimentsSection(api, h);
  if (!isCurrent()) return false;
  const titleLink = (r) => h("a", { href: `#/ops/${String(r.title || "").replace(/^titles\//, "")}` }, r.title || "—");
  const focused = document.activeElement?.getAttribute?.("href");
  show(
    h("div.opshead", {}, h("h1", {}, "Operations"),
      h("span.live", { id: "ops-updated" }, `live · last ${num(overview.windowSeconds) || 300} s · updated ${new Date(overview.computeTime || Date.now()).toLocaleTimeString()}`)),
    tiles(h, overview.total, overview.encodeQueueDepth),
    h("div.opsgrid", {},
      edgesPanel(h, overview.edges),
      h("section.panel", { "aria-label": "Renditions" }, h("h2", {}, "Plays by rendition"),
        (overview.byRendition || []).length
          ? (() => {
            const most = Math.max(...overview.byRendition.map((r) => num(r.plays)), 1);
            return overview.byRendition.map((r) => bar(h, r.rendition || "?", num(r.plays) / most, `${num(r.plays)} plays`));
          })()
          : h("p.empty", {}, "No plays in the window."))),
    aggregates(h, "By title", overview.byTitle, "title", titleLink),
    aggregates(h, "By region", overview.byRegion, "regionCode"),
    aggregates(h, "By edge", overview.byEdge, "edge"),
    experiments,
  );
  if (focused) document.querySelector(`main a[href="${CSS.escape(focused)}"]`)?.focus();
  return true;
}

const ADVICE = {
  LADDER_ADVICE_KEEP: "Keep",
  LADDER_ADVICE_ADD_RUNG: "Add a rung",
  LADDER_ADVICE_DROP_RUNG: "Drop a rung",
  LADDER_ADVICE_INSUFFICIENT_DATA: "Not enough data",
};

async function drawReport({ api, h, show }, id) {
  let report;
  try {
    report = await api.qoeReport(`titles/${id}`);
  } catch (error) {
    const note = unavailable(h, error);
    if (!note) throw error;
    show(h("h1", {}, `QoE · ${id}`), note);
    return;
  }
  const rungs = report.rungs || [];
  const played = Math.max(...rungs.map((r) => num(r.secondsPlayed)), 1);
  show(
    h("p", {}, h("a", { href: "#/ops" }, "← Operations")),
    h("h1", { id: "report-heading" }, `QoE · ${id}`),
    tiles(h, report.total, null),
    h("section.panel", { "aria-label": "Rungs", id: "report-rungs" }, h("h2", {}, "Ladder"),
      rungs.length
        ? h("table.ops", {},
          h("thead", {}, h("tr", {}, ["rung", "watched", "stalls", "down from", "up to", "VMAF"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rungs.map((r) => h("tr", {},
            h("th", { scope: "row" }, `${r.rendition} · ${(num(r.bitrateBps) / 1e6).toFixed(2)} Mb/s`),
            h("td", {}, h("span.inline-bar", {}, h("span", { style: `width:${(num(r.secondsPlayed) / played) * 100}%` })), `${num(r.secondsPlayed).toFixed(0)} s`),
            h("td", {}, String(num(r.stalls))),
            h("td", {}, String(num(r.downswitchesFrom))),
            h("td", {}, String(num(r.upswitchesTo))),
            h("td", {}, r.vmaf ? num(r.vmaf).toFixed(1) : "—")))))
        : h("p.empty", {}, "No plays of this title in the window.")),
    h("section.panel", { "aria-label": "Recommendations", id: "report-recommendations" }, h("h2", {}, "Recommendations"),
      (report.recommendations || []).length
        ? h("ul.recs", {}, report.recommendations.map((r) => h("li", {},
          h("strong", {}, ADVICE[r.advice] || r.advice), r.rendition ? ` ${r.rendition}` : "",
          r.suggestedHeight ? ` ${r.rendition === `${r.suggestedHeight}p` ? "at" : `→ ${r.suggestedHeight}p at`} ${(num(r.suggestedBitrateBps) / 1e6).toFixed(2)} Mb/s` : "",
          r.reason ? h("p", {}, r.reason) : null)))
        : h("p.empty", {}, "No recommendations.")),
  );
}

/** #/ops (live overview) or #/ops/<title id> (one title's report). */
export async function viewOperations(ctx) {
  ctx.show(ctx.h("p.empty", { "aria-busy": "true" }, "Loading…"));
  if (ctx.arg) return drawReport(ctx, ctx.arg);
  if (!(await drawOverview(ctx))) return;
  const loop = async () => {
    if (!ctx.isCurrent()) return;
    try {
      if (!(await drawOverview(ctx))) return;
    } catch {
      // keep the last drawing; try again at the next tick
    }
    setTimeout(loop, REFRESH_MS);
  };
  setTimeout(loop, REFRESH_MS);
}
