import { round } from "../lib/stats.js";
import type { ChaosReport } from "./check.js";
import type { DownReport } from "./receiver-down.js";
import type { Sent } from "./types.js";

export interface ReportInput {
  queue: string;
  messages: number;
  runId: string;
  started: number;
  sent: Sent[];
  report: ChaosReport;
  downReport?: DownReport;
  drainMs: number | undefined;
  unexpectedExits: string[];
}

/** Prints the table, the per-fault lines, the problems and one JSON line; returns whether the run passed. */
export function printReport(r: ReportInput): boolean {
  const { report, sent, downReport, drainMs } = r;
  const rows: [string, string | number][] = [
    ["queue backend", r.queue],
    ["messages attempted", sent.length],
    ["sent (accepted by the API)", report.sent],
    ["  of which after client retries", sent.filter((s) => s.ok && s.tries > 1).length],
    ["delivered (shown on the receiver)", report.delivered],
    ["lost (not arrived, no delivery pending)", report.lost],
    ["not arrived, delivery still pending (drain bound hit)", report.pendingAtCheck],
    ["duplicates shown", report.duplicates],
    ["unread counter mismatches", report.unreadMismatches],
    ["API/SQL mismatches", report.apiMismatches],
    ["deliveries not delivered (C's left out)", report.deliveriesNotDelivered],
    ["delivery attempts (rows attempted more than once)", `${report.deliveryAttempts} (${report.resent})`],
    ["inbox_activities pending/failed", report.inboxNotApplied],
    ["message jobs left (waiting/active/delayed, failed+row pending)", report.jobsLeft],
    ["failed jobs whose row is done anyway", report.failedDone],
    ["scheduler jobs failed (informative)", report.schedulerFailed],
    ["latency p50 / p99 / max (s)", `${report.latency.p50} / ${report.latency.p99} / ${report.latency.max}`],
    ["time to drain (s)", drainMs === undefined ? "not drained" : round(drainMs / 1000, 1)],
    ["processes exited on their own", r.unexpectedExits.length],
  ];
  if (downReport) {
    rows.push(
      ["receiver down: messages to C", downReport.sent],
      ["receiver down: C's deliveries by status", JSON.stringify(downReport.deliveries)],
      ["receiver down: sender sees 'failed'", downReport.senderSeesFailed],
      ["receiver down: attempts made (all refused)", downReport.attempts],
      ["receiver down: all failed, after the dating back (s)", downReport.failedAfterS ?? "—"],
    );
  }
  console.log(`\n${rows.map(([k, v]) => `${k.padEnd(52)} ${v}`).join("\n")}`);
  console.log(
    "\nper fault (messages whose send started from the fault's start to 5 s after its end; recovery = last of them arrived, after the fault's end):",
  );
  console.log(
    `${"fault".padEnd(20)} ${"window (s)".padEnd(14)} ${"sent".padStart(5)} ${"lost".padStart(5)} ${"dup".padStart(4)} ${"max lat (s)".padStart(11)} ${"recovery (s)".padStart(12)}  note`,
  );
  for (const f of report.perFault) {
    console.log(
      `${f.name.padEnd(20)} ${`${f.from}–${f.to}`.padEnd(14)} ${String(f.sent).padStart(5)} ${String(f.lost).padStart(5)} ${String(f.duplicates).padStart(4)} ${String(f.maxLatencyS).padStart(11)} ${String(f.recoveryS).padStart(12)}  ${f.note}`,
    );
  }
  if (r.unexpectedExits.length) console.log(`unexpected exits: ${r.unexpectedExits.join("; ")}`);
  for (const problem of report.problems.slice(0, 30)) console.log(`problem: ${problem}`);
  // The bar: every message delivered and shown once, unread counters right, nothing stuck, no
  // process dead of a fault it did not get, and the down receiver's deliveries failed and shown so.
  const ok =
    report.lost === 0 &&
    report.pendingAtCheck === 0 &&
    report.duplicates === 0 &&
    report.unreadMismatches === 0 &&
    report.apiMismatches === 0 &&
    report.deliveriesNotDelivered === 0 &&
    report.inboxNotApplied === 0 &&
    report.jobsLeft === 0 &&
    drainMs !== undefined &&
    r.unexpectedExits.length === 0 &&
    (downReport?.ok ?? true);
  console.log(
    JSON.stringify({
      chaos: {
        run: r.runId,
        queue: r.queue,
        messages: r.messages,
        attempted: sent.length,
        sent: report.sent,
        notAccepted: sent.length - report.sent,
        delivered: report.delivered,
        duplicates: report.duplicates,
        lost: report.lost,
        pendingAtCheck: report.pendingAtCheck,
        unreadMismatches: report.unreadMismatches,
        apiMismatches: report.apiMismatches,
        deliveriesNotDelivered: report.deliveriesNotDelivered,
        deliveryAttempts: report.deliveryAttempts,
        deliveriesResent: report.resent,
        inboxNotApplied: report.inboxNotApplied,
        jobsLeft: report.jobsLeft,
        failedJobsRowDone: report.failedDone,
        schedulerJobsFailed: report.schedulerFailed,
        latencyS: report.latency,
        drainS: drainMs === undefined ? null : round(drainMs / 1000, 1),
        totalS: round((Date.now() - r.started) / 1000, 1),
        unexpectedExits: r.unexpectedExits,
        faults: report.perFault,
        receiverDown: downReport ?? null,
        ok,
      },
    }),
  );
  return ok;
}
