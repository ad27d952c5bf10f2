import pino from "pino";

/**
 * How much of any one value a log line may carry. Log records hold what peers send (activities,
 * remote documents, error details quoting them): without bounds one 256 KB inbox body wrote a
 * 256 KB line, and a JSON-LD error quoting an unloadable `@context` two lines of 1 MB each.
 */
export const LOG_LIMITS = {
  /** Characters of one string value. */
  string: 200,
  /** Characters of a message (`msg`). */
  message: 300,
  /** Characters of stack frames, all errors of one record together (the message is not repeated). */
  stack: 1_500,
  /** Keys of one object and items of one array. */
  keys: 20,
  items: 10,
  /** Nesting kept; deeper values are named, not shown. */
  depth: 4,
  /** Characters of strings and keys, all values of one record together (stack frames apart). */
  record: 1_000,
  /** A written line longer than this is parsed and written again with the bounds above. */
  line: 8_192,
} as const;

/** Cuts a string to `max` characters, saying how much was left out. */
export function truncate(text: string, max: number = LOG_LIMITS.string): string {
  return text.length <= max ? text : `${text.slice(0, max)}…[+${text.length - max} chars]`;
}

interface Budget {
  left: number;
  stackLeft: number;
}

const newBudget = (): Budget => ({ left: LOG_LIMITS.record, stackLeft: LOG_LIMITS.stack });

const TRUNCATED = "[truncated]";

/**
 * An ActivityStreams document (an activity, a fetched actor or object) is logged as what identifies
 * it — id, type, actor, object's id and type — never its content.
 */
function isActivityStreamsDocument(value: Record<string, unknown>): boolean {
  if ("@context" in value) return true;
  return typeof value.type === "string" && ("actor" in value || "attributedTo" in value || "object" in value);
}

export function summariseDocument(document: Record<string, unknown>): Record<string, unknown> {
  const reference = (value: unknown): unknown => {
    if (typeof value === "string") return truncate(value);
    if (Array.isArray(value)) return value.length === 1 ? reference(value[0]) : `[${value.length} items]`;
    if (value && typeof value === "object") {
      const { id, type } = value as { id?: unknown; type?: unknown };
      return { id: typeof id === "string" ? truncate(id) : undefined, type: typeof type === "string" ? truncate(type, 64) : undefined };
    }
    return undefined;
  };
  const summary: Record<string, unknown> = {};
  for (const key of ["id", "type", "actor", "attributedTo", "object"]) {
    if (key in document) summary[key] = reference(document[key]);
  }
  summary.omittedKeys = Object.keys(document).filter((key) => !(key in summary)).length;
  return summary;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * A copy of `value` within LOG_LIMITS: strings cut, objects and arrays shortened, deep values
 * named, errors serialised (pino's own serialiser, then bounded), ActivityStreams documents
 * summarised. `budget` is shared by every value of one record.
 */
export function boundLogValue(value: unknown, budget: Budget = newBudget(), depth = 0): unknown {
  switch (typeof value) {
    case "string": {
      if (budget.left <= 0) return TRUNCATED;
      const cut = truncate(value, Math.min(LOG_LIMITS.string, budget.left));
      budget.left -= Math.min(value.length, LOG_LIMITS.string);
      return cut;
    }
    case "number":
    case "boolean":
    case "undefined":
      return value;
    case "bigint":
      return value.toString();
    case "symbol":
    case "function":
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (object instanceof Error) return boundError(object, budget, depth);
  if (object instanceof URL) return boundLogValue(object.href, budget, depth);
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
  if (ArrayBuffer.isView(object)) return `[${object.byteLength} bytes]`;
  if (depth >= LOG_LIMITS.depth || budget.left <= 0) return Array.isArray(object) ? `[${object.length} items]` : "[object]";
  if (Array.isArray(object)) {
    const items = object.slice(0, LOG_LIMITS.items).map((item) => boundLogValue(item, budget, depth + 1));
    if (object.length > LOG_LIMITS.items) items.push(`[+${object.length - LOG_LIMITS.items} items]`);
    return items;
  }
  const record = object as Record<string, unknown>;
  if (isPlainObject(object) && isActivityStreamsDocument(record)) return summariseDocument(record);
  const bounded: Record<string, unknown> = {};
  const keys = Object.keys(record);
  let kept = 0;
  for (const key of keys) {
    if (kept === LOG_LIMITS.keys || budget.left <= 0) {
      bounded[TRUNCATED] = `${keys.length - kept} more keys`;
      break;
    }
    budget.left -= Math.min(key.length, LOG_LIMITS.string);
    bounded[truncate(key, 64)] = boundLogValue(record[key], budget, depth + 1);
    kept++;
  }
  return bounded;
}

function boundError(error: Error, budget: Budget, depth: number): unknown {
  // pino's serialiser: type, message, stack, `cause` chain, then the error's enumerable fields
  // (where libraries put details, e.g. jsonld's `details` quoting a whole document).
  const { stack, message, ...fields } = pino.stdSerializers.err(error) as Record<string, unknown>;
  // This error's own message and frames before those of its causes and details.
  const boundedMessage = boundLogValue(message, budget, depth);
  const frames = typeof stack === "string" ? stackFrames(stack, budget) : undefined;
  const bounded = boundLogValue(fields, budget, depth) as Record<string, unknown>;
  // Same prototype as the error: a serialiser applied after this one (pino-http's `err`) still
  // sees an error of its type, and takes these bounded fields as its own.
  return Object.assign(Object.create(Object.getPrototypeOf(error) as object) as object, bounded, {
    message: boundedMessage,
    stack: frames,
  });
}

/** The frames of a stack (where it failed, in our code or a library's), without the message it starts with. */
function stackFrames(stack: string, budget: Budget): string {
  const start = stack.indexOf("\n    at ");
  const frames = start < 0 ? "" : stack.slice(start + 1);
  const cut = truncate(frames, Math.max(0, budget.stackLeft));
  budget.stackLeft -= frames.length;
  return cut;
}

/**
 * pino `formatters.log`: every value of a record bounded. `req`/`res` are left to pino-http's
 * serialisers (headers and URL, whose size Node's header limit bounds); `streamWrite` below
 * catches what they or anything else still make too long.
 */
export function boundLogRecord(record: Record<string, unknown>): Record<string, unknown> {
  const budget = newBudget();
  const bounded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    bounded[key] =
      (key === "req" || key === "res") && value && typeof value === "object" && !isPlainObject(value)
        ? value
        : boundLogValue(value, budget);
  }
  return bounded;
}

/** pino `hooks.streamWrite`: a line still longer than LOG_LIMITS.line is parsed and written bounded. */
export function boundLogLine(line: string): string {
  if (line.length <= LOG_LIMITS.line) return line;
  try {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const budget = newBudget();
    const bounded: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(parsed)) {
      bounded[key] = key === "msg" && typeof value === "string" ? truncate(value, LOG_LIMITS.message) : boundLogValue(value, budget);
    }
    bounded.truncated = true;
    return `${JSON.stringify(bounded)}\n`;
  } catch {
    return `${JSON.stringify({ msg: truncate(line, LOG_LIMITS.message), truncated: true })}\n`;
  }
}
