import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseCard } from "../src/link-cards/card-parser.js";
import { fetchCard } from "../src/link-cards/link-cards.js";
import { eventually, pleromaChatMessage } from "./helpers/inbox.js";
import { api, createAccount, startTestParley, type TestParley } from "./helpers/parley.js";
import { type RemoteServer, signedPost, startRemoteServer } from "./helpers/remote.js";
import { openStream, type StreamClient, streamingUrl, subscribe } from "./helpers/streaming.js";

/**
 * Link preview cards (Pleroma's rich media `card` on a ChatMessage): fetched after the send, once
 * per URL, through the SSRF-guarded client, size- and time-capped; streamed when ready; never
 * delaying or failing a send. The pages are served by a local HTTP server.
 */

const OGP = `<html prefix="og: http://ogp.me/ns#"><head>
  <title>The Rock (1996)</title>
  <meta property="og:title" content="The Rock" />
  <meta property="og:type" content="video.movie" />
  <meta property="og:image" content="/images/rock.jpg" />
  <meta property="og:image:width" content="640" />
  <meta property="og:description" content="Directed by Michael Bay. With Sean Connery &amp; Nicolas Cage.">
</head><body>hello</body></html>`;

interface PageServer {
  url: string;
  hits: string[];
  /** Answers still held open by /hang. */
  hanging: ServerResponse[];
  close(): Promise<void>;
}

async function startPages(): Promise<PageServer> {
  const hits: string[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    hits.push(path);
    const html = (body: string) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(body);
    if (path.startsWith("/ogp")) return html(OGP);
    if (path === "/hang") return void hanging.push(res);
    if (path === "/big") return html(`<html><head><title>Big</title></head><body>${"x".repeat(600 * 1024)}</body></html>`);
    if (path === "/json") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ title: "not a page" }));
    if (path === "/untitled") return html("<html><head></head><body>no title</body></html>");
    if (path === "/to-file") return res.writeHead(302, { location: "file:///etc/passwd" }).end();
    if (path === "/to-mapped") return res.writeHead(302, { location: `http://[::ffff:127.0.0.1]:${port}/ogp-mapped` }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    hanging,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("the card of a page (OpenGraph, Twitter, <title>)", () => {
  it("reads OpenGraph tags, resolves the image against the page, keeps the tags as pleroma.opengraph", () => {
    const card = parseCard(OGP, "https://www.example.com/title/tt0117500/")!;
    expect(card).toMatchObject({
      url: "https://www.example.com/title/tt0117500/",
      title: "The Rock",
      description: "Directed by Michael Bay. With Sean Connery & Nicolas Cage.",
      type: "link",
      provider_name: "www.example.com",
      provider_url: "https://www.example.com",
      image: "https://www.example.com/images/rock.jpg",
      width: 640,
      height: 0,
      blurhash: null,
    });
    expect(card.pleroma.opengraph).toMatchObject({
      type: "video.movie",
      title: "The Rock",
      image: "https://www.example.com/images/rock.jpg",
    });
  });

  it("falls back to Twitter tags, then to <title> and the meta description", () => {
    expect(
      parseCard(
        '<meta name="twitter:title" content="Tw"><meta name="twitter:image" content="https://i.example/a.png">',
        "https://a.example/",
      ),
    ).toMatchObject({
      title: "Tw",
      image: "https://i.example/a.png",
    });
    expect(
      parseCard('<head><title> Plain\n page </title><meta name="description" content="About it"></head>', "https://a.example/"),
    ).toMatchObject({
      title: "Plain page",
      description: "About it",
      image: null,
    });
  });

  it("has no card without a title; strips markup; drops a non-http image", () => {
    expect(parseCard('<meta property="og:description" content="no title">', "https://a.example/")).toBeNull();
    const card = parseCard(
      '<meta property="og:title" content="&lt;script&gt;alert(1)&lt;/script&gt;Hi"><meta property="og:image" content="javascript:alert(1)">' +
        '<meta property="og:video" content="data:text/html,x">',
      "https://a.example/",
    )!;
    expect(card.title).toBe("alert(1) Hi");
    expect(card.image).toBeNull();
    expect(card.pleroma.opengraph).not.toHaveProperty("image");
    expect(card.pleroma.opengraph).not.toHaveProperty("video");
  });
});

describe("link preview cards through the API", () => {
  let instance: TestParley;
  let pages: PageServer;
  let remote: RemoteServer;
  let alice: Awaited<ReturnType<typeof createAccount>>;
  let bob: Awaited<ReturnType<typeof createAccount>>;
  let aliceChat: string;
  let bobChat: string;
  let bobStream: StreamClient;

  beforeAll(async () => {
    [instance, pages, remote] = await Promise.all([startTestParley(), startPages(), startRemoteServer()]);
    [alice, bob] = await Promise.all([createAccount(instance, "alice"), createAccount(instance, "bob")]);
    aliceChat = (await api(instance.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
    bobChat = (await api(instance.url, bob.token).post(`/api/v1/pleroma/chats/by-account-id/${alice.account.id}`)).body.id;
    bobStream = await openStream(streamingUrl(instance.url, { access_token: bob.token }));
    await subscribe(bobStream, "user:pleroma_chat");
  });
  afterAll(async () => {
    bobStream?.close();
    await Promise.all([instance?.close(), pages?.close(), remote?.close()]);
  });

  const db = () => instance.parley.deps.db.$client;
  const send = async (from: typeof alice, chatId: string, content: string) => {
    const response = await api(instance.url, from.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content });
    expect(response.status).toBe(200);
    return response.body;
  };
  const cardRow = async (url: string) =>
    (await db()`SELECT status, card FROM link_cards WHERE url = ${url}`)[0] as { status: string } | undefined;
  const settledRow = (url: string) =>
    eventually(async () => ((await cardRow(url))?.status ?? "pending") !== "pending" && cardRow(url), 10_000, `${url} fetched`);
  const bobMessages = async () => (await api(instance.url, bob.token).get(`/api/v1/pleroma/chats/${bobChat}/messages`)).body as any[];

  it("shows the card in the message list, both chat lists and notifications once fetched, and streams the update", async () => {
    const link = `${pages.url}/ogp`;
    const sent = await send(alice, aliceChat, `look ${link} and ${pages.url}/ogp-second`);
    expect(sent.card).toBeNull();
    // The update reaches the recipient's socket with the card (whatever the event is called).
    const frame = await bobStream.next(
      (f) => f.payload.includes('"card":{') && f.payload.includes("The Rock"),
      10_000,
      "a frame with the card",
    );
    expect(frame.stream).toEqual(["user:pleroma_chat"]);

    const expected = { url: link, title: "The Rock", image: `${pages.url}/images/rock.jpg`, provider_name: new URL(pages.url).host };
    const [message] = await bobMessages();
    expect(message.id).toBeDefined();
    expect(message.card).toMatchObject(expected);
    const v1 = (await api(instance.url, bob.token).get("/api/v1/pleroma/chats")).body as any[];
    expect(v1.find((c) => c.id === bobChat).last_message.card).toMatchObject(expected);
    const v2 = (await api(instance.url, alice.token).get("/api/v2/pleroma/chats")).body as any[];
    expect(v2.find((c) => c.id === aliceChat).last_message.card).toMatchObject(expected);
    const notifications = (await api(instance.url, bob.token).get("/api/v1/notifications?include_types[]=pleroma:chat_mention"))
      .body as any[];
    expect(notifications[0].chat_message.card).toMatchObject(expected);
    // Only the first link has a card.
    expect(pages.hits).not.toContain("/ogp-second");
  });

  it("fetches a URL once for two messages; a later message has the card at once", async () => {
    const link = `${pages.url}/ogp-twice`;
    await Promise.all([send(alice, aliceChat, `one ${link}`), send(bob, bobChat, `two ${link}`)]);
    expect((await settledRow(link)).status).toBe("ready");
    await eventually(
      async () => (await bobMessages()).slice(0, 2).every((m) => m.card?.url === link),
      10_000,
      "both messages with the card",
    );
    const third = await send(alice, aliceChat, `three ${link}`);
    expect(third.card).toMatchObject({ url: link, title: "The Rock" });
    expect(pages.hits.filter((hit) => hit === "/ogp-twice")).toHaveLength(1);
  });

  it("answers the send before a page that hangs, which then gets no card", async () => {
    const link = `${pages.url}/hang`;
    const sent = await send(alice, aliceChat, `slow ${link}`);
    // The API answered; the page has not (it never does).
    expect(sent.card).toBeNull();
    await eventually(async () => pages.hanging.length > 0, 5_000, "the page to be asked");
    expect(pages.hanging.every((res) => !res.writableEnded)).toBe(true);
    expect(await settledRow(link)).toEqual({ status: "failed", card: null });
    expect((await bobMessages())[0].card).toBeNull();
  });

  it.each([
    ["an oversized page", "/big"],
    ["a JSON document", "/json"],
    ["a page without title", "/untitled"],
    ["a redirect to a file: URL", "/to-file"],
    ["a missing page", "/missing"],
  ])("gives %s no card and no error", async (_what, path) => {
    const link = `${pages.url}${path}`;
    const sent = await send(alice, aliceChat, `see ${link}`);
    expect(sent.content).toContain(`href="${link}"`);
    expect(await settledRow(link)).toEqual({ status: "none", card: null });
    const [message] = await bobMessages();
    expect(message.content).toContain(link);
    expect(message.card).toBeNull();
  });

  it("refuses a redirect to an address the guard refuses (no card)", async () => {
    const loopbackOnly = (address: string) => address === "127.0.0.1";
    const deps = instance.parley.deps;
    expect(await fetchCard(deps, `${pages.url}/to-mapped`, { allowAddress: loopbackOnly })).toEqual({ status: "none", card: null });
    expect(pages.hits).not.toContain("/ogp-mapped");
    expect((await fetchCard(deps, `${pages.url}/ogp`, { allowAddress: loopbackOnly })).status).toBe("ready");
  });

  it("gives a card to the first link of an incoming message, not to its mentions", async () => {
    const pleroma = remote.actor("rita", { capabilities: { acceptsChatMessages: true } });
    const link = `${pages.url}/ogp-remote`;
    const activity = pleromaChatMessage(pleroma, `${instance.url}/users/bob`, {
      content: `<span class="h-card"><a class="u-url mention" href="${instance.url}/users/bob">@bob</a></span> <a href="${link}">read</a>`,
    });
    expect((await signedPost(`${instance.url}/users/bob/inbox`, activity, pleroma)).status).toBe(202);
    const chat = await eventually(
      async () => {
        const chats = (await api(instance.url, bob.token).get("/api/v1/pleroma/chats")).body as any[];
        const found = chats.find((c) => c.account.uri === pleroma.id);
        return found?.last_message?.card ? found : undefined;
      },
      10_000,
      "the incoming message's card",
    );
    expect(chat.last_message.card).toMatchObject({ url: link, title: "The Rock" });
  });

  it("gives an edited message the card of its new link", async () => {
    const sent = await send(alice, aliceChat, "no link yet");
    const link = `${pages.url}/ogp-edited`;
    const edited = await api(instance.url, alice.token).put(`/api/v1/pleroma/chats/${aliceChat}/messages/${sent.id}`, {
      content: `now ${link}`,
    });
    expect(edited.status).toBe(200);
    await eventually(async () => (await bobMessages()).find((m) => m.card?.url === link), 10_000, "the edited message's card");
  });
});

describe("LINK_PREVIEWS=false", () => {
  let instance: TestParley;
  let pages: PageServer;

  beforeAll(async () => {
    [instance, pages] = await Promise.all([startTestParley({ env: { LINK_PREVIEWS: "false" } }), startPages()]);
  });
  afterAll(async () => {
    await Promise.all([instance?.close(), pages?.close()]);
  });

  it("fetches nothing: no job, no row, no request, cards stay null", async () => {
    const [alice, bob] = await Promise.all([createAccount(instance, "alice"), createAccount(instance, "bob")]);
    const chatId = (await api(instance.url, alice.token).post(`/api/v1/pleroma/chats/by-account-id/${bob.account.id}`)).body.id;
    const sent = await api(instance.url, alice.token).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content: `see ${pages.url}/ogp` });
    expect(sent.status).toBe(200);
    expect(sent.body.card).toBeNull();
    const counts = await instance.parley.deps.queues.linkCards.getJobCounts("waiting", "active", "delayed", "completed", "failed");
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await instance.parley.deps.db.$client`SELECT url FROM link_cards`).toHaveLength(0);
    expect(pages.hits).toEqual([]);
    const [message] = (await api(instance.url, alice.token).get(`/api/v1/pleroma/chats/${chatId}/messages`)).body;
    expect(message.card).toBeNull();
  });
});
