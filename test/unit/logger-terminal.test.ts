import { execFile } from "node:child_process";
import { createLogger } from "../../src/shared/logger.js";

/** Readable logs in a terminal, JSON lines anywhere else (a pipe, a file, a collector). */

describe("createLogger without a destination", () => {
  it("writes readable, coloured lines when stdout is a terminal, still redacted and bounded", () => {
    const written: string[] = [];
    const wasTTY = process.stdout.isTTY;
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => written.push(String(chunk)) > 0) as typeof process.stdout.write;
    try {
      process.stdout.isTTY = true;
      const logger = createLogger("info");
      logger.info({ headers: { authorization: "Bearer secret-token-value" } }, `hello terminal ${"x".repeat(50_000)}`);
    } finally {
      process.stdout.write = write;
      process.stdout.isTTY = wasTTY;
    }
    const text = written.join("");
    expect(text).toContain("hello terminal");
    expect(text).toContain("INFO");
    expect(text).toMatch(/\u001b\[/);
    expect(() => JSON.parse(text)).toThrow();
    expect(text).not.toContain("secret-token-value");
    expect(text.length).toBeLessThan(10_000);
  });

  it("writes JSON lines when stdout is a pipe", async () => {
    const script = 'const { createLogger } = await import("./src/shared/logger.ts"); createLogger("info").info({ n: 1 }, "hello pipe");';
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        { env: { PATH: process.env.PATH ?? "" } },
        (error, out) => (error ? reject(error) : resolve(out)),
      );
    });
    expect(JSON.parse(stdout.trim())).toMatchObject({ level: 30, msg: "hello pipe", n: 1, service: "parley" });
  });
});
