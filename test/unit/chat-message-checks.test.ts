import { contentOf, httpUrl, idOf, type Json, sameUri, typesOf } from "../../src/federation/as-json.js";
import { checkCreateChatMessage, checkUpdatedChatMessage } from "../../src/federation/inbox/chat-message-rules.js";

/**
 * The rules a Create{ChatMessage} and an Update{ChatMessage} must keep, on raw JSON, each broken
 * alone on an otherwise valid message (the readers they use: chat-message-rules.test.ts).
 */

const ACTOR = "https://r.example/users/a";
const BOB = "https://l.example/users/bob";
const POLICY = { remoteMessageLimit: 100, allowPrivateAddress: false };

const chatMessage = (fields: Json = {}): Json => ({
  type: "ChatMessage",
  id: "https://r.example/objects/1",
  attributedTo: ACTOR,
  to: [BOB],
  published: "2026-12-03T10:00:00Z",
  content: "hi",
  ...fields,
});

type Recipient = { name: string; acceptsChatMessages: boolean | null };
const recipients: Record<string, Recipient> = {
  [BOB]: { name: "bob", acceptsChatMessages: null },
  "https://l.example/users/carol": { name: "carol", acceptsChatMessages: false },
};

function check(object: Json, activity: Json = {}) {
  return checkCreateChatMessage<Recipient>({
    activity: { type: "Create", actor: ACTOR, to: object.to, object, ...activity },
    object,
    actorUri: ACTOR,
    ...POLICY,
    findLocalRecipient: async (uri) => recipients[uri],
  });
}

describe("readers", () => {
  it("typesOf takes a string or a list, keeping strings only", () => {
    expect(typesOf({ type: "Note" })).toEqual(["Note"]);
    expect(typesOf({ type: ["Note", 3, "ChatMessage"] })).toEqual(["Note", "ChatMessage"]);
    expect(typesOf({})).toEqual([]);
  });

  it("httpUrl, idOf, sameUri: http(s) URLs with a host, compared however the host is spelt", () => {
    expect(httpUrl("https://a.example/x")?.href).toBe("https://a.example/x");
    for (const bad of ["ftp://a.example/x", "javascript:alert(1)", "not a url", 3, undefined]) expect(httpUrl(bad)).toBeUndefined();
    expect(idOf({ id: "https://a.example/x" })).toBe("https://a.example/x");
    expect(idOf({ id: 3 })).toBeUndefined();
    expect(sameUri("https://A.EXAMPLE/users/a", "https://a.example/users/a")).toBe(true);
    expect(sameUri("https://a.example/users/a", "https://a.example/users/b")).toBe(false);
    expect(sameUri(undefined, undefined)).toBe(false);
  });

  it("contentOf prefers content, else the first string of contentMap", () => {
    expect(contentOf({ content: "c", contentMap: { en: "m" } })).toBe("c");
    expect(contentOf({ contentMap: { en: 3, de: "hallo" } })).toBe("hallo");
    expect(contentOf({ content: 3 })).toBe("");
  });
});

describe("checkCreateChatMessage", () => {
  it("accepts a valid message, naming the recipient and the publication date", async () => {
    expect(await check(chatMessage())).toEqual({ ok: true, recipient: recipients[BOB], published: new Date("2026-12-03T10:00:00Z") });
    // A string `to`, an `actor` beside attributedTo and an object reference as the actor are Pleroma's casts.
    expect(await check(chatMessage({ to: BOB, actor: ACTOR }), { actor: { id: ACTOR } })).toMatchObject({ ok: true });
  });

  it.each<[string, Json, Json, string]>([
    ["a type list", { type: ["ChatMessage"] }, {}, "wrong_type"],
    ["a Note", { type: "Note" }, {}, "wrong_type"],
    ["an id on another origin", { id: "https://other.example/objects/1" }, {}, "foreign_object_id"],
    ["no id", { id: undefined }, {}, "foreign_object_id"],
    ["another author", { attributedTo: "https://r.example/users/b" }, {}, "actor_mismatch"],
    ["no author", { attributedTo: undefined }, {}, "actor_mismatch"],
    ["two authors", { attributedTo: [ACTOR, "https://r.example/users/b"] }, {}, "actor_mismatch"],
    ["two actors on the activity", {}, { actor: [ACTOR, "https://r.example/users/b"] }, "actor_mismatch"],
    ["two recipients", { to: [BOB, "https://l.example/users/carol"] }, {}, "recipient_count"],
    ["no recipient", { to: [] }, {}, "recipient_count"],
    ["an activity to someone else", {}, { to: ["https://l.example/users/carol"] }, "to_mismatch"],
    ["an unknown recipient", { to: ["https://l.example/users/nobody"] }, {}, "unknown_recipient"],
    ["a recipient who refuses chats", { to: ["https://l.example/users/carol"] }, {}, "recipient_does_not_accept_chats"],
    ["no published date", { published: undefined }, {}, "missing_published"],
    ["an invalid published date", { published: "2026-02-30T00:00:00Z" }, {}, "missing_published"],
    ["nothing visible", { content: "<p> </p>" }, {}, "no_content"],
    ["content over the limit", { content: "x".repeat(101) }, {}, "content_too_long"],
    ["content over the limit once escaped", { content: "'".repeat(30) }, {}, "content_too_long"],
    [
      "an emoji icon that is not http(s)",
      { tag: { type: "Emoji", name: ":e:", icon: { url: "data:image/png;base64,AA" } } },
      {},
      "bad_emoji",
    ],
    ["an attachment on a private address", { attachment: { type: "Document", url: "http://10.0.0.1/a.png" } }, {}, "bad_attachment"],
  ])("refuses %s", async (_name, fields, activity, reason) => {
    expect(await check(chatMessage(fields), activity)).toEqual({ ok: false, reason });
  });

  it("counts characters, not UTF-16 units, and accepts an attachment without content", async () => {
    expect(await check(chatMessage({ content: "😀".repeat(100) }))).toMatchObject({ ok: true });
    expect(await check(chatMessage({ content: "", attachment: { type: "Document", url: "https://m.example/a.png" } }))).toMatchObject({
      ok: true,
    });
  });
});

describe("checkUpdatedChatMessage", () => {
  it("keeps the identity and content rules, not the addressing", () => {
    expect(checkUpdatedChatMessage(chatMessage({ to: undefined, published: undefined }), ACTOR, POLICY)).toBeUndefined();
    expect(checkUpdatedChatMessage(chatMessage({ type: "Note" }), ACTOR, POLICY)).toBe("wrong_type");
    expect(checkUpdatedChatMessage(chatMessage({ id: "https://other.example/o" }), ACTOR, POLICY)).toBe("foreign_object_id");
    expect(checkUpdatedChatMessage(chatMessage(), "https://r.example/users/b", POLICY)).toBe("actor_mismatch");
    expect(checkUpdatedChatMessage(chatMessage({ content: "" }), ACTOR, POLICY)).toBe("no_content");
  });
});
