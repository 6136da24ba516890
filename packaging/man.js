#!/usr/bin/env node
'use strict';
/**
 * Writes a program's man page (roff, man macros) from its built commander
 * tree: the synopsis, every command with its arguments and options as
 * `--help` words them, the exit status table from proto's ERROR_CODES, and
 * the FILES, ENVIRONMENT and EXAMPLES below, whose paths come from the
 * code's own constants and whose command lines are checked against the tree.
 * Usage: node packaging/man.js vcpuctl|vcpuctl-agent OUT_FILE
 * The date is SOURCE_DATE_EPOCH's (same input, same bytes).
 */
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { ROOT, allCommands, checkCommandLine, commandModel, loadProgram } = require('./cli-model');

const dist = (p) => require(join(ROOT, p));

/** What the code does not say in its --help: section, files, environment, examples. */
const PAGES = {
  vcpuctl: () => {
    const { DEFAULT_REPORT_DIR } = dist('packages/host/dist/cli/globals.js');
    const { DEFAULT_LOCK_DIR } = dist('packages/host/dist/core/lock.js');
    const { DEFAULT_HOSTS_FILE } = dist('packages/host/dist/core/hosts-file.js');
    const { DEFAULT_AGENTS_FILE } = dist('packages/host/dist/core/agents.js');
    return {
      section: 1,
      manual: 'vcpuctl manual',
      intro: [
        "vcpuctl changes the number of vCPUs of running libvirt/KVM guests and checks the result from the host (libvirt, and QEMU's own view) and from inside the guest (the guest kernel, through vcpuctl-agent or qemu-guest-agent); every disagreement gets a name, an explanation and a fix, and every change writes a report.",
        "The global options below apply to every command and may be given before or after it; each command's own options follow it under COMMANDS.",
      ],
      environment: [
        ['LIBVIRT_DEFAULT_URI', 'the libvirt URI when no -c/--connect is given (and, for the fleet commands, no hosts file is used); otherwise qemu:///system.'],
        ['VCPUCTL_LOCK_DIR', `where the per-domain locks are kept (default ${DEFAULT_LOCK_DIR}).`],
        [
          'VCPUCTL_SSH_SHARE',
          'off gives every command its own ssh connection to a qemu+ssh:// host; by default one connection per host, URI and key is kept for 60 s after the last command and shared (ssh ControlMaster/ControlPersist).',
        ],
        ['VCPUCTL_SSH_CONTROL_DIR', "where the shared connections' sockets are (default $XDG_RUNTIME_DIR/vcpuctl-ssh, else ~/.cache/vcpuctl/ssh); a directory others can write is not used."],
        ['VCPUCTL_CODE_CACHE', 'off starts the installed vcpuctl without its V8 code cache (/var/cache/vcpuctl); verbose says on stderr whether it was used.'],
      ],
      files: [
        [DEFAULT_HOSTS_FILE, 'libvirt URIs, one a line, # comments: the connections of status --all, verify --all, set --all, watch and exporter when no -c is given (a conffile of the Debian package, listing qemu:///system).'],
        [DEFAULT_AGENTS_FILE, 'optional JSON file mapping domains to an agent URL and token file (--agents-file).'],
        [DEFAULT_REPORT_DIR, 'one JSON report per change (--report-dir); read back by vcpuctl report and by the exporter. Removed by dpkg --purge.'],
        [DEFAULT_LOCK_DIR, 'the locks that serialize vcpuctl processes on one domain and on one guest channel.'],
        ['/etc/default/vcpuctl-exporter', 'the options of vcpuctl-exporter.service: listen address (loopback by default), --web-config-file, connections, domains.'],
        ['/usr/lib/systemd/system/vcpuctl-exporter.service', 'runs vcpuctl exporter as a hardened service; not enabled on install (systemctl enable --now vcpuctl-exporter).'],
      ],
      examples: [
        ['Every domain of the local libvirt, host and guest views side by side:', 'vcpuctl status --all'],
        ["The same from a script, on libvirt's built-in test driver:", 'vcpuctl -c test:///default status --all --json'],
        ['Four vCPUs online in the guest web1, printing the plan first, then doing it:', 'vcpuctl set web1 4 --dry-run', 'vcpuctl set web1 4'],
        ['Raise the maximum (needs a restart of the domain):', 'vcpuctl set-max web1 8 --restart'],
        ['Check every running domain of two hosts; exit 3 when one disagrees:', 'vcpuctl verify --all -c qemu:///system -c qemu+ssh://root@kvm2/system'],
        ["Give a domain the agent's virtio-serial channel:", 'vcpuctl agent attach web1'],
        ['Follow changes as they happen:', "vcpuctl watch --all --name 'web*'"],
        ['Prometheus metrics on loopback, as vcpuctl-exporter.service runs it:', 'vcpuctl exporter --listen 127.0.0.1:9848 --all'],
      ],
      seeAlso: ['vcpuctl-agent(8)', 'virsh(1)', 'systemctl(1)', 'ssh(1)'],
    };
  },
  'vcpuctl-agent': () => ({
    section: 8,
    manual: 'vcpuctl manual',
    intro: [
      "vcpuctl-agent runs inside a guest. It reports the guest's vCPUs (the kernel's present and online lists, lscpu's view, the kernel's hotplug log lines) to the host's vcpuctl, onlines hot-added vCPUs, and onlines or offlines vCPUs on the host's request, with guards.",
      'By default (as vcpuctl-agent.service runs it) it serves the host over the virtio-serial channel org.vcpuctl.agent.0, which only root on the host can reach, and opens no network socket; TCP is opt-in and always with a token.',
    ],
    environment: [],
    files: [
      ['/etc/default/vcpuctl-agent', 'the options of vcpuctl-agent.service: channel name, the opt-in TCP listener, anything else for run.'],
      ['/usr/lib/systemd/system/vcpuctl-agent.service', 'runs vcpuctl-agent run --channel as a hardened service.'],
      ['/dev/virtio-ports/org.vcpuctl.agent.0', "the channel's port (found by its name under /sys/class/virtio-ports)."],
      ['/sys/devices/system/cpu', 'present, possible, online and each cpuN/online: read, and written to change a vCPU.'],
      ['/dev/kmsg', 'the kernel log, for the hotplug lines shown with each change.'],
      ['/etc/vcpuctl/agent.token', 'the token of the opt-in TCP listener (mode 0600), when one is configured.'],
    ],
    examples: [
      ['What the service runs:', 'vcpuctl-agent run --channel'],
      ["This guest's CPUs as lscpu --parse prints them, or as the agent sends them:", 'vcpuctl-agent snapshot --format parse', 'vcpuctl-agent snapshot --format json'],
      ['A TCP listener with a token as well as the channel:', 'vcpuctl-agent run --channel --listen 0.0.0.0:7643 --token-file /etc/vcpuctl/agent.token'],
      ['Report only, never change a CPU:', 'vcpuctl-agent run --channel --read-only'],
    ],
    seeAlso: ['vcpuctl(1)', 'lscpu(1)', 'systemctl(1)'],
  }),
};

/** Text for roff: backslashes kept, a leading dot or quote neutralized, hyphens as minus signs (Debian's man keeps them ASCII). */
function esc(text) {
  return String(text)
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

const bold = (t) => `\\fB${esc(t)}\\fR`;

/** "--report-dir <dir>" bold with the value in italics, as man pages set a synopsis. */
function term(t) {
  return esc(t).replace(/([^<[\]>]+)|([<[][^>\]]+[>\]])/g, (m, plain, value) => (plain ? `\\fB${plain}\\fR` : `\\fI${value}\\fR`));
}

function paragraphs(text) {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The exit status section: 0, then ERROR_CODES grouped by exit code, in proto's words. */
function exitStatus(after, lines) {
  const { ERROR_CODES, exitCodeTable } = require(join(ROOT, 'proto/dist/index.js'));
  // The "Exit codes:" block of --help is exitCodeTable(): replaced here by the same table as roff; the notes around it are kept.
  const notes = paragraphs(after).filter((p) => {
    if (!p.startsWith('Exit codes:')) return true;
    if (!p.includes(exitCodeTable())) throw new Error('the "Exit codes:" block of --help is not exitCodeTable(): update packaging/man.js');
    return false;
  });
  const byExit = new Map([[0, ['success']]]);
  for (const [code, spec] of Object.entries(ERROR_CODES)) byExit.set(spec.exit, [...(byExit.get(spec.exit) ?? []), `${code}: ${spec.summary}`]);
  lines.push('.SH "EXIT STATUS"');
  for (const [exit, texts] of [...byExit].sort((a, b) => a[0] - b[0])) {
    lines.push('.TP', `.B ${exit}`, ...texts.map((t, i) => (i ? `.br\n${esc(t)}` : esc(t))));
  }
  for (const n of notes) lines.push('.PP', esc(n.replace(/\n/g, ' ')));
}

function options(opts, lines) {
  for (const o of opts) lines.push('.TP', term(o.term), esc(o.description));
}

function commandSection(c, lines) {
  lines.push(`.SS "${esc(c.path.slice(1).join(' '))}"`, `${term(c.usage)}`, '.PP', esc(c.description));
  if (c.arguments.length) {
    lines.push('.PP', 'Arguments:', '.RS');
    for (const a of c.arguments) lines.push('.TP', `\\fI${esc(a.term)}\\fR`, esc(a.description));
    lines.push('.RE');
  }
  if (c.options.length) {
    lines.push('.PP', 'Options:', '.RS');
    options(c.options, lines);
    lines.push('.RE');
  }
  for (const p of paragraphs(c.after)) lines.push('.PP', esc(p.replace(/\n/g, ' ')));
}

function manPage(name) {
  const page = PAGES[name]();
  const model = commandModel(loadProgram(name));
  const version = model.options.some((o) => o.flags.includes('--version')) ? loadProgram(name).version() : '';
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000).toISOString().slice(0, 10);
  const lines = [
    `.\\" Generated by packaging/man.js from ${name}'s command definitions; do not edit.`,
    `.TH ${name.toUpperCase().replace(/-/g, '\\-')} ${page.section} ${date} "${name} ${version}" "${page.manual}"`,
    // No hyphenation, ragged right: option names and error codes stay whole words, as --help prints them.
    '.nh',
    '.ad l',
    '.SH NAME',
    `${esc(name)} \\- ${esc(model.description.charAt(0).toLowerCase() + model.description.slice(1))}`,
    '.SH SYNOPSIS',
  ];
  const commands = allCommands(model)
    .slice(1)
    .filter((c) => c.commands.length === 0);
  lines.push(term(model.usage));
  for (const c of commands) lines.push('.br', term(c.usage));
  lines.push('.SH DESCRIPTION', ...page.intro.flatMap((p, i) => (i ? ['.PP', esc(p)] : [esc(p)])));
  lines.push('.SH OPTIONS');
  options(model.options, lines);
  lines.push('.SH COMMANDS');
  for (const c of allCommands(model).slice(1)) commandSection(c, lines);
  exitStatus(model.after, lines);
  if (page.environment.length) {
    lines.push('.SH ENVIRONMENT');
    for (const [v, text] of page.environment) lines.push('.TP', bold(v), esc(text));
  }
  lines.push('.SH FILES');
  for (const [f, text] of page.files) lines.push('.TP', `\\fI${esc(f)}\\fR`, esc(text));
  lines.push('.SH EXAMPLES');
  for (const [text, ...commandLines] of page.examples) {
    for (const cl of commandLines) checkCommandLine(model, shellWords(cl));
    lines.push('.PP', esc(text), '.PP', '.RS', '.nf', ...commandLines.map(esc), '.fi', '.RE');
  }
  lines.push('.SH "SEE ALSO"', page.seeAlso.map((s) => `\\fB${esc(s.replace(/\(.*/, ''))}\\fR${s.slice(s.indexOf('('))}`).join(', '));
  return `${lines.join('\n')}\n`;
}

/** The words of a documented command line (single quotes only, as the examples use). */
function shellWords(line) {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

if (require.main === module) {
  const [name, out] = process.argv.slice(2);
  try {
    if (!name || !out) throw new Error('usage: node packaging/man.js vcpuctl|vcpuctl-agent OUT_FILE');
    writeFileSync(out, manPage(name));
  } catch (err) {
    process.stderr.write(`man: ${err.message}\n`);
    process.exit(1);
  }
}

module.exports = { manPage, PAGES };
