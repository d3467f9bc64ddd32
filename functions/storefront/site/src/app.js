// The demo storefront: the real Adobe Web SDK (@adobe/alloy from npm, bundled by esbuild) pointed
// at the Vantage edge that serves this page (same origin: alloy calls https://<this host>/ee/...).
//
// Scenarios (activities from `vantage demo seed`):
//  1. landing-page optimization: demo-hero, an A/B test on __view__ (alloy renders it);
//  2. behavioural targeting: product views carry their category; the edge keeps the visitor's
//     category affinity and demo-recommendation (scope "recommended-category") ranks by it;
//  3. offline targeting: demo-loyalty-banner shows CRM gold members a banner (__view__);
//  4. first-login personalization: logging in sends identityMap.CRMID (authenticated); the edge
//     links the ECID to the CRM profile and the same response carries the gold banner.
//
// `window.__demo` reports progress for the browser test (tests/tests/demo.rs).
import { createInstance } from "@adobe/alloy";

const config = window.vantageConfig || {};
const ORG_ID = config.orgId || "53A16ACB5CC1D3760A495C99@AdobeOrg";
const REC_SCOPE = "recommended-category";
const CUSTOMER_KEY = "vantage-demo.customer";
// The demo's "CRM": who can log in (their profiles are projected by `vantage demo seed`).
const CUSTOMERS = { "c-1001": "Ada", "c-1002": "Grace" };

const demo = (window.__demo = { ready: false, busy: 0, requests: 0, errors: [], decisions: [] });
const $ = (sel) => document.querySelector(sel);

function notice(html) {
  const el = $("#notice");
  el.innerHTML = html;
  el.hidden = false;
}

function customer() {
  const id = localStorage.getItem(CUSTOMER_KEY);
  return id && CUSTOMERS[id] ? id : null;
}

/** The identityMap of every event while logged in: the CRM id, authenticated. */
function identityMap() {
  const id = customer();
  return id ? { identityMap: { CRMID: [{ id, authenticatedState: "authenticated", primary: true }] } } : {};
}

function showIdentity() {
  const id = customer();
  $("#who").textContent = id ? `Hi, ${CUSTOMERS[id]}` : "Anonymous visitor";
  $("#identity").textContent = id ? `CRMID ${id} (authenticated)` : "anonymous";
  for (const b of document.querySelectorAll("button.login")) b.hidden = !!id;
}

function logDecisions(what, propositions) {
  const list = $("#decisions");
  for (const p of propositions || []) {
    const d = p.scopeDetails || {};
    const entry = {
      what,
      scope: p.scope,
      activity: d.activity && d.activity.id,
      experience: d.experience && d.experience.id,
      items: (p.items || []).map((i) => i.id),
    };
    demo.decisions.push(entry);
    const li = document.createElement("li");
    li.textContent = `${what}: ${entry.scope} → ${entry.activity} / experience ${entry.experience} (${entry.items.join(", ")})`;
    list.prepend(li);
  }
}

const alloy = createInstance({ name: "alloy" });
window.alloy = alloy;

/** alloy's sendEvent, counted for the panel and the test. */
async function send(options, what) {
  demo.busy++;
  try {
    demo.requests++;
    $("#requests").textContent = String(demo.requests);
    const result = await alloy("sendEvent", options);
    logDecisions(what, result && result.propositions);
    return result || {};
  } catch (e) {
    demo.errors.push(`${what}: ${(e && e.message) || e}`);
    notice(`The edge call failed (${what}): <code>${String((e && e.message) || e).slice(0, 300)}</code>`);
    return {};
  } finally {
    demo.busy--;
  }
}

/**
 * Renders the recommendation (an html-content-item for a named scope: alloy renders such items
 * only through applyPropositions, with a selector) and reports its display, as a page must do
 * for propositions it renders itself.
 */
async function showRecommendation(result) {
  const propositions = (result.propositions || []).filter((p) => p.scope === REC_SCOPE);
  if (!propositions.length) return;
  demo.busy++;
  try {
    const applied = await alloy("applyPropositions", {
      propositions,
      metadata: { [REC_SCOPE]: { selector: "#recommended", actionType: "setHtml" } },
    });
    const rendered = (applied.propositions || []).filter((p) => p.renderAttempted);
    if (rendered.length) {
      await send(
        {
          xdm: {
            eventType: "decisioning.propositionDisplay",
            _experience: {
              decisioning: {
                propositions: rendered.map(({ id, scope, scopeDetails }) => ({ id, scope, scopeDetails })),
                propositionEventType: { display: 1 },
              },
            },
            ...identityMap(),
          },
        },
        "display",
      );
    }
  } catch (e) {
    demo.errors.push(`applyPropositions: ${(e && e.message) || e}`);
  } finally {
    demo.busy--;
  }
}

async function viewProduct(li) {
  li.classList.add("viewed");
  const result = await send(
    {
      xdm: {
        eventType: "commerce.productViews",
        commerce: { productViews: { value: 1 } },
        productListItems: [
          {
            SKU: li.dataset.sku,
            name: li.querySelector("strong").textContent,
            quantity: 1,
            productCategories: [{ categoryID: li.dataset.category }],
          },
        ],
        ...identityMap(),
      },
      // Same-page: the edge records this view, then ranks the recommendation with it.
      decisionScopes: [REC_SCOPE],
    },
    `view ${li.dataset.sku}`,
  );
  await showRecommendation(result);
}

async function login(id) {
  localStorage.setItem(CUSTOMER_KEY, id);
  showIdentity();
  // The login event names the CRM id; the edge links it to this browser's ECID, so what the CRM
  // projected for this customer applies in this very response. `defaultPersonalizationEnabled`
  // asks for __view__ again, and renderDecisions lets alloy render it.
  const result = await send(
    {
      renderDecisions: true,
      xdm: { eventType: "userAccount.login", ...identityMap() },
      personalization: { defaultPersonalizationEnabled: true, decisionScopes: [REC_SCOPE] },
    },
    "login",
  );
  await showRecommendation(result);
}

/** A new anonymous visitor: alloy's cookies (the ECID) and the login are forgotten. */
function startOver() {
  localStorage.removeItem(CUSTOMER_KEY);
  const host = location.hostname.split(".");
  for (const c of document.cookie.split(";")) {
    const name = c.split("=")[0].trim();
    if (!name.startsWith("kndctr_") && !name.startsWith("AMCV_")) continue;
    document.cookie = `${name}=; Max-Age=0; path=/`;
    for (let i = 0; i < host.length - 1; i++) {
      document.cookie = `${name}=; Max-Age=0; path=/; domain=${host.slice(i).join(".")}`;
    }
  }
  location.reload();
}

async function main() {
  showIdentity();
  $("#reset").addEventListener("click", startOver);
  for (const b of document.querySelectorAll("button.login")) {
    b.addEventListener("click", () => login(b.dataset.customer));
  }
  for (const li of document.querySelectorAll("#products li")) {
    li.querySelector("button").addEventListener("click", () => viewProduct(li));
  }

  // alloy hard-codes https and port 443, and edgeDomain may not carry a port.
  const onEdge = location.protocol === "https:" && (location.port === "" || location.port === "443");
  if (!onEdge) {
    notice(
      "The Adobe Web SDK only calls <code>https://&lt;host&gt;/ee/…</code> on port 443, so this page must be " +
        "served from there: <code>vantage up --tls-dev --listen 127.0.0.1:443</code>, then open " +
        "<a href=\"https://localhost/\">https://localhost/</a>.",
    );
    demo.errors.push("not served over https on port 443");
    demo.ready = true;
    return;
  }

  await alloy("configure", {
    datastreamId: config.datastreamId || "vantage-demo",
    orgId: ORG_ID,
    edgeDomain: location.hostname,
    edgeBasePath: "ee",
    // Otherwise the first request goes to adobedc.demdex.net in Chromium.
    thirdPartyCookiesEnabled: false,
    idMigrationEnabled: false,
    clickCollectionEnabled: false,
    defaultConsent: "in",
    prehidingStyle: "#hero, #loyalty { opacity: 0 !important }",
  });

  const result = await send(
    {
      renderDecisions: true,
      xdm: {
        eventType: "web.webpagedetails.pageViews",
        web: { webPageDetails: { name: "home" } },
        ...identityMap(),
      },
      decisionScopes: [REC_SCOPE],
    },
    "page view",
  );
  await showRecommendation(result);
  try {
    const { identity } = await alloy("getIdentity", { namespaces: ["ECID"] });
    demo.ecid = identity && identity.ECID;
    $("#ecid").textContent = demo.ecid || "?";
  } catch (e) {
    demo.errors.push(`getIdentity: ${(e && e.message) || e}`);
  }
  demo.ready = true;
}

main().catch((e) => {
  demo.errors.push(String((e && e.stack) || e));
  notice(`The page failed: <code>${String((e && e.message) || e)}</code>`);
  demo.ready = true;
});
