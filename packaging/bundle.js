#!/usr/bin/env node
'use strict';
/**
 * Bundles the built agent (packages/guest-agent/dist, with proto, ws,
 * protobufjs, commander and systeminformation) into one file for Node >= 18:
 *   OUT/vcpuctl-agent.js         the agent, `node vcpuctl-agent.js run ...`
 *   OUT/bundled-packages.json    every npm package inside it: name, version, license, engines
 *   OUT/copyright                the Debian copyright file: ours, and each bundled package's license text
 * Usage: node packaging/bundle.js OUT_DIR
 */
const { build } = require('esbuild');
const { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync } = require('node:fs');
const { dirname, join, relative, resolve, sep } = require('node:path');

/** The oldest Node the agent supports: Ubuntu 24.04 ships 18.19, Debian 12 18.20. */
const NODE_TARGET = 'node18';

const ROOT = resolve(__dirname, '..');
const ENTRY = join(ROOT, 'packages/guest-agent/bin/vcpuctl-agent.js');

async function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node packaging/bundle.js OUT_DIR');
  if (!existsSync(join(ROOT, 'packages/guest-agent/dist/cli/main.js'))) throw new Error('the agent is not built: run `npm run build` first');
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: [ENTRY],
    outfile: join(out, 'vcpuctl-agent.js'),
    bundle: true,
    platform: 'node',
    target: NODE_TARGET,
    format: 'cjs',
    // ws loads these native speed-ups when present and falls back to JS otherwise.
    external: ['bufferutil', 'utf-8-validate'],
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
  });
  const packages = bundledPackages(Object.keys(result.metafile.inputs));
  writeFileSync(join(out, 'bundled-packages.json'), `${JSON.stringify(packages, null, 2)}\n`);
  writeFileSync(join(out, 'copyright'), copyright(packages));
}

/** The npm packages (the nearest package.json of each input file), workspaces included. */
function bundledPackages(inputs) {
  const dirs = new Set();
  for (const input of inputs) {
    let dir = dirname(resolve(ROOT, input));
    while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
    // A package.json without a name (e.g. a "type" marker in a subfolder) is not a package.
    while (!JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name) {
      dir = dirname(dir);
      while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
    }
    dirs.add(dir);
  }
  return [...dirs]
    .map((dir) => {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      return {
        name: pkg.name,
        version: pkg.version,
        license: pkg.license ?? 'UNKNOWN',
        engines: pkg.engines?.node ?? null,
        path: relative(ROOT, dir).split(sep).join('/'),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function licenseText(dir) {
  const file = readdirSync(join(ROOT, dir)).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  return file ? readFileSync(join(ROOT, dir, file), 'utf8').trim() : null;
}

/** Plain-text Debian copyright file: ours, then each bundled package with its own license text. */
function copyright(packages) {
  const license = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).license;
  const theirs = packages.filter((p) => !p.name.startsWith('@vcpuctl/'));
  const parts = [
    `vcpuctl-agent, part of vcpuctl. License: ${license}.\n\n` +
      'usr/lib/vcpuctl-agent/vcpuctl-agent.js bundles these npm packages, each under its own license:\n' +
      theirs.map((p) => `  ${p.name} ${p.version} (${p.license})\n`).join(''),
  ];
  for (const p of theirs) {
    parts.push(`== ${p.name} ${p.version} (${p.license}) ==\n\n${licenseText(p.path) ?? 'The package ships no license file; see its package.json.'}\n`);
  }
  return parts.join('\n');
}

main().catch((err) => {
  process.stderr.write(`bundle: ${err.message}\n`);
  process.exit(1);
});
