import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Runs a bench/lib TypeScript file as its own Node process (through tsx). */
export function spawnTs(file: string, args: string[] = []): ChildProcess {
  const script = fileURLToPath(new URL(file, import.meta.url));
  return spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
}

/** Resolves with the first stdout line of `child` that parses as JSON. */
export function firstJsonLine<T>(child: ChildProcess, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error("child: no answer in time")), timeoutMs);
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line.startsWith("{")) continue;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as T);
        } catch (error) {
          reject(error as Error);
        }
        return;
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code} before answering`));
    });
  });
}
