import { type Account, chatHelpers } from "./chats.js";
import { eventually, type Json } from "./inbox.js";
import { png, upload } from "./media.js";
import { api, type TestParley } from "./parley.js";
import { openStream, type StreamClient, streamingUrl, subscribe } from "./streaming.js";

/**
 * What Pleroma's chat tests do through internal calls (`insert(:user)`, `CommonAPI.post_chat_message`,
 * `Chat.get_or_create`, `User.block`, `Repo.delete(user)`, `ActivityPub.upload`), done through
 * Parley's HTTP API, for the ports in test/pleroma-*.test.ts.
 */
export function pleromaPort(instance: () => TestParley) {
  const base = chatHelpers(instance);
  const { as, chatWith } = base;
  const admin = () => api(instance().url, instance().adminToken);

  /** `CommonAPI.post_chat_message(from, to, content)`: opens the chat and sends. */
  async function postChatMessage(from: Account, to: Account, content: string | null, extra: Json = {}) {
    const chatId = await chatWith(from, to);
    const response = await as(from).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content, ...extra });
    expect(response.status).toBe(200);
    return { chatId, message: response.body as Json };
  }

  /** The chat `owner` has with `other` (`Chat.get(owner.id, other.ap_id)`), through the list. */
  async function chatOf(owner: Account, other: Account): Promise<Json | undefined> {
    const response = await as(owner).get("/api/v1/pleroma/chats?with_muted=true");
    expect(response.status).toBe(200);
    return (response.body as Json[]).find((chat) => chat.account.id === other.account.id);
  }

  async function messagesOf(owner: Account, chatId: string, query = ""): Promise<Json[]> {
    const response = await as(owner).get(`/api/v1/pleroma/chats/${chatId}/messages${query}`);
    expect(response.status).toBe(200);
    return response.body as Json[];
  }

  /** `ActivityPub.upload(file, actor: …)`: a PNG uploaded by `who`; its media id. */
  async function uploadImage(who: Account): Promise<string> {
    const response = await upload(instance().url, who.token, png(), "an_image.png");
    expect(response.status).toBe(200);
    return response.body.id as string;
  }

  /** `Repo.delete(user)`: the admin API's account deletion. */
  async function deleteAccount(who: Account) {
    expect((await admin().delete(`/api/v1/admin/accounts/${who.account.id}`)).status).toBe(200);
  }

  /** A socket of `who` subscribed to `streams` (the first through the query, as Pleroma-FE does). */
  async function stream(who: Account, streams: string[], clients: StreamClient[]): Promise<StreamClient> {
    const client = await openStream(streamingUrl(instance().url, { access_token: who.token, stream: streams[0] }));
    clients.push(client);
    for (const name of streams.slice(1)) expect((await subscribe(client, name)).result).toBe("success");
    return client;
  }

  /** Polls `who`'s message until `until` holds (link cards are fetched after the send). */
  const messageEventually = (who: Account, chatId: string, messageId: string, until: (m: Json) => boolean, what: string) =>
    eventually(
      async () => {
        const found = (await messagesOf(who, chatId)).find((m) => m.id === messageId);
        return found && until(found) ? found : undefined;
      },
      10_000,
      what,
    );

  return { ...base, admin, postChatMessage, chatOf, messagesOf, uploadImage, deleteAccount, stream, messageEventually };
}
