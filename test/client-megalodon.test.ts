import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Pleroma } from "megalodon";
import { png } from "./helpers/media.js";
import { unrefTimersWhileSocketOpen } from "./helpers/megalodon.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * megalodon 10.3 (h3poteto/megalodon), an unmodified third-party client library, driving Parley
 * through its Pleroma driver (`generator("pleroma", …)`): instance, accounts, search,
 * relationships, blocks and mutes, media upload and the user stream. Its server detection and
 * OAuth sign-in are out of scope (tokens come from the admin API). It has no chat methods, so the
 * chat paths go through its public `client.get/post`, which is how an app built on it would call them.
 */

let parley: TestParley;
let alice: Awaited<ReturnType<typeof createAccount>>;
let bob: Awaited<ReturnType<typeof createAccount>>;
let carol: Awaited<ReturnType<typeof createAccount>>;
let client: Pleroma;

beforeAll(async () => {
  parley = await startTestParley({ queue: "redis" });
  alice = await createAccount(parley, "alice", { display_name: "Alice Liddell" });
  bob = await createAccount(parley, "bob", { display_name: "Bob" });
  carol = await createAccount(parley, "carol");
  // What generator("pleroma", url, token) returns, typed: its `client` is public.
  client = new Pleroma(parley.url, alice.token);
});
afterAll(() => parley.close());

it("getInstance parses (poll_limits, max_toot_chars, streaming URL)", async () => {
  const { data } = await client.getInstance();
  expect(data.uri).toBeTruthy();
  expect(data.configuration.statuses.max_characters).toBeGreaterThan(0);
  expect(data.configuration.polls?.max_options).toBeGreaterThanOrEqual(0);
  expect(data.urls?.streaming_api).toMatch(/^wss?:\/\//);
});

it("verifyAccountCredentials and getAccount", async () => {
  const me = await client.verifyAccountCredentials();
  expect(me.data).toMatchObject({ id: alice.account.id, username: alice.account.username, display_name: "Alice Liddell" });
  const other = await client.getAccount(bob.account.id);
  expect(other.data).toMatchObject({ id: bob.account.id, acct: bob.account.acct });
});

it("searchAccount and search find people by name", async () => {
  const byName = await client.searchAccount("bo");
  expect(byName.data.map((a) => a.id)).toContain(bob.account.id);
  const v2 = await client.search("bob", { type: "accounts" });
  expect(v2.data.accounts.map((a) => a.id)).toContain(bob.account.id);
  expect(v2.data.statuses).toEqual([]);
  expect(v2.data.hashtags).toEqual([]);
});

it("block and mute show in relationships, getBlocks and getMutes", async () => {
  await client.blockAccount(carol.account.id);
  await client.muteAccount(bob.account.id, false);
  const relationships = await client.getRelationships([bob.account.id, carol.account.id]);
  expect(relationships.data.map((r) => [r.id, r.blocking, r.muting])).toEqual([
    [bob.account.id, false, true],
    [carol.account.id, true, false],
  ]);
  expect((await client.getBlocks()).data.map((a) => a.id)).toEqual([carol.account.id]);
  expect((await client.getMutes()).data.map((a) => a.id)).toEqual([bob.account.id]);
  await client.unblockAccount(carol.account.id);
  await client.unmuteAccount(bob.account.id);
  expect((await client.getBlocks()).data).toEqual([]);
});

it("uploadMedia and a chat message carrying it", async () => {
  // megalodon appends the file to the `form-data` package's FormData: a Node read stream.
  const dir = await mkdtemp(path.join(tmpdir(), "megalodon-"));
  await writeFile(path.join(dir, "dot.png"), png());
  const uploaded = await client.uploadMedia(createReadStream(path.join(dir, "dot.png")), { description: "a dot" });
  await rm(dir, { recursive: true });
  const mediaId = (uploaded.data as { id: string }).id;
  const chat = await client.client.post<{ id: string }>(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`);
  const sent = await client.client.post<{ attachment: { id: string; description: string } }>(
    `/api/v1/pleroma/chats/${chat.data.id}/messages`,
    {
      media_id: mediaId,
    },
  );
  expect(sent.data.attachment).toMatchObject({ id: mediaId, description: "a dot" });
});

it("lookupAccount, getRelationship, updateCredentials", async () => {
  expect((await client.lookupAccount(bob.account.username)).data.id).toBe(bob.account.id);
  expect((await client.getRelationship(bob.account.id)).data).toMatchObject({ id: bob.account.id, blocking: false, muting: false });
  const updated = await client.updateCredentials({ display_name: "Alice L." });
  expect(updated.data.display_name).toBe("Alice L.");
});

it("getMedia and updateMedia (a multipart PUT)", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "megalodon-"));
  await writeFile(path.join(dir, "dot.png"), png());
  const uploaded = await client.uploadMedia(createReadStream(path.join(dir, "dot.png")));
  await rm(dir, { recursive: true });
  const id = (uploaded.data as { id: string }).id;
  expect((await client.getMedia(id)).data).toMatchObject({ id, type: "image" });
  expect((await client.updateMedia(id, { description: "described" })).data).toMatchObject({ id, description: "described" });
});

it("getNotifications and readNotifications; custom emoji list", async () => {
  const bobChat = await api(parley.url, bob.token).post(`/api/v1/pleroma/chats/by-account-id/${alice.account.id}`);
  await api(parley.url, bob.token).post(`/api/v1/pleroma/chats/${bobChat.body.id}/messages`, { content: "ping" });
  // megalodon has no pleroma:chat_mention type: it drops such notifications from lists (its own choice).
  const listed = await client.getNotifications();
  expect(listed.status).toBe(200);
  const raw = await api(parley.url, alice.token).get("/api/v1/notifications?include_types[]=pleroma:chat_mention");
  expect(raw.body.length).toBeGreaterThan(0);
  const read = await client.readNotifications({ max_id: raw.body[0].id });
  expect(read.status).toBe(200);
  expect((await client.getInstanceCustomEmojis()).data).toEqual([]);
});

it("an API error reaches megalodon's caller with the status and the error body", async () => {
  await expect(client.client.get("/api/v1/pleroma/chats/not-a-chat")).rejects.toMatchObject({
    response: { status: 404, data: { error: "not_found" } },
  });
});

it("userStreaming connects and delivers a deleted chat message as a `delete` event", async () => {
  const restoreTimers = unrefTimersWhileSocketOpen();
  const stream = await client.userStreaming();
  try {
    await new Promise<void>((resolve, reject) => {
      stream.once("connect", () => resolve());
      stream.once("error", reject);
    });
    const bobChat = await api(parley.url, bob.token).post(`/api/v1/pleroma/chats/by-account-id/${alice.account.id}`);
    const sent = await api(parley.url, bob.token).post(`/api/v1/pleroma/chats/${bobChat.body.id}/messages`, { content: "to delete" });
    expect(sent.status).toBe(200);
    const aliceChat = await client.client.post<{ id: string; last_message: { id: string } }>(
      `/api/v1/pleroma/chats/by-account-id/${bob.account.id}`,
    );
    const messageId = aliceChat.data.last_message.id;
    const deleted = new Promise<string>((resolve) => stream.on("delete", (id: string) => resolve(id)));
    // Alice removes the message from her side of the chat (it is someone else's: hidden for her).
    await client.client.del(`/api/v1/pleroma/chats/${aliceChat.data.id}/messages/${messageId}`);
    expect(await deleted).toBe(messageId);
  } finally {
    stream.stop();
    restoreTimers();
  }
});
