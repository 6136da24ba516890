/**
 * libvirt's error replies classified by number (rpc-errors.ts): every row of
 * the table, the domain that narrows a number, what no row names, and the
 * message kept in libvirt's words. The numbers themselves are checked
 * against libvirt's virterror.h in rpc-protocol.test.ts; the real daemon's
 * replies in test/libvirt/rpc-errors.test.ts.
 */
import { strict as assert } from 'node:assert';
import { VcpuctlError } from '@vcpuctl/proto';
import { XdrReader, XdrWriter } from '@vcpuctl/host';
import { ERROR_RULES, readRemoteError, rpcError, ruleFor } from '@vcpuctl/host/dist/libvirt/rpc-errors';
import { VIR_ERR, VIR_FROM } from '@vcpuctl/host/dist/libvirt/rpc-protocol';

const CONTEXT = 'cannot read the XML of domain x';

/** A domain no row names, to show a row without `from` holds whatever raised the error. */
const ELSEWHERE = 99;

describe("libvirt's errors by number", () => {
  it('decodes remote_error as the daemon sends it (virNetMessageError)', () => {
    const bytes = new XdrWriter().int(42).int(10).optionalString("Domain not found: no domain with matching uuid 'ab' (x)").int(2).uint(0).uint(0).uint(0).uint(0).int(0).int(0).uint(0).bytes();
    assert.deepEqual(readRemoteError(new XdrReader(bytes)), { code: 42, domain: 10, message: "Domain not found: no domain with matching uuid 'ab' (x)", level: 2 });
    assert.equal(readRemoteError(new XdrReader(new XdrWriter().int(1).int(7).uint(0).int(2).bytes())).message, undefined, 'a null message');
  });

  for (const rule of ERROR_RULES) {
    const where = rule.from ? ` from VIR_FROM_${rule.from}` : '';
    it(`VIR_ERR_${rule.error}${where} is ${rule.code}, libvirt's message and numbers kept`, () => {
      const code = VIR_ERR[rule.error];
      const domain = rule.from ? VIR_FROM[rule.from] : ELSEWHERE;
      const e = rpcError({ code, domain, message: 'libvirt says so', level: 2 }, CONTEXT);
      assert.ok(e instanceof VcpuctlError);
      assert.equal(e.code, rule.code);
      assert.equal(e.message, `${CONTEXT}: libvirt says so`);
      assert.deepEqual(e.details, { libvirt: { code, domain, name: `VIR_ERR_${rule.error}`, from: rule.from && `VIR_FROM_${rule.from}` } });
    });
  }

  it('a row that names a domain holds only for it: the same number from elsewhere is LIBVIRT_FAILED', () => {
    for (const rule of ERROR_RULES.filter((r) => r.from)) {
      const others = ERROR_RULES.filter((r) => r.error === rule.error && !r.from);
      assert.equal(rpcError({ code: VIR_ERR[rule.error], domain: VIR_FROM.QEMU, message: 'm', level: 2 }, CONTEXT).code, others[0]?.code ?? 'LIBVIRT_FAILED', `VIR_ERR_${rule.error} from VIR_FROM_QEMU`);
    }
    assert.equal(rpcError({ code: VIR_ERR.OPERATION_INVALID, domain: VIR_FROM.QEMU, message: 'Requested operation is not valid: domain is not running', level: 2 }, CONTEXT).code, 'LIBVIRT_FAILED', 'the text is not read');
  });

  it('one row per number and domain, so the table has no order to get wrong', () => {
    const keys = ERROR_RULES.map((r) => `${r.error}/${r.from ?? '*'}`);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(ruleFor(VIR_ERR.OPERATION_INVALID, VIR_FROM.DOMAIN)?.code, 'DOMAIN_NOT_RUNNING');
  });

  it('a number no row names is LIBVIRT_FAILED with its number and no name; a missing message says so', () => {
    const e = rpcError({ code: 1, domain: VIR_FROM.QEMU, message: 'internal error: connection not open', level: 2 }, CONTEXT);
    assert.equal(e.code, 'LIBVIRT_FAILED');
    assert.equal(e.message, `${CONTEXT}: internal error: connection not open`);
    assert.deepEqual(e.details, { libvirt: { code: 1, domain: 10, name: undefined, from: 'VIR_FROM_QEMU' } });
    assert.equal(rpcError({ code: 42, domain: 10, message: undefined, level: 2 }, CONTEXT).message, `${CONTEXT}: libvirt reported an error without a message`);
  });
});
