import { Pleroma } from "megalodon";
import { api, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * The instance documents as the clients read them. Each block names the client function whose
 * reads it checks: megalodon's Pleroma `getInstance()` (src/pleroma.ts, converter
 * `instance` in src/pleroma/api_client.ts), Pleroma-FE's `getInstanceConfig` and `getNodeInfo`
 * (src/boot/after_store.js), Soapbox's `fetchInstance` (src/actions/instance.ts) and
 * `getInstanceFeatures`/`parseVersion` (src/utils/features.ts).
 */

let parley: TestParley;
beforeAll(async () => {
  parley = await startTestParley({ role: "web", env: { CHAT_MESSAGE_LIMIT: "3000", MEDIA_MAX_BYTES: "4096" } });
});
afterAll(async () => {
  await parley?.close();
});

const get = async (path: string) => {
  const response = await api(parley.url).get(path);
  expect(response.status).toBe(200);
  return response.body;
};
const number = expect.any(Number);
const string = expect.any(String);
const boolean = expect.any(Boolean);

describe("megalodon's Pleroma getInstance()", () => {
  it("finds every object its converter dereferences, with the types it declares", async () => {
    const v1 = await get("/api/v1/instance");
    expect(v1).toMatchObject({
      uri: new URL(parley.url).host,
      title: string,
      description: string,
      email: string,
      version: string,
      urls: { streaming_api: parley.url.replace(/^http/, "ws") },
      stats: { user_count: number, status_count: number, domain_count: number },
      languages: expect.arrayContaining([string]),
      registrations: boolean,
      approval_required: boolean,
      max_toot_chars: 3000,
      max_media_attachments: 1,
      poll_limits: { max_expiration: number, min_expiration: number, max_option_chars: number, max_options: number },
      pleroma: {
        metadata: {
          account_activation_required: boolean,
          birthday_min_age: number,
          birthday_required: boolean,
          features: expect.arrayContaining([string]),
          federation: { enabled: boolean, exclusions: boolean },
          fields_limits: { max_fields: number, max_remote_fields: number, name_length: number, value_length: number },
          post_formats: expect.arrayContaining([string]),
        },
      },
    });
    // `thumbnail: string | null`; the streaming client connects to `urls.streaming_api`.
    expect(v1.thumbnail === null || typeof v1.thumbnail === "string").toBe(true);
    expect(v1.stats.user_count).toBe(0);
  });
});

describe("megalodon's Pleroma driver itself", () => {
  it("getInstance() converts the answer (it throws on a missing poll_limits) and exposes the streaming URL", async () => {
    const client = new Pleroma(parley.url, null);
    const instance = (await client.getInstance()).data;
    expect(instance.uri).toBe(new URL(parley.url).host);
    expect(instance.urls?.streaming_api).toBe(parley.url.replace(/^http/, "ws"));
    expect(instance.configuration.statuses.max_characters).toBe(3000);
    expect(instance.configuration.polls).toEqual({ max_options: 0, max_characters_per_option: 0, min_expiration: 0, max_expiration: 0 });
  });
});

describe("Pleroma-FE", () => {
  it("getInstanceConfig: max_toot_chars is the chat limit; approval, vapid key and birthday settings are readable", async () => {
    const v1 = await get("/api/v1/instance");
    // Its chat composer is the post form, limited by `textlimit` = max_toot_chars.
    expect(v1.max_toot_chars).toBe(3000);
    expect(v1.approval_required).toBe(false);
    expect("vapid_public_key" in v1.pleroma).toBe(true);
    expect(v1.pleroma.vapid_public_key === null || typeof v1.pleroma.vapid_public_key === "string").toBe(true);
    expect(v1.pleroma.metadata).toMatchObject({ birthday_required: false, birthday_min_age: 0 });
  });

  it.each(["/nodeinfo/2.1.json", "/nodeinfo/2.0.json", "/nodeinfo/2.1"])(
    "getNodeInfo (%s): every metadata object it dereferences is there",
    async (path) => {
      const nodeinfo = await get(path);
      expect(nodeinfo).toMatchObject({
        openRegistrations: false,
        software: { name: "parley", version: string },
        metadata: {
          nodeName: string,
          pollLimits: expect.any(Object),
          mailerEnabled: false,
          uploadLimits: { general: 4096, avatar: 4096, background: 4096, banner: 4096 },
          fieldsLimits: expect.any(Object),
          restrictedNicknames: [],
          postFormats: expect.arrayContaining(["text/plain"]),
          suggestions: { enabled: false },
          private: false,
          federation: { enabled: true },
          accountActivationRequired: false,
          staffAccounts: [],
          chat_limit: 3000,
        },
      });
      // Pleroma-FE shows the chat UI for `pleroma_chat_messages`; `chat` would be the Shoutbox (a Phoenix socket at /socket).
      expect(nodeinfo.metadata.features).toEqual(
        expect.arrayContaining(["pleroma_chat_messages", "pleroma:api/v1/notifications:include_types_filter"]),
      );
      expect(nodeinfo.metadata.features).not.toContain("chat");
      expect(nodeinfo.metadata.features).not.toContain("shout");
      expect(nodeinfo.metadata.features).not.toContain("polls");
      expect(nodeinfo.version).toBe(path.includes("2.1") ? "2.1" : "2.0");
    },
  );
});

describe("Soapbox", () => {
  it("fetchInstance (v1): chats are gated on pleroma.metadata.features; the composer reads configuration.chats", async () => {
    const v1 = await get("/api/v1/instance");
    expect(v1.pleroma.metadata.features).toEqual(
      expect.arrayContaining(["pleroma_chat_messages", "pleroma:api/v1/notifications:include_types_filter"]),
    );
    expect(v1.configuration.chats).toEqual({ max_characters: 3000, max_media_attachments: 1 });
    expect(v1.configuration.media_attachments).toMatchObject({ image_size_limit: 4096, video_size_limit: 4096 });
    expect(v1.configuration.polls).toEqual({ max_options: 0, max_characters_per_option: 0, min_expiration: 0, max_expiration: 0 });
    expect(v1.chat_limit).toBe(3000);
    expect(v1.upload_limit).toBe(4096);
    expect(v1.rules).toEqual([]);
  });

  it("v2 carries the same features, limits and version under Mastodon's v2 names", async () => {
    const [v1, v2] = [await get("/api/v1/instance"), await get("/api/v2/instance")];
    expect(v2).toMatchObject({
      domain: new URL(parley.url).host,
      version: v1.version,
      configuration: {
        urls: { streaming: parley.url.replace(/^http/, "ws") },
        chats: { max_characters: 3000, max_media_attachments: 1 },
        statuses: { max_characters: 3000, max_media_attachments: 1 },
      },
      registrations: { enabled: false, approval_required: false },
      thumbnail: { url: string },
      usage: { users: { active_month: number } },
      pleroma: { metadata: { chat_limit: 3000, features: v1.pleroma.metadata.features, avatar_upload_limit: 4096 } },
    });
  });
});

/**
 * Soapbox's version rule, re-stated from its behaviour: the string is `<compat>` optionally
 * followed by ` (compatible; <Word> <rest>)`, where `<compat>` is made of word characters, `+`,
 * `.` and `-`, `<Word>` of word characters, and `<rest>` runs to the last `)`. `<rest>` (or, without
 * the parenthesis, `<compat>`) must be a strict semantic version: its parser throws on anything
 * else, and Soapbox computes features while rendering. The software is `<Word>`, Mastodon when
 * absent; the build is the first dot-separated part after `+`. A string that does not match the
 * outer shape gives no software and version 0.0.0.
 */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
function strictSemver(text: string): [number, number, number, string | undefined] {
  const match = SEMVER.exec(text);
  if (!match) throw new TypeError(`not a semantic version: ${text}`);
  return [Number(match[1]), Number(match[2]), Number(match[3]), match[5]?.split(".")[0]];
}
function soapboxBackend(version: string) {
  const outer = /^([\w+.-]*)(?: \(compatible; (\w*) (.*)\))?$/.exec(version);
  if (!outer) return { software: undefined, version: [0, 0, 0], build: undefined };
  const [, compat, name, rest] = outer;
  strictSemver(compat);
  const [major, minor, patch, build] = strictSemver(rest || compat);
  return { software: name || "Mastodon", version: [major, minor, patch], build };
}
const atLeast = (v: number[], w: number[]) => (v[0] !== w[0] ? v[0] > w[0] : v[1] !== w[1] ? v[1] > w[1] : v[2] >= w[2]);
/** The chat features of Soapbox's `getInstanceFeatures`, for a non-Truth-Social backend. */
function soapboxChatFeatures(instance: { version: string; pleroma: { metadata: { features: string[] } } }) {
  const v = soapboxBackend(instance.version);
  return {
    chats: instance.pleroma.metadata.features.includes("pleroma_chat_messages"),
    chatsV2: v.software === "Pleroma" && atLeast(v.version, [2, 3, 0]),
    chatsMedia: true,
    // Rebased-only: stays off, so Soapbox does not switch to Rebased's endpoints.
    chatsDelete: v.build === "soapbox",
    instanceV2: v.software === "Pleroma" && v.build === "soapbox" && atLeast(v.version, [2, 5, 54]),
    // Gates Soapbox also turns on for Pleroma ≥ 2.4.50, both served by Parley.
    accountLookup: v.software === "Pleroma" && atLeast(v.version, [2, 4, 50]),
    notificationsIncludeTypes: v.software === "Pleroma" && atLeast(v.version, [2, 4, 50]),
  };
}

describe("the version string (docs/decisions/0002-version-string.md)", () => {
  it("reads as Pleroma 2.x with the build `parley`, so Soapbox turns chats and the paginated chat list on", async () => {
    const v1 = await get("/api/v1/instance");
    expect(v1.version).toMatch(/^2\.7\.2 \(compatible; Pleroma 2\.\d+\.\d+\+parley\.\d+\.\d+\.\d+\)$/);
    // Soapbox rewrites strings naming Akkoma or Takahē, or with a Mastodon `rc`: ours must not trigger that.
    expect(v1.version).not.toMatch(/Akkoma|^takahe\/|[0-9.]+rc[0-9]+/);
    expect(soapboxBackend(v1.version)).toMatchObject({ software: "Pleroma", build: "parley" });
    expect(soapboxChatFeatures(v1)).toEqual({
      chats: true,
      chatsV2: true,
      chatsMedia: true,
      chatsDelete: false,
      instanceV2: false,
      accountLookup: true,
      notificationsIncludeTypes: true,
    });
  });

  it("rejects the alternatives: Parley as the software loses chatsV2; a second `;` part makes the parser throw", () => {
    const features = { pleroma: { metadata: { features: ["pleroma_chat_messages"] } } };
    expect(soapboxChatFeatures({ version: "2.7.2 (compatible; Parley 0.1.0)", ...features })).toMatchObject({
      chats: true,
      chatsV2: false,
    });
    expect(() => soapboxBackend("2.7.2 (compatible; Pleroma 2.7.2; Parley 0.1.0)")).toThrow(TypeError);
  });
});

describe("API documentation", () => {
  it("describes the instance and NodeInfo routes with the fields clients read", async () => {
    const document = await get("/api/openapi");
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(["/api/v1/instance", "/api/v2/instance", "/nodeinfo/2.1", "/nodeinfo/2.1.json", "/nodeinfo/2.0.json"]),
    );
    const v1 = JSON.stringify(document.paths["/api/v1/instance"].get.responses["200"]);
    for (const field of ["max_toot_chars", "poll_limits", "streaming_api", "chat_limit", "features"])
      expect([field, v1.includes(field)]).toEqual([field, true]);
  });
});
