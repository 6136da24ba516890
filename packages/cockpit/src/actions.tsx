/**
 * The page's changes, each shown first as its plan and run only once
 * confirmed: set the vCPU count (plan from `vcpuctl set --dry-run`, the same
 * planner the real run executes), attach the agent's channel (`agent attach
 * --dry-run`: what each side would get, decided as the run decides it),
 * online or offline one guest CPU (`--dry-run`: the CPU's state in the guest
 * now; the guest's own guards decide when it runs), each with the exact
 * command. Failures are shown with vcpuctl's code and message as the CLI
 * gives them. `--lock-wait` is short, so a domain another operator is
 * changing shows LOCKED instead of a wait.
 */
import React, { useState } from 'react';
import { Alert, Button, Checkbox, Form, FormGroup, Modal, ModalVariant, TextInput } from '@patternfly/react-core';
import type { ChannelPlan, GuestCpuPlan, PlanEntry, Row, VcpuctlFailure } from './types';
import { run } from './vcpuctl';

/** Seconds a change waits for another vcpuctl holding the domain before it fails LOCKED. */
export const LOCK_WAIT_SECONDS = 2;

interface Pending {
  title: string;
  args: string[];
  plan?: PlanEntry;
  /** The dry run's plan of an online, offline or attach, as lines; and whether another vcpuctl holds the domain. */
  lines?: string[];
  lockHeldBy?: number;
  refusal?: VcpuctlFailure;
}

/** What `--dry-run` says of one CPU, in a line. */
function cpuLine(c: GuestCpuPlan['cpus'][number]): string {
  if (c.change !== 'none') return `CPU ${c.cpu}: ${c.now} now, would be ${c.change === 'online' ? 'onlined' : 'offlined'}`;
  return `CPU ${c.cpu}: ${c.now} now, ${c.now === 'not present' ? 'the guest kernel would refuse it' : 'nothing to do'}`;
}

const SIDE: Record<string, string> = {
  add: 'the channel is added',
  already: 'has it already',
  'not running': 'not running: nothing to add now',
  'at next start': 'no virtio-serial controller: the channel appears at the next start',
};

/** The lines of an online, offline or attach dry run. */
function planLines(args: string[], value: unknown): string[] {
  if (args[0] === 'agent') {
    const p = value as ChannelPlan;
    return [`Running domain: ${SIDE[p.live] ?? p.live}`, `Persistent config: ${SIDE[p.config] ?? p.config}`, ...(p.note ? [p.note] : [])];
  }
  const p = value as GuestCpuPlan;
  return [...p.cpus.map(cpuLine), `The guest now: present ${p.present}, online ${p.online}`];
}

interface Outcome {
  title: string;
  failure?: VcpuctlFailure;
  summary?: string;
}

export function FailureAlert({ failure, title }: { failure: VcpuctlFailure; title?: string }): React.ReactElement {
  return (
    <Alert variant="danger" isInline title={`${title ? `${title}: ` : ''}${failure.code}`} data-testid="failure" data-code={failure.code}>
      <span className="vcpuctl-failure-message">{failure.message}</span>
      {failure.exit !== undefined && <span className="vcpuctl-exit"> (exit {failure.exit})</span>}
    </Alert>
  );
}

function PlanView({ p }: { p: Pending }): React.ReactElement {
  const steps = (p.plan?.plan?.steps as string[] | undefined) ?? [];
  const held = p.plan?.lockHeldBy ?? p.lockHeldBy;
  return (
    <div data-testid="plan">
      {held !== undefined && (
        <Alert variant="warning" isInline title="LOCKED">
          {`Another vcpuctl (pid ${held}) is changing this domain now.`}
        </Alert>
      )}
      {p.plan ? (
        <>
          {typeof p.plan.plan?.strategy === 'string' && <p>Strategy: {p.plan.plan.strategy}</p>}
          {steps.length > 0 ? (
            <ol className="vcpuctl-steps">
              {steps.map((s, i) => (
                <li key={i}>{s}</li>
              ))}
            </ol>
          ) : (
            !p.refusal && <p>Nothing to do: the domain is already as asked.</p>
          )}
        </>
      ) : (
        <>
          <p>
            Runs <code>{['vcpuctl', ...p.args].join(' ')}</code>
          </p>
          {p.lines && (
            <ul className="vcpuctl-steps" data-testid="plan-lines">
              {p.lines.map((s, i) => (
                <li key={i}>{s}</li>
              ))}
            </ul>
          )}
        </>
      )}
      {p.refusal && <FailureAlert failure={p.refusal} title="Refused" />}
    </div>
  );
}

export function Actions({ row, admin, done }: { row: Row; admin: boolean; done: () => void }): React.ReactElement {
  const [count, setCount] = useState(String(row.live?.current ?? row.config?.current ?? 1));
  const [persist, setPersist] = useState(false);
  const [cpu, setCpu] = useState('1');
  const [pending, setPending] = useState<Pending | undefined>();
  const [busy, setBusy] = useState(false);
  /** Which preview is being read (its button shows it): set, online, offline or agent (attach). */
  const [previewing, setPreviewing] = useState<string | undefined>();
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const conn = ['-c', row.uri];
  const change = [...conn, '--lock-wait', String(LOCK_WAIT_SECONDS), '--json'];

  async function previewSet(): Promise<void> {
    setBusy(true);
    setPreviewing('set');
    setOutcome(undefined);
    const args = ['set', row.domain, count, ...(persist ? ['--config'] : [])];
    const r = await run<{ hosts?: { domains?: PlanEntry[] }[] }>([...conn, '--json', ...args, '--dry-run']);
    const plan = r.value?.hosts?.[0]?.domains?.[0];
    const refusal = plan?.error ?? (r.ok ? undefined : r.failure);
    setPending({ title: `Set ${row.domain} to ${count} vCPUs${persist ? ' (live and config)' : ''}`, args, plan, refusal });
    setBusy(false);
    setPreviewing(undefined);
  }

  /** An online, offline or attach: its dry run first (the same checks, nothing changed), then the exact command. */
  async function previewDry(title: string, args: string[]): Promise<void> {
    setBusy(true);
    setPreviewing(args[0]);
    setOutcome(undefined);
    const r = await run<unknown>([...conn, '--json', ...args, '--dry-run']);
    const value = r.ok ? (r.value as { lockHeldBy?: number }) : undefined;
    setPending({ title, args, ...(value ? { lines: planLines(args, value), lockHeldBy: value.lockHeldBy } : {}), ...(r.ok ? {} : { refusal: r.failure }) });
    setBusy(false);
    setPreviewing(undefined);
  }

  async function confirm(): Promise<void> {
    if (!pending) return;
    setBusy(true);
    const r = await run<{ report?: { id?: string; verdict?: { ok: boolean } }; [k: string]: unknown }>([...change, ...pending.args]);
    setBusy(false);
    setPending(undefined);
    if (r.ok) {
      const id = r.value.report?.id;
      setOutcome({ title: pending.title, summary: id ? `Done: report ${id}` : 'Done' });
    } else setOutcome({ title: pending.title, failure: r.failure });
    done();
  }

  const why = admin ? undefined : 'Changing vCPUs needs administrative access: turn it on in Cockpit (top bar) or ask an administrator.';
  return (
    <section aria-labelledby="vcpuctl-actions-title" className="vcpuctl-actions">
      <h3 id="vcpuctl-actions-title">Change</h3>
      {why && (
        <Alert variant="info" isInline title="Read-only" data-testid="read-only">
          {why}
        </Alert>
      )}
      <Form
        isHorizontal
        onSubmit={(e) => {
          e.preventDefault();
          if (admin) void previewSet();
        }}
      >
        <FormGroup label="vCPU count" fieldId="vcpuctl-count">
          <TextInput id="vcpuctl-count" type="number" min={1} value={count} onChange={(_e, v) => setCount(v)} isDisabled={!admin} />
        </FormGroup>
        <FormGroup fieldId="vcpuctl-config">
          <Checkbox id="vcpuctl-config" label="Also in the persistent config (--config)" isChecked={persist} onChange={(_e, v) => setPersist(v)} isDisabled={!admin} />
        </FormGroup>
        <div>
          <Button type="submit" variant="primary" isDisabled={!admin || busy || !/^\d+$/.test(count)} isLoading={previewing === 'set'}>
            Preview set
          </Button>
        </div>
      </Form>
      <Form
        isHorizontal
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <FormGroup label="Guest CPU" fieldId="vcpuctl-cpu">
          <TextInput id="vcpuctl-cpu" type="number" min={0} value={cpu} onChange={(_e, v) => setCpu(v)} isDisabled={!admin} />
        </FormGroup>
        <div className="vcpuctl-buttons">
          <Button variant="secondary" isDisabled={!admin || busy || !/^\d+$/.test(cpu)} isLoading={previewing === 'online'} onClick={() => void previewDry(`Online CPU ${cpu} in ${row.domain}`, ['online', row.domain, cpu])}>
            Online CPU…
          </Button>{' '}
          <Button variant="secondary" isDisabled={!admin || busy || !/^\d+$/.test(cpu)} isLoading={previewing === 'offline'} onClick={() => void previewDry(`Offline CPU ${cpu} in ${row.domain}`, ['offline', row.domain, cpu])}>
            Offline CPU…
          </Button>{' '}
          <Button variant="secondary" isDisabled={!admin || busy} isLoading={previewing === 'agent'} onClick={() => void previewDry(`Attach the agent's channel to ${row.domain}`, ['agent', 'attach', row.domain])}>
            Attach agent channel…
          </Button>
        </div>
      </Form>
      {outcome?.failure && <FailureAlert failure={outcome.failure} title={outcome.title} />}
      {outcome?.summary && (
        <Alert variant="success" isInline title={outcome.title} data-testid="success">
          {outcome.summary}
        </Alert>
      )}
      <Modal
        variant={ModalVariant.medium}
        title={pending?.title ?? ''}
        isOpen={pending !== undefined}
        onClose={() => setPending(undefined)}
        aria-label={pending?.title ?? 'Confirm'}
        actions={[
          <Button key="confirm" variant="primary" onClick={() => void confirm()} isDisabled={busy || pending?.refusal !== undefined} isLoading={busy}>
            Confirm
          </Button>,
          <Button key="cancel" variant="link" onClick={() => setPending(undefined)}>
            Cancel
          </Button>,
        ]}
      >
        {pending && <PlanView p={pending} />}
      </Modal>
    </section>
  );
}
