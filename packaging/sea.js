#!/usr/bin/env node
'use strict';
/**
 * Makes OUT/vcpuctl-agent-linux-<arch>: one executable holding this machine's
 * Node and the bundle OUT/vcpuctl-agent.js (Node's single-executable
 * applications), for guests without Node.js. Offline: the running node
 * prepares the blob and postject injects it into a copy of that same node.
 * And OUT/vcpuctl-agent-linux-<arch>.copyright: the bundle's copyright file
 * (OUT/copyright) followed by the license of the Node inside.
 * Usage: node packaging/sea.js OUT_DIR
 */
const { spawnSync } = require('node:child_process');
const { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');

/** The fuse Node's own binary carries for SEA (documented in Node's single-executable-applications page). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Node's LICENSE (Node's own and that of V8, OpenSSL, ICU, libuv... inside
 * it) where the installed node keeps it: nodesource's and Debian's package
 * (share/doc/nodejs), the official tarball (its top directory).
 */
function nodeLicense() {
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  const candidates = ['share/doc/nodejs/LICENSE', 'share/doc/node/LICENSE', 'LICENSE'].map((p) => join(prefix, p));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`Node's LICENSE not found (looked at ${candidates.join(', ')}); the executable carries Node and must ship its license`);
  return readFileSync(found, 'utf8');
}

function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node packaging/sea.js OUT_DIR');
  const work = mkdtempSync(join(tmpdir(), 'vcpuctl-sea-'));
  try {
    // The SEA main script is wrapped as a CommonJS module body, where a #! line
    // is a syntax error. Its require() loads built-in modules only: ws is told
    // up front not to look for its optional native helpers.
    const prelude = "process.env.WS_NO_BUFFER_UTIL = '1';\nprocess.env.WS_NO_UTF_8_VALIDATE = '1';\n";
    writeFileSync(join(work, 'vcpuctl-agent.js'), prelude + readFileSync(join(out, 'vcpuctl-agent.js'), 'utf8').replace(/^#!.*\n/, ''));
    const blob = join(work, 'sea.blob');
    // Paths relative to the work directory: the blob keeps the main script's
    // path as written here (its name in stack traces), and a temporary
    // directory's random name would make every build differ.
    writeFileSync(join(work, 'sea-config.json'), JSON.stringify({ main: 'vcpuctl-agent.js', output: 'sea.blob', disableExperimentalSEAWarning: true }));
    const prep = spawnSync(process.execPath, ['--experimental-sea-config', 'sea-config.json'], { encoding: 'utf8', cwd: work });
    if (prep.status !== 0) throw new Error(`node --experimental-sea-config failed (${prep.status}):\n${prep.stderr}`);
    // Node built around a shared libnode (Debian's nodejs) carries the fuse in the library, not in the executable.
    if (!readFileSync(process.execPath).includes(SEA_FUSE)) throw new Error(`${process.execPath} has no single-executable fuse; use Node's official build (e.g. nodesource)`);
    const exe = join(out, `vcpuctl-agent-linux-${process.arch}`);
    copyFileSync(process.execPath, exe);
    chmodSync(exe, 0o755);
    // postject's ELF parser warns about Node's note sections on stderr; shown only if it fails.
    const r = spawnSync(process.execPath, [require.resolve('postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`postject failed (${r.status}):\n${r.stderr}`);
    const copyright = `${readFileSync(join(out, 'copyright'), 'utf8').trimEnd()}\n\n== Node.js ${process.version} (MIT; the runtime inside the executable, with the licenses of what it bundles) ==\n\n${nodeLicense()}`;
    writeFileSync(`${exe}.copyright`, copyright);
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
