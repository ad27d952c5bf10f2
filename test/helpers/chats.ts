import { api, createAccount, type TestParley } from "./parley.js";

export type Account = Awaited<ReturnType<typeof createAccount>>;

/** Shorthands of the chat tests, bound to the file's instance (read lazily: it starts in beforeAll). */
export function chatHelpers(instance: () => TestParley) {
  let n = 0;
  const account = (prefix: string) => createAccount(instance(), `${prefix}_${++n}`);
  const as = (who: Account) => api(instance().url, who.token);
  async function chatWith(from: Account, to: Account): Promise<string> {
    const response = await as(from).post(`/api/v1/pleroma/chats/by-account-id/${to.account.id}`);
    expect(response.status).toBe(200);
    return response.body.id;
  }
  async function send(from: Account, chatId: string, content: string) {
    const response = await as(from).post(`/api/v1/pleroma/chats/${chatId}/messages`, { content });
    expect(response.status).toBe(200);
    return response.body;
  }
  return { account, as, chatWith, send };
}
