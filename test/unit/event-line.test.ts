/** libvirt's event lines as `virsh event --all --loop --timestamp` prints them (captured from libvirt 9.0). */
import { strict as assert } from 'node:assert';
import { LineSplitter, MAX_EVENT_LINE_CHARS, parseEventLine } from '@vcpuctl/host';
import { virshFixture } from '../helpers/host-fixtures';

describe('virsh event lines', () => {
  it("parses every line of a captured stream: kind, domain, detail and libvirt's timestamp", () => {
    const events = virshFixture('event-loop-timestamp.txt').split('\n').filter(Boolean).map(parseEventLine);
    assert.ok(events.every(Boolean), 'every captured line is an event');
    assert.deepEqual(events[0], {
      kind: 'metadata-change',
      domain: 'vcpuctl-test-32311-iwprobe',
      detail: 'type element, uri http://vcpuctl.example/intent/1',
      atMs: Date.parse('2026-11-27T23:55:53.411+00:00'),
    });
    const kinds = events.map((e) => `${e!.kind} ${e!.detail}`);
    assert.ok(kinds.includes('lifecycle Stopped Destroyed'));
    assert.ok(kinds.includes('lifecycle Started Booted'));
    assert.ok(kinds.includes('lifecycle Undefined Removed'));
    assert.ok(kinds.includes("agent-lifecycle state: 'disconnected' reason: 'domain started'"));
  });

  it('parses a line without a timestamp, and a domain name with spaces and colons', () => {
    assert.deepEqual(parseEventLine("event 'lifecycle' for domain 'web 1: test': Started Booted"), { kind: 'lifecycle', domain: 'web 1: test', detail: 'Started Booted', atMs: undefined });
  });

  it('is not fooled by what else virsh prints', () => {
    for (const line of ['events received: 12', 'error: Disconnected from qemu:///system due to end of file', '', "event 'lifecycle' for network 'default': Started", 'x'.repeat(MAX_EVENT_LINE_CHARS + 1)]) {
      assert.equal(parseEventLine(line), undefined, line.slice(0, 60));
    }
  });

  it('splits a stream into lines across chunk boundaries and drops an endless line', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push("event 'lifecycle' for dom"), []);
    assert.deepEqual(s.push("ain 'a': Started Booted\nevent"), ["event 'lifecycle' for domain 'a': Started Booted"]);
    assert.deepEqual(s.push(" 'x' for domain 'b': y\n"), ["event 'x' for domain 'b': y"]);
    s.push('z'.repeat(MAX_EVENT_LINE_CHARS + 10));
    assert.deepEqual(s.push("\nevent 'x' for domain 'c': y\n"), ['', "event 'x' for domain 'c': y"]);
  });
});
