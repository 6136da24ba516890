#!/usr/bin/env node
'use strict';
// The daemon (`run`) skips the CLI framework; everything else goes through it.
const fast = require('../dist/cli/run-fast');
if (fast.isFastRun(process.argv)) fast.main();
else require('../dist/cli/main').main();
