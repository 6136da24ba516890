/**
 * `--web-config-file`: Prometheus's web configuration file, read as
 * exporter-toolkit reads it (docs/web-configuration.md there), so the file an
 * operator already writes for node_exporter gives the exporter TLS and basic
 * auth too. The file is untrusted input from disk: its size and every file it
 * names are bounded before reading, YAML is parsed strictly (an unknown key is
 * an error, as with exporter-toolkit's UnmarshalStrict), and every field's
 * type is checked here, so nothing past this module sees raw YAML.
 *
 * Read once at start (exporter-toolkit re-reads it on every request); a
 * changed file takes effect at the next start.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { VcpuctlError } from '@vcpuctl/proto';

/**
 * The whole file. Inline PEM (cert, key, client_ca) is the largest thing it
 * may hold: Debian's whole CA bundle is about 220 KiB, a user line about
 * 80 bytes (60 of bcrypt); 1 MiB holds either with room, and bounds what
 * the YAML parser is handed.
 */
export const MAX_WEB_CONFIG_BYTES = 1024 * 1024;
/** One PEM file named by the config (cert_file, key_file, client_ca_file): the same reasoning as for the file itself. */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;
/**
 * YAML aliases expanded when the document becomes values: a web config needs
 * none, and a few dozen aliases of aliases are a billion-laughs expansion.
 */
const MAX_YAML_ALIASES = 100;
/** A key or value quoted in an error message is cut here, so the message stays one short line. */
const MAX_SHOWN_CHARS = 60;

/** Go's tls.ClientAuthType names, as exporter-toolkit accepts them. */
export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';
const CLIENT_AUTH: Record<string, ClientAuthType> = {
  NoClientCert: 'NoClientCert',
  RequestClientCert: 'RequestClientCert',
  RequireAnyClientCert: 'RequireAnyClientCert',
  RequireClientCert: 'RequireAnyClientCert', // exporter-toolkit keeps this older name
  VerifyClientCertIfGiven: 'VerifyClientCertIfGiven',
  RequireAndVerifyClientCert: 'RequireAndVerifyClientCert',
};

type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
const TLS_VERSIONS: Record<string, TlsVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

/** Go's cipher suite names (the secure ones Go lets a server pick for TLS <= 1.2) to OpenSSL's. */
const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
};
/** Go does not let cipher_suites touch TLS 1.3; OpenSSL would drop 1.3 without suites of its own, so these are kept. */
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';
/** Go's tls.CurveID names to OpenSSL's group names. */
const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/** The response headers exporter-toolkit lets a config set, with the values it allows (none listed: any). */
const EXTRA_HEADERS: Record<string, string[]> = {
  'Strict-Transport-Security': [],
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': [],
  'Content-Security-Policy': [],
};

/** The keys of exporter-toolkit's format that vcpuctl knows but does not implement: refused by name rather than ignored. */
const NOT_SUPPORTED: Record<string, string> = {
  'tls_server_config.client_allowed_sans': 'use RequireAndVerifyClientCert with a client CA of its own',
  rate_limit: 'put a reverse proxy in front for rate limiting',
};

/** A bcrypt hash as bcryptjs verifies it: $2a$, $2b$ or $2y$, a two-digit cost, 22 characters of salt and 31 of digest. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const MIN_BCRYPT_COST = 4;
const MAX_BCRYPT_COST = 31;

export interface TlsServerConfig {
  cert: Buffer;
  key: Buffer;
  /** Client CA certificates (PEM), when client certificates are verified. */
  clientCa?: Buffer;
  clientAuth: ClientAuthType;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  honorCipherOrder: boolean;
  /** OpenSSL cipher list, when cipher_suites is given. */
  ciphers?: string;
  /** OpenSSL group list, when curve_preferences is given. */
  ecdhCurve?: string;
}

export interface WebConfig {
  /** The file, absolute. */
  path: string;
  /** Absent: plain HTTP. */
  tls?: TlsServerConfig;
  /** User name to bcrypt hash; empty: no basic auth. */
  users: Map<string, string>;
  /** The highest cost among the users' hashes (0 without users): unknown users are made to cost as much. */
  maxBcryptCost: number;
  /** Set on every response. */
  headers: Record<string, string>;
}

function configError(path: string, message: string): VcpuctlError {
  return new VcpuctlError('USAGE', `--web-config-file ${path}: ${message}`);
}

/** A text from the file, quoted with every control escaped and cut short: one line whatever the file holds. */
function show(text: string): string {
  const q = JSON.stringify(text);
  return q.length <= MAX_SHOWN_CHARS ? q : `${q.slice(0, MAX_SHOWN_CHARS)}…"`;
}

/** Reads at most `limit` bytes of a regular file; more is an error, before anything past the limit is read. */
function readBounded(path: string, limit: number, what: string, configPath: string): Buffer {
  const fail = (message: string) => configError(configPath, `${what ? `${what} ${path}: ` : ''}${message}`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw fail(`cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw fail('not a regular file');
    // Read one byte past the limit, whatever the size stat gave (the file may grow meanwhile).
    const buf = Buffer.alloc(limit + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > limit) throw fail(`larger than ${limit} bytes`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

type Yaml = typeof import('yaml');
let yamlLoaded: Yaml | undefined;
/** Loaded on use: only an exporter given --web-config-file pays for it. */
function yamlModule(): Yaml {
  return (yamlLoaded ??= require('yaml') as Yaml);
}

/** Checks one YAML mapping's keys against the known ones, naming the first unknown or unsupported key. */
class Fields {
  constructor(private readonly configPath: string) {}

  fail(message: string): never {
    throw configError(this.configPath, message);
  }

  /** A mapping (null, an empty value, is an empty one); its keys must be strings among `known`. */
  map(value: unknown, where: string, known: readonly string[] | null): Map<string, unknown> {
    if (value === null || value === undefined) return new Map();
    if (!(value instanceof Map)) this.fail(`${where || 'the file'} must be a mapping`);
    for (const k of value.keys()) {
      if (typeof k !== 'string') this.fail(`${where ? `${where}: ` : ''}key ${show(String(k))} must be a string`);
      const path = where ? `${where}.${k}` : k;
      if (NOT_SUPPORTED[path]) this.fail(`${show(path)} is not supported by vcpuctl (${NOT_SUPPORTED[path]})`);
      if (known && !known.includes(k)) this.fail(`unknown key ${show(path)}${where ? '' : ' (known: tls_server_config, http_server_config, basic_auth_users)'}`);
    }
    return value as Map<string, unknown>;
  }

  string(m: Map<string, unknown>, key: string, where: string): string | undefined {
    const v = m.get(key);
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(`${where}.${key} must be a string`);
    return v;
  }

  bool(m: Map<string, unknown>, key: string, where: string): boolean | undefined {
    const v = m.get(key);
    if (v === null || v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(`${where}.${key} must be true or false`);
    return v;
  }

  stringList(m: Map<string, unknown>, key: string, where: string): string[] | undefined {
    const v = m.get(key);
    if (v === null || v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(`${where}.${key} must be a list of strings`);
    return v as string[];
  }

  oneOf<T>(table: Record<string, T>, value: string | undefined, where: string): T | undefined {
    if (value === undefined) return undefined;
    if (!Object.prototype.hasOwnProperty.call(table, value)) this.fail(`${where}: ${show(value)} is not one of ${Object.keys(table).join(', ')}`);
    return table[value];
  }
}

/** Parses the file's text into plain values (mappings as Map), strictly: any YAML error or warning refuses it. */
function parseYaml(text: string, configPath: string): unknown {
  const { parseDocument } = yamlModule();
  const doc = parseDocument(text, { uniqueKeys: true, strict: true, prettyErrors: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw configError(configPath, `not valid YAML: ${problem.message.split('\n')[0].replace(/:$/, '')}`);
  try {
    return doc.toJS({ mapAsMap: true, maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    throw configError(configPath, `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Reads, checks and loads the web configuration file (and the PEM files it names). Every problem is a one-line USAGE error. */
export function readWebConfig(file: string): WebConfig {
  const path = resolve(file);
  const raw = readBounded(path, MAX_WEB_CONFIG_BYTES, '', file);
  const text = raw.toString('utf8');
  if (Buffer.byteLength(text) !== raw.length) throw configError(file, 'not UTF-8 text');
  const f = new Fields(file);
  const top = f.map(parseYaml(text, file), '', ['tls_server_config', 'http_server_config', 'basic_auth_users']);

  const headers = httpServerConfig(f, top.get('http_server_config'));
  const users = basicAuthUsers(f, top.get('basic_auth_users'));
  const tls = top.get('tls_server_config') === undefined || top.get('tls_server_config') === null ? undefined : tlsServerConfig(f, top.get('tls_server_config'), dirname(path), file);
  const maxBcryptCost = Math.max(0, ...[...users.values()].map((h) => Number(BCRYPT.exec(h)![1])));
  return { path, tls, users, maxBcryptCost, headers };
}

function httpServerConfig(f: Fields, value: unknown): Record<string, string> {
  const where = 'http_server_config';
  const m = f.map(value, where, ['http2', 'headers']);
  // Only HTTP/1.1 is served; http2 is accepted (Prometheus scrapes either) so a shared file still loads.
  f.bool(m, 'http2', where);
  const headers: Record<string, string> = {};
  const h = f.map(m.get('headers'), `${where}.headers`, null);
  for (const [name, v] of h) {
    const allowed = Object.prototype.hasOwnProperty.call(EXTRA_HEADERS, name) ? EXTRA_HEADERS[name] : undefined;
    if (!allowed) f.fail(`HTTP header ${show(name)} can not be configured (allowed: ${Object.keys(EXTRA_HEADERS).join(', ')})`);
    if (typeof v !== 'string') f.fail(`${where}.headers.${name} must be a string`);
    if (allowed.length > 0 && !allowed.includes(v)) f.fail(`${where}.headers.${name}: ${show(v)} is not one of ${allowed.join(', ')}`);
    // A header value cannot hold a line break or other control; Node would throw at the first response instead.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v)) f.fail(`${where}.headers.${name}: control characters are not allowed`);
    if (v !== '') headers[name] = v; // blank: unset, as exporter-toolkit documents
  }
  return headers;
}

function basicAuthUsers(f: Fields, value: unknown): Map<string, string> {
  const users = new Map<string, string>();
  for (const [user, hash] of f.map(value, 'basic_auth_users', null)) {
    if (typeof hash !== 'string') f.fail(`basic_auth_users.${show(user)} must be a bcrypt hash (a string)`);
    const m = BCRYPT.exec(hash);
    if (!m) f.fail(`basic_auth_users.${show(user)} is not a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters; e.g. htpasswd -nBC 10 "" | tr -d ':\\n')`);
    const cost = Number(m[1]);
    if (cost < MIN_BCRYPT_COST || cost > MAX_BCRYPT_COST) f.fail(`basic_auth_users.${show(user)}: bcrypt cost ${cost} is outside ${MIN_BCRYPT_COST}..${MAX_BCRYPT_COST}`);
    // A ':' cannot be sent in a Basic user name (it ends the name): such a user could never log in.
    if (user.includes(':')) f.fail(`basic_auth_users: user name ${show(user)} contains ':'`);
    users.set(user, hash);
  }
  return users;
}

function tlsServerConfig(f: Fields, value: unknown, dir: string, configPath: string): TlsServerConfig {
  const where = 'tls_server_config';
  const m = f.map(value, where, ['cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_ca_file', 'client_auth_type', 'min_version', 'max_version', 'cipher_suites', 'prefer_server_cipher_suites', 'curve_preferences']);
  const s = (key: string) => f.string(m, key, where) || undefined; // '' is unset, as in Go
  // Relative paths are relative to the config file's directory, as exporter-toolkit's SetDirectory makes them.
  const pem = (inline: string, fileKey: string): Buffer | undefined => {
    const text = s(inline);
    const file = s(fileKey);
    if (text !== undefined && file !== undefined) f.fail(`${where}: give ${inline} or ${fileKey}, not both`);
    if (file !== undefined) return readBounded(isAbsolute(file) ? file : resolve(dir, file), MAX_PEM_FILE_BYTES, `${where}.${fileKey}`, configPath);
    return text === undefined ? undefined : Buffer.from(text);
  };
  const cert = pem('cert', 'cert_file');
  const key = pem('key', 'key_file');
  const clientCa = pem('client_ca', 'client_ca_file');
  if (!cert) f.fail(`${where}: missing one of cert or cert_file`);
  if (!key) f.fail(`${where}: missing one of key or key_file`);

  const clientAuth = f.oneOf(CLIENT_AUTH, s('client_auth_type'), `${where}.client_auth_type`) ?? 'NoClientCert';
  if (clientCa && clientAuth === 'NoClientCert') f.fail(`${where}: a client CA is configured without a client_auth_type that asks for certificates (e.g. RequireAndVerifyClientCert)`);
  // Go would verify against the system's roots: any publicly issued certificate would be let in.
  if (!clientCa && (clientAuth === 'RequireAndVerifyClientCert' || clientAuth === 'VerifyClientCertIfGiven')) f.fail(`${where}: ${clientAuth} needs client_ca_file (or client_ca)`);

  const minVersion = f.oneOf(TLS_VERSIONS, s('min_version'), `${where}.min_version`) ?? 'TLSv1.2';
  const maxVersion = f.oneOf(TLS_VERSIONS, s('max_version'), `${where}.max_version`) ?? 'TLSv1.3';
  if (minVersion > maxVersion) f.fail(`${where}: min_version is above max_version`);
  const suites = f.stringList(m, 'cipher_suites', where)?.map((c) => f.oneOf(CIPHER_SUITES, c, `${where}.cipher_suites`)!);
  const curves = f.stringList(m, 'curve_preferences', where)?.map((c) => f.oneOf(CURVES, c, `${where}.curve_preferences`)!);

  const tls: TlsServerConfig = {
    cert,
    key,
    clientCa,
    clientAuth,
    minVersion,
    maxVersion,
    honorCipherOrder: f.bool(m, 'prefer_server_cipher_suites', where) ?? true,
    ciphers: suites?.length ? `${TLS13_SUITES}:${suites.join(':')}` : undefined,
    ecdhCurve: curves?.length ? curves.join(':') : undefined,
  };
  // Now, not at the first connection: a key that does not match its certificate, or a PEM that does not parse, stops the start.
  try {
    createSecureContext(secureContextOptions(tls));
  } catch (err) {
    f.fail(`${where}: cannot use the certificate and key: ${(err as Error).message.split('\n')[0]}`);
  }
  return tls;
}

/** What node:tls takes for this configuration (the client-certificate policy beyond requestCert/rejectUnauthorized is enforced per connection). */
export function secureContextOptions(t: TlsServerConfig): import('node:tls').SecureContextOptions & import('node:tls').TlsOptions {
  const asks = t.clientAuth !== 'NoClientCert';
  return {
    cert: t.cert,
    key: t.key,
    ...(t.clientCa ? { ca: t.clientCa } : {}),
    requestCert: asks,
    rejectUnauthorized: t.clientAuth === 'RequireAndVerifyClientCert',
    minVersion: t.minVersion,
    maxVersion: t.maxVersion,
    honorCipherOrder: t.honorCipherOrder,
    ...(t.ciphers ? { ciphers: t.ciphers } : {}),
    ...(t.ecdhCurve ? { ecdhCurve: t.ecdhCurve } : {}),
  };
}
