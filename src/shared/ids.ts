import { monotonicFactory, ulid as ulidAt } from "ulid";

const ulid = monotonicFactory();

/**
 * Ids are ULIDs in lower case whose first character, always '0'..'7' in a ULID (the top 3 bits of
 * the 48-bit millisecond time), is written 'a'..'h' instead. The mapping keeps the order, so string
 * order is still creation order; and an id starting with a letter sorts above every decimal string
 * byte-wise, where a plain ULID ('01…') sorts below `Date.now()` strings: Pleroma-FE keeps the
 * largest message id by string comparison and uses `Date.now()` as the temporary id of a message
 * being sent (docs/decisions/0001-client-orderable-ids.md).
 */
const ALPHABET = "0-9a-hjkmnp-tv-z";
const CURRENT = new RegExp(`^[a-h][${ALPHABET}]{25}$`);
/** An id issued before the letter form (a plain lower-case ULID): rows were renamed by migration 0007. */
const LEGACY = new RegExp(`^[0-7][${ALPHABET}]{25}$`);
const LETTER_OF_DIGIT = "abcdefgh";

/** A new id: 26 characters, first one 'a'..'h', increasing with time (also within one millisecond). */
export function newId(): string {
  const id = ulid().toLowerCase();
  return LETTER_OF_DIGIT[Number(id[0])] + id.slice(1);
}

/**
 * An id whose time part is `time` (not monotonic): for a row that takes the place of an older one,
 * such as a restored message, so that it sorts where the original stood.
 */
export function idAt(time: Date): string {
  return canonicalId(ulidAt(time.getTime()).toLowerCase()) as string;
}

/**
 * The id of the same row in today's form: a legacy id (from before migration 0007, still held by
 * clients and in federated URLs) becomes its letter form, a current id stays; anything else, which
 * can name no row, is undefined.
 */
export function canonicalId(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  if (CURRENT.test(value)) return value;
  if (LEGACY.test(value)) return LETTER_OF_DIGIT[Number(value[0])] + value.slice(1);
  return undefined;
}

/** Accepts only strings shaped like our ids (either form), so a bad id is a 404, never a database error. */
export function isId(value: unknown): value is string {
  return canonicalId(value) !== undefined;
}
