/**
 * The page: the fleet table from one `status --all` and then one
 * `watch --all --json` stream (no polling, no reload); a domain's detail;
 * administrative access from Cockpit's own superuser state.
 */
import React, { useEffect, useRef, useState } from 'react';
import { Alert, Page, PageSection, Title } from '@patternfly/react-core';
import { FailureAlert } from './actions';
import { DomainDetail } from './detail';
import { FleetTable } from './fleet';
import { FleetStatus, isDomainRecord, keyOf, rowOfRecord, rowsOfStatus } from './rows';
import type { Row, VcpuctlFailure } from './types';
import { run, watch } from './vcpuctl';

/** After the watch stream ends (vcpuctl exited), it is started again this much later: a restart, not a poll. */
const WATCH_RESTART_MS = 5000;

/**
 * Whether changes are offered: the session is root's own, or Cockpit's
 * superuser is active. The bridge's cockpit.Superuser names the superuser
 * bridge in use ("sudo", "pkexec", ...), "none" without one and "init" while
 * it starts (as Cockpit's own pkg/lib/superuser.js reads it). Undefined
 * until known; a bridge without that interface counts as no access.
 */
function useAdmin(): boolean | undefined {
  const [admin, setAdmin] = useState<boolean | undefined>();
  useEffect(() => {
    let root: boolean | undefined;
    let superuser: boolean | undefined;
    const update = () => {
      if (root === true) setAdmin(true);
      else if (root === false && superuser !== undefined) setAdmin(superuser);
    };
    void cockpit.user().then((u) => {
      root = u.id === 0;
      update();
    });
    const proxy = cockpit.dbus(null, { bus: 'internal' }).proxy('cockpit.Superuser', '/superuser');
    const read = () => {
      const current = proxy.valid ? proxy.Current : 'none';
      if (current !== 'init') superuser = typeof current === 'string' && current !== 'none';
      update();
    };
    proxy.addEventListener('changed', read);
    void proxy.wait(read);
  }, []);
  return admin;
}

export function App(): React.ReactElement {
  const admin = useAdmin();
  const [rows, setRows] = useState<Map<string, Row>>(new Map());
  const [failure, setFailure] = useState<VcpuctlFailure | undefined>();
  const [unreachable, setUnreachable] = useState<{ uri: string; error: VcpuctlFailure }[]>([]);
  const [watching, setWatching] = useState<VcpuctlFailure | 'up' | 'starting'>('starting');
  const [selected, setSelected] = useState<string | undefined>();
  const [versions, setVersions] = useState<Map<string, number>>(new Map());
  const restart = useRef<number | undefined>();

  useEffect(() => {
    if (admin === undefined) return;
    let stopped = false;
    let handle: { stop(): void } | undefined;
    void run<FleetStatus>(['--json', 'status', '--all']).then((r) => {
      if (stopped) return;
      const status = r.value ?? undefined;
      if (status?.hosts) setRows(new Map(rowsOfStatus(status).map((row) => [keyOf(row), row])));
      setUnreachable((status?.hosts ?? []).flatMap((h) => (h.reachable || !h.error ? [] : [{ uri: h.uri, error: h.error }])));
      setFailure(r.ok || status?.hosts ? undefined : r.failure);
    });
    const start = () => {
      setWatching('starting');
      handle = watch(
        (record) => {
          if (!isDomainRecord(record)) return;
          setWatching('up');
          const key = keyOf(record);
          setRows((old) => {
            const row = rowOfRecord(record);
            const next = new Map(old);
            if (row) next.set(key, row);
            else next.delete(key);
            return next;
          });
          setVersions((old) => new Map(old).set(key, (old.get(key) ?? 0) + 1));
        },
        (why) => {
          if (stopped) return;
          setWatching(why);
          restart.current = window.setTimeout(start, WATCH_RESTART_MS);
        },
      );
    };
    start();
    return () => {
      stopped = true;
      window.clearTimeout(restart.current);
      handle?.stop();
    };
  }, [admin]);

  const sorted = [...rows.values()].sort((a, b) => a.uri.localeCompare(b.uri) || a.domain.localeCompare(b.domain));
  const row = selected ? rows.get(selected) : undefined;
  return (
    <Page>
      <PageSection variant="light">
        <Title headingLevel="h1">vCPUs</Title>
        <p className="vcpuctl-status" data-testid="watch-state" aria-live="polite">
          {watching === 'up' ? 'Live: following libvirt events and every guest agent.' : watching === 'starting' ? 'Connecting…' : ''}
        </p>
        {typeof watching === 'object' && <FailureAlert failure={watching} title="watch (restarting)" />}
        {failure && <FailureAlert failure={failure} title="status" />}
        {unreachable.map((h) => (
          <FailureAlert key={h.uri} failure={h.error} title={h.uri} />
        ))}
        {admin === false && <Alert variant="info" isInline isPlain title="Read-only: changes need administrative access." data-testid="read-only-banner" />}
      </PageSection>
      <PageSection>
        {row ? <DomainDetail row={row} admin={admin === true} version={versions.get(selected!) ?? 0} back={() => setSelected(undefined)} /> : <FleetTable rows={sorted} open={(r) => setSelected(keyOf(r))} />}
      </PageSection>
    </Page>
  );
}
