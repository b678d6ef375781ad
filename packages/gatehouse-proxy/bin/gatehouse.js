#!/usr/bin/env node
// The `gatehouse` command of the all-in-one package: the server's CLI, with every built-in
// provider installed beside it (the server finds them from its own location).
import "@gatehouse-proxy/server/cli";
