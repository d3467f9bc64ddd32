// The page's own code: the real Adobe Web SDK from npm (`@adobe/alloy`, bundled by esbuild),
// pointed at a Vantage edge. Everything configurable comes from the query string so the
// driver can match the server under test:
//   ?orgId=…&datastreamId=…&edgeDomain=…&edgeBasePath=…
// The outcome is published on `window.__vantage` for the driver.
import { createInstance } from "@adobe/alloy";

const params = new URLSearchParams(window.location.search);
const config = {
  orgId: params.get("orgId") || "53A16ACB5CC1D3760A495C99@AdobeOrg",
  datastreamId: params.get("datastreamId") || "vantage-browser-test",
  // alloy always speaks https on port 443; the domain may not carry a port.
  edgeDomain: params.get("edgeDomain") || "localhost",
  edgeBasePath: params.get("edgeBasePath") || "ee",
  // Otherwise the first request goes to adobedc.demdex.net in Chromium.
  thirdPartyCookiesEnabled: false,
  defaultConsent: "in",
  idMigrationEnabled: false,
  clickCollectionEnabled: false,
  debugEnabled: true,
};

const state = (window.__vantage = { status: "pending", config });
const status = document.getElementById("status");
const show = (text) => {
  status.textContent = text;
};

const alloy = createInstance({ name: "alloy" });
window.alloy = alloy;

(async () => {
  try {
    await alloy("configure", config);
    const result = await alloy("sendEvent", {
      renderDecisions: true,
      xdm: {
        eventType: "web.webpagedetails.pageViews",
        web: { webPageDetails: { name: "vantage-browser-test" } },
      },
    });
    const propositions = (result && result.propositions) || [];
    state.propositions = propositions;
    state.rendered = propositions.filter((p) => p.renderAttempted).map((p) => p.id);
    state.status = "done";
    show(`sendEvent resolved: ${propositions.length} proposition(s), rendered: ${state.rendered.join(", ") || "none"}`);
  } catch (e) {
    state.status = "error";
    state.error = String((e && e.stack) || e);
    show(`sendEvent failed: ${e && e.message ? e.message : e}`);
  }
})();
