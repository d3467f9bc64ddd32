// Bundles the page (src/app.js + the real @adobe/alloy from node_modules) into dist/ with
// esbuild: no CDN, nothing fetched at page load but the page itself.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
mkdirSync(out, { recursive: true });

const alloyPackage = JSON.parse(
  readFileSync(join(here, "node_modules/@adobe/alloy/package.json"), "utf8"),
);

// alloy's own release build (rollup) stamps its version over the "__VERSION__" placeholder;
// do the same so `implementationDetails.version` reads as in a released alloy.js.
const stampVersion = {
  name: "alloy-version",
  setup(b) {
    b.onLoad({ filter: /constants[\\/]libraryVersion\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace('"__VERSION__"', JSON.stringify(alloyPackage.version)),
      loader: "js",
    }));
  },
};

await build({
  entryPoints: [join(here, "src/app.js")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "iife",
  // alloy's option checks assign to read-only properties, which only throws (as alloy expects)
  // in strict mode; a sloppy-mode bundle breaks applyPropositions.
  banner: { js: '"use strict";' },
  platform: "browser",
  target: ["chrome100"],
  sourcemap: true,
  logLevel: "warning",
  plugins: [stampVersion],
});
copyFileSync(join(here, "src/index.html"), join(out, "index.html"));
console.log(`built dist/ with @adobe/alloy ${alloyPackage.version}`);
