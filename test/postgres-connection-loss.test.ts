/**
 * Regression test for patches/postgres+3.4.9.patch: PostgreSQL dropping every connection while
 * transactions run must neither end the process nor leave a query waiting forever. Unpatched,
 * the first round already crashed (4 of 4 tries). Runs bench/chaos-postgresjs-crash.ts in its own
 * process (it uses only read-only queries on the database `postgres`, through its own proxy).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

async function survive(mode: "cut" | "fatal", rounds: number): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/chaos-postgresjs-crash.ts", String(rounds), mode], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, output };
}

test.each(["cut", "fatal"] as const)(
  "every connection %s 20 times under 40 concurrent queries and transactions: no crash, nothing hangs",
  async (mode) => {
    const { code, output } = await survive(mode, 20);
    expect(output).toMatch(new RegExp(`^survived 20 rounds \\(${mode}\\): \\d+ queries ok, \\d+ failed$`, "m"));
    expect(code).toBe(0);
    // The faults really hit queries (otherwise the test proves nothing), and work went on between them.
    const [, ok, failed] = /(\d+) queries ok, (\d+) failed/.exec(output)!.map(Number);
    expect(failed).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(failed);
  },
  60_000,
);
