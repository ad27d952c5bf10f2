/**
 * `npm run bench` (all) or `npm run bench -- <name> [<name>…]`: runs each registered benchmark on the
 * Redis backend, then on the PostgreSQL backend, prints a table and writes bench/results/latest.json.
 */

import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { bench as api } from "./benches/api.js";
import { bench as delivery } from "./benches/delivery.js";
import { bench as inbound } from "./benches/inbound.js";
import { bench as inbox } from "./benches/inbox.js";
import { bench as mls } from "./benches/mls.js";
import type { Bench, BenchResult, QueueBackend } from "./types.js";

const BENCHES: Bench[] = [inbox, inbound, delivery, api, mls];
/** Both by default; BENCH_BACKENDS=redis (or postgres) narrows it for quick runs. */
const BACKENDS: QueueBackend[] = (process.env.BENCH_BACKENDS?.split(",") as QueueBackend[] | undefined) ?? ["redis", "postgres"];

interface Row extends BenchResult {
  bench: string;
  backend: QueueBackend;
  ratio?: number;
}

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
const unknown = wanted.filter((name) => !BENCHES.some((b) => b.name === name));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${BENCHES.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
const selected = wanted.length ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;

let cpuModel = cpus()[0]?.model ?? "unknown";
try {
  cpuModel = /Model name:\s*(.+)/.exec(execFileSync("lscpu", { encoding: "utf8" }))?.[1]?.trim() ?? cpuModel;
} catch {
  // lscpu missing: keep os.cpus()
}
const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));
async function save() {
  await mkdir(resultsDir, { recursive: true });
  await writeFile(
    `${resultsDir}latest.json`,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        durationS: Math.round((Date.now() - started) / 1000),
        machine: { cpus: cpus().length, cpuModel, memoryBytes: totalmem(), node: process.version },
        results: rows,
        failures,
      },
      null,
      2,
    )}\n`,
  );
}

const rows: Row[] = [];
const failures: { bench: string; backend: QueueBackend; error: string }[] = [];
const started = Date.now();
for (const backend of BACKENDS) {
  for (const bench of selected) {
    const log = (msg: string) => console.error(`[${backend}] ${msg}`);
    log(`${bench.name}: start`);
    const t0 = Date.now();
    try {
      for (const result of await bench.run({ queue: backend, log })) {
        const ratio = result.baseline?.value ? result.value / result.baseline.value : undefined;
        rows.push({ bench: bench.name, backend, ...result, ...(ratio !== undefined ? { ratio: Math.round(ratio * 1000) / 1000 } : {}) });
      }
    } catch (error) {
      failures.push({ bench: bench.name, backend, error: (error as Error).stack ?? String(error) });
      log(`${bench.name}: FAILED ${(error as Error).message}`);
    }
    await save();
    log(`${bench.name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

const table = [["bench", "metric", "figure", "baseline", "ratio", "backend", "goal"]];
for (const row of rows) {
  table.push([
    row.bench,
    row.metric,
    `${row.value} ${row.unit}`,
    row.baseline ? `${row.baseline.value} (${row.baseline.name})` : "—",
    row.ratio !== undefined ? String(row.ratio) : "—",
    row.backend,
    row.goal ?? "",
  ]);
}
const widths = table[0].map((_, i) => Math.max(...table.map((line) => line[i].length)));
const format = (line: string[]) => `| ${line.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
console.log(format(table[0]));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const line of table.slice(1)) console.log(format(line));
for (const failure of failures) console.log(`FAILED ${failure.bench} on ${failure.backend}: ${failure.error.split("\n")[0]}`);

console.error(`wrote ${resultsDir}latest.json`);
console.error(`wrote ${resultsDir}latest.json`);
process.exit(failures.length ? 1 : 0);
