import { percentile, round } from "../lib/stats.js";
import { call } from "./client.js";
import { jobsLeft, type QueueView } from "./queue-view.js";
import type { Fault, Sent, Side } from "./types.js";

export interface CheckContext {
  tagRe: RegExp;
  runId: string;
  /** When the run started (fault windows are reported from it). */
  started: number;
  /** Deliveries to this host (the receiver that stays down) are expected `failed`, checked apart. */
  downHost?: string;
}

export type ChaosReport = Awaited<ReturnType<typeof check>>;

/**
 * Every message, counted on both sides: exactly one local copy with one ref on its sender and one
 * remote copy with one ref on its receiver (none = lost, more = duplicate); unread counters and
 * API listings against SQL; every delivery delivered, every inbox row applied, no job left.
 */
export async function check(A: Side, B: Side, sent: Sent[], faults: Fault[], views: QueueView[], ctx: CheckContext) {
  const TAG_RE = ctx.tagRe;
  const runId = ctx.runId;
  const started = ctx.started;
  const downPrefix = ctx.downHost ? `http://${ctx.downHost}/` : "chaos-none:";
  const problems: string[] = [];
  const bySeq = new Map(sent.map((s) => [s.seq, s]));
  /** seq → { refs shown on the receiver, messages rows, earliest arrival (ms) } */
  const received = new Map<number, { rows: number; refs: number; arrivedAt: number }>();
  const local = new Map<number, number>();
  for (const side of [A, B]) {
    const rows = await side.p.sql<{ content: string; local: boolean; refs: number; at: number }[]>`
      SELECT m.content, m.local, (SELECT count(*) FROM message_refs r WHERE r.message_id = m.id)::int AS refs,
             (extract(epoch FROM m.created_at) * 1000)::float8 AS at
      FROM messages m WHERE m.content LIKE ${`%c${runId}-%`} AND m.deleted_at IS NULL`;
    for (const row of rows) {
      const seq = Number(TAG_RE.exec(row.content)?.[1]);
      const expectedFrom = bySeq.get(seq)?.from;
      if (row.local) {
        if (expectedFrom !== side.name) problems.push(`message ${seq} is local on ${side.name} but was sent from ${expectedFrom}`);
        local.set(seq, (local.get(seq) ?? 0) + 1);
        if (row.refs !== 1) problems.push(`message ${seq}: ${row.refs} refs on its sender ${side.name}`);
      } else {
        const entry = received.get(seq) ?? { rows: 0, refs: 0, arrivedAt: Infinity };
        entry.rows++;
        entry.refs += row.refs;
        entry.arrivedAt = Math.min(entry.arrivedAt, row.at);
        received.set(seq, entry);
      }
    }
  }

  // Messages whose delivery row is still pending: not arrived yet, not lost (reported apart).
  const stillPending = new Set<number>();
  for (const side of [A, B]) {
    const rows = await side.p.sql<{ content: string }[]>`
      SELECT m.content FROM messages m JOIN deliveries d ON d.message_id = m.id
      WHERE m.local AND d.status = 'pending' AND m.content LIKE ${`%c${runId}-%`}`;
    for (const row of rows) stillPending.add(Number(TAG_RE.exec(row.content)?.[1]));
  }
  let delivered = 0;
  let lost = 0;
  let pendingAtCheck = 0;
  let duplicates = 0;
  const latencies = new Map<number, number>();
  for (const s of sent) {
    const copies = local.get(s.seq) ?? 0;
    if (s.ok && copies !== 1) {
      problems.push(`message ${s.seq} (${s.from}): ${copies} copies on its sender`);
      if (copies > 1) duplicates += copies - 1;
    }
    if (!s.ok && copies > 0)
      problems.push(`message ${s.seq} (${s.from}) was not accepted by the API (last ${s.lastStatus}) yet is stored ${copies}×`);
    const got = received.get(s.seq);
    if (!got) {
      if ((s.ok || copies > 0) && stillPending.has(s.seq)) {
        pendingAtCheck++;
        problems.push(`message ${s.seq} ${s.from}→${s.from === "A" ? "B" : "A"} (pair ${s.pair}) not arrived, its delivery still pending`);
      } else if (s.ok || copies > 0) {
        lost++;
        problems.push(`LOST message ${s.seq} ${s.from}→${s.from === "A" ? "B" : "A"} (pair ${s.pair})`);
      }
      continue;
    }
    delivered++;
    if (got.rows > 1 || got.refs > 1) {
      duplicates += Math.max(got.rows, got.refs) - 1;
      problems.push(`DUPLICATE message ${s.seq}: ${got.rows} rows, ${got.refs} refs on the receiver`);
    } else if (got.refs === 0) {
      lost++;
      problems.push(`message ${s.seq} stored on the receiver but shown to nobody (no ref)`);
    }
    latencies.set(s.seq, got.arrivedAt - s.firstTry);
  }
  const sortedLat = [...latencies.values()].sort((a, b) => a - b);
  const latency = {
    p50: round(percentile(sortedLat, 50) / 1000, 2),
    p99: round(percentile(sortedLat, 99) / 1000, 2),
    max: round((sortedLat[sortedLat.length - 1] ?? NaN) / 1000, 2),
  };

  // Unread counters against the unread refs; deliveries; inbox activities.
  let unreadMismatches = 0;
  let deliveriesNotDelivered = 0;
  let inboxNotApplied = 0;
  let resent = 0;
  let deliveryAttempts = 0;
  for (const side of [A, B]) {
    const chats = await side.p.sql<{ id: string; unread: number; refs: number }[]>`
      SELECT c.id, c.unread, (SELECT count(*) FROM message_refs r WHERE r.chat_id = c.id AND r.unread)::int AS refs FROM chats c`;
    for (const c of chats) {
      if (c.unread !== c.refs) {
        unreadMismatches++;
        problems.push(`${side.name} chat ${c.id}: unread ${c.unread}, unread refs ${c.refs}`);
      }
    }
    const deliveries = await side.p.sql<{ status: string; n: number; err: string | null }[]>`
      SELECT status, count(*)::int AS n, max(last_error) AS err FROM deliveries WHERE NOT starts_with(inbox_url, ${downPrefix}) GROUP BY status`;
    for (const d of deliveries) {
      if (d.status !== "delivered") {
        deliveriesNotDelivered += d.n;
        problems.push(`${side.name}: ${d.n} deliveries ${d.status} (${d.err})`);
      }
    }
    const [attempts] = await side.p.sql<{ resent: number; attempts: number }[]>`
      SELECT count(*) FILTER (WHERE attempts > 1)::int AS resent, coalesce(sum(attempts), 0)::int AS attempts FROM deliveries`;
    resent += attempts.resent;
    deliveryAttempts += attempts.attempts;
    const inbox = await side.p.sql<{ status: string; n: number; err: string | null }[]>`
      SELECT status, count(*)::int AS n, max(error) AS err FROM inbox_activities GROUP BY status`;
    for (const i of inbox) {
      if (i.status !== "applied") {
        inboxNotApplied += i.n;
        problems.push(`${side.name}: ${i.n} inbox_activities ${i.status} (${i.err})`);
      }
    }
  }

  // Through the API: every chat's messages page by page, and the chat list's unread counters.
  let apiMismatches = 0;
  for (const side of [A, B]) {
    for (const account of side.accounts) {
      const seen = new Map<number, number>();
      let maxId: string | undefined;
      for (;;) {
        const page = await call(
          side.api,
          account.token,
          "GET",
          `/api/v1/pleroma/chats/${account.chatId}/messages?limit=40${maxId ? `&max_id=${maxId}` : ""}`,
        );
        if (page.status !== 200) {
          apiMismatches++;
          problems.push(`${side.name} API messages of ${account.username}: ${page.status}`);
          break;
        }
        for (const m of page.body as { id: string; content: string | null }[]) {
          const seq = Number(TAG_RE.exec(m.content ?? "")?.[1]);
          if (Number.isFinite(seq)) seen.set(seq, (seen.get(seq) ?? 0) + 1);
        }
        if (page.body.length < 40) break;
        maxId = page.body[page.body.length - 1].id;
      }
      // Expected in this chat: what this pair sent either way, accepted or stored.
      for (const s of sent) {
        if (s.pair !== side.accounts.indexOf(account)) continue;
        const stored = s.from === side.name ? (local.get(s.seq) ?? 0) : (received.get(s.seq)?.refs ?? 0);
        const shown = seen.get(s.seq) ?? 0;
        if (shown !== Math.min(stored, 1) || shown > 1) {
          apiMismatches++;
          problems.push(`${side.name} API chat of ${account.username}: message ${s.seq} shown ${shown}×, stored ${stored}×`);
        }
        if (shown > 1) duplicates += shown - 1;
      }
      const chat = await call(side.api, account.token, "GET", `/api/v1/pleroma/chats/${account.chatId}`);
      const [row] = await side.p.sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM message_refs WHERE chat_id = ${account.chatId} AND unread`;
      if (chat.status !== 200 || chat.body.unread !== row.n) {
        apiMismatches++;
        problems.push(`${side.name} API chat of ${account.username}: unread ${chat.body?.unread}, unread refs ${row.n}`);
      }
    }
  }

  let jobsLeftTotal = 0;
  let failedDone = 0;
  let schedulerFailed = 0;
  for (const [i, view] of views.entries()) {
    const jobs = await jobsLeft(view, [A, B][i].p.sql);
    jobsLeftTotal += jobs.left;
    failedDone += jobs.failedDone;
    schedulerFailed += jobs.schedulerFailed;
    for (const d of jobs.detail) problems.push(`${i === 0 ? "A" : "B"} job left: ${d}`);
  }

  const perFault = faults.map((f) => {
    const during = sent.filter((s) => s.firstTry >= f.start && s.firstTry <= f.end + 5_000);
    const lat = during.map((s) => latencies.get(s.seq)).filter((v): v is number => v !== undefined);
    const arrivals = during.map((s) => received.get(s.seq)?.arrivedAt).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return {
      name: f.name,
      from: round((f.start - started) / 1000, 1),
      to: round((f.end - started) / 1000, 1),
      sent: during.filter((s) => s.ok).length,
      lost: during.filter((s) => s.ok && !received.get(s.seq)?.refs && !stillPending.has(s.seq)).length,
      duplicates: during.filter(
        (s) => (received.get(s.seq)?.rows ?? 0) > 1 || (received.get(s.seq)?.refs ?? 0) > 1 || (local.get(s.seq) ?? 0) > 1,
      ).length,
      maxLatencyS: lat.length ? round(Math.max(...lat) / 1000, 2) : null,
      // Until the last message of the window arrived, counted from the fault's end.
      recoveryS: arrivals.length ? round(Math.max(0, Math.max(...arrivals) - f.end) / 1000, 1) : null,
      note: f.note,
    };
  });

  return {
    sent: sent.filter((s) => s.ok).length,
    delivered,
    lost,
    pendingAtCheck,
    duplicates,
    latency,
    unreadMismatches,
    apiMismatches,
    deliveriesNotDelivered,
    inboxNotApplied,
    resent,
    deliveryAttempts,
    jobsLeft: jobsLeftTotal,
    failedDone,
    schedulerFailed,
    perFault,
    problems,
  };
}
