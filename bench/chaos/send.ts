import { call } from "./client.js";
import { type Sent, type Side, sleep } from "./types.js";

/** A client gives a message up after retrying this long. */
const CLIENT_GIVE_UP_MS = 90_000;

export const tagOf = (runId: string, seq: number) => `c${runId}-${seq}-x`;

/**
 * The send phase: message k at t0 + k·sendMs/N, even k from A to B, odd from B to A, round-robin
 * over the pairs; past N while a fault is still under way (every fault sees traffic). Each post
 * carries an Idempotency-Key and is retried on network errors, 5xx and 429 with the same key.
 * `burst(n)` posts n more at once (the web-kill fault wants requests in flight).
 */
export function sendLoop(o: {
  A: Side;
  B: Side;
  pairs: number;
  messages: number;
  sendMs: number;
  runId: string;
  log(message: string): void;
}) {
  const sent: Sent[] = [];
  const posts: Promise<void>[] = [];
  let faultsOver = false;
  const post = () => {
    const seq = sent.length;
    const from = seq % 2 === 0 ? o.A : o.B;
    const pair = Math.floor(seq / 2) % o.pairs;
    const account = from.accounts[pair];
    const entry: Sent = { seq, tag: tagOf(o.runId, seq), from: from.name, pair, firstTry: Date.now(), tries: 0, ok: false };
    sent.push(entry);
    posts.push(
      (async () => {
        while (Date.now() - entry.firstTry < CLIENT_GIVE_UP_MS) {
          entry.tries++;
          const response = await call(
            from.api,
            account.token,
            "POST",
            `/api/v1/pleroma/chats/${account.chatId}/messages`,
            { content: `chaos ${entry.tag}` },
            { "idempotency-key": entry.tag },
          );
          entry.lastStatus = response.status;
          if (response.status === 200) {
            entry.ok = true;
            entry.acceptedAt = Date.now();
            return;
          }
          if (response.status !== 0 && response.status < 500 && response.status !== 429) return;
          await sleep(500);
        }
      })(),
    );
    if (sent.length % 100 === 0) o.log(`${sent.length} messages started`);
  };
  const t0 = Date.now();
  const every = o.sendMs / o.messages;
  const done = (async () => {
    for (let k = 0; k < o.messages || !faultsOver; k++) {
      await sleep(Math.max(0, t0 + k * every - Date.now()));
      post();
    }
    // Posts added by bursts while waiting are waited for too.
    for (let settled = 0; settled < posts.length; settled = posts.length) await Promise.all(posts.slice(settled));
    return sent;
  })();
  return {
    done,
    burst(n: number) {
      for (let i = 0; i < n; i++) post();
    },
    faultsOver() {
      faultsOver = true;
    },
  };
}
