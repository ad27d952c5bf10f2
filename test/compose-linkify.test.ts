import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";

/**
 * @mentions and #hashtags of local messages through the API (known accounts, the instance's tag
 * path, edits). The formatter's rules themselves: test/unit/compose-linkify.test.ts.
 */

describe("through the API", () => {
  let instance: TestParley;
  let alice: Awaited<ReturnType<typeof createAccount>>;
  let bob: Awaited<ReturnType<typeof createAccount>>;
  let chatId: string;

  beforeAll(async () => {
    instance = await startTestParley();
    [alice, bob] = await Promise.all([createAccount(instance, "alice"), createAccount(instance, "bob")]);
    // A remote account this server knows (as after a message from it): a cached actor row.
    await instance.parley.deps.db.$client`
      INSERT INTO accounts (id, username, domain, uri, url, inbox_url)
      VALUES ('01remotecarol0000000000000', 'Carol', 'remote.example', 'https://remote.example/users/carol',
        'https://remote.example/@carol', 'https://remote.example/users/carol/inbox')`;
    chatId = (await api(instance.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
  });
  afterAll(async () => {
    await instance?.close();
  });

  const send = async (content: string) => {
    const response = await api(instance.url, alice.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content });
    expect(response.status).toBe(200);
    return response.body.content as string;
  };

  it("links a known local account, by name or name@our-host, to its profile", async () => {
    const host = new URL(instance.url).host;
    const bobUrl = (await api(instance.url, alice.token).get(`/api/v1/accounts/${bob.account.id}`)).body.url;
    const mention = `<span class="h-card"><a class="u-url mention" data-user="${bob.account.id}" href="${bobUrl}" rel="ugc">@<span>bob</span></a></span>`;
    expect(await send("hi @bob")).toBe(`hi ${mention}`);
    expect(await send(`hi @bob@${host}!`)).toBe(`hi ${mention}!`);
  });

  it("links a known remote account; an unknown one stays text", async () => {
    expect(await send("ask @carol@remote.example or @dave@remote.example")).toBe(
      'ask <span class="h-card"><a class="u-url mention" data-user="01remotecarol0000000000000" href="https://remote.example/@carol" rel="ugc">@<span>Carol</span></a></span> or @dave@remote.example',
    );
  });

  it("links hashtags to the instance's tag path, also in an edit", async () => {
    expect(await send("#Parley rocks")).toBe(`<a class="hashtag" data-tag="parley" href="${instance.url}/tag/parley">#Parley</a> rocks`);
    const [last] = (await api(instance.url, alice.token).get(`/api/v1/pleroma/chats/${chatId}/messages?limit=1`)).body;
    const edited = await api(instance.url, alice.token).put(`/api/v1/pleroma/chats/${chatId}/messages/${last.id}`, {
      content: "now #edited",
    });
    expect(edited.status).toBe(200);
    expect(edited.body.content).toBe(`now <a class="hashtag" data-tag="edited" href="${instance.url}/tag/edited">#edited</a>`);
  });
});
