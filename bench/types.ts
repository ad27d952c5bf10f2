/** Contract shared by every benchmark module under bench/benches/. */
export type QueueBackend = "redis" | "postgres";

export interface BenchContext {
  queue: QueueBackend;
  log(msg: string): void;
}

export interface BenchResult {
  metric: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  goal?: string;
}

export interface Bench {
  name: string;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}
