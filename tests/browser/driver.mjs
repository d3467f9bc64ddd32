// Drives Debian's headless Chromium (playwright-core, no downloaded browser) through the test
// page: the real @adobe/alloy renders a `__view__` proposition from a Vantage edge and sends its
// display notification. Records every request alloy makes and its response, checks them, saves
// a screenshot, and exits non-zero with a clear message on any failure.
//
//   node driver.mjs --url http://localhost:PORT/ --org-id ORG@AdobeOrg --expect-text "…"
//                   [--selector "#hero"] [--artifacts DIR] [--timeout-ms 20000]
//                   [--chromium /usr/bin/chromium] [--loopback 127.0.0.1] [--allow-missing-display]
//
// Without --url the driver serves dist/ itself on a loopback port (http://localhost:PORT/).
// --loopback IP: Chromium resolves `localhost` to that loopback address (page and edge both
// listen there), for when another server already holds 127.0.0.1:443.
// Exit codes: 0 passed, 1 a check failed, 2 bad usage or missing prerequisite, 3 watchdog.

import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = {
    url: null,
    orgId: "53A16ACB5CC1D3760A495C99@AdobeOrg",
    datastreamId: "vantage-browser-test",
    edgeDomain: "localhost",
    expectText: null,
    selector: "#hero",
    artifacts: join(here, "test-artifacts"),
    timeoutMs: 20000,
    chromium: process.env.CHROMIUM || "/usr/bin/chromium",
    allowMissingDisplay: false,
    loopback: "127.0.0.1",
  };
  const flags = {
    "--url": "url",
    "--org-id": "orgId",
    "--datastream-id": "datastreamId",
    "--edge-domain": "edgeDomain",
    "--expect-text": "expectText",
    "--selector": "selector",
    "--artifacts": "artifacts",
    "--timeout-ms": "timeoutMs",
    "--chromium": "chromium",
    "--loopback": "loopback",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--allow-missing-display") {
      opts.allowMissingDisplay = true;
    } else if (flags[a] && i + 1 < argv.length) {
      opts[flags[a]] = argv[++i];
    } else {
      usage(`unknown or incomplete argument: ${a}`);
    }
  }
  opts.timeoutMs = Number(opts.timeoutMs);
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) usage("--timeout-ms must be a positive number");
  if (!/^127\.\d+\.\d+\.\d+$/.test(opts.loopback)) usage("--loopback must be an address in 127.0.0.0/8");
  return opts;
}

function usage(msg) {
  console.error(`driver: ${msg}`);
  console.error(
    "usage: node driver.mjs [--url URL] [--org-id ORG] [--expect-text TEXT] [--selector SEL] " +
      "[--artifacts DIR] [--timeout-ms MS] [--chromium PATH] [--loopback IP] [--allow-missing-display]",
  );
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));

// A hard stop, whatever hangs (browser launch, a request that never answers, …).
const watchdogMs = opts.timeoutMs * 4 + 30000;
const watchdog = setTimeout(() => {
  console.error(`driver: FAILED: watchdog: still running after ${watchdogMs} ms`);
  process.exit(3);
}, watchdogMs);
watchdog.unref();

if (!existsSync(opts.chromium)) {
  console.error(
    `driver: FAILED: no Chromium at ${opts.chromium} (Debian: apt-get install -y chromium; or set CHROMIUM / --chromium)`,
  );
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Optional static server for dist/ (manual runs; the Rust test serves the page itself).

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".map": "application/json" };

async function serveDist() {
  const root = join(here, "dist");
  if (!existsSync(join(root, "index.html"))) {
    console.error("driver: FAILED: dist/index.html is missing: run `node build.mjs` first");
    process.exit(2);
  }
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(root, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": types[extname(file)] || "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, opts.loopback, resolve));
  return { server, url: `http://localhost:${server.address().port}/` };
}

// ---------------------------------------------------------------------------------------------

const cookiePrefix = `kndctr_${opts.orgId.replace("@", "_")}_`;
const identityCookie = `${cookiePrefix}identity`;

const failures = [];
const warnings = [];
const fail = (msg) => failures.push(msg);
const warn = (msg) => warnings.push(msg);

/** Every request to the edge, in order, with its response. */
const exchanges = [];
/** Requests to hosts that are neither the page's nor the edge's (e.g. adobedc.demdex.net). */
const foreign = [];
const consoleLines = [];

function parseJson(text) {
  if (text == null || text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function eventTypes(body) {
  return ((body && body.events) || []).map((e) => (e && e.xdm && e.xdm.eventType) || "(none)");
}

function describe(x) {
  const resp = x.response
    ? `${x.response.status}`
    : x.failure
      ? `failed (${x.failure})`
      : "no response";
  return `${x.method} ${x.path}${x.search} [${eventTypes(x.body).join(", ") || "no events"}] -> ${resp}`;
}

/** What report.json gets besides the exchanges. */
const runInfo = {};
let pageOrigin = null;
let server = null;
let context = null;
let userDataDir = null;

async function main() {
  let url = opts.url;
  if (!url) {
    const s = await serveDist();
    server = s.server;
    url = s.url;
  }
  const pageUrl = new URL(url);
  pageOrigin = pageUrl.origin;
  for (const [k, v] of [
    ["orgId", opts.orgId],
    ["datastreamId", opts.datastreamId],
    ["edgeDomain", opts.edgeDomain],
  ]) {
    if (!pageUrl.searchParams.has(k)) pageUrl.searchParams.set(k, v);
  }
  const edgeOrigin = `https://${opts.edgeDomain}`;
  mkdirSync(opts.artifacts, { recursive: true });

  userDataDir = mkdtempSync(join(tmpdir(), "vantage-chromium-"));
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
  ];
  if (opts.loopback !== "127.0.0.1") args.push(`--host-resolver-rules=MAP localhost ${opts.loopback}`);
  console.log(`driver: launching ${opts.chromium} (user data dir ${userDataDir})`);
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    args,
    ignoreHTTPSErrors: true,
    viewport: { width: 1000, height: 700 },
    timeout: opts.timeoutMs,
  });
  context.setDefaultTimeout(opts.timeoutMs);

  const byRequest = new Map();
  context.on("request", (req) => {
    const u = new URL(req.url());
    if (u.origin === pageOrigin || u.protocol === "data:" || u.protocol === "blob:") return;
    if (u.origin !== edgeOrigin) {
      foreign.push(`${req.method()} ${req.url()}`);
      return;
    }
    const postData = req.postData();
    const x = {
      at: new Date().toISOString(),
      method: req.method(),
      url: req.url(),
      path: u.pathname,
      search: u.search,
      resourceType: req.resourceType(),
      requestHeaders: req.headers(),
      rawBody: postData,
      body: parseJson(postData),
      response: null,
      failure: null,
    };
    exchanges.push(x);
    byRequest.set(req, x);
  });
  // Status and headers as soon as they arrive (a CORS-blocked response still shows up here).
  context.on("response", async (resp) => {
    const x = byRequest.get(resp.request());
    if (!x) return;
    try {
      const headers = await resp.allHeaders();
      if (!x.response) x.response = { status: resp.status(), headers, rawBody: null, body: null };
      x.requestHeaders = await resp.request().allHeaders();
    } catch {
      /* the page went away */
    }
  });
  context.on("requestfinished", async (req) => {
    const x = byRequest.get(req);
    if (!x) return;
    try {
      const resp = await req.response();
      if (!resp) return;
      const headers = await resp.allHeaders();
      let text = null;
      try {
        text = (await resp.body()).toString("utf8");
      } catch {
        text = null;
      }
      x.response = { status: resp.status(), headers, rawBody: text, body: parseJson(text) };
    } catch (e) {
      x.failure = `reading the response: ${e.message}`;
    }
  });
  context.on("requestfailed", async (req) => {
    const x = byRequest.get(req);
    if (!x) return;
    x.failure = (req.failure() && req.failure().errorText) || "failed";
  });

  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e.message}`));

  console.log(`driver: loading ${pageUrl.href}`);
  await page.goto(pageUrl.href, { waitUntil: "load", timeout: opts.timeoutMs });

  // 1. sendEvent settles (alloy rejects on a non-2xx status or a malformed body).
  let state;
  try {
    await page.waitForFunction(() => window.__vantage && window.__vantage.status !== "pending", null, {
      timeout: opts.timeoutMs,
    });
  } catch {
    fail(`sendEvent did not settle within ${opts.timeoutMs} ms`);
  }
  state = await page.evaluate(() => window.__vantage || null);
  if (!state) fail("the page script did not run (window.__vantage missing)");
  else if (state.status === "error") fail(`sendEvent rejected: ${state.error}`);

  // 2. The personalized content.
  if (opts.expectText) {
    try {
      await page.waitForFunction(
        ([sel, text]) => {
          const el = document.querySelector(sel);
          return !!el && el.textContent.includes(text);
        },
        [opts.selector, opts.expectText],
        { timeout: state && state.status === "done" ? opts.timeoutMs : 1000 },
      );
    } catch {
      const now = await page
        .evaluate((sel) => {
          const el = document.querySelector(sel);
          return el ? el.innerHTML : null;
        }, opts.selector)
        .catch(() => null);
      fail(`${opts.selector} never contained ${JSON.stringify(opts.expectText)}; it holds ${JSON.stringify(now)}`);
    }
  }

  // 3. The display notification and its response.
  const isDisplay = (x) => eventTypes(x.body).includes("decisioning.propositionDisplay");
  const settled = (x) => x.response || x.failure;
  const deadline = Date.now() + (state && state.status === "done" ? opts.timeoutMs : 1000);
  while (Date.now() < deadline && !exchanges.some((x) => isDisplay(x) && settled(x))) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // Let in-flight response bodies be read.
  await new Promise((r) => setTimeout(r, 300));

  // 4. Cookies as the browser holds them.
  const cookies = await context.cookies();
  const screenshot = join(opts.artifacts, "page.png");
  await page.screenshot({ path: screenshot, fullPage: true }).catch((e) => warn(`screenshot failed: ${e.message}`));

  check({ state, cookies, isDisplay });

  runInfo.pageUrl = pageUrl.href;
  runInfo.edgeOrigin = edgeOrigin;
  runInfo.state = state;
  runInfo.cookies = cookies;

  console.log(`driver: ${exchanges.length} request(s) to ${edgeOrigin}:`);
  for (const x of exchanges) console.log(`  ${describe(x)}`);
  for (const w of warnings) console.log(`driver: warning: ${w}`);
  console.log(`driver: screenshot ${screenshot}`);
}

function check({ state, cookies, isDisplay }) {
  if (foreign.length) fail(`alloy contacted hosts other than the edge: ${foreign.join("; ")}`);
  if (!exchanges.length) {
    fail("alloy sent no request to the edge");
    return;
  }

  const cors = (x, what) => {
    if (!x.response) return;
    const h = x.response.headers;
    if (h["access-control-allow-origin"] !== pageOrigin) {
      fail(
        `${what}: Access-Control-Allow-Origin is ${JSON.stringify(h["access-control-allow-origin"] ?? null)}, ` +
          `expected the exact page origin ${JSON.stringify(pageOrigin)}`,
      );
    }
    if (h["access-control-allow-credentials"] !== "true") {
      fail(
        `${what}: Access-Control-Allow-Credentials is ${JSON.stringify(h["access-control-allow-credentials"] ?? null)}, expected "true"`,
      );
    }
  };
  const answered = (x, what) => {
    if (x.failure) fail(`${what}: the request failed in the browser: ${x.failure}`);
    if (!x.response) {
      fail(`${what}: no response`);
      return false;
    }
    const { status, body, rawBody } = x.response;
    if (status < 200 || status > 299) {
      fail(`${what}: status ${status}: ${(rawBody || "").slice(0, 400)}`);
      return false;
    }
    if (!(status === 204 && !rawBody) && !(body && Array.isArray(body.handle))) {
      fail(`${what}: status ${status} without a JSON body holding a "handle" array: ${(rawBody || "").slice(0, 400)}`);
      return false;
    }
    return true;
  };
  const handles = (x, type) =>
    ((x.response && x.response.body && x.response.body.handle) || [])
      .filter((h) => h && h.type === type)
      .flatMap((h) => h.payload || []);

  // The page view.
  const view = exchanges.find((x) => eventTypes(x.body).includes("web.webpagedetails.pageViews"));
  if (!view) {
    fail("no request carried the web.webpagedetails.pageViews event");
  } else {
    const what = `page view (${view.method} ${view.path})`;
    if (!/\/v1\/interact$/.test(view.path)) fail(`${what}: expected the interact endpoint`);
    const q = view.body && view.body.events && view.body.events[0] && view.body.events[0].query;
    const scopes = (q && q.personalization && q.personalization.decisionScopes) || [];
    if (!scopes.includes("__view__")) fail(`${what}: alloy did not ask for __view__ (decisionScopes ${JSON.stringify(scopes)})`);
    cors(view, what);
    if (answered(view, what)) {
      const ids = handles(view, "identity:result");
      if (!ids.some((i) => i && i.namespace && i.namespace.code === "ECID" && /^\d{38}$/.test(i.id))) {
        fail(`${what}: no identity:result with a 38-digit ECID: ${JSON.stringify(ids)}`);
      }
      const stored = handles(view, "state:store");
      if (!stored.some((s) => s && s.key === identityCookie)) {
        fail(`${what}: no state:store entry for ${identityCookie}: ${JSON.stringify(stored)}`);
      }
      const props = handles(view, "personalization:decisions");
      const viewProps = props.filter((p) => p && p.scope === "__view__");
      if (!viewProps.length) fail(`${what}: no __view__ proposition in personalization:decisions: ${JSON.stringify(props)}`);
    }
  }
  if (state && state.status === "done" && !(state.rendered || []).length) {
    fail(`sendEvent resolved but alloy rendered no proposition: ${JSON.stringify(state.propositions)}`);
  }

  // The display notification.
  const display = exchanges.find(isDisplay);
  if (!display) {
    if (opts.allowMissingDisplay) warn("no display notification was sent");
    else fail("alloy sent no decisioning.propositionDisplay notification");
  } else {
    const what = `display notification (${display.method} ${display.path})`;
    const xdm = display.body.events[0].xdm;
    const props = (xdm._experience && xdm._experience.decisioning && xdm._experience.decisioning.propositions) || [];
    if (!props.length) fail(`${what}: carries no propositions`);
    if (!/\/v1\/(interact|collect)$/.test(display.path)) fail(`${what}: unexpected endpoint`);
    if (display.resourceType !== "ping") cors(display, what);
    if (display.resourceType === "ping") {
      // sendBeacon: the response is ignored by the browser; only the status matters to us.
      if (!display.response || display.response.status < 200 || display.response.status > 299) {
        fail(`${what}: beacon answered ${display.response ? display.response.status : "nothing"}`);
      }
    } else {
      answered(display, what);
    }
    const entries = (display.body.meta && display.body.meta.state && display.body.meta.state.entries) || [];
    if (!entries.some((e) => e && e.key === identityCookie)) {
      warn(`${what}: meta.state.entries did not carry ${identityCookie}`);
    }
  }

  // The identity cookie, as written by alloy from state:store (or by Set-Cookie).
  const idCookie = cookies.find((c) => c.name === identityCookie);
  if (!idCookie) {
    fail(`no ${identityCookie} cookie in the browser; cookies: ${cookies.map((c) => `${c.name}@${c.domain}`).join(", ") || "none"}`);
  } else {
    console.log(`driver: cookie ${idCookie.name} on ${idCookie.domain} = ${idCookie.value}`);
  }
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  fail(`driver error: ${(e && e.stack) || e}`);
}
try {
  mkdirSync(opts.artifacts, { recursive: true });
  writeFileSync(
    join(opts.artifacts, "report.json"),
    JSON.stringify(
      { ...runInfo, passed: failures.length === 0, failures, warnings, exchanges, foreign, console: consoleLines },
      null,
      2,
    ),
  );
  writeFileSync(join(opts.artifacts, "console.log"), consoleLines.join("\n") + "\n");
  console.log(`driver: every request and response: ${join(opts.artifacts, "report.json")}`);
} catch (e) {
  console.error(`driver: could not write the report: ${e.message}`);
}
if (failures.length) {
  exitCode = 1;
  console.error("driver: FAILED:");
  for (const f of failures) console.error(`  - ${f}`);
  const alloyErrors = consoleLines.filter((l) => /^\[(error|warning|pageerror)\]/.test(l));
  if (alloyErrors.length) {
    console.error("driver: browser console errors/warnings:");
    for (const l of alloyErrors.slice(0, 20)) console.error(`  ${l.slice(0, 600)}`);
  }
} else {
  console.log("driver: PASSED: personalized content rendered and its display notification answered");
}
await Promise.race([
  (async () => {
    if (context) await context.close().catch(() => {});
  })(),
  new Promise((r) => setTimeout(r, 10000)),
]);
if (server) server.close();
if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
process.exit(exitCode);
