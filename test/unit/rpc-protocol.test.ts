/**
 * Every number vcpuctl takes from libvirt (packages/host/src/libvirt/rpc-protocol.ts)
 * against libvirt 9.0's own definitions, kept in test/fixtures/libvirt/ with
 * their licence: the Sun RPC .x files for programs, procedures and bounds, the
 * public headers for flags, enums and error numbers, and virsh's source for
 * the words of each state and reason. A tiny reader of the .x `const`/`enum`
 * syntax and of C enums and #defines is enough for these files; a number that
 * differs, or a name libvirt does not have, fails here.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as protocol from '@vcpuctl/host/dist/libvirt/rpc-protocol';

const FIXTURES = join(__dirname, '../../fixtures/libvirt');
const fixture = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');

interface Definition {
  value: number;
  /** The enum it is a member of (`remote_procedure`, `virDomainState`); absent for a const or #define. */
  enumName?: string;
}

/** A constant expression of these files: numbers, names defined before, `<<`, `|`, unary minus, parentheses. */
function evaluate(expr: string, known: Map<string, Definition>): number | undefined {
  const tokens = expr.match(/0[xX][0-9a-fA-F]+|\d+|[A-Za-z_]\w*|<<|[|()-]|\S/g) ?? [];
  let i = 0;
  const primary = (): number | undefined => {
    const t = tokens[i++];
    if (t === undefined) return undefined;
    if (t === '-') {
      const v = primary();
      return v === undefined ? undefined : -v;
    }
    if (t === '(') {
      const v = or();
      return tokens[i++] === ')' ? v : undefined;
    }
    if (/^0[xX]/.test(t)) return parseInt(t, 16);
    if (/^\d+$/.test(t)) return Number(t);
    if (/^[A-Za-z_]/.test(t)) return known.get(t)?.value;
    return undefined;
  };
  const shift = (): number | undefined => {
    let v = primary();
    while (tokens[i] === '<<') {
      i++;
      const r = primary();
      v = v === undefined || r === undefined ? undefined : v * 2 ** r;
    }
    return v;
  };
  const or = (): number | undefined => {
    let v = shift();
    while (tokens[i] === '|') {
      i++;
      const r = shift();
      v = v === undefined || r === undefined ? undefined : v | r;
    }
    return v;
  };
  const v = or();
  return i === tokens.length ? v : undefined;
}

/**
 * The numeric definitions of a .x file (`const X = 1;`, `enum name { A = 1, ... };`)
 * or a C header (`# define X (16)`, `typedef enum { A = 1 << 0, B, ... } name;`).
 * Members without a value follow the previous one, as in C. Definitions whose
 * value is not a number of this file (another header's macro) are left out.
 */
function definitions(text: string): Map<string, Definition> {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const out = new Map<string, Definition>();
  const define = (name: string, d: Definition) => {
    const before = out.get(name);
    if (before && before.value !== d.value) throw new Error(`${name} is defined twice, as ${before.value} and ${d.value}`);
    out.set(name, d);
  };
  const item = /(?:^|\n)\s*const\s+(\w+)\s*=\s*([^;]+);|(?:^|\n)\s*#\s*define\s+(\w+)[ \t]+([^\n]+)|\benum\s*(\w*)\s*\{([^}]*)\}\s*(\w*)\s*;/g;
  for (const m of code.matchAll(item)) {
    const [, constName, constValue, defineName, defineValue, enumTag, body, typedefName] = m;
    if (constName !== undefined || defineName !== undefined) {
      const value = evaluate((constValue ?? defineValue)!, out);
      if (value !== undefined) define((constName ?? defineName)!, { value });
      continue;
    }
    const enumName = enumTag || typedefName || '(anonymous)';
    // A member's preprocessor guards (# ifdef VIR_ENUM_SENTINELS) are dropped, the member kept.
    const members = body!
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n')
      .split(',');
    let next: number | undefined = 0;
    for (const member of members) {
      const mm = /^\s*(\w+)\s*(?:=\s*([\s\S]+?))?\s*$/.exec(member);
      if (!mm) continue;
      const value: number | undefined = mm[2] === undefined ? next : evaluate(mm[2], out);
      if (value !== undefined) define(mm[1]!, { value, enumName });
      next = value === undefined ? undefined : value + 1;
    }
  }
  return out;
}

/** virsh's VIR_ENUM_IMPL(name, LAST, N_("word"), ...) tables: name to its LAST and its words. */
function virshEnums(text: string): Map<string, { last: string; words: string[] }> {
  const out = new Map<string, { last: string; words: string[] }>();
  for (const m of text.matchAll(/VIR_ENUM_IMPL\((\w+),\s*(\w+),([\s\S]*?)\);/g)) {
    out.set(m[1]!, { last: m[2]!, words: [...m[3]!.matchAll(/N_\("((?:[^"\\]|\\.)*)"\)/g)].map((w) => w[1]!) });
  }
  return out;
}

/**
 * Each group of rpc-protocol.ts, the file that defines it, libvirt's prefix of
 * its names and, where the group is one enum, that enum's name.
 */
const GROUPS: Record<string, { file: string; prefix: string; enumName?: string }> = {
  VIR_NET: { file: 'src/rpc/virnetprotocol.x', prefix: 'VIR_NET_' },
  REMOTE: { file: 'src/remote/remote_protocol.x', prefix: 'REMOTE_' },
  REMOTE_PROC: { file: 'src/remote/remote_protocol.x', prefix: 'REMOTE_PROC_', enumName: 'remote_procedure' },
  QEMU: { file: 'src/remote/qemu_protocol.x', prefix: 'QEMU_' },
  QEMU_PROC: { file: 'src/remote/qemu_protocol.x', prefix: 'QEMU_PROC_', enumName: 'qemu_procedure' },
  VIR_UUID_BUFLEN: { file: 'include/libvirt/libvirt-host.h', prefix: '' },
  VIR_TYPED_PARAM: { file: 'include/libvirt/libvirt-common.h.in', prefix: 'VIR_TYPED_PARAM_' },
  VIR_DOMAIN_XML: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_XML_', enumName: 'virDomainXMLFlags' },
  VIR_DOMAIN_AFFECT: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_AFFECT_', enumName: 'virDomainModificationImpact' },
  VIR_DOMAIN_VCPU: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_VCPU_', enumName: 'virDomainVcpuFlags' },
  VIR_DOMAIN_METADATA: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_METADATA_', enumName: 'virDomainMetadataType' },
  VIR_DOMAIN_STATS: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_STATS_', enumName: 'virDomainStatsTypes' },
  VIR_DOMAIN: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_', enumName: 'virDomainState' },
  VIR_DOMAIN_EVENT_ID: { file: 'include/libvirt/libvirt-domain.h', prefix: 'VIR_DOMAIN_EVENT_ID_', enumName: 'virDomainEventID' },
  VIR_ERR: { file: 'include/libvirt/virterror.h', prefix: 'VIR_ERR_', enumName: 'virErrorNumber' },
  VIR_FROM: { file: 'include/libvirt/virterror.h', prefix: 'VIR_FROM_', enumName: 'virErrorDomain' },
  KEEPALIVE: { file: 'src/rpc/virkeepaliveprotocol.x', prefix: 'KEEPALIVE_' },
  KEEPALIVE_PROC: { file: 'src/rpc/virkeepaliveprotocol.x', prefix: 'KEEPALIVE_PROC_', enumName: 'keepalive_procedure' },
  VIR_DRV_FEATURE: { file: 'src/libvirt_internal.h', prefix: 'VIR_DRV_FEATURE_', enumName: 'virDrvFeature' },
};

/** Reasons vcpuctl names that came after libvirt 9.0 (the fixtures' version), with the version that brought each. */
const LATER_REASONS: Record<string, Record<string, string>> = {
  paused: { 'api error': '9.2.0 (VIR_DOMAIN_PAUSED_API_ERROR = 14)' },
};

describe("libvirt's numbers, checked against libvirt 9.0's own definitions", () => {
  const cache = new Map<string, Map<string, Definition>>();
  const defs = (file: string) => {
    if (!cache.has(file)) cache.set(file, definitions(fixture(file)));
    return cache.get(file)!;
  };

  it("the copies are libvirt 9.0.0's files, unedited (SHA256SUMS), and every copy is listed", () => {
    const sums = fixture('SHA256SUMS')
      .trim()
      .split('\n')
      .map((l) => /^([0-9a-f]{64}) {2}(\S+)$/.exec(l)!);
    for (const [, digest, path] of sums) {
      assert.equal(
        createHash('sha256')
          .update(readFileSync(join(FIXTURES, path!)))
          .digest('hex'),
        digest,
        `${path} differs from libvirt 9.0.0's`,
      );
    }
    const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [relative(FIXTURES, join(dir, n))]));
    assert.deepEqual(
      files(FIXTURES)
        .filter((f) => f !== 'SHA256SUMS' && f !== 'README.md')
        .sort(),
      sums.map((s) => s[2]).sort(),
    );
  });

  it('the reader finds what it must in these files (a broken reader would check nothing)', () => {
    assert.ok(defs('src/remote/remote_protocol.x').size > 500, 'remote_protocol.x: its 443 procedures and its constants');
    assert.deepEqual(defs('src/remote/remote_protocol.x').get('REMOTE_PROC_DOMAIN_FD_ASSOCIATE'), { value: 443, enumName: 'remote_procedure' }, "9.0's last procedure");
    assert.deepEqual(defs('include/libvirt/libvirt-domain.h').get('VIR_DOMAIN_STATS_VCPU'), { value: 8, enumName: 'virDomainStatsTypes' }, 'a (1 << 3) flag');
    assert.deepEqual(defs('include/libvirt/libvirt-domain.h').get('VIR_DOMAIN_PAUSED_LAST'), { value: 14, enumName: 'virDomainPausedReason' }, 'a sentinel after implicit members, inside #ifdef');
    assert.equal(defs('include/libvirt/libvirt-domain.h').get('VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE')?.value, 1, 'a member defined by another name');
    assert.equal(defs('include/libvirt/virterror.h').get('VIR_ERR_NUMBER_LAST')?.value, 111);
    assert.equal(defs('src/remote/remote_protocol.x').get('REMOTE_PROGRAM')?.value, 0x20008086, 'a hexadecimal const');
  });

  it('every export of rpc-protocol.ts is checked by a test here', () => {
    const checked = new Set([...Object.keys(GROUPS), 'DOMAIN_STATE_WORDS']);
    for (const name of Object.keys(protocol)) assert.ok(checked.has(name), `rpc-protocol.ts exports ${name}, which no test checks against libvirt's files`);
  });

  for (const [group, { file, prefix, enumName }] of Object.entries(GROUPS)) {
    it(`${group}: every value is libvirt's (${file}${enumName ? `, enum ${enumName}` : ''})`, () => {
      const exported = (protocol as Record<string, unknown>)[group];
      const entries: [string, unknown][] = typeof exported === 'number' ? [[group, exported]] : Object.entries(exported as object);
      assert.ok(entries.length > 0);
      for (const [key, value] of entries) {
        const name = `${prefix}${key}`;
        const d = defs(file).get(name);
        assert.ok(d, `${name} is not defined in libvirt's ${file}`);
        assert.equal(value, d.value, `${group}.${key}: vcpuctl says ${String(value)}, libvirt's ${file} says ${name} = ${d.value}`);
        if (enumName) assert.equal(d.enumName, enumName, `${name} is a member of ${d.enumName ?? 'no enum'}, not ${enumName}`);
      }
    });
  }

  it("DOMAIN_STATE_WORDS: each state and reason, at its number, is virsh's word for it (tools/virsh-domain-monitor.c, libvirt-domain.h)", () => {
    const header = defs('include/libvirt/libvirt-domain.h');
    const virsh = virshEnums(fixture('tools/virsh-domain-monitor.c'));
    const states = virsh.get('virshDomainState')!;
    assert.equal(states.last, 'VIR_DOMAIN_LAST');
    assert.equal(states.words.length, header.get('VIR_DOMAIN_LAST')!.value, "virsh's state table has a word for every state");
    assert.deepEqual(
      protocol.DOMAIN_STATE_WORDS.map((s) => s.state),
      states.words,
    );
    const stateNames = [...header].filter(([n, d]) => d.enumName === 'virDomainState' && n !== 'VIR_DOMAIN_LAST');
    assert.equal(stateNames.length, protocol.DOMAIN_STATE_WORDS.length);
    for (const [name, { value }] of stateNames) {
      const ours = protocol.DOMAIN_STATE_WORDS[value]!;
      const suffix = name.slice('VIR_DOMAIN_'.length);
      // virsh's reason table of this state: virshDomainRunningReason for VIR_DOMAIN_RUNNING, ...
      const [tableName, table] = [...virsh].find(([n]) => n.toLowerCase() === `virshdomain${suffix.toLowerCase()}reason`)!;
      assert.equal(table.last, `VIR_DOMAIN_${suffix}_LAST`, tableName);
      const last = header.get(table.last)!.value;
      assert.equal(table.words.length, last, `${tableName} has a word for every reason up to ${table.last}`);
      assert.deepEqual(ours.reasons.slice(0, last), table.words, `the reasons of ${ours.state}`);
      const later = ours.reasons.slice(last);
      assert.deepEqual(later, Object.keys(LATER_REASONS[ours.state] ?? {}), `reasons of ${ours.state} past libvirt 9.0's ${table.last} must be listed in LATER_REASONS with their version`);
    }
  });
});
