'use strict';
/**
 * How the installed vcpuctl starts: /usr/bin/vcpuctl runs this file, which
 * runs the bundle beside it (vcpuctl.js) from V8's code cache when one is
 * there for this Node and this bundle, and writes one when it is missing or
 * stale and the cache directory is writable (root; the package's postinst
 * makes it once). Reading and compiling the ~850 KB bundle is most of a short
 * command's cost beyond Node's own start; the cache skips the compiling.
 * Node >= 22 has module.enableCompileCache(); Debian 12 and RHEL 9 ship 18.
 *
 * A code cache is code: one that someone else can write could make root run
 * anything. It is read only from a directory and file owned by root or by the
 * caller and writable by nobody else. It is keyed by everything V8 does not
 * check itself: V8 checks its version, its flags and the source's length, so
 * the key adds the bundle's size, time and inode (a package upgrade of the
 * same length) and the architecture.
 * VCPUCTL_CODE_CACHE=off runs without; =verbose says on stderr what happened.
 */
const { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const Module = require('node:module');
const vm = require('node:vm');

const BUNDLE = join(__dirname, 'vcpuctl.js');
const CACHE_DIR = process.env.VCPUCTL_CODE_CACHE_DIR || '/var/cache/vcpuctl';
const CACHE_FILE = join(CACHE_DIR, 'vcpuctl.js.v8-cache');
/** Group- or world-writable: someone else could have written it. */
const OTHERS_WRITE = 0o022;

const mode = process.env.VCPUCTL_CODE_CACHE;
function say(what) {
  if (mode === 'verbose') process.stderr.write(`vcpuctl: code cache: ${what}\n`);
}

function trusted(st) {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return (st.uid === 0 || st.uid === uid) && (st.mode & OTHERS_WRITE) === 0;
}

/** The cache's payload when its key matches, else why not. */
function readCache(key) {
  let fd;
  try {
    if (!trusted(statSync(CACHE_DIR))) return { why: `${CACHE_DIR} is writable by others: not used` };
    fd = openSync(CACHE_FILE, 'r');
    if (!trusted(fstatSync(fd))) return { why: `${CACHE_FILE} is writable by others: not used` };
    const data = readFileSync(fd);
    const nl = data.indexOf(10);
    if (nl < 0 || data.subarray(0, nl).toString() !== key) return { why: 'stale (another Node or bundle)' };
    return { data: data.subarray(nl + 1) };
  } catch {
    return { why: 'none yet' };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeCache(key, script) {
  const tmp = `${CACHE_FILE}.${process.pid}.tmp`;
  try {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
    if (!trusted(statSync(CACHE_DIR))) return say(`not written: ${CACHE_DIR} is writable by others`);
    // wx: never through a link someone left at that name.
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n`), script.createCachedData()]), { mode: 0o644, flag: 'wx' });
    renameSync(tmp, CACHE_FILE);
    say(`written to ${CACHE_FILE}`);
  } catch (err) {
    say(`not written (${err.code ?? err.message})`);
  }
}

function start() {
  const source = readFileSync(BUNDLE, 'latin1'); // esbuild writes ASCII only: latin1 decodes it fastest
  const st = statSync(BUNDLE);
  const key = `vcpuctl code cache 1 ${process.version} ${process.arch} ${st.size} ${st.mtimeMs} ${st.ino}`;
  const { data: cached, why } = mode === 'off' ? { why: 'off' } : readCache(key);
  if (why) say(why);
  const script = new vm.Script(Module.wrap(source.replace(/^#!.*/, '')), { filename: BUNDLE, cachedData: cached });
  if (cached) say(script.cachedDataRejected ? 'rejected by V8' : 'used');
  const m = new Module(BUNDLE, module);
  m.filename = BUNDLE;
  m.paths = Module._nodeModulePaths(dirname(BUNDLE));
  // After the command ran, the cache also holds the functions it compiled on the way.
  if (mode !== 'off' && (!cached || script.cachedDataRejected)) process.once('exit', () => writeCache(key, script));
  script.runInThisContext().call(m.exports, m.exports, (id) => m.require(id), m, BUNDLE, dirname(BUNDLE));
}

start();
