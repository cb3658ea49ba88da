// vodmesh REST+JSON client for the web app (no bundler, no framework).
//
// Every path and JSON field name the app uses is in ROUTES below; field names are the protos'
// lowerCamelCase JSON names (proto/vod/*/v1/*.proto). Durations are strings like "2.5s".

/**
 * @typedef {{accessToken: string, tokenType: string, expireTime: string,
 *            refreshToken: string, refreshExpireTime: string, scope: string}} Tokens
 *   vod.accounts.v1.Tokens
 * @typedef {{name: string, email: string, displayName: string, plan: string}} User
 *   vod.accounts.v1.User (the fields the app reads)
 * @typedef {{title: string, displayName: string, artworkUri: string, watchedFraction: number,
 *            reason: string, releaseYear: number, maturityRating: string, genres: string[],
 *            synopsis: string, durationSeconds: number}} HomeItem  vod.gateway.v1.HomeItem
 * @typedef {{kind: string, heading: string, items: HomeItem[], degraded: boolean,
 *            becauseOf: string}} HomeRow  vod.gateway.v1.HomeRow
 * @typedef {{rows: HomeRow[], omitted: {kind: string, reason: string}[]}} GetHomeResponse
 * @typedef {{title: string, displayName: string, type: string, releaseYear: number,
 *            maturityRating: string, genres: string[], thumbnailUri: string}} TitleSummary
 *   vod.search.v1.TitleSummary
 * @typedef {{field: string, snippet: string, ranges: {start: number, length: number}[]}} Highlight
 * @typedef {{summary: TitleSummary, score: number, highlights: Highlight[]}} SearchHit
 * @typedef {{field: string, values: {value: string, count: number}[]}} Facet
 * @typedef {{hits: SearchHit[], nextPageToken: string, totalSize: number, facets: Facet[],
 *            correctedQuery: string}} SearchResponse  vod.search.v1.SearchResponse
 * @typedef {{kind: string, text: string, title: string, score: number}} Suggestion
 * @typedef {{name: string, profile: string, title: string, deviceType: string, deviceId: string,
 *            regionCode: string, protocol: string, sessionToken: string, manifestUrl: string,
 *            licenseUrl: string, encrypted: boolean, resumePosition: string, maxHeight: number,
 *            heartbeatInterval: string, state: string, startTime: string,
 *            expireTime: string}} PlaybackSession  vod.playback.v1.PlaybackSession
 * @typedef {{profile: string, title: string, position: string, duration: string,
 *            watchedFraction: number, completed: boolean}} ResumePoint
 * @typedef {{subject: string, description: string}} QuotaViolation  google.rpc.QuotaFailure
 */

/** The one table of paths and field names. `{x}` in a path is a resource name, inserted as is. */
export const ROUTES = Object.freeze({
  // vod.accounts.v1.AccountsService/Login
  login: { method: "POST", path: "/v1/auth:login", public: true, request: ["email", "password"], response: ["user", "tokens"] },
  // vod.accounts.v1.AccountsService/RefreshToken
  refresh: { method: "POST", path: "/v1/auth:refresh", public: true, request: ["refreshToken"], response: ["tokens"] },
  // vod.accounts.v1.AccountsService/IssueToken
  issueToken: { method: "POST", path: "/v1/{profile}:issueToken", request: ["scopes"], response: ["tokens"] },
  // vod.gateway.v1.GatewayService/GetHome
  home: { method: "GET", path: "/v1/{profile}/home", request: ["maxItemsPerRow"], response: ["rows", "omitted"] },
  // vod.search.v1.SearchService/Search
  search: { method: "GET", path: "/v1/search", request: ["query", "profile", "pageSize", "facets"], response: ["hits", "totalSize", "facets", "correctedQuery"] },
  // vod.search.v1.SearchService/Suggest
  suggest: { method: "GET", path: "/v1/search:suggest", request: ["prefix", "limit"], response: ["suggestions"] },
  // vod.playback.v1.PlaybackService/StartPlayback
  start: { method: "POST", path: "/v1/sessions:start", request: ["profile", "title", "deviceType", "deviceId", "preferredProtocol", "startPosition"], response: ["session"] },
  // vod.playback.v1.PlaybackService/Heartbeat
  heartbeat: { method: "POST", path: "/v1/{session}:heartbeat", request: ["position", "state", "bitrateBps"], response: ["expireTime", "heartbeatInterval"] },
  // vod.playback.v1.PlaybackService/StopPlayback
  stop: { method: "POST", path: "/v1/{session}:stop", request: ["position"], response: ["resumePoint"] },
  // vod.accounts.v1.AccountsService/CreateUser (sign-up)
  signUp: { method: "POST", path: "/v1/users", public: true, request: ["user", "password"], response: ["user", "profile"] },
  // vod.accounts.v1.AccountsService/ListPlans
  plans: { method: "GET", path: "/v1/plans", public: true, request: [], response: ["plans"] },
  // vod.accounts.v1.AccountsService/ListProfiles
  profiles: { method: "GET", path: "/v1/{user}/profiles", request: [], response: ["profiles"] },
  // vod.accounts.v1.AccountsService/CreateProfile
  createProfile: { method: "POST", path: "/v1/{user}/profiles", request: ["displayName", "maturityLimit"], response: ["profile"] },
  // vod.gateway.v1.QoeService/RecordQoeEvents
  qoe: { method: "POST", path: "/v1/{session}/qoe:record", request: ["batchId", "events"], response: ["accepted", "duplicate"] },
  // vod.gateway.v1.QoeService/GetOperationsOverview
  overview: { method: "GET", path: "/v1/operations:overview", request: ["windowSeconds"], response: ["total", "byTitle", "byRegion", "byEdge", "byRendition", "edges", "encodeQueueDepth"] },
  // vod.gateway.v1.QoeService/GetTitleQoeReport
  qoeReport: { method: "GET", path: "/v1/{title}/qoeReport", request: ["windowSeconds"], response: ["plays", "total", "rungs", "recommendations"] },
  // vod.experiments.v1.ExperimentsService/ListExperiments
  experiments: { method: "GET", path: "/v1/experiments", request: ["layer"], response: ["experiments"] },
  // vod.experiments.v1.ExperimentsService/GetExperimentReport
  experimentReport: { method: "GET", path: "/v1/{name}/report", request: ["confidencePercent"], response: ["experiment", "variants", "srmPValue", "sampleRatioMismatch", "guardrailViolations", "confidencePercent"] },
});

/** google.rpc.Status code numbers the app tells apart. */
export const CODE = Object.freeze({ UNAUTHENTICATED: 16, RESOURCE_EXHAUSTED: 8, NOT_FOUND: 5 });

/** An error answer: HTTP status plus the google.rpc.Status body ({code, message, details}). */
export class ApiError extends Error {
  /** @param {number} status @param {{code?: number, message?: string, details?: any[]}} body */
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code ?? null;
    this.details = Array.isArray(body?.details) ? body.details : [];
  }

  /** QuotaFailure violations in the details (StartPlayback's stream limit). @returns {QuotaViolation[]} */
  quotaViolations() {
    return this.details
      .filter((d) => String(d?.["@type"] || "").endsWith("google.rpc.QuotaFailure"))
      .flatMap((d) => d.violations || []);
  }
}

/** "12.5s" -> 12.5 (google.protobuf.Duration JSON). */
export const seconds = (duration) => parseFloat(String(duration || "0s").replace(/s$/, "")) || 0;
/** 12.5 -> "12.500s". */
export const duration = (s) => `${Math.max(0, s).toFixed(3)}s`;

export class Api {
  /**
   * @param {string} base gateway URL
   * @param {() => string | null} token bearer token getter
   * @param {() => Promise<boolean>} [renew] called once on a 401 (expired access token); true
   *   when it got a new token, and the call is retried with it
   */
  constructor(base, token, renew = async () => false) {
    this.base = base.replace(/\/+$/, "");
    this.token = token;
    this.renew = renew;
  }

  /**
   * @param {keyof typeof ROUTES} route @param {Record<string,string>} names path resource names
   * @param {object} [body] JSON body (POST) or query parameters (GET) @param {boolean} [keepalive]
   */
  async call(route, names = {}, body = undefined, keepalive = false) {
    try {
      return await this.send(route, names, body, keepalive);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401 || ROUTES[route].public) throw error;
      if (!(await this.renew())) throw error;
      return this.send(route, names, body, keepalive);
    }
  }

  /** One HTTP round trip; error answers throw ApiError. */
  async send(route, names, body, keepalive) {
    const spec = ROUTES[route];
    let path = spec.path.replace(/\{(\w+)\}/g, (_, key) => names[key]);
    const headers = {};
    const token = spec.public ? null : this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const init = { method: spec.method, headers, keepalive };
    if (spec.method === "GET") {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(body || {})) {
        if (v === undefined || v === null || v === "") continue;
        for (const one of Array.isArray(v) ? v : [v]) query.append(k, String(one));
      }
      const qs = query.toString();
      if (qs) path += `?${qs}`;
    } else {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch(this.base + path, init);
    const text = await response.text();
    let json = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, json);
    return json;
  }

  /** Login. @returns {Promise<{user: User, tokens: Tokens}>} */
  login(email, password) {
    return this.call("login", {}, { email, password });
  }

  /** RefreshToken: new tokens, same subject and scopes. @returns {Promise<{tokens: Tokens}>} */
  refresh(refreshToken) {
    return this.call("refresh", {}, { refreshToken });
  }

  /** IssueToken. @returns {Promise<{tokens: Tokens}>} */
  issueToken(profile) {
    return this.call("issueToken", { profile }, {});
  }

  /** GetHome. @returns {Promise<GetHomeResponse>} */
  home(profile) {
    return this.call("home", { profile });
  }

  /**
   * Search with facet counts; `filter` narrows by facet values ({types, genres, maturityRatings,
   * releaseYearMin, releaseYearMax}), sent as `filter.<field>` query parameters.
   * @returns {Promise<SearchResponse>}
   */
  search(query, profile, filter = {}) {
    const params = {
      query, profile, pageSize: 24,
      facets: ["FACET_FIELD_TYPE", "FACET_FIELD_GENRE", "FACET_FIELD_RELEASE_YEAR", "FACET_FIELD_MATURITY_RATING"],
    };
    for (const [k, v] of Object.entries(filter)) params[`filter.${k}`] = v;
    return this.call("search", {}, params);
  }

  /** CreateUser: a new account and its first profile. */
  signUp(email, password, displayName, plan, homeRegion) {
    return this.call("signUp", {}, { user: { email, displayName, plan, homeRegion }, password });
  }

  /** ListPlans. */
  plans() {
    return this.call("plans");
  }

  /** ListProfiles of a user (with the user-level token). */
  profiles(user) {
    return this.call("profiles", { user });
  }

  /** CreateProfile. */
  createProfile(user, displayName, maturityLimit = "MATURITY_LIMIT_ALL") {
    return this.call("createProfile", { user }, { displayName, maturityLimit });
  }

  /** RecordQoeEvents (keepalive: survives page unload). */
  recordQoe(session, batchId, events, keepalive = false) {
    return this.send("qoe", { session }, { batchId, events }, keepalive);
  }

  /** GetOperationsOverview (admin). */
  overview(windowSeconds = 300) {
    return this.call("overview", {}, { windowSeconds });
  }

  /** GetTitleQoeReport (admin). */
  qoeReport(title) {
    return this.call("qoeReport", { title });
  }

  /** ListExperiments (admin). */
  experiments() {
    return this.call("experiments", {}, {});
  }

  /** GetExperimentReport (admin): per variant the primary metric against control, SRM. */
  experimentReport(name) {
    return this.call("experimentReport", { name }, { confidencePercent: 95 });
  }

  /** Suggest. @returns {Promise<{suggestions: Suggestion[]}>} */
  suggest(prefix) {
    return this.call("suggest", {}, { prefix, limit: 6 });
  }

  /** StartPlayback. @returns {Promise<{session: PlaybackSession}>} */
  start(profile, title, deviceId) {
    return this.call("start", {}, {
      profile,
      title,
      deviceType: "DEVICE_TYPE_WEB",
      deviceId,
      preferredProtocol: "STREAMING_PROTOCOL_DASH",
    });
  }

  /** Heartbeat. @returns {Promise<{expireTime: string, heartbeatInterval: string}>} */
  heartbeat(session, position, state) {
    return this.call("heartbeat", { session }, { position: duration(position), state });
  }

  /** StopPlayback. @returns {Promise<{resumePoint: ResumePoint}>} */
  stop(session, position, keepalive = false) {
    const body = position == null ? {} : { position: duration(position) };
    return this.call("stop", { session }, body, keepalive);
  }
}
