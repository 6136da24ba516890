'use strict';
// @vcpuctl/proto/limits: this part alone, without the codec (protobufjs and the
// generated code), for what runs before any agent is reached (--help, option checks).
module.exports = require('./dist/limits');
