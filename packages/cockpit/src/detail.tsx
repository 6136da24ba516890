/**
 * One domain in detail: the guest's lscpu view, the findings with what to
 * do, the recent reports (Markdown rendered by markdown.tsx, text only), the
 * last change as a timeline, recent `set` latencies, and the actions.
 * Re-read when the watch stream reports a change of this domain.
 */
import React, { useEffect, useRef, useState } from 'react';
import { Button, Card, CardBody, CardTitle, Title } from '@patternfly/react-core';
import { Actions, FailureAlert } from './actions';
import { VerdictBadge } from './fleet';
import { Markdown } from './markdown';
import type { Row, VcpuctlFailure } from './types';
import { run, runText } from './vcpuctl';

/** Reports read per domain (one `report show` each): the plot's and the list's length. */
export const RECENT_REPORTS = 8;

/** Changes often come in bursts (hot-add, online, confirmed): one re-read after the burst. */
const DEBOUNCE_MS = 300;

interface Report {
  id: string;
  operation?: string;
  startedAt?: string;
  finishedAt?: string;
  outcome?: { ok?: boolean };
  timeline?: { atMs: number; what: string }[];
}

interface Detail {
  lscpu?: string;
  reports: Report[];
  failure?: VcpuctlFailure;
}

const MILESTONES: [string, RegExp][] = [
  ['request', /^command issued/],
  ['libvirt returned', /^libvirt returned/],
  ['present in the guest', /HOT_ADDED|hot-added/],
  ['online', /ONLINED/],
  ['confirmed', /^agent confirmed/],
];

function Timeline({ report }: { report: Report }): React.ReactElement {
  const t = report.timeline ?? [];
  const points = MILESTONES.map(([label, re]) => ({ label, at: t.find((e) => re.test(e.what))?.atMs })).filter((p): p is { label: string; at: number } => p.at !== undefined);
  if (points.length < 2) return <p>No timeline in the last change ({report.id}).</p>;
  const t0 = points[0]!.at;
  const span = Math.max(1, points[points.length - 1]!.at - t0);
  const W = 560;
  const x = (at: number) => 20 + ((at - t0) / span) * (W - 40);
  return (
    <figure>
      <svg width={W} height={90} role="img" aria-label={`Timeline of ${report.id}: ${points.map((p) => `${p.label} at +${p.at - t0} ms`).join(', ')}`}>
        <line x1={20} x2={W - 20} y1={30} y2={30} stroke="#6a6e73" />
        {points.map((p, i) => (
          <g key={p.label}>
            <circle cx={x(p.at)} cy={30} r={5} fill="#0066cc" />
            <text x={x(p.at)} y={i % 2 ? 60 : 15} fontSize={11} textAnchor="middle">
              {p.label}
            </text>
            <text x={x(p.at)} y={i % 2 ? 75 : 50} fontSize={10} textAnchor="middle" fill="#4f5255">
              {`+${p.at - t0} ms`}
            </text>
          </g>
        ))}
      </svg>
      <figcaption>Last change: {report.id}</figcaption>
    </figure>
  );
}

function Latencies({ reports }: { reports: Report[] }): React.ReactElement {
  const sets = reports
    .filter((r) => r.operation === 'set' && r.startedAt && r.finishedAt)
    .map((r) => ({ id: r.id, ok: r.outcome?.ok !== false, ms: Date.parse(r.finishedAt!) - Date.parse(r.startedAt!) }))
    .reverse();
  if (sets.length === 0) return <p>No recent set.</p>;
  const max = Math.max(...sets.map((s) => s.ms), 1);
  const W = 28;
  return (
    <svg width={sets.length * W + 20} height={110} role="img" aria-label={`Recent set latencies: ${sets.map((s) => `${s.ms} ms`).join(', ')}`}>
      {sets.map((s, i) => {
        const h = Math.max(2, (s.ms / max) * 80);
        return (
          <g key={s.id}>
            <rect x={10 + i * W} y={90 - h} width={W - 8} height={h} fill={s.ok ? '#3e8635' : '#c9190b'}>
              <title>{`${s.id}: ${s.ms} ms`}</title>
            </rect>
            <text x={10 + i * W + (W - 8) / 2} y={104} fontSize={9} textAnchor="middle">
              {s.ms >= 1000 ? `${(s.ms / 1000).toFixed(1)}s` : `${s.ms}`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

export function DomainDetail({ row, admin, version, back }: { row: Row; admin: boolean; version: number; back: () => void }): React.ReactElement {
  const [detail, setDetail] = useState<Detail>({ reports: [] });
  const [markdown, setMarkdown] = useState<{ id: string; text?: string; failure?: VcpuctlFailure } | undefined>();
  const [reload, setReload] = useState(0);

  // Re-read on every change the watch reports, debounced; a slower earlier read never overwrites a later one.
  const requested = useRef(0);
  const applied = useRef(0);
  useEffect(() => {
    const timer = window.setTimeout(() => {
      const seq = ++requested.current;
      void (async () => {
        const conn = ['-c', row.uri, '--json'];
        const [s, list] = await Promise.all([run<{ guest?: { snapshot?: { lscpu?: string } } }[]>([...conn, 'status', row.domain]), run<string[]>(['--json', 'report', 'list'])]);
        const prefix = `Z-${row.domain.slice(0, 64)}-`;
        const ids = list.ok ? list.value.filter((id) => typeof id === 'string' && id.includes(prefix)).slice(-RECENT_REPORTS) : [];
        const reports = (await Promise.all(ids.map((id) => run<Report>(['--json', 'report', 'show', id])))).flatMap((r) => (r.ok ? [r.value] : []));
        if (seq < applied.current) return;
        applied.current = seq;
        const failure = s.ok ? undefined : s.failure;
        setDetail({ lscpu: s.ok ? s.value[0]?.guest?.snapshot?.lscpu : undefined, reports, failure });
      })();
    }, DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [row.uri, row.domain, version, reload]);

  async function showReport(id: string): Promise<void> {
    const r = await runText(['report', 'show', id]);
    setMarkdown(r.ok ? { id, text: r.value } : { id, failure: r.failure });
  }

  const last = [...detail.reports].reverse().find((r) => r.operation === 'set');
  return (
    <div data-testid="detail" data-domain={row.domain}>
      <Button variant="link" isInline onClick={back}>
        ← All domains
      </Button>
      <Title headingLevel="h2">
        {row.domain} <VerdictBadge row={row} />
      </Title>
      <p>
        {`${row.state ?? '?'}; libvirt live ${row.live ? `${row.live.current}/${row.live.maximum}` : '–'}, config ${row.config ? `${row.config.current}/${row.config.maximum}` : '–'}; QEMU plugged ${row.qemuPlugged ?? '–'}; guest ${row.guest.reachable ? `present ${row.guest.present}, online ${row.guest.online} (via ${row.guest.via}${row.guest.hostname !== undefined ? `, host ${row.guest.hostname}` : ''})` : `unreachable${row.guest.error ? `: ${row.guest.error}` : ''}`}`}
      </p>
      {detail.failure && <FailureAlert failure={detail.failure} title="status" />}
      <div className="vcpuctl-grid">
        <Card>
          <CardTitle component="h3">Findings</CardTitle>
          <CardBody>
            {row.verdict && row.verdict.findings.length > 0 ? (
              <ul data-testid="findings">
                {row.verdict.findings.map((f) => (
                  <li key={f.kind}>
                    <strong>{f.kind}</strong> ({f.severity}): {f.message}
                    <br />
                    <em>What to do:</em> {f.advice}
                  </li>
                ))}
              </ul>
            ) : (
              <p>Both sides agree.</p>
            )}
          </CardBody>
        </Card>
        <Card>
          <CardBody>
            <Actions row={row} admin={admin} done={() => setReload((n) => n + 1)} />
          </CardBody>
        </Card>
        <Card>
          <CardTitle component="h3">Last change</CardTitle>
          <CardBody>{last ? <Timeline report={last} /> : <p>No change recorded yet.</p>}</CardBody>
        </Card>
        <Card>
          <CardTitle component="h3">Recent set latencies</CardTitle>
          <CardBody>
            <Latencies reports={detail.reports} />
          </CardBody>
        </Card>
        <Card>
          <CardTitle component="h3">The guest's lscpu</CardTitle>
          <CardBody>
            <pre className="vcpuctl-lscpu" data-testid="lscpu" tabIndex={0} aria-label="lscpu inside the guest">
              {detail.lscpu ?? (row.guest.reachable ? 'reading…' : 'the guest is not reachable')}
            </pre>
          </CardBody>
        </Card>
        <Card>
          <CardTitle component="h3">Recent reports</CardTitle>
          <CardBody>
            <ul>
              {[...detail.reports].reverse().map((r) => (
                <li key={r.id}>
                  <Button variant="link" isInline onClick={() => void showReport(r.id)}>
                    {r.id}
                  </Button>
                  {` ${r.operation ?? ''} ${r.outcome?.ok === false ? 'failed' : 'ok'}`}
                </li>
              ))}
            </ul>
            {markdown?.failure && <FailureAlert failure={markdown.failure} title={markdown.id} />}
            {markdown?.text !== undefined && (
              <section aria-label={`Report ${markdown.id}`} data-testid="report">
                <Markdown text={markdown.text} />
              </section>
            )}
          </CardBody>
        </Card>
      </div>
    </div>
  );
}
