import { adminTokenOf, CliError, describeError, EXIT, instanceUrl } from "../../src/cli/admin-client.js";
import { runCli } from "../../src/cli/main.js";

/** The admin CLI's choices that need no instance (test/cli.test.ts runs it against one). */

describe("parley CLI: where it calls", () => {
  it("calls loopback when Parley binds every address, else the address it binds", () => {
    expect(instanceUrl({ host: "0.0.0.0", port: 3000 })).toBe("http://127.0.0.1:3000");
    expect(instanceUrl({ host: "::", port: 3001 })).toBe("http://127.0.0.1:3001");
    expect(instanceUrl({ host: "10.1.2.3", port: 80 })).toBe("http://10.1.2.3:80");
    expect(instanceUrl({ host: "::1", port: 3002 })).toBe("http://[::1]:3002");
  });

  it("takes --url as an origin, and refuses one that is not a URL with the usage exit code", () => {
    expect(instanceUrl({ host: "0.0.0.0", port: 3000 }, "https://chat.example/some/path")).toBe("https://chat.example");
    expect(() => instanceUrl({ host: "0.0.0.0", port: 3000 }, "not a url")).toThrow(expect.objectContaining({ exitCode: EXIT.usage }));
  });

  it("uses ADMIN_TOKEN when set, and without it says which file it looked in", async () => {
    await expect(adminTokenOf({ adminToken: "from-the-environment", dataDir: "/nonexistent" })).resolves.toBe("from-the-environment");
    const missing = adminTokenOf({ adminToken: undefined, dataDir: "/nonexistent-parley-dir" });
    await expect(missing).rejects.toBeInstanceOf(CliError);
    await expect(missing).rejects.toThrow("/nonexistent-parley-dir/admin-token");
  });

  it("puts the instance's error in one line", () => {
    expect(describeError(422, { error: "domain_already_blocked", field: "domain" })).toBe("422 domain_already_blocked (domain)");
    expect(describeError(409, { error: "username_taken", message: "taken" })).toBe("409 username_taken : taken");
    expect(describeError(502, undefined)).toBe("502");
  });
});

describe("parley CLI: the command line", () => {
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      args,
      {},
      (line) => out.push(line),
      (line) => err.push(line),
    );
    return { code, out: out.join("\n"), err: err.join("\n") };
  };

  it("prints the usage on stdout for help, on stderr with exit code 2 for anything it does not know", async () => {
    expect(await run(["help"])).toMatchObject({ code: 0, out: expect.stringContaining("domain-blocks remove <host>"), err: "" });
    for (const args of [
      [],
      ["accounts"],
      ["accounts", "create"],
      ["accounts", "list", "x"],
      ["domain-blocks", "drop", "x"],
      ["accounts", "list", "--bogus"],
    ]) {
      const result = await run(args);
      expect({ args, code: result.code, out: result.out }).toEqual({ args, code: EXIT.usage, out: "" });
      expect(result.err).toContain("Usage: parley <command>");
    }
  });

  it("names a bad variable of the environment with exit code 2", async () => {
    const out: string[] = [];
    const code = await runCli(
      ["accounts", "list"],
      { PORT: "eighty" },
      () => {},
      (line) => out.push(line),
    );
    expect(code).toBe(EXIT.usage);
    expect(out.join("\n")).toMatch(/^parley: Invalid configuration: PORT="eighty"/);
  });
});
