#!/usr/bin/env node
// The `gatehouse` bin: a committed, executable file (tsc does not set the mode of dist/cli.js).
import "../dist/cli.js";
