/**
 * What a service refuses, said in the domain's words: which kind of refusal, the reason code the
 * client is told, and its details (the field named, a limit…). Services throw it and know nothing
 * of HTTP; src/http/errors.ts turns the kind into a status, in one place, for every route.
 */

export type DomainErrorKind =
  /** Nothing by that id (or not visible to the caller). */
  | "not_found"
  /** The request's content is unusable as given: a field (named in the details) or nothing to send. */
  | "invalid"
  /** Well-formed, but refused by a rule of the domain (too long, blocked, a recipient that cannot take it). */
  | "unprocessable"
  /** The caller may not do this to that thing (another's message). */
  | "forbidden"
  /** A name already taken. */
  | "conflict"
  /** Larger than a limit that waiting would not lift. */
  | "too_large"
  /** A limit that lifts with time: `retryAfter` says when. */
  | "rate_limited";

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    /** The reason code the client reads (`"error"` of the JSON answer). */
    readonly code: string,
    /** Told to the client beside the code, in this order. */
    readonly details: Record<string, unknown> = {},
    /** Seconds until a `rate_limited` refusal lifts. */
    readonly retryAfter?: number,
  ) {
    super(code);
    this.name = "DomainError";
  }
}

export const notFoundError = () => new DomainError("not_found", "not_found");
/** A field of the input that cannot be used, and why. */
export const invalidInput = (field: string, message: string) => new DomainError("invalid", "invalid_request", { field, message });
