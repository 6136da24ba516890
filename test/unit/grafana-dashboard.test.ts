/**
 * docs/grafana/vcpuctl-dashboard.json asks only for what the exporter serves.
 * There is no Grafana to import it into here (Debian 12 packages none), so the
 * dashboard is judged against the exporter itself: a real `Metrics` (no
 * watchers, no report dir) says which metric names and labels exist, its
 * histogram is observed once so its `_bucket`/`_sum`/`_count` samples and `le`
 * come from prom-client's own exposition, and every PromQL expression of the
 * dashboard (panel targets and template variable queries) may name only those
 * metrics, and only their labels, in selectors, `by`/`on`/... clauses and
 * legends. Every panel reads the Prometheus datasource variable, and that
 * variable is the one `__inputs` offers on import. When promtool is installed
 * (Debian's `prometheus` package), it parses every expression as a recording
 * rule. Reads files only: no root, no network, no libvirt.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Histogram } from 'prom-client';
import { Metrics } from '@vcpuctl/host/dist/watch/metrics';

const ROOT = join(__dirname, '../../..');
const DASHBOARD = join(ROOT, 'docs/grafana/vcpuctl-dashboard.json');

/** The datasource every panel, target and query variable reads: the dashboard's variable, set from `__inputs` on import. */
const DS_VARIABLE = 'datasource';
const DS_INPUT = 'DS_PROMETHEUS';

/** Core panels only: the dashboard needs no plugin. */
const CORE_PANELS = new Set(['row', 'timeseries', 'stat', 'state-timeline', 'table', 'heatmap', 'bargauge', 'gauge', 'text']);

/** Grafana's own variables that may appear in an expression, with a value promtool accepts in their place. */
const GRAFANA_BUILTINS: Record<string, string> = { __range: '1h', __rate_interval: '5m', __interval: '1m' };

interface Target {
  expr?: string;
  legendFormat?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  repeat?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  type: string;
  name: string;
  query?: string | { query?: string };
  definition?: string;
  current?: { value?: string };
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  __inputs?: { name: string; type: string; pluginId: string }[];
  __requires?: { type: string; id: string }[];
  panels: Panel[];
  templating: { list: Variable[] };
  schemaVersion: number;
  uid?: string;
  title?: string;
}

/** One expression of the dashboard, where it is, and the labels its legend names. */
interface Expr {
  where: string;
  expr: string;
  legend: string[];
}

/** Sample name as served -> the labels its samples carry. */
type Served = Map<string, Set<string>>;

/** What a real exporter serves: every sample name with its labels (a histogram's suffixes and `le` from its exposition). */
async function servedMetrics(): Promise<Served> {
  const metrics = new Metrics([], undefined);
  const served: Served = new Map();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const metric = metrics.registry.getSingleMetric(m.name)!;
    // prom-client keeps the configuration's labelNames on the metric; its typings do not declare the field.
    const labelNames = (metric as unknown as { labelNames: readonly string[] }).labelNames;
    if (!(metric instanceof Histogram)) {
      served.set(m.name, new Set(labelNames));
      continue;
    }
    // One observation, so the exposition shows the histogram's samples exactly as a scrape would.
    metric.observe(Object.fromEntries(labelNames.map((l) => [l, 'x'])), 1);
    const text = await metrics.registry.getSingleMetricAsString(m.name);
    for (const line of text.split('\n')) {
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line);
      if (!sample) continue;
      const labels = served.get(sample[1]!) ?? new Set<string>();
      for (const pair of sample[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1]!);
      served.set(sample[1]!, labels);
    }
  }
  return served;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** The labels a legend format names (`{{kind}}`). */
function legendLabels(format: string | undefined): string[] {
  return [...(format ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]!);
}

function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
}

/** Every PromQL expression: panel targets, and the selector of each `label_values(SELECTOR, LABEL)` variable (its LABEL as a legend label). */
function expressions(d: Dashboard): Expr[] {
  const out: Expr[] = [];
  for (const p of allPanels(d.panels)) {
    for (const t of p.targets ?? []) {
      if (t.expr !== undefined) out.push({ where: `panel "${p.title}" target ${t.refId}`, expr: t.expr, legend: legendLabels(t.legendFormat) });
    }
  }
  for (const v of d.templating.list.filter((x) => x.type === 'query')) {
    const q = variableQuery(v);
    const lv = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(q);
    assert.ok(lv, `variable ${v.name}: a label_values(SELECTOR, LABEL) query, got ${JSON.stringify(q)}`);
    out.push({ where: `variable ${v.name}`, expr: lv[1]!, legend: [lv[2]!] });
  }
  return out;
}

const metricNames = (expr: string) => [...new Set([...expr.matchAll(/\b(vcpuctl_[a-zA-Z0-9_:]*)/g)].map((m) => m[1]!))];

/** Everything wrong with one expression against what the exporter serves, as lines. */
function exprProblems(e: Expr, served: Served): string[] {
  const problems: string[] = [];
  const names = metricNames(e.expr);
  if (!names.length) problems.push(`${e.where}: no vcpuctl metric in ${e.expr}`);
  for (const n of names) if (!served.has(n)) problems.push(`${e.where}: ${n} is not served by the exporter`);
  const known = names.filter((n) => served.has(n));
  const labelsOf = (n: string) => served.get(n)!;
  for (const s of e.expr.matchAll(/\b(vcpuctl_[a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    if (!served.has(s[1]!)) continue;
    for (const m of s[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"/g)) {
      if (!labelsOf(s[1]!).has(m[1]!)) problems.push(`${e.where}: ${s[1]} has no label ${m[1]} (it has ${[...labelsOf(s[1]!)].join(', ')})`);
    }
  }
  // Grouping and matching keep or join on labels every operand has; group_left/right may bring one from the other side.
  for (const c of e.expr.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    const labels = c[2]!
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean);
    const onEvery = c[1] !== 'group_left' && c[1] !== 'group_right';
    for (const l of labels) {
      const ok = onEvery ? known.every((n) => labelsOf(n).has(l)) : known.some((n) => labelsOf(n).has(l));
      if (!ok) problems.push(`${e.where}: ${c[1]}(${l}) names a label ${onEvery ? 'not every' : 'no'} metric of the expression has`);
    }
  }
  for (const l of e.legend) {
    if (!known.some((n) => labelsOf(n).has(l))) problems.push(`${e.where}: legend names {{${l}}}, a label no metric of the expression has`);
  }
  return problems;
}

/** The expression with every variable replaced by a value promtool accepts; undefined variables are problems. */
function substituted(expr: string, variables: Set<string>, problems: string[], where: string): string {
  return expr.replace(/\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare!;
    if (name in GRAFANA_BUILTINS) return GRAFANA_BUILTINS[name]!;
    if (!variables.has(name)) problems.push(`${where}: $${name} is not a variable of the dashboard`);
    return 'x';
  });
}

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('the Grafana dashboard (docs/grafana/vcpuctl-dashboard.json)', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  let served: Served;
  before(async () => {
    served = await servedMetrics();
  });

  it('is a plain importable dashboard of core panels', () => {
    assert.equal(dashboard.schemaVersion, 39);
    assert.ok(dashboard.uid && dashboard.title, 'a uid and a title');
    const panels = allPanels(dashboard.panels);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const required = new Set((dashboard.__requires ?? []).filter((r) => r.type === 'panel').map((r) => r.id));
    for (const p of panels) {
      assert.ok(CORE_PANELS.has(p.type ?? ''), `panel "${p.title}": ${p.type} is a core panel`);
      if (p.type !== 'row') assert.ok(required.has(p.type!), `panel "${p.title}": ${p.type} is in __requires`);
    }
    const variables = new Set(dashboard.templating.list.map((v) => v.name));
    for (const p of panels.filter((x) => x.repeat)) assert.ok(variables.has(p.repeat!), `panel "${p.title}" repeats over a variable of the dashboard`);
  });

  it('reads the Prometheus datasource variable in every panel, target and query, set from __inputs on import', () => {
    const input = (dashboard.__inputs ?? []).find((i) => i.name === DS_INPUT);
    assert.ok(input, `__inputs offers ${DS_INPUT}`);
    assert.deepEqual([input.type, input.pluginId], ['datasource', 'prometheus']);
    const dsVar = dashboard.templating.list.find((v) => v.name === DS_VARIABLE);
    assert.ok(dsVar, `a datasource variable ${DS_VARIABLE}`);
    assert.deepEqual([dsVar.type, dsVar.query], ['datasource', 'prometheus']);
    assert.equal(dsVar.current?.value, `\${${DS_INPUT}}`, 'the import sets the variable');
    const isVar = (ds: Panel['datasource'], where: string) => {
      assert.ok(ds, `${where} names a datasource`);
      assert.equal(ds.type, 'prometheus', `${where}: a Prometheus datasource`);
      assert.equal(ds.uid, `\${${DS_VARIABLE}}`, `${where}: the datasource variable`);
    };
    for (const p of allPanels(dashboard.panels).filter((x) => x.type !== 'row')) {
      assert.ok(p.title?.trim(), `panel ${p.id} has a title`);
      isVar(p.datasource, `panel "${p.title}"`);
      assert.ok(p.targets?.length, `panel "${p.title}" has a query`);
      for (const t of p.targets) isVar(t.datasource, `panel "${p.title}" target ${t.refId}`);
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) isVar(v.datasource, `variable ${v.name}`);
  });

  it("has the uri and domain variables, from the exporter's labels", () => {
    const queries = Object.fromEntries(dashboard.templating.list.filter((v) => v.type === 'query').map((v) => [v.name, variableQuery(v)]));
    assert.match(queries.uri ?? '', /^label_values\(vcpuctl_\w+.*, uri\)$/);
    assert.match(queries.domain ?? '', /^label_values\(vcpuctl_\w+.*, domain\)$/);
  });

  it('names only metrics and labels the exporter serves', () => {
    assert.ok(served.has('vcpuctl_verdict_ok'), 'the exporter was read');
    assert.ok(served.get('vcpuctl_set_confirm_latency_seconds_bucket')?.has('le'), "the histogram's buckets, with le, come from its exposition");
    const exprs = expressions(dashboard);
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr)));
    for (const n of ['_bucket', '_sum', '_count']) assert.ok(used.has(`vcpuctl_set_confirm_latency_seconds${n}`), `the latency panel reads ${n}`);
    assert.deepEqual(
      exprs.flatMap((e) => exprProblems(e, served)),
      [],
    );
  });

  it('catches a metric or label the exporter does not serve (the check itself)', () => {
    const bad: Expr = { where: 'x', expr: 'sum by (host) (vcpuctl_verdict_oks{view="live"}) + vcpuctl_guest_reachable{view="live"}', legend: ['kind'] };
    const problems = exprProblems(bad, served);
    assert.ok(
      problems.some((p) => /vcpuctl_verdict_oks is not served/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /vcpuctl_guest_reachable has no label view/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /by\(host\)/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /\{\{kind\}\}/.test(p)),
      problems.join('\n'),
    );
  });

  it('parses every expression with promtool check rules (skipped without promtool)', function () {
    this.timeout(20000);
    const variables = new Set(dashboard.templating.list.map((v) => v.name));
    const problems: string[] = [];
    const exprs = expressions(dashboard).map((e) => substituted(e.expr, variables, problems, e.where));
    assert.deepEqual(problems, []);
    if (!hasPromtool()) {
      this.test!.title += ': SKIPPED, promtool is not installed (Debian: apt-get install prometheus)';
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'vcpuctl-grafana-'));
    try {
      const rules = ['groups:', '  - name: vcpuctl_dashboard', '    rules:', ...exprs.flatMap((expr, i) => [`      - record: vcpuctl_dashboard:expr_${i}`, `        expr: ${JSON.stringify(expr)}`])];
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, rules.join('\n') + '\n');
      try {
        execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        assert.fail(`promtool check rules:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
