// Builds the Cockpit page into dist/: index.js (src/index.tsx bundled with
// React and PatternFly by esbuild), index.css (PatternFly's base styles and
// the page's own, fonts and icons as files beside it), index.html and
// manifest.json. Type-checks src/ first with the project's TypeScript:
// esbuild only strips types. Run by the root `npm run build`. Also writes
// metafile.json beside dist/ (esbuild's list of every input file, paths from
// the repository's root): packaging/bundle.js reads it for the package's
// copyright file. It is not part of the page.
'use strict';
const { execFileSync } = require('node:child_process');
const { copyFileSync, mkdirSync, rmSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const esbuild = require('esbuild');

const here = __dirname;
const out = join(here, 'dist');
const noCheck = process.argv.includes('--no-check');

if (!noCheck) execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', here], { stdio: 'inherit' });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = esbuild.buildSync({
  absWorkingDir: resolve(here, '../..'),
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
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(join(here, 'metafile.json'), `${JSON.stringify({ inputs: Object.keys(result.metafile.inputs).sort() }, null, 1)}\n`);
for (const f of ['index.html', 'manifest.json']) copyFileSync(join(here, f), join(out, f));
