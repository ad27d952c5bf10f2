import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { firstJsonLine, spawnTs } from "./child.js";
import type { PreparedRequest } from "./sign.js";

export interface LoadResult {
  sent: number;
  byStatus: Record<string, number>;
  elapsedMs: number;
  latenciesMs: number[];
  sentAt: number[];
}

/** Runs the load generator in its own process against `origin`; bounded by `requests` and `durationMs`. */
export async function runLoad(
  origin: string,
  requests: PreparedRequest[],
  concurrency: number,
  durationMs: number,
  ratePerSec?: number,
): Promise<LoadResult> {
  const dir = await mkdtemp(path.join(tmpdir(), "parley-bench-"));
  try {
    const file = path.join(dir, "job.json");
    await writeFile(file, JSON.stringify({ origin, requests, concurrency, durationMs, ratePerSec }));
    const child = spawnTs("./loadgen.ts", [file]);
    return await firstJsonLine<LoadResult>(child, durationMs + 60_000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
