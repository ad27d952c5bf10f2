#!/usr/bin/env node
// Parley's admin CLI (src/cli/main.ts). The code is TypeScript run through tsx, as `npm start`
// runs the server; tsx is registered from here so that the command works from any directory.
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("../src/cli/main.ts");
process.exitCode = await runCli(
  process.argv.slice(2),
  process.env,
  (line) => process.stdout.write(`${line}\n`),
  (line) => process.stderr.write(`${line}\n`),
);
