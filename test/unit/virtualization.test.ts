/**
 * The SMBIOS source of the hypervisor lines: lscpu reads the table only on
 * the live system, never under --sysroot, so the real lscpu cannot judge a
 * tree's table; these check the table walk and lscpu's three names
 * (lscpu-virt.c, hypervisor_from_dmi_table) instead. The file-based sources
 * lscpu does read under --sysroot are judged by lscpu itself in
 * test/integration/lscpu-equivalence.test.ts.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseDmiTable, readDmiTable } from '@vcpuctl/guest-agent/dist/sysfs/dmi-table';
import { readVirtualization } from '@vcpuctl/guest-agent/dist/proc/virtualization';
import { parseSysinfo } from '@vcpuctl/guest-agent/dist/proc/sysinfo';
import { CpuTreeBuilder } from '../helpers/cpu-tree-builder';

describe('hypervisor from the SMBIOS table (live system only, as lscpu)', () => {
  it('walks the table to the BIOS vendor and the system manufacturer and product', () => {
    const t = parseDmiTable(CpuTreeBuilder.dmiTable({ biosVendor: 'innotek GmbH', manufacturer: 'innotek GmbH', product: 'VirtualBox' }));
    assert.deepEqual(t, { biosVendor: 'innotek GmbH', manufacturer: 'innotek GmbH', product: 'VirtualBox' });
  });

  const cases: [string, { biosVendor: string; manufacturer: string; product: string }, string | undefined][] = [
    ['VirtualBox (manufacturer innotek GmbH)', { biosVendor: 'innotek GmbH', manufacturer: 'innotek GmbH', product: 'VirtualBox' }, 'Innotek GmbH'],
    ['a Hitachi LPAR', { biosVendor: 'HITACHI', manufacturer: 'HITACHI', product: 'BladeSymphony LPAR' }, 'Hitachi'],
    ['Parallels (BIOS vendor)', { biosVendor: 'Parallels', manufacturer: 'Parallels Software International Inc.', product: 'Parallels Virtual Platform' }, 'Parallels'],
    ['QEMU/KVM, which lscpu names from CPUID only', { biosVendor: 'SeaBIOS', manufacturer: 'QEMU', product: 'Standard PC (Q35 + ICH9, 2009)' }, undefined],
  ];
  for (const [name, dmi, vendor] of cases) {
    it(`names ${name}`, () => {
      const root = mkdtempSync(join(tmpdir(), `vcpuctl-virt-${process.pid}-`));
      try {
        const file = join(root, 'sys/firmware/dmi/tables/DMI');
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, CpuTreeBuilder.dmiTable(dmi));
        const v = readVirtualization(root, readDmiTable(root), '', undefined);
        assert.equal(v.vendor, vendor);
        assert.equal(v.type, vendor ? 'full' : undefined);
        // The table is the caller's to pass: without it (a --sysroot tree) it says nothing.
        assert.deepEqual(readVirtualization(root, undefined, '', undefined), {});
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }

  it('stops at a structure shorter than its header and at one whose strings run off the end', () => {
    const table = CpuTreeBuilder.dmiTable({ biosVendor: 'Parallels', manufacturer: 'x', product: 'y' });
    assert.deepEqual(parseDmiTable(Buffer.from([0, 2, 0, 0])), {});
    assert.deepEqual(parseDmiTable(table.subarray(0, 20)), {});
  });
});

describe('parseSysinfo', () => {
  it('takes the first Control Program line, blanks collapsed, and the software topology', () => {
    const s = parseSysinfo('Type:                 8561\nVM00 Control Program: z/VM    7.3.0\nVM01 Control Program: KVM/Linux\nCPU Topology SW:      0 0 4 2 3 10\n');
    assert.equal(s.machineType, '8561');
    assert.equal(s.controlProgram, 'z/VM 7.3.0');
    assert.equal(s.controlProgramIsKvm, false);
    assert.deepEqual(s.swTopology, { drawers: 4, booksPerDrawer: 2, socketsPerBook: 3, coresPerSocket: 10 });
  });
});
