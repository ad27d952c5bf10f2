import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { api, createAccount, freePort, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * `bin/parley.js` run as operators run it: a separate process with the environment of the
 * running instance (PORT, HOST, DATA_DIR), finding ADMIN_TOKEN in DATA_DIR/admin-token as the
 * server saved it.
 */

const BIN = path.resolve("bin/parley.js");
let parley: TestParley;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "parley-cli-"));
  parley = await startTestParley({ queue: "postgres", adminToken: null, dataDir });
  const url = new URL(parley.url);
  env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    PORT: url.port,
    HOST: url.hostname,
    PUBLIC_URL: parley.url,
    DATA_DIR: dataDir,
  };
});
afterAll(async () => {
  await parley.close();
  await rm(dataDir, { recursive: true, force: true });
});

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const field = (stdout: string, name: string) => stdout.match(new RegExp(`^${name}\\s+(\\S+)$`, "m"))?.[1];

describe("npx parley accounts", () => {
  it("create makes the account and prints its id and a token that works", async () => {
    const { code, stdout, stderr } = await cli(["accounts", "create", "alice", "--display-name", "Alice <A>"]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const id = field(stdout, "id");
    const token = field(stdout, "token");
    const me = await api(parley.url, token).get("/api/v1/accounts/verify_credentials");
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id, username: "alice", display_name: "Alice <A>" });
  });

  it("create refuses a name already taken, with the instance's reason and exit code 1", async () => {
    await createAccount(parley, "taken");
    const { code, stderr } = await cli(["accounts", "create", "taken"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/creating taken: 4\d\d username_taken/);
  });

  it("list prints every local account; the admin list it reads pages by id", async () => {
    await Promise.all(["lister1", "lister2"].map((name) => createAccount(parley, name)));
    const { code, stdout } = await cli(["accounts", "list"]);
    expect(code).toBe(0);
    const names = stdout
      .trim()
      .split("\n")
      .map((line) => line.split(/\s+/)[1]);
    expect(names).toEqual(expect.arrayContaining(["alice", "taken", "lister1", "lister2"]));
    const page1 = await api(parley.url, parley.adminToken).get("/api/v1/admin/accounts?limit=1");
    const page2 = await api(parley.url, parley.adminToken).get(`/api/v1/admin/accounts?limit=1&after=${page1.body[0].id}`);
    expect(page1.body).toHaveLength(1);
    expect(page2.body[0].id > page1.body[0].id).toBe(true);
  });

  it("token issues a new token of the named account (any case), alone on stdout", async () => {
    const { account } = await createAccount(parley, "Tokened");
    const { code, stdout } = await cli(["accounts", "token", "tokened"]);
    expect(code).toBe(0);
    const me = await api(parley.url, stdout.trim()).get("/api/v1/accounts/verify_credentials");
    expect(me.body.id).toBe(account.id);
  });

  it("delete deletes the named account; a name that names nobody is exit code 1", async () => {
    const { account, token } = await createAccount(parley, "leaving");
    const { code, stdout } = await cli(["accounts", "delete", "leaving"]);
    expect(code).toBe(0);
    expect(stdout).toContain(`deleted leaving (id ${account.id})`);
    expect((await api(parley.url, token).get("/api/v1/accounts/verify_credentials")).status).toBe(401);
    const listed = await api(parley.url, parley.adminToken).get("/api/v1/admin/accounts?username=leaving");
    expect(listed.body).toEqual([]);
    const again = await cli(["accounts", "delete", "leaving"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no local account named leaving");
  });

  it("--json prints the instance's JSON", async () => {
    const { code, stdout } = await cli(["accounts", "create", "jsonic", "--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ account: { username: "jsonic" }, access_token: expect.any(String) });
  });
});

describe("npx parley domain-blocks", () => {
  it("add, list and remove a block, as the admin API then shows", async () => {
    const admin = api(parley.url, parley.adminToken);
    expect((await cli(["domain-blocks", "add", "Spam.Example"])).code).toBe(0);
    expect((await admin.get("/api/v1/admin/domain_blocks")).body.map((b: { domain: string }) => b.domain)).toContain("spam.example");
    const listed = await cli(["domain-blocks", "list"]);
    expect(listed.stdout).toMatch(/^spam\.example\s/m);
    expect((await cli(["domain-blocks", "remove", "spam.example"])).code).toBe(0);
    expect((await admin.get("/api/v1/admin/domain_blocks")).body).toEqual([]);
    const absent = await cli(["domain-blocks", "remove", "spam.example"]);
    expect({ code: absent.code, stderr: absent.stderr.trim() }).toEqual({ code: 1, stderr: "parley: spam.example is not blocked" });
  });
});

describe("npx parley, when it cannot do what was asked", () => {
  it("says no Parley answers (exit code 3) when nothing listens on PORT", async () => {
    const port = String(await freePort());
    const { code, stderr } = await cli(["accounts", "list"], { PORT: port });
    expect(code).toBe(3);
    expect(stderr).toContain(`no Parley answers at http://127.0.0.1:${port}`);
    expect(stderr).toContain("npm start");
  });

  it("says the token is refused (exit code 1) when ADMIN_TOKEN is not the instance's", async () => {
    const { code, stderr } = await cli(["accounts", "list"], { ADMIN_TOKEN: "not-the-instance-token" });
    expect(code).toBe(1);
    expect(stderr).toContain("refused the admin token (401)");
  });

  it("says where it looked (exit code 2) when there is no ADMIN_TOKEN at all", async () => {
    const empty = await mkdtemp(path.join(tmpdir(), "parley-cli-empty-"));
    try {
      const { code, stderr } = await cli(["accounts", "list"], { DATA_DIR: empty });
      expect(code).toBe(2);
      expect(stderr).toContain(path.join(empty, "admin-token"));
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it("prints the usage (exit code 2) for an unknown command or a missing name, on stdout for `help`, and names a bad variable", async () => {
    for (const args of [["accounts"], ["accounts", "create"], ["accounts", "fly", "x"], ["nothing"], ["accounts", "list", "extra"]]) {
      const { code, stderr } = await cli(args);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(stderr).toContain("Usage: parley <command>");
    }
    const help = await cli(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("accounts create <name>");
    const bad = await cli(["accounts", "list"], { PORT: "eighty" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("PORT");
  });
});
