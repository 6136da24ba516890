/** The fleet table: one row per domain of every connection, updated from the watch stream. */
import React from 'react';
import { Button, Label } from '@patternfly/react-core';
import { badgeOf } from './rows';
import type { Counts, Row } from './types';

const n = (c: Counts | undefined): string => (c ? `${c.current} / ${c.maximum}` : '–');

export function VerdictBadge({ row }: { row: Row }): React.ReactElement {
  const b = badgeOf(row);
  return (
    <span className="vcpuctl-verdict">
      <Label color={b.color} isCompact>
        {b.word}
      </Label>
      {row.verdict?.findings.map((f) => (
        <span key={f.kind} className="vcpuctl-finding" title={f.message}>
          {' '}
          {f.kind}
        </span>
      ))}
    </span>
  );
}

function guestCell(r: Row): string {
  if (r.guest.reachable) return `present ${r.guest.present ?? '?'}, online ${r.guest.online ?? '?'}`;
  return r.guest.error ? 'unreachable' : '–';
}

export function FleetTable({ rows, open }: { rows: Row[]; open: (r: Row) => void }): React.ReactElement {
  return (
    <table className="pf-v5-c-table pf-m-compact pf-m-grid-md" aria-label="Domains and their vCPUs" data-testid="fleet">
      <thead>
        <tr>
          <th scope="col">Domain</th>
          <th scope="col">State</th>
          <th scope="col">libvirt live</th>
          <th scope="col">libvirt config</th>
          <th scope="col">QEMU plugged</th>
          <th scope="col">Intent</th>
          <th scope="col">Guest</th>
          <th scope="col">Reached via</th>
          <th scope="col">Verdict</th>
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 && (
          <tr>
            <td colSpan={9}>No domains.</td>
          </tr>
        )}
        {rows.map((r) => (
          <tr key={`${r.uri} ${r.domain}`} data-domain={r.domain}>
            <td data-label="Domain">
              <Button variant="link" isInline onClick={() => open(r)} aria-label={`Details of ${r.domain}`}>
                {r.domain}
              </Button>
              {r.operationBy !== undefined && <Label isCompact color="blue">{`changing (pid ${r.operationBy})`}</Label>}
              {r.guest.hostname !== undefined && (
                <div className="vcpuctl-guest-host" data-col="hostname">
                  {`guest host: ${r.guest.hostname}`}
                </div>
              )}
            </td>
            <td data-label="State">{r.state ?? '–'}</td>
            <td data-label="libvirt live" data-col="live">
              {n(r.live)}
            </td>
            <td data-label="libvirt config" data-col="config">
              {n(r.config)}
            </td>
            <td data-label="QEMU plugged" data-col="qemu">
              {r.qemuPlugged ?? '–'}
            </td>
            <td data-label="Intent" data-col="intent">
              {r.intent ?? '–'}
            </td>
            <td data-label="Guest" data-col="guest" title={r.guest.reachable ? undefined : r.guest.error}>
              {guestCell(r)}
            </td>
            <td data-label="Reached via" data-col="via">
              {r.guest.via ?? '–'}
            </td>
            <td data-label="Verdict" data-col="verdict">
              <VerdictBadge row={r} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
