import type { ParleyProcesses } from "../lib/parley-processes.js";

/** One instance of the chaos run and its test accounts (pair i on A chats with pair i on B). */
export interface Side {
  name: "A" | "B";
  p: ParleyProcesses;
  /** Where clients reach the API (B: directly, not through the failing front proxy). */
  api: string;
  accounts: { id: string; username: string; token: string; chatId: string; peerId: string }[];
}

export interface Sent {
  seq: number;
  tag: string;
  from: "A" | "B";
  pair: number;
  firstTry: number;
  acceptedAt?: number;
  tries: number;
  ok: boolean;
  lastStatus?: number;
}

export interface Fault {
  name: string;
  start: number;
  end: number;
  note: string;
  /** When the service was whole again (processes back, dependency reachable), if later than `end`. */
  recovered?: number;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
