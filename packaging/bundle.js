#!/usr/bin/env node
'use strict';
/**
 * Bundles a built program with every npm package it needs into one file for
 * Node >= 18:
 *   agent (the default): packages/guest-agent (proto, ws, protobufjs, commander, systeminformation)
 *     OUT/vcpuctl-agent.js                  the agent, `node vcpuctl-agent.js run ...`
 *     OUT/bundled-packages.json             every npm package inside it: name, version, license, engines
 *     OUT/copyright                         the Debian copyright file: ours, and each bundled package's license text
 *   vcpuctl: packages/host (proto, ws, protobufjs, commander, prom-client, yaml, bcryptjs)
 *     OUT/vcpuctl.js, OUT/vcpuctl.bundled-packages.json, OUT/vcpuctl.copyright
 *   cockpit: the Cockpit page, already bundled by packages/cockpit/build.js (React, PatternFly);
 *     only its inputs are read (packages/cockpit/metafile.json), nothing is built:
 *     OUT/cockpit-vcpuctl.bundled-packages.json, OUT/cockpit-vcpuctl.copyright
 *     (with the fonts' license, and the license comments esbuild kept, index.js.LEGAL.txt)
 * Usage: node packaging/bundle.js OUT_DIR [agent|vcpuctl|cockpit]
 */
const { build } = require('esbuild');
const { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync } = require('node:fs');
const { dirname, join, relative, resolve, sep } = require('node:path');

/** The oldest Node both programs support: Ubuntu 24.04 ships 18.19, Debian 12 18.20. */
const NODE_TARGET = 'node18';

const ROOT = resolve(__dirname, '..');

const TARGETS = {
  agent: {
    entry: 'packages/guest-agent/bin/vcpuctl-agent.js',
    built: 'packages/guest-agent/dist/cli/main.js',
    bundle: 'vcpuctl-agent.js',
    packages: 'bundled-packages.json',
    copyright: 'copyright',
    title: 'vcpuctl-agent, part of vcpuctl',
    installed: 'usr/lib/vcpuctl-agent/vcpuctl-agent.js',
  },
  vcpuctl: {
    entry: 'packages/host/bin/vcpuctl.js',
    built: 'packages/host/dist/cli/main.js',
    bundle: 'vcpuctl.js',
    packages: 'vcpuctl.bundled-packages.json',
    copyright: 'vcpuctl.copyright',
    title: 'vcpuctl, the host controller',
    installed: 'usr/lib/vcpuctl/vcpuctl.js',
    // Every command pays for reading and compiling the whole file (packaging/start.js caches the compiling):
    // less whitespace and simpler syntax make it about 40% smaller. Names stay, so a stack trace still reads.
    minify: { minifyWhitespace: true, minifySyntax: true },
  },
  cockpit: {
    built: 'packages/cockpit/metafile.json',
    legal: 'packages/cockpit/dist/index.js.LEGAL.txt',
    packages: 'cockpit-vcpuctl.bundled-packages.json',
    copyright: 'cockpit-vcpuctl.copyright',
    title: "cockpit-vcpuctl, vcpuctl's page for Cockpit",
    installed: 'usr/share/cockpit/vcpuctl/ (index.js, index.css, assets/)',
  },
};

/**
 * The fonts PatternFly's CSS brings (Red Hat Display, Text and Mono, copied
 * into assets/ by the page's build) are not under their npm package's MIT
 * license but under the SIL Open Font License 1.1, as Red Hat publishes them.
 */
const FONT_LICENSE = 'SIL Open Font License 1.1 (OFL-1.1), https://openfontlicense.org';

async function main() {
  const [out, name = 'agent'] = process.argv.slice(2);
  const target = TARGETS[name];
  if (!out || !target) throw new Error(`usage: node packaging/bundle.js OUT_DIR [${Object.keys(TARGETS).join('|')}]`);
  if (!existsSync(join(ROOT, target.built))) throw new Error(`${name} is not built: run \`npm run build\` first`);
  mkdirSync(out, { recursive: true });
  if (target.legal) {
    // Built already: the inputs esbuild recorded, the page's own legal comments.
    const inputs = JSON.parse(readFileSync(join(ROOT, target.built), 'utf8')).inputs;
    const packages = bundledPackages(inputs);
    const fonts = inputs.filter((i) => /\.(woff2?|ttf|eot)$/.test(i));
    writeFileSync(join(out, target.packages), `${JSON.stringify(packages, null, 2)}\n`);
    writeFileSync(join(out, target.copyright), `${copyright(target, packages)}\n${fontsAndLegal(target, fonts)}`);
    return;
  }
  const result = await build({
    entryPoints: [join(ROOT, target.entry)],
    outfile: join(out, target.bundle),
    bundle: true,
    platform: 'node',
    target: NODE_TARGET,
    format: 'cjs',
    // ws loads these native speed-ups when present and falls back to JS otherwise.
    external: ['bufferutil', 'utf-8-validate'],
    metafile: true,
    legalComments: 'eof',
    logLevel: 'warning',
    ...target.minify,
  });
  const packages = bundledPackages(Object.keys(result.metafile.inputs));
  writeFileSync(join(out, target.packages), `${JSON.stringify(packages, null, 2)}\n`);
  writeFileSync(join(out, target.copyright), copyright(target, packages));
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
function copyright(target, packages) {
  const license = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).license;
  const theirs = packages.filter((p) => !p.name.startsWith('@vcpuctl/'));
  const parts = [`${target.title}. License: ${license}.\n\n` + `${target.installed} bundles these npm packages, each under its own license:\n` + theirs.map((p) => `  ${p.name} ${p.version} (${p.license})\n`).join('')];
  for (const p of theirs) {
    parts.push(`== ${p.name} ${p.version} (${p.license}) ==\n\n${licenseText(p.path) ?? 'The package ships no license file; see its package.json.'}\n`);
  }
  return parts.join('\n');
}

/** The fonts' license, then esbuild's LEGAL.txt: the license comments kept from the bundled sources. */
function fontsAndLegal(target, fonts) {
  const parts = [];
  if (fonts.length) parts.push(`== Fonts (${FONT_LICENSE}) ==\n\nassets/ holds these font files, from PatternFly's styles:\n${fonts.map((f) => `  ${f.replace(/^node_modules\//, '')}\n`).join('')}`);
  parts.push(`== index.js.LEGAL.txt: the license comments esbuild kept ==\n\n${readFileSync(join(ROOT, target.legal), 'utf8').trim()}\n`);
  return parts.join('\n');
}

main().catch((err) => {
  process.stderr.write(`bundle: ${err.message}\n`);
  process.exit(1);
});
