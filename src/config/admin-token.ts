import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { Config } from "./config.js";

const MIN_LENGTH = 16;

async function readSaved(file: string): Promise<string | undefined> {
  const saved = await readFile(file, "utf8").then(
    (text) => text.trim(),
    (error: { code?: string }) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    },
  );
  if (saved !== undefined && saved.length < MIN_LENGTH) {
    throw new Error(`${file} holds no usable ADMIN_TOKEN (under ${MIN_LENGTH} characters): delete it, or set ADMIN_TOKEN`);
  }
  return saved;
}

/**
 * The ADMIN_TOKEN from the environment, or one generated once and kept in DATA_DIR/admin-token.
 * Processes starting together on one DATA_DIR agree on one token: the file appears complete or
 * not at all (written aside, then hard-linked into place, which fails if another process won).
 */
export async function resolveAdminToken(config: Pick<Config, "adminToken" | "dataDir">, logger: Logger): Promise<string> {
  if (config.adminToken) return config.adminToken;
  const file = path.resolve(config.dataDir, "admin-token");
  const existing = await readSaved(file);
  if (existing) return existing;
  await mkdir(path.dirname(file), { recursive: true });
  const token = randomBytes(32).toString("base64url");
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  let created = false;
  try {
    await writeFile(aside, `${token}\n`, { mode: 0o600 });
    await link(aside, file).then(
      () => (created = true),
      (error: { code?: string }) => {
        if (error.code !== "EEXIST") throw error;
      },
    );
  } finally {
    await unlink(aside).catch(() => {});
  }
  const saved = (await readSaved(file))!;
  // Printed once, at the start that created it: the operator has no other way to learn it.
  if (created) logger.info({ file }, `generated ADMIN_TOKEN, saved in ${file}: ${saved}`);
  return saved;
}
