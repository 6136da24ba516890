#!/usr/bin/env node
'use strict';
/**
 * Makes OUT/vcpuctl-agent-linux-<arch>: one executable holding this machine's
 * Node and the bundle OUT/vcpuctl-agent.js (Node's single-executable
 * applications), for guests without Node.js. Offline: the running node
 * prepares the blob and postject injects it into a copy of that same node.
 * Usage: node packaging/sea.js OUT_DIR
 */
const { spawnSync } = require('node:child_process');
const { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

/** The fuse Node's own binary carries for SEA (documented in Node's single-executable-applications page). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node packaging/sea.js OUT_DIR');
  const work = mkdtempSync(join(tmpdir(), 'vcpuctl-sea-'));
  try {
    // The SEA main script is wrapped as a CommonJS module body, where a #! line
    // is a syntax error. Its require() loads built-in modules only: ws is told
    // up front not to look for its optional native helpers.
    const main = join(work, 'main.js');
    const prelude = "process.env.WS_NO_BUFFER_UTIL = '1';\nprocess.env.WS_NO_UTF_8_VALIDATE = '1';\n";
    writeFileSync(main, prelude + readFileSync(join(out, 'vcpuctl-agent.js'), 'utf8').replace(/^#!.*\n/, ''));
    const blob = join(work, 'sea.blob');
    const config = join(work, 'sea-config.json');
    writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }));
    const prep = spawnSync(process.execPath, ['--experimental-sea-config', config], { encoding: 'utf8' });
    if (prep.status !== 0) throw new Error(`node --experimental-sea-config failed (${prep.status}):\n${prep.stderr}`);
    // Node built around a shared libnode (Debian's nodejs) carries the fuse in the library, not in the executable.
    if (!readFileSync(process.execPath).includes(SEA_FUSE)) throw new Error(`${process.execPath} has no single-executable fuse; use Node's official build (e.g. nodesource)`);
    const exe = join(out, `vcpuctl-agent-linux-${process.arch}`);
    copyFileSync(process.execPath, exe);
    chmodSync(exe, 0o755);
    // postject's ELF parser warns about Node's note sections on stderr; shown only if it fails.
    const r = spawnSync(process.execPath, [require.resolve('postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`postject failed (${r.status}):\n${r.stderr}`);
    process.stdout.write(`${exe}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`sea: ${err.message}\n`);
  process.exit(1);
}
