import postgres from "postgres";
import { eventually } from "./helpers/inbox.js";
import { MlsClient, type MlsObject } from "./helpers/mls-client.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * Encrypted groups across two instances, with real ts-mls clients: alice@A makes a group with
 * bob@B and carol@B from their published KeyPackages; the Welcome reaches both (one POST to B),
 * all three exchange messages and decrypt them; bob removes carol, who can no longer read; two
 * concurrent Commits give one 409 and the members stay in sync; no plaintext in either database;
 * a Welcome from an actor carol blocks is dropped while that actor's group messages still arrive.
 * Clients read their mailbox through `GET /api/v1/parley/mls/messages`.
 */

let a: TestParley;
let b: TestParley;
type Account = Awaited<ReturnType<typeof createAccount>>;
let alice: Account;
let bob: Account;
let carol: Account;
const PLAINTEXTS: string[] = [];
/** Across two instances and their workers. */
const WAIT_MS = 15_000;

/** A member's device: its MLS client, its instance and token, and how far it has read its mailbox. */
class Member {
  seen = 0;
  constructor(
    readonly name: string,
    readonly instance: TestParley,
    readonly token: string,
    readonly client: MlsClient,
  ) {}
  get uri() {
    return `${this.instance.url}/users/${this.name}`;
  }
  async post(object: MlsObject, to: string[]) {
    const body = {
      "@context": ["https://www.w3.org/ns/activitystreams", "https://purl.archive.org/socialweb/mls"],
      type: "Create",
      actor: this.uri,
      to,
      object: { ...object, attributedTo: this.uri, to },
    };
    const response = await fetch(`${this.uri}/outbox`, {
      method: "POST",
      headers: { "content-type": "application/activity+json", authorization: `Bearer ${this.token}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  }
  async send(text: string, to: Member[]) {
    PLAINTEXTS.push(text);
    const sent = await this.post(
      await this.client.send(text),
      to.map((m) => m.uri),
    );
    expect(sent.status).toBe(201);
  }
  /** The next mailbox entry of `type` (waiting for it to arrive), skipping nothing silently. */
  async next(type: string): Promise<Record<string, any>> {
    return eventually(
      async () => {
        const page = await api(this.instance.url, this.token).get(`/api/v1/parley/mls/messages?since_seq=${this.seen}&limit=1`);
        expect(page.status).toBe(200);
        const [entry] = page.body;
        if (!entry) return undefined;
        expect(entry.type).toBe(type);
        this.seen = entry.seq;
        return entry;
      },
      WAIT_MS,
      `${this.name}'s next ${type}`,
    );
  }
  async read(): Promise<string | undefined> {
    const entry = await this.next("PrivateMessage");
    const activity = (await this.client.receive(entry.object)) as { object?: { content?: string } } | undefined;
    return activity?.object?.content;
  }
}

let A: Member;
let B: Member;
let C: Member;

async function publishKeyPackage(member: Member) {
  const published = await member.post(member.client.keyPackageObject(), ["https://www.w3.org/ns/activitystreams#Public"]);
  expect(published.status).toBe(201);
}

/** What alice's client does: read the collection on the actor's server, then each package. */
async function fetchKeyPackage(actorUri: string): Promise<MlsObject & { id: string }> {
  const actor = await (await fetch(actorUri, { headers: { accept: "application/activity+json" } })).json();
  const collection = await (await fetch(actor.keyPackages)).json();
  expect(collection.totalItems).toBeGreaterThan(0);
  return (await fetch(collection.items[0])).json();
}

beforeAll(async () => {
  [a, b] = await Promise.all([startTestParley(), startTestParley({ queue: "postgres" })]);
  [alice, bob, carol] = await Promise.all([createAccount(a, "alice"), createAccount(b, "bob"), createAccount(b, "carol")]);
  A = new Member("alice", a, alice.token, await MlsClient.create(`${a.url}/users/alice`));
  B = new Member("bob", b, bob.token, await MlsClient.create(`${b.url}/users/bob`));
  C = new Member("carol", b, carol.token, await MlsClient.create(`${b.url}/users/carol`));
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe("an encrypted group across two instances", () => {
  it("alice adds bob and carol from their published KeyPackages; the Welcome reaches both; everyone reads everyone", async () => {
    await Promise.all([publishKeyPackage(B), publishKeyPackage(C)]);
    const packages = await Promise.all([fetchKeyPackage(B.uri), fetchKeyPackage(C.uri)]);
    await A.client.createGroup("friends");
    const { welcome } = await A.client.add(packages);
    A.client.accepted(); // nobody else is in the group yet: the Commit goes to no one
    const welcomed = await A.post(welcome!, [B.uri, C.uri]);
    expect(welcomed.status).toBe(201);

    await B.client.join((await B.next("Welcome")).object as MlsObject);
    await C.client.join((await C.next("Welcome")).object as MlsObject);
    // The Welcome used up the packages it named.
    for (const [member, used] of [
      [B, packages[0]],
      [C, packages[1]],
    ] as const) {
      const collection = await (await fetch(`${member.uri}/key-packages`)).json();
      expect(collection.items).not.toContain(used.id);
    }

    await B.send("hi from bob", [A, C]);
    expect(await A.read()).toBe("hi from bob");
    expect(await C.read()).toBe("hi from bob");
    await A.send("hi from alice", [B, C]);
    expect(await B.read()).toBe("hi from alice");
    expect(await C.read()).toBe("hi from alice");
  });

  it("bob removes carol: alice and bob go on, carol can no longer read", async () => {
    const { commit } = await B.client.remove(C.uri);
    expect((await B.post(commit, [A.uri, C.uri])).status).toBe(201);
    B.client.accepted();
    expect(await A.client.receive((await A.next("PrivateMessage")).object as MlsObject)).toBeUndefined();
    await C.next("PrivateMessage"); // the Commit removing her: she cannot apply a group she left

    await A.send("carol is gone", [B, C]);
    expect(await B.read()).toBe("carol is gone");
    const toCarol = await C.next("PrivateMessage");
    await expect(C.client.receive(toCarol.object as MlsObject)).rejects.toThrow();
  });

  it("two Commits for one epoch: the second gets 409 naming the first, and the members stay in sync", async () => {
    const extra = new Member("alice", a, alice.token, await MlsClient.create(A.uri));
    await publishKeyPackage(extra);
    const fromAlice = await A.client.add([await fetchKeyPackage(A.uri)]);
    const fromBob = await B.client.remove(A.uri);
    const first = await A.post(fromAlice.commit, [B.uri]);
    expect(first.status).toBe(201);
    A.client.accepted();
    // Once B holds alice's Commit (addressed to bob), bob's Commit for the same epoch is refused.
    const commitOnB = await B.next("PrivateMessage");
    const second = await B.post(fromBob.commit, [A.uri]);
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ error: "commit_conflict", first: first.body.object.id });
    B.client.rejected();
    expect(await B.client.receive(commitOnB.object as MlsObject)).toBeUndefined();
    expect(B.client.epoch).toBe(A.client.epoch);
    await B.send("still together", [A]);
    expect(await A.read()).toBe("still together");
  });

  it("a Welcome from someone carol blocks is dropped; that sender's group messages still reach her, unannounced", async () => {
    const found = await api(b.url, carol.token).get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(A.uri)}`);
    expect(found.status).toBe(200);
    expect((await api(b.url, carol.token).post(`/api/v1/accounts/${found.body.id}/block`)).status).toBe(200);

    const carolAgain = new Member("carol", b, carol.token, await MlsClient.create(C.uri));
    carolAgain.seen = C.seen;
    await publishKeyPackage(carolAgain);
    const fresh = await MlsClient.create(A.uri);
    await fresh.createGroup("uninvited");
    const { welcome } = await fresh.add([await fetchKeyPackage(C.uri)]);
    fresh.accepted();
    expect((await A.post(welcome!, [C.uri])).status).toBe(201);
    PLAINTEXTS.push("you will not see this group");
    const message = await fresh.send("you will not see this group");
    expect((await A.post(message, [C.uri])).status).toBe(201);

    // The group message arrives (stored), the Welcome before it does not.
    const entry = await carolAgain.next("PrivateMessage");
    expect(entry.object.content).toBe(message.content);
    const sql = postgres(b.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql`SELECT o.type, m.notify FROM mls_mailbox m JOIN mls_objects o ON o.id = m.object_id
        JOIN accounts a ON a.id = m.owner_id WHERE a.username = 'carol' AND m.seq > ${C.seen}`;
      expect(rows).toEqual([{ type: "PrivateMessage", notify: false }]);
      const [welcomeRow] =
        await sql`SELECT count(*)::int AS n FROM mls_objects WHERE type = 'Welcome' AND activity->'object'->>'content' = ${welcome!.content}`;
      expect(welcomeRow.n).toBe(1); // received, kept once, delivered to nobody
    } finally {
      await sql.end();
    }
  });
  it("Pleroma chats keep working beside the groups", async () => {
    const asAlice = api(a.url, alice.token);
    const found = await asAlice.get(`/api/v1/accounts/lookup?acct=${encodeURIComponent(B.uri)}`);
    const chat = await asAlice.post(`/api/v1/pleroma/chats/by-account-id/${found.body.id}`);
    expect((await asAlice.post(`/api/v1/pleroma/chats/${chat.body.id}/messages`, { content: "plain chat still works" })).status).toBe(200);
    const bobsChat = await eventually(
      async () => {
        const list = await api(b.url, bob.token).get("/api/v1/pleroma/chats");
        return list.body.find((c: { last_message?: { content: string } }) => c.last_message?.content === "plain chat still works");
      },
      WAIT_MS,
      "bob's chat",
    );
    expect(bobsChat.unread).toBe(1);
  });

  it("no plaintext in any table of either database", async () => {
    expect(PLAINTEXTS).toHaveLength(5);
    for (const instance of [a, b]) {
      const sql = postgres(instance.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const tables = await sql<{ table_name: string }[]>`SELECT table_name FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
        expect(tables.length).toBeGreaterThan(10);
        for (const { table_name } of tables) {
          const rows = await sql.unsafe(`SELECT t::text AS row FROM "${table_name}" t`);
          for (const text of PLAINTEXTS) expect(rows.filter((r) => r.row.includes(text)).map(() => table_name)).toEqual([]);
        }
        const [{ objects }] = await sql`SELECT count(*)::int AS objects FROM mls_objects`;
        expect(objects).toBeGreaterThan(0);
      } finally {
        await sql.end();
      }
    }
  });
});
