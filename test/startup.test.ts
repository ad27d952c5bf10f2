import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { ensureDatabase, migrateDatabase } from "../src/db/database.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { api, createAccount, dropDatabase, freePort, startTestParley, TEST_PG } from "./helpers/parley.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString("hex")}`;

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "parley-startup-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function databaseExists(name: string): Promise<boolean> {
  const sql = postgres(`${TEST_PG}/postgres`, { max: 1, onnotice: () => {} });
  try {
    return (await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`).length === 1;
  } finally {
    await sql.end();
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("loadConfig at start-up (its parsing: test/unit/config.test.ts)", () => {
  it("stops `npm start` with exit code 1 and one line on stderr", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: "abc", DATA_DIR: path.join(tmpdir(), "parley-never-created") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toEqual([expect.stringMatching(/^Invalid configuration: PORT="abc": /)]);
  }, 20_000);
});

describe("database set-up", () => {
  it("ensureDatabase creates a missing database, concurrently and idempotently", async () => {
    const name = uniqueName("parley_test_Ensure-db");
    const url = `${TEST_PG}/${encodeURIComponent(name)}`;
    try {
      expect(await databaseExists(name)).toBe(false);
      await Promise.all([ensureDatabase(url), ensureDatabase(url), ensureDatabase(url)]);
      expect(await databaseExists(name)).toBe(true);
      await ensureDatabase(url);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      expect(await sql`SELECT current_database() AS name`).toEqual([{ name }]);
      await sql.end();
    } finally {
      await dropDatabase(url);
    }
  });

  it("ensureDatabase reports an unreachable server instead of creating anything", async () => {
    const port = await freePort();
    await expect(ensureDatabase(`postgres://postgres@127.0.0.1:${port}/nothing`)).rejects.toThrow();
  });

  it("two concurrent migrateDatabase calls on a fresh database both succeed", async () => {
    const url = `${TEST_PG}/${uniqueName("parley_test_migrate")}`;
    try {
      await ensureDatabase(url);
      await expect(Promise.all([migrateDatabase(url), migrateDatabase(url), migrateDatabase(url)])).resolves.toBeDefined();
      await migrateDatabase(url);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const journal = JSON.parse(await readFile(path.join(root, "drizzle/meta/_journal.json"), "utf8")) as { entries: unknown[] };
        const applied = await sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
        expect(applied[0].n).toBe(journal.entries.length);
        const tables = await sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`;
        expect(tables.map((t) => t.tablename)).toEqual(expect.arrayContaining(["accounts", "account_keys", "access_tokens", "fedify_kv"]));
      } finally {
        await sql.end();
      }
    } finally {
      await dropDatabase(url);
    }
  });
});

describe("ADMIN_TOKEN", () => {
  it("is generated when unset, saved in DATA_DIR, and reused on the next start", () =>
    withTempDir(async (dataDir) => {
      const first = await startTestParley({ adminToken: null, dataDir, role: "web" });
      let token: string;
      try {
        token = first.adminToken;
        expect(token.length).toBeGreaterThanOrEqual(32);
        const file = path.join(dataDir, "admin-token");
        expect((await readFile(file, "utf8")).trim()).toBe(token);
        expect((await stat(file)).mode & 0o777).toBe(0o600);
        // It is the admin API's token.
        await createAccount(first, "admin_made");
        expect((await api(first.url, "not-it-at-all-0000").post("/api/v1/admin/accounts", { username: "x" })).status).toBe(401);
      } finally {
        await first.close();
      }
      const second = await startTestParley({ adminToken: null, dataDir, role: "web" });
      try {
        expect(second.adminToken).toBe(token);
        expect((await api(second.url, token).get("/api/v1/admin/domain_blocks")).status).not.toBe(401);
      } finally {
        await second.close();
      }
      // ADMIN_TOKEN set in the environment wins over the saved one.
      const explicit = "e".repeat(32);
      const third = await startTestParley({ adminToken: explicit, dataDir, role: "web" });
      try {
        expect(third.adminToken).toBe(explicit);
      } finally {
        await third.close();
      }
    }));

  it("is the same for processes starting together on one DATA_DIR", () =>
    withTempDir(async (dataDir) => {
      const instances = await Promise.all([1, 2, 3].map(() => startTestParley({ adminToken: null, dataDir, role: "web" })));
      try {
        const tokens = new Set(instances.map((instance) => instance.adminToken));
        expect(tokens.size).toBe(1);
        expect([...tokens][0].length).toBeGreaterThanOrEqual(32);
      } finally {
        await Promise.all(instances.map((instance) => instance.close()));
      }
    }));

  it("refuses to start with an unusable saved token, naming the file", () =>
    withTempDir(async (dataDir) => {
      await writeFile(path.join(dataDir, "admin-token"), "\n");
      await expect(startTestParley({ adminToken: null, dataDir, role: "web" })).rejects.toThrow(/admin-token holds no usable ADMIN_TOKEN/);
    }));
});

describe("embedded PostgreSQL", () => {
  it(
    "starts in DATA_DIR on the given port, answers queries, keeps its data and stops",
    () =>
      withTempDir(async (dataDir) => {
        // Running as root, PostgreSQL runs as the system user `postgres`, who must reach DATA_DIR
        // (mkdtemp makes it 0700).
        await chmod(dataDir, 0o755);
        const port = await freePort();
        const embedded = await startEmbeddedPostgres(dataDir, port);
        let stopped = false;
        try {
          expect(embedded.url).toBe(`postgres://parley:parley@127.0.0.1:${port}/parley`);
          await ensureDatabase(embedded.url);
          const sql = postgres(embedded.url, { max: 1, onnotice: () => {} });
          await sql`CREATE TABLE kept (n int)`;
          await sql`INSERT INTO kept VALUES (42)`;
          expect(await sql`SELECT n FROM kept`).toEqual([{ n: 42 }]);
          await sql.end();
          expect((await stat(path.join(dataDir, "pg", "PG_VERSION"))).isFile()).toBe(true);

          // The port is taken now: a second cluster says so.
          await withTempDir(async (other) => {
            await chmod(other, 0o755);
            await expect(startEmbeddedPostgres(other, port)).rejects.toThrow(new RegExp(`port ${port} is taken`));
          });

          await embedded.stop();
          stopped = true;
          expect(await portAnswers(port)).toBe(false);
          await embedded.stop(); // idempotent

          // Started again on the same DATA_DIR: no initdb, the data is there.
          const again = await startEmbeddedPostgres(dataDir, port);
          try {
            const sql2 = postgres(again.url, { max: 1, onnotice: () => {} });
            expect(await sql2`SELECT n FROM kept`).toEqual([{ n: 42 }]);
            await sql2.end();
          } finally {
            await again.stop();
          }
        } finally {
          if (!stopped) await embedded.stop();
        }
      }),
    30_000,
  );
});

describe("roles", () => {
  it("ROLE=web serves HTTP and runs no worker", async () => {
    const web = await startTestParley({ queue: "redis", role: "web" });
    try {
      expect(web.parley.url).toBe(web.url);
      expect((await api(web.url).get("/healthz")).status).toBe(200);
      expect((await api(web.url).get("/readyz")).status).toBe(200);
      expect(await web.parley.deps.queues.housekeeping.getWorkersCount()).toBe(0);
      expect(await web.parley.deps.queues.housekeeping.getJobSchedulers()).toEqual([]);
    } finally {
      await web.close();
    }
  });

  it("ROLE=worker runs the workers and serves only /healthz, /readyz and /metrics on its port", async () => {
    const worker = await startTestParley({ queue: "redis", role: "worker" });
    try {
      expect(worker.parley.url).toBeUndefined();
      const base = `http://127.0.0.1:${worker.parley.deps.config.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain("parley_delivery_attempts_total");
      expect((await fetch(`${base}/api/v1/instance`)).status).toBe(404);
      expect(await worker.parley.deps.queues.housekeeping.getWorkersCount()).toBeGreaterThan(0);
      expect((await worker.parley.deps.queues.housekeeping.getJobSchedulers()).map((s) => s.key)).toEqual(["housekeeping"]);
    } finally {
      await worker.close();
    }
  });
});

describe("start-up failure", () => {
  it("a taken HTTP port fails start-up and leaves no connection open", async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    const databaseUrl = `${TEST_PG}/${uniqueName("parley_test_port")}`;
    try {
      await expect(
        startTestParley({ queue: "postgres", databaseUrl, env: { PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` } }),
      ).rejects.toMatchObject({ code: "EADDRINUSE" });
      const sql = postgres(`${TEST_PG}/postgres`, { max: 1, onnotice: () => {} });
      try {
        const name = new URL(databaseUrl).pathname.slice(1);
        const [row] = await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${name}`;
        expect(row.n).toBe(0);
      } finally {
        await sql.end();
      }
    } finally {
      blocker.close();
      await dropDatabase(databaseUrl);
    }
  });
});
