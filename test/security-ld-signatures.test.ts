import { createPrivateKey } from "node:crypto";
import { signJsonLd } from "@fedify/fedify";
import { type Json, pleromaChatMessage, settled, stored } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteActor, type RemoteServer, startRemoteServer } from "./helpers/remote.js";

/**
 * Fedify also authenticates an inbox POST that carries
 * no HTTP signature but a Linked Data signature (RsaSignature2017, as Mastodon forwards). That
 * path must hold the same lines as the HTTP one: the signer owns the actor, nothing from another
 * server's key, no `@graph`/`@included` smuggling (GHSA-9rfg-v8g9-9367), blocks by the signer's
 * host, and a replay stays a no-op.
 */

let parley: TestParley;
let remote: RemoteServer;
let evil: RemoteServer;
let sender: RemoteActor;
let mallory: RemoteActor;
let bobUri: string;

beforeAll(async () => {
  [parley, remote, evil] = await Promise.all([startTestParley(), startRemoteServer(), startRemoteServer()]);
  sender = remote.actor("sender", { capabilities: { acceptsChatMessages: true } });
  mallory = evil.actor("mallory", { capabilities: { acceptsChatMessages: true } });
  await createAccount(parley, "bob");
  bobUri = `${parley.url}/users/bob`;
});
afterAll(async () => {
  await Promise.all([parley?.close(), remote?.close(), evil?.close()]);
});

/** Only preloaded contexts (no fetch while signing or verifying), ChatMessage mapped inline. */
const CONTEXT = [
  "https://www.w3.org/ns/activitystreams",
  "https://w3id.org/security/v1",
  { ChatMessage: "http://litepub.social/ns#ChatMessage" },
];

function message(object: Json = {}, activity: Json = {}): Json {
  return { ...pleromaChatMessage(sender, bobUri, object, activity), "@context": CONTEXT };
}

async function ldSign(document: Json, signer: Pick<RemoteActor, "keyId" | "privateKeyPem">): Promise<Json> {
  const der = createPrivateKey(signer.privateKeyPem).export({ format: "der", type: "pkcs8" });
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"]);
  return (await signJsonLd(document, key, new URL(signer.keyId), {})) as Json;
}

/** An inbox POST with no HTTP signature at all: only the document's own signature. */
async function postUnsigned(document: Json): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${parley.url}/inbox`, {
    method: "POST",
    headers: { "content-type": "application/activity+json" },
    body: JSON.stringify(document),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function refusedStoringNothing(document: Json): Promise<number> {
  const before = await stored(parley);
  const { status } = await postUnsigned(document);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await stored(parley)).toEqual(before);
  return status;
}

it("a Create signed by its actor's key (LD signature only) is accepted once; a replay is a no-op", async () => {
  const signed = await ldSign(message({ content: "ld signed" }), sender);
  const before = await stored(parley);
  expect((await postUnsigned(signed)).status).toBe(202);
  await settled(parley);
  const after = await stored(parley);
  expect(after).toEqual({ inbox: before.inbox + 1, messages: before.messages + 1 });
  expect((await postUnsigned(signed)).status).toBe(202);
  await settled(parley);
  expect(await stored(parley)).toEqual(after);
});

it("an LD signature by another server's key on an activity naming our sender is refused", async () => {
  expect(await refusedStoringNothing(await ldSign(message(), mallory))).toBe(401);
});

it("an LD-signed document whose body was changed after signing is refused", async () => {
  const signed = await ldSign(message({ content: "original" }), sender);
  const tampered = { ...signed, object: { ...(signed.object as Json), content: "changed" } };
  expect(await refusedStoringNothing(tampered)).toBe(401);
});

it.each([
  ["@graph", { "@graph": [{ id: "https://elsewhere.example/x", type: "Note" }] }],
  ["@included", { "@included": [{ id: "https://elsewhere.example/x", type: "Note" }] }],
])("an LD-signed document carrying %s is refused (GHSA-9rfg-v8g9-9367)", async (_what, extra) => {
  // Fedify refuses the shape before any signature work (400 "Invalid activity." → invalid_activity).
  expect(await refusedStoringNothing(await ldSign(message({}, extra), sender))).toBe(400);
});

it("an LD-signed Create from a blocked domain gets the HTTP path's 403, nothing stored", async () => {
  const admin = api(parley.url, parley.adminToken);
  const blocked = await startRemoteServer();
  try {
    const villain = blocked.actor("villain", { capabilities: { acceptsChatMessages: true } });
    const block = await admin.post("/api/v1/admin/domain_blocks", { domain: new URL(blocked.url).host });
    expect(block.status).toBe(200);
    const activity = { ...pleromaChatMessage(villain, bobUri), "@context": CONTEXT };
    expect(await refusedStoringNothing(await ldSign(activity, villain))).toBe(403);
    await admin.delete(`/api/v1/admin/domain_blocks/${block.body.id}`);
  } finally {
    await blocked.close();
  }
});
