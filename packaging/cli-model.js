'use strict';
/**
 * The command tree of a built CLI as plain data, read through commander's own
 * Help class: the terms and descriptions here are the ones `--help` prints,
 * so the man pages (man.js) and the bash completion (completion.js) made
 * from them cannot drift from it.
 *
 * The programs come from their `buildProgram()` (packages/* /dist/cli/main.js),
 * the tree main() parses with, never run.
 */
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '..');

/** What each package's generator reads: its built program and the constants its pages name. */
const PROGRAMS = {
  vcpuctl: () => require(join(ROOT, 'packages/host/dist/cli/main.js')).buildProgram(),
  'vcpuctl-agent': () => require(join(ROOT, 'packages/guest-agent/dist/cli/main.js')).buildProgram(),
};

function loadProgram(name) {
  const build = PROGRAMS[name];
  if (!build) throw new Error(`unknown program ${name} (${Object.keys(PROGRAMS).join(', ')})`);
  try {
    return build();
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND') throw new Error(`${name} is not built: run \`npm run build\` first (${err.message.split('\n')[0]})`, { cause: err });
    throw err;
  }
}

/** The text addHelpText('after', ...) adds, as `--help` writes it. */
function afterHelp(cmd) {
  let text = '';
  const context = { error: false, command: cmd, write: (s) => (text += s) };
  for (const listener of cmd.listeners('afterHelp')) listener(context);
  return text;
}

/**
 * One command and its subcommands: `path` is the words that reach it
 * (['vcpuctl', 'agent', 'attach']); options are those its --help lists,
 * -h/--help and -V/--version included.
 */
function commandModel(cmd, parentPath = []) {
  const help = cmd.createHelp();
  const path = [...parentPath, cmd.name()];
  return {
    name: cmd.name(),
    path,
    usage: help.commandUsage(cmd),
    description: help.commandDescription(cmd),
    arguments: help.visibleArguments(cmd).map((a) => ({
      term: help.argumentTerm(a),
      name: a.name(),
      description: help.argumentDescription(a),
      variadic: a.variadic,
      required: a.required,
    })),
    options: help.visibleOptions(cmd).map((o) => ({
      term: help.optionTerm(o),
      flags: [o.short, o.long].filter(Boolean),
      // "<file>" or "[name]": what the value is called, undefined for a switch.
      value: /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1],
      optionalValue: o.optional,
      choices: o.argChoices ?? undefined,
      description: help.optionDescription(o),
    })),
    // What --help lists as commands: the real ones and commander's implicit `help [command]`.
    commandNames: help.visibleCommands(cmd).map((c) => c.name()),
    after: afterHelp(cmd),
    commands: cmd.commands.filter((c) => !c._hidden).map((c) => commandModel(c, path)),
  };
}

/** Every command of the tree, the program first, depth first. */
function allCommands(model) {
  return [model, ...model.commands.flatMap(allCommands)];
}

/**
 * Checks that a documented command line uses only commands and options that
 * exist where it uses them (a command's own, or an ancestor's, as commander
 * accepts them); throws otherwise, so an example in a man page cannot
 * outlive a renamed or removed option.
 */
function checkCommandLine(model, words) {
  if (words[0] !== model.name) throw new Error(`example "${words.join(' ')}" does not start with ${model.name}`);
  const scope = [model];
  let takesValue = false;
  for (const w of words.slice(1)) {
    if (takesValue) {
      takesValue = false;
      continue;
    }
    if (w.startsWith('-') && w !== '-') {
      const flag = w.split('=')[0];
      const opt = scope.flatMap((c) => c.options).find((o) => o.flags.includes(flag));
      if (!opt) throw new Error(`example "${words.join(' ')}": ${flag} is not an option of ${scope.at(-1).path.join(' ')}`);
      takesValue = opt.value !== undefined && !opt.optionalValue && !w.includes('=');
      continue;
    }
    const sub = scope.at(-1).commands.find((c) => c.name === w);
    if (sub) scope.push(sub);
  }
  return scope.at(-1);
}

module.exports = { ROOT, loadProgram, commandModel, allCommands, checkCommandLine, afterHelp };
