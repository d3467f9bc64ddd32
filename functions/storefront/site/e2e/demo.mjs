// Drives Debian's headless Chromium (playwright-core, no downloaded browser) through the demo
// storefront served by `vantage up --tls-dev` on https://localhost/ after `vantage demo seed`,
// one fresh visitor (browser context) per scenario, and checks that the personalized content
// appears. Screenshots and report.json go to --artifacts. Used by tests/tests/demo.rs:
//
//   node e2e/demo.mjs --url https://localhost/ --artifacts DIR --link "CMD …"
//                     [--chromium /usr/bin/chromium] [--timeout-ms 20000]
//
// --link is a shell command that links an ECID to the CRM's gold customer (the test passes
// `vantage demo link {ecid} --customer c-1001 …`; `{ecid}` is replaced).
// Exit codes: 0 passed, 1 a check failed, 2 bad usage or missing prerequisite, 3 watchdog.

import { chromium } from "playwright-core";
import { execSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const opts = { url: "https://localhost/", artifacts: "test-artifacts", link: null, chromium: "/usr/bin/chromium", timeoutMs: 20000 };
const flags = { "--url": "url", "--artifacts": "artifacts", "--link": "link", "--chromium": "chromium", "--timeout-ms": "timeoutMs" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (!flags[argv[i]] || i + 1 >= argv.length) {
    console.error(`demo: unknown or incomplete argument ${argv[i]}`);
    process.exit(2);
  }
  opts[flags[argv[i]]] = argv[++i];
}
opts.timeoutMs = Number(opts.timeoutMs);
if (!existsSync(opts.chromium)) {
  console.error(`demo: FAILED: no Chromium at ${opts.chromium} (Debian: apt-get install -y chromium)`);
  process.exit(2);
}
const watchdogMs = opts.timeoutMs * 12 + 60000;
setTimeout(() => {
  console.error(`demo: FAILED: watchdog: still running after ${watchdogMs} ms`);
  process.exit(3);
}, watchdogMs).unref();

mkdirSync(opts.artifacts, { recursive: true });
const origin = new URL(opts.url).origin;
const failures = [];
const steps = [];
const consoleLines = [];
const foreign = [];

function check(ok, what) {
  steps.push({ ok: !!ok, what });
  console.log(`demo: ${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
}

const userDataDir = mkdtempSync(join(tmpdir(), "vantage-demo-chromium-"));
const browser = await chromium.launch({
  executablePath: opts.chromium,
  headless: true,
  // The dev certificate is trusted by nobody in a fresh test browser.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
  timeout: opts.timeoutMs,
});

/** A new visitor: a fresh context (no cookies, no storage). */
async function visitor(name) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(opts.timeoutMs);
  context.on("request", (req) => {
    const u = new URL(req.url());
    if (u.origin !== origin && !["data:", "blob:"].includes(u.protocol)) foreign.push(`${name}: ${req.method()} ${req.url()}`);
  });
  const page = await context.newPage();
  page.on("console", (m) => consoleLines.push(`${name} [${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`${name} [pageerror] ${e.message}`));
  return { context, page };
}

/** Waits until the page script finished its work (no alloy call in flight). */
async function settled(page) {
  await page.waitForFunction(() => window.__demo && window.__demo.ready && window.__demo.busy === 0, null, {
    timeout: opts.timeoutMs,
  });
  // A render that alloy applies after resolving sendEvent (e.g. waiting for a selector).
  await page.waitForTimeout(300);
  return page.evaluate(() => JSON.parse(JSON.stringify(window.__demo)));
}

async function load(page) {
  await page.goto(opts.url, { waitUntil: "load", timeout: opts.timeoutMs });
  return settled(page);
}

const attr = (page, sel, name) =>
  page.evaluate(([s, n]) => {
    const el = document.querySelector(s);
    return el ? el.getAttribute(n) : null;
  }, [sel, name]);
const text = (page, sel) => page.evaluate((s) => (document.querySelector(s) || {}).textContent || "", sel);

async function shot(page, name) {
  await page.screenshot({ path: join(opts.artifacts, `${name}.png`), fullPage: true });
}

async function waitFor(page, sel, what) {
  try {
    await page.waitForSelector(sel, { timeout: opts.timeoutMs, state: "attached" });
    return true;
  } catch {
    check(false, `${what}: ${sel} never appeared`);
    return false;
  }
}

const results = {};

async function scenario(name, body) {
  console.log(`demo: --- ${name}`);
  const v = await visitor(name);
  try {
    await body(v.page);
  } catch (e) {
    check(false, `${name}: ${(e && e.stack) || e}`);
    await shot(v.page, `${name}-error`).catch(() => {});
  } finally {
    const state = await v.page.evaluate(() => window.__demo).catch(() => null);
    if (state && state.errors && state.errors.length) check(false, `${name}: page errors: ${state.errors.join("; ")}`);
    results[name] = state;
    await v.context.close();
  }
}

// 1. Landing-page optimization: the hero is one of the A/B test's experiences, and stays the
//    same on a reload (sticky bucketing by ECID).
await scenario("1-hero-ab-test", async (page) => {
  const state = await load(page);
  if (await waitFor(page, "#hero [data-experience]", "hero A/B test")) {
    const first = await attr(page, "#hero [data-experience]", "data-experience");
    check(["A", "B"].includes(first), `the hero shows experience ${first} of demo-hero`);
    check(state.decisions.some((d) => d.activity === "demo-hero" && d.scope === "__view__"), "demo-hero decided for __view__");
    await shot(page, "1-hero-ab-test");
    await load(page);
    await waitFor(page, "#hero [data-experience]", "hero after reload");
    const again = await attr(page, "#hero [data-experience]", "data-experience");
    check(again === first, `the same experience after a reload (${first} then ${again})`);
  }
});

// 2. Behavioural targeting: with no history the recommendation is the bestsellers; one shoe view
//    makes it shoes in the same request, and makes the visitor a member of the shoe-shopper edge
//    segment, whose banner shows on the next page view.
await scenario("2-behavioural", async (page) => {
  await load(page);
  await waitFor(page, "#recommended [data-category]", "default recommendation");
  check((await attr(page, "#recommended [data-category]", "data-category")) === "bestsellers", "no history: the bestsellers");
  check((await text(page, "#loyalty")).trim() === "", "no banner for a new visitor");
  await page.click('#products li[data-sku="shoe-ridge"] button');
  await settled(page);
  await page.waitForSelector('#recommended [data-category="shoes"]', { timeout: opts.timeoutMs }).catch(() => {});
  const category = await attr(page, "#recommended [data-category]", "data-category");
  check(category === "shoes", `after viewing a trail shoe the recommendation is ${category} (expected shoes)`);
  await shot(page, "2-recommended-shoes");
  await load(page);
  if (await waitFor(page, '#loyalty [data-banner="shoe-shopper"]', "shoe-shopper banner")) {
    check(true, "the shoe-shopper segment (realized at the edge by the view) shows its banner on the next page view");
  }
  const after = await attr(page, "#recommended [data-category]", "data-category");
  check(after === "shoes", `the recommendation is still ${after} on the next page view (expected shoes)`);
  await shot(page, "2-shoe-shopper-banner");
});

// 3. Offline targeting: the hub links this browser's ECID to CRM customer c-1001 (gold); the
//    next page view shows the gold banner without any login.
await scenario("3-offline", async (page) => {
  const state = await load(page);
  check((await text(page, "#loyalty")).trim() === "", "no banner before the CRM knows this browser");
  check(/^\d{38}$/.test(state.ecid || ""), `the page shows the ECID (${state.ecid})`);
  if (!opts.link) {
    check(false, "no --link command given");
    return;
  }
  const cmd = opts.link.replaceAll("{ecid}", state.ecid);
  console.log(`demo: ${cmd}`);
  try {
    console.log(execSync(cmd, { encoding: "utf8", timeout: opts.timeoutMs }).trim());
  } catch (e) {
    check(false, `the link command failed: ${e.message}\n${e.stdout || ""}${e.stderr || ""}`);
    return;
  }
  await load(page);
  if (await waitFor(page, '#loyalty [data-banner="gold"]', "gold banner after the offline link")) {
    check(true, "linked offline: the gold banner shows on the next page view, not logged in");
  }
  await shot(page, "3-offline-gold-banner");
});

// 4. First-login personalization: logging in as Ada sends identityMap.CRMID; the same response
//    carries the gold banner (no reload). Grace (silver) gets none.
await scenario("4-first-login", async (page) => {
  await load(page);
  check((await text(page, "#loyalty")).trim() === "", "anonymous: no banner");
  await page.click('button.login[data-customer="c-1001"]');
  const state = await settled(page);
  if (await waitFor(page, '#loyalty [data-banner="gold"]', "gold banner after login")) {
    check(true, "logged in as Ada: the gold banner at once, in the login's own response");
  }
  check(state.requests >= 2 && (await text(page, "#who")).includes("Ada"), "the header greets Ada");
  check(
    state.decisions.some((d) => d.what === "login" && d.activity === "demo-loyalty-banner" && d.experience === "gold"),
    "the login response decided demo-loyalty-banner / gold",
  );
  await shot(page, "4-first-login-gold-banner");
});

await scenario("4b-login-silver", async (page) => {
  await load(page);
  await page.click('button.login[data-customer="c-1002"]');
  const state = await settled(page);
  check(state.decisions.some((d) => d.what === "login"), "Grace's login was answered");
  check(!(await page.$('#loyalty [data-banner="gold"]')), "Grace (CRM silver) gets no gold banner");
});

check(foreign.length === 0, `no request left the page's origin${foreign.length ? `: ${foreign.join("; ")}` : ""}`);

await browser.close().catch(() => {});
rmSync(userDataDir, { recursive: true, force: true });
writeFileSync(
  join(opts.artifacts, "report.json"),
  JSON.stringify({ passed: failures.length === 0, failures, steps, results, foreign, console: consoleLines }, null, 2),
);
if (failures.length) {
  console.error("demo: FAILED:");
  for (const f of failures) console.error(`  - ${f}`);
  for (const l of consoleLines.filter((l) => /\[(error|pageerror)\]/.test(l)).slice(0, 20)) console.error(`  ${l.slice(0, 500)}`);
  process.exit(1);
}
console.log(`demo: PASSED (${steps.length} checks); screenshots in ${opts.artifacts}`);
process.exit(0);
