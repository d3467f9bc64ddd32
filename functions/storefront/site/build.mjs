// Builds the storefront page into dist/: src/app.js bundled with the real @adobe/alloy from
// node_modules (esbuild, minified, no CDN), plus the static files of src/. The storefront
// component embeds dist/ at compile time, so dist/ is committed; after changing src/ or the
// lock file run `npm ci && npm run build`. `npm run check` (`node build.mjs --check`) builds in
// memory and fails when the committed dist/ differs.
import { build } from "esbuild";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const out = join(here, "dist");
const check = process.argv.includes("--check");

const alloyVersion = JSON.parse(
  readFileSync(join(here, "node_modules/@adobe/alloy/package.json"), "utf8"),
).version;

// alloy's own release build stamps its version over the "__VERSION__" placeholder; do the same
// so `implementationDetails.version` reads as in a released alloy.js.
const stampVersion = {
  name: "alloy-version",
  setup(b) {
    b.onLoad({ filter: /constants[\\/]libraryVersion\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace('"__VERSION__"', JSON.stringify(alloyVersion)),
      loader: "js",
    }));
  },
};

const bundled = await build({
  entryPoints: [join(src, "app.js")],
  bundle: true,
  write: false,
  outfile: join(out, "app.js"),
  format: "iife",
  platform: "browser",
  target: ["chrome100", "firefox100", "safari15"],
  minify: true,
  legalComments: "none",
  // alloy is written as ES modules, which are strict; an IIFE bundle is not unless it says so,
  // and in sloppy mode alloy's option validators copy `window.name` onto a function and throw
  // ("Cannot assign to read only property 'name'"): applyPropositions then renders nothing.
  banner: {
    js: `/* Vantage demo storefront + @adobe/alloy ${alloyVersion} (Apache-2.0). Built by build.mjs: do not edit. */\n"use strict";`,
  },
  logLevel: "warning",
  plugins: [stampVersion],
});

// Every output file: the bundle, then the static files as they are.
const files = new Map();
files.set("app.js", Buffer.from(bundled.outputFiles[0].contents));
for (const name of readdirSync(src)) {
  if (name !== "app.js") files.set(name, readFileSync(join(src, name)));
}

if (check) {
  const stale = [];
  for (const [name, bytes] of files) {
    const path = join(out, name);
    if (!existsSync(path) || !readFileSync(path).equals(bytes)) stale.push(name);
  }
  for (const name of existsSync(out) ? readdirSync(out) : []) {
    if (!files.has(name)) stale.push(`${name} (not built from src/)`);
  }
  if (stale.length) {
    console.error(`dist/ is stale: ${stale.join(", ")}; run \`npm ci && npm run build\` in ${here}`);
    process.exit(1);
  }
  console.log(`dist/ is up to date (@adobe/alloy ${alloyVersion})`);
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(out, name), bytes);
  console.log(`built dist/ (${[...files.keys()].join(", ")}) with @adobe/alloy ${alloyVersion}`);
}
