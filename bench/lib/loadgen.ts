/**
 * Load generator, run as its own process: `loadgen.ts <job.json>`. The job names an origin, a list of
 * pre-signed requests (each sent at most once), a concurrency and a time bound; keep-alive, loopback.
 * Prints one JSON line: { sent, byStatus, elapsedMs, latenciesMs (of 2xx answers), sentAt }.
 */
import { readFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import type { PreparedRequest } from "./sign.js";

interface Job {
  origin: string;
  requests: PreparedRequest[];
  concurrency: number;
  durationMs: number;
  /** Optional pacing: request i starts no earlier than start + i / ratePerSec. */
  ratePerSec?: number;
}

const job = JSON.parse(await readFile(process.argv[2], "utf8")) as Job;
const origin = new URL(job.origin);
const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
const byStatus: Record<string, number> = {};
const latencies: number[] = [];
/** Date.now() when request i was sent (index of the job's list); -1 when not sent. */
const sentAt: number[] = new Array(job.requests.length).fill(-1);
let next = 0;
const started = performance.now();
const deadline = started + job.durationMs;

function send(prepared: PreparedRequest & { method?: string }): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(
      {
        agent,
        method: prepared.method ?? "POST",
        host: origin.hostname,
        port: origin.port,
        path: prepared.path,
        headers: { ...prepared.headers, "content-length": String(Buffer.byteLength(prepared.body)) },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          const status = String(res.statusCode);
          byStatus[status] = (byStatus[status] ?? 0) + 1;
          if ((res.statusCode ?? 0) < 300) latencies.push(performance.now() - t0);
          resolve();
        });
      },
    );
    // Bounded: a request that gets no answer in 10 s counts as "timeout".
    req.setTimeout(10_000, () => {
      byStatus.timeout = (byStatus.timeout ?? 0) + 1;
      req.destroy();
    });
    req.on("error", () => {
      if (!req.destroyed || !byStatus.timeout) byStatus.error = (byStatus.error ?? 0) + 1;
      resolve();
    });
    req.end(prepared.body);
  });
}

async function lane() {
  while (next < job.requests.length && performance.now() < deadline) {
    const index = next++;
    if (job.ratePerSec) {
      const due = started + (index * 1000) / job.ratePerSec;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    sentAt[index] = Date.now();
    await send(job.requests[index]);
  }
}

await Promise.all(Array.from({ length: job.concurrency }, lane));
const elapsedMs = performance.now() - started;
agent.destroy();
process.stdout.write(`${JSON.stringify({ sent: next, byStatus, elapsedMs, latenciesMs: latencies, sentAt })}\n`);
