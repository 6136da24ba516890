// Builds the Cockpit page into dist/: index.js (src/index.tsx bundled with
// React and PatternFly by esbuild), index.css (PatternFly's base styles and
// the page's own, fonts and icons as files beside it), index.html and
// manifest.json. Type-checks src/ first with the project's TypeScript:
// esbuild only strips types. Run by the root `npm run build`.
'use strict';
const { execFileSync } = require('node:child_process');
const { copyFileSync, mkdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const esbuild = require('esbuild');

const here = __dirname;
const out = join(here, 'dist');
const noCheck = process.argv.includes('--no-check');

if (!noCheck) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', here], { stdio: 'inherit' });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
esbuild.buildSync({
  entryPoints: { index: join(here, 'src/index.tsx') },
  bundle: true,
  jsx: 'automatic',
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  format: 'iife',
  outdir: out,
  // PatternFly's CSS references fonts and icons: kept as files next to index.css (Cockpit's CSP allows 'self' and data:).
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file', '.png': 'file', '.jpg': 'file' },
  assetNames: 'assets/[name]-[hash]',
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of ['index.html', 'manifest.json']) copyFileSync(join(here, f), join(out, f));
