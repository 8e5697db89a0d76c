// The one build command (`npm ci && npm run build` in web/): bundles src/ into
// ../daemon/web/, the package data the daemon serves. Output is deterministic for a given
// lockfile, so the committed files can be checked by rebuilding.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';

const OUT = new URL('../daemon/web/', import.meta.url).pathname;
const SRC = new URL('./src/', import.meta.url).pathname;
for (const f of readdirSync(OUT, { withFileTypes: true })) if (f.isFile()) rmSync(OUT + f.name);
mkdirSync(OUT, { recursive: true });

await build({
  entryPoints: [SRC + 'main.js'], bundle: true, format: 'esm', minify: true, target: 'es2020',
  outfile: OUT + 'app.js', legalComments: 'eof', charset: 'utf8',
});
await build({ entryPoints: [SRC + 'app.css'], bundle: true, minify: true, outfile: OUT + 'app.css' });
for (const name of ['index.html', 'manifest.webmanifest', 'icon.svg', 'cover.svg']) {
  copyFileSync(SRC + name, OUT + name);
}
// the service worker's cache name follows the shell's content, so an upgrade replaces it
const digest = createHash('sha256');
for (const name of ['app.js', 'app.css', 'index.html']) digest.update(readFileSync(OUT + name));
const sw = readFileSync(SRC + 'sw.js', 'utf8').replace('__BUILD__', digest.digest('hex').slice(0, 12));
writeFileSync(OUT + 'sw.js', sw);
writeFileSync(OUT + '__init__.py', '"""The phone web app, built from web/ (package data)."""\n');
