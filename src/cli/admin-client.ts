import { readFile } from "node:fs/promises";
import path from "node:path";
import { type Config, ConfigError, loadConfig } from "../config/config.js";

/** A failure the CLI reports as one line and an exit code, without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Exit codes: 1 the instance refused, 2 bad usage or configuration, 3 no instance answers. */
export const EXIT = { refused: 1, usage: 2, unreachable: 3 } as const;

/**
 * Where the running instance listens, seen from this machine: `--url`, else its own PORT on the
 * address it binds (loopback when it binds every address).
 */
export function instanceUrl(config: Pick<Config, "host" | "port">, override?: string): string {
  if (override) {
    try {
      return new URL(override).origin;
    } catch {
      throw new CliError(`--url ${override} is not a URL (e.g. http://127.0.0.1:3000)`, EXIT.usage);
    }
  }
  const host = ["0.0.0.0", "::", ""].includes(config.host) ? "127.0.0.1" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}

/**
 * ADMIN_TOKEN as the server finds it: the environment, else DATA_DIR/admin-token. Never
 * generated here: a token the running server does not know would only be refused.
 */
export async function adminTokenOf(config: Pick<Config, "adminToken" | "dataDir">): Promise<string> {
  if (config.adminToken) return config.adminToken;
  const file = path.resolve(config.dataDir, "admin-token");
  const saved = await readFile(file, "utf8").then(
    (text) => text.trim(),
    (error: { code?: string }) => {
      if (error.code === "ENOENT") return "";
      throw new CliError(`cannot read ${file}: ${String(error)}`, EXIT.usage);
    },
  );
  if (!saved) {
    throw new CliError(
      `no ADMIN_TOKEN: it is neither set nor saved in ${file}. Run this command with the environment of \`npm start\` (same DATA_DIR or ADMIN_TOKEN), after the instance started once`,
      EXIT.usage,
    );
  }
  return saved;
}

export function loadCliConfig(env: NodeJS.ProcessEnv): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

export interface AdminClient {
  readonly base: string;
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

export function adminClient(base: string, token: string): AdminClient {
  return {
    base,
    async call<T>(method: string, apiPath: string, body?: unknown) {
      let response: Response;
      try {
        response = await fetch(new URL(apiPath, base), {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
        throw new CliError(`no Parley answers at ${base} (${cause}): start it with \`npm start\`, or pass --url`, EXIT.unreachable);
      }
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        throw new CliError(`${base} answered ${response.status} with something that is not Parley's JSON: is it Parley?`, EXIT.unreachable);
      }
      if (response.status === 401 || response.status === 403) {
        throw new CliError(
          `${base} refused the admin token (${response.status}): is ADMIN_TOKEN (or DATA_DIR) the instance's?`,
          EXIT.refused,
        );
      }
      return { status: response.status, body: parsed as T };
    },
  };
}

/** The instance's `{"error": …, "message"?: …}` as one line. */
export function describeError(status: number, body: unknown): string {
  const { error, message, field } = (body ?? {}) as { error?: string; message?: string; field?: string };
  return [`${status}`, error, field && `(${field})`, message && `: ${message}`].filter(Boolean).join(" ");
}
