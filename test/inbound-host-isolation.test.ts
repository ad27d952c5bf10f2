import type { ServerResponse } from "node:http";
import { eventually, pleromaChatMessage } from "./helpers/inbox.js";
import { createAccount, type QueueKind, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";

/**
 * Isolation per remote server (issue 13): a server whose actor documents never answer sends 40
 * signed Creates by authors we do not know yet. Their resolutions may take at most
 * INBOUND_MAX_PER_HOST (3) of the worker's INBOUND_CONCURRENCY (10) slots, for at most
 * REMOTE_FETCH_TIMEOUT_MS (5 s) each, then the host cools down and its jobs wait in the queue, not
 * in a slot. Meanwhile a message of a known server is applied within seconds; the stalled rows
 * stay pending, never failed, and are applied once the server answers. Defaults throughout.
 */

const STALLED_CREATES = 40;

/** A server whose actors' keys are served apart (so signatures verify) and whose actor documents hang until `answer()`. */
async function hangingServer() {
  const server = await startRemoteServer();
  const held: ServerResponse[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let actorGets = 0;
  const actors: RemoteActor[] = [];
  for (const name of ["s0", "s1", "s2", "s3", "s4"]) {
    const actor = server.actor(name, { capabilities: { acceptsChatMessages: true } });
    const keyId = `${server.url}/keys/${name}`;
    actor.keyId = keyId;
    actor.document.publicKey = { id: keyId, owner: actor.id, publicKeyPem: actor.publicKeyPem };
    const key = {
      "@context": ["https://w3id.org/security/v1"],
      id: keyId,
      type: "CryptographicKey",
      owner: actor.id,
      publicKeyPem: actor.publicKeyPem,
    };
    server.route(`/keys/${name}`, (_req, res) =>
      res.writeHead(200, { "content-type": "application/activity+json" }).end(JSON.stringify(key)),
    );
    server.route(`/users/${name}`, (_req, res) => {
      actorGets++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push(res);
      res.on("close", () => inFlight--);
    });
    actors.push(actor);
  }
  return {
    server,
    actors,
    stats: () => ({ inFlight, maxInFlight, actorGets }),
    /** From now on the actor documents are served (the ones held are dropped). */
    answer() {
      for (const actor of actors) server.route(`/users/${actor.username}`, undefined);
      for (const res of held.splice(0)) res.destroy();
    },
  };
}

describe.each<QueueKind>(["redis", "postgres"])("inbound isolation per remote server, %s queue", (queue) => {
  let parley: TestParley;
  let known: RemoteServer;
  let stalling: Awaited<ReturnType<typeof hangingServer>>;

  beforeAll(async () => {
    [parley, known, stalling] = await Promise.all([startTestParley({ queue }), startRemoteServer(), hangingServer()]);
    await createAccount(parley, "bob");
  });
  afterAll(async () => {
    await Promise.all([parley?.close(), known?.close(), stalling?.server.close()]);
  });

  const sql = () => parley.parley.deps.db.$client;
  const stored = async (objectId: string) => (await sql()`SELECT 1 FROM messages WHERE uri = ${objectId}`).length > 0;
  const rowsOf = async (host: string) =>
    sql()`SELECT status, error, attempts FROM inbox_activities WHERE actor_uri LIKE ${`http://${host}/%`}`;

  it("applies a known server's message within 10 s while another server stalls 40 Creates, and the stalled ones once it answers", async () => {
    const bob = `${parley.url}/users/bob`;
    const friend = known.actor("friend", { capabilities: { acceptsChatMessages: true } });
    const hello = pleromaChatMessage(friend, bob, { content: "hello before the storm" });
    expect((await signedPost(`${parley.url}/inbox`, hello, friend)).status).toBe(202);
    await eventually(() => stored(hello.object.id), 10_000, "the known server's first message");

    const creates = Array.from({ length: STALLED_CREATES }, (_, i) => {
      const actor = stalling.actors[i % stalling.actors.length];
      return { actor, body: pleromaChatMessage(actor, bob, { content: `stalled ${i}` }) };
    });
    const answers = await Promise.all(creates.map(({ actor, body }) => signedPost(`${parley.url}/inbox`, body, actor)));
    expect(answers.map((a) => a.status)).toEqual(creates.map(() => 202));
    // The stall is under way: the worker waits on the hanging server's actor documents.
    await eventually(async () => stalling.stats().inFlight > 0, 10_000, "a hanging actor fetch");

    const during = pleromaChatMessage(friend, bob, { content: "still there?" });
    const sentAt = Date.now();
    expect((await signedPost(`${parley.url}/inbox`, during, friend)).status).toBe(202);
    await eventually(() => stored(during.object.id), 10_000, "the known server's message during the stall");
    const appearedAfterMs = Date.now() - sentAt;
    expect(appearedAfterMs).toBeLessThan(10_000);

    // At least one fetch timed out meanwhile: its row waits for a retry, pending like every other.
    const stalledHost = new URL(stalling.server.url).host;
    const afterTimeout = await eventually(
      async () => {
        const rows = await rowsOf(stalledHost);
        return rows.some((r) => /timeout/.test(String(r.error))) ? rows : undefined;
      },
      20_000,
      "a timed-out author fetch",
    );
    expect(afterTimeout).toHaveLength(STALLED_CREATES);
    expect(afterTimeout.filter((r) => r.status !== "pending")).toEqual([]);
    // Never more than the host's share of the pool at once.
    expect(stalling.stats().maxInFlight).toBeGreaterThanOrEqual(1);
    expect(stalling.stats().maxInFlight).toBeLessThanOrEqual(parley.parley.deps.config.inboundMaxPerHost);

    stalling.answer();
    await eventually(
      async () => (await rowsOf(stalledHost)).every((r) => r.status === "applied"),
      60_000,
      "the stalled activities to be applied",
    );
    const [{ n }] = await sql()`SELECT count(*)::int AS n FROM messages WHERE content LIKE 'stalled %'`;
    expect(n).toBe(STALLED_CREATES);
    expect(stalling.stats().maxInFlight).toBeLessThanOrEqual(parley.parley.deps.config.inboundMaxPerHost);
  }, 120_000);
});
