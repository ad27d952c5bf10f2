import { type AdminClient, CliError, describeError, EXIT } from "./admin-client.js";

/** What a command prints: lines for a person, or the instance's JSON with `--json`. */
export interface Output {
  json: boolean;
  print(line: string): void;
}

interface Account {
  id: string;
  username: string;
  display_name: string;
  created_at: string;
}
interface DomainBlock {
  id: string;
  domain: string;
  created_at: string;
}

const PAGE = 500;

function expectStatus(response: { status: number; body: unknown }, ok: number, what: string): void {
  if (response.status !== ok) throw new CliError(`${what}: ${describeError(response.status, response.body)}`, EXIT.refused);
}

async function everyAccount(client: AdminClient, username?: string): Promise<Account[]> {
  const all: Account[] = [];
  for (let after = ""; ; ) {
    const query = new URLSearchParams({ limit: String(PAGE), ...(after ? { after } : {}), ...(username ? { username } : {}) });
    const response = await client.call<Account[]>("GET", `/api/v1/admin/accounts?${query}`);
    expectStatus(response, 200, "listing accounts");
    all.push(...response.body);
    if (response.body.length < PAGE) return all;
    after = response.body.at(-1)!.id;
  }
}

async function accountNamed(client: AdminClient, name: string): Promise<Account> {
  const [account] = await everyAccount(client, name.replace(/^@/, ""));
  if (!account) throw new CliError(`no local account named ${name}`, EXIT.refused);
  return account;
}

export async function createAccount(client: AdminClient, out: Output, name: string, displayName?: string): Promise<void> {
  const response = await client.call<{ account: Account; access_token: string }>("POST", "/api/v1/admin/accounts", {
    username: name,
    ...(displayName === undefined ? {} : { display_name: displayName }),
  });
  expectStatus(response, 201, `creating ${name}`);
  if (out.json) return out.print(JSON.stringify(response.body));
  out.print(`created ${response.body.account.username}`);
  out.print(`id     ${response.body.account.id}`);
  out.print(`token  ${response.body.access_token}`);
}

export async function listAccounts(client: AdminClient, out: Output): Promise<void> {
  const accounts = await everyAccount(client);
  if (out.json) return out.print(JSON.stringify(accounts));
  for (const a of accounts) out.print([a.id, a.username, a.created_at, a.display_name].join("  ").trimEnd());
  if (accounts.length === 0) out.print("(no accounts)");
}

export async function deleteAccount(client: AdminClient, out: Output, name: string): Promise<void> {
  const account = await accountNamed(client, name);
  expectStatus(await client.call("DELETE", `/api/v1/admin/accounts/${encodeURIComponent(account.id)}`), 200, `deleting ${name}`);
  out.print(out.json ? JSON.stringify({ deleted: account.id }) : `deleted ${account.username} (id ${account.id}); the name stays reserved`);
}

export async function issueAccountToken(client: AdminClient, out: Output, name: string): Promise<void> {
  const account = await accountNamed(client, name);
  const response = await client.call<{ access_token: string }>("POST", `/api/v1/admin/accounts/${encodeURIComponent(account.id)}/tokens`);
  expectStatus(response, 201, `issuing a token for ${name}`);
  // The token alone on stdout, so that `TOKEN=$(npx parley accounts token alice)` works.
  out.print(out.json ? JSON.stringify(response.body) : response.body.access_token);
}

async function domainBlocks(client: AdminClient): Promise<DomainBlock[]> {
  const response = await client.call<DomainBlock[]>("GET", "/api/v1/admin/domain_blocks");
  expectStatus(response, 200, "listing domain blocks");
  return response.body;
}

export async function addDomainBlock(client: AdminClient, out: Output, host: string): Promise<void> {
  const response = await client.call<DomainBlock>("POST", "/api/v1/admin/domain_blocks", { domain: host });
  expectStatus(response, 200, `blocking ${host}`);
  out.print(
    out.json ? JSON.stringify(response.body) : `blocked ${response.body.domain}: its activities are refused and nothing is sent to it`,
  );
}

export async function listDomainBlocks(client: AdminClient, out: Output): Promise<void> {
  const blocks = await domainBlocks(client);
  if (out.json) return out.print(JSON.stringify(blocks));
  for (const b of blocks) out.print(`${b.domain}  ${b.created_at}`);
  if (blocks.length === 0) out.print("(no domain blocks)");
}

export async function removeDomainBlock(client: AdminClient, out: Output, host: string): Promise<void> {
  const wanted = host.trim().toLowerCase();
  const block = (await domainBlocks(client)).find((b) => b.domain === wanted);
  if (!block) throw new CliError(`${host} is not blocked`, EXIT.refused);
  expectStatus(await client.call("DELETE", `/api/v1/admin/domain_blocks/${encodeURIComponent(block.id)}`), 200, `unblocking ${host}`);
  out.print(out.json ? JSON.stringify({ removed: block.domain }) : `unblocked ${block.domain}`);
}
