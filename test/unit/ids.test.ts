import { monotonicFactory, ulid } from "ulid";
import { canonicalCursor } from "../../src/http/ids.js";
import { canonicalId, isId, newId } from "../../src/shared/ids.js";

/**
 * Ids clients can order (src/shared/ids.ts): fixed length, increasing with time, above every
 * decimal string of up to 16 digits, byte-wise and by (length, string). Pleroma-FE's loop over
 * these ids, against an instance, is in test/ids.test.ts.
 */

const SHAPE = /^[a-h][0-9a-hjkmnp-tv-z]{25}$/;
/** Byte-wise order, as a C-collated database or a byte comparison sees it. */
const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
/** Order by (length, string), as a client that compares numeric ids as numbers would. */
const byLength = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

describe("id format", () => {
  const ids = Array.from({ length: 20_000 }, () => newId());

  it("is 26 characters of the ULID alphabet, first one a letter a–h", () => {
    expect(ids.filter((id) => !SHAPE.test(id))).toEqual([]);
  });

  it("increases strictly, also among ids of the same millisecond", () => {
    const unordered = ids.filter((id, i) => i > 0 && !(id > ids[i - 1] && bytewise(id, ids[i - 1]) === 1));
    expect(unordered).toEqual([]);
    // The first 10 characters are the time: 20,000 ids in a loop share milliseconds.
    const times = new Set(ids.map((id) => id.slice(0, 10)));
    expect(times.size).toBeLessThan(ids.length / 2);
  });

  it("increases with time", async () => {
    const first = newId();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = newId();
    expect(later.slice(0, 10) > first.slice(0, 10)).toBe(true);
  });

  it("sorts above every decimal string of up to 16 digits, byte-wise and by (length, string)", () => {
    const decimals = ["0", "9", "10", "1796276778709", String(Date.now()), String(Date.now() * 1000), "9".repeat(15), "9999999999999999"];
    for (let digits = 1; digits <= 16; digits++) decimals.push("9".repeat(digits), "1".padEnd(digits, "0"));
    for (const id of [ids[0], ids[ids.length - 1], newId()]) {
      for (const decimal of decimals) {
        expect(id > decimal).toBe(true);
        expect(bytewise(id, decimal)).toBe(1);
        expect(byLength(id, decimal)).toBeGreaterThan(0);
      }
    }
    // What a plain ULID did not do (the reason for the letter form).
    expect(ulid().toLowerCase() < String(Date.now())).toBe(true);
  });
});

describe("canonicalId", () => {
  it("maps a legacy id (plain lower-case ULID) to its letter form, keeping order", () => {
    expect(canonicalId("01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe("a1j9zzzzzzzzzzzzzzzzzzzzzz");
    expect(canonicalId("7zzzzzzzzzzzzzzzzzzzzzzzzz")).toBe("hzzzzzzzzzzzzzzzzzzzzzzzzz");
    const legacyUlid = monotonicFactory();
    const legacy = Array.from({ length: 1000 }, () => legacyUlid().toLowerCase());
    const mapped = legacy.map((id) => canonicalId(id)!);
    expect(mapped.filter((id, i) => i > 0 && !(id > mapped[i - 1]))).toEqual([]);
    // A legacy id made before a new one is below it once canonical, as it was in time.
    expect(mapped[mapped.length - 1] < newId()).toBe(true);
  });

  it("keeps a current id, and refuses anything else", () => {
    const id = newId();
    expect(canonicalId(id)).toBe(id);
    expect(canonicalId(canonicalId("01j9zzzzzzzzzzzzzzzzzzzzzz"))).toBe("a1j9zzzzzzzzzzzzzzzzzzzzzz");
    for (const bad of [
      "",
      "1796276778709",
      id.toUpperCase(),
      id.slice(1),
      `${id}0`,
      `8${id.slice(1)}`,
      `i${id.slice(1)}`,
      `${id.slice(0, 25)}u`,
      undefined,
      42,
    ]) {
      expect(canonicalId(bad)).toBeUndefined();
      expect(isId(bad)).toBe(false);
    }
    expect(isId("01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe(true);
    expect(isId(id)).toBe(true);
  });

  it("canonicalises cursors: ids, v2 chat sort keys; leaves anything else as given", () => {
    expect(canonicalCursor("01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe("a1j9zzzzzzzzzzzzzzzzzzzzzz");
    expect(canonicalCursor("1796276778709123_01j9zzzzzzzzzzzzzzzzzzzzzz")).toBe("1796276778709123_a1j9zzzzzzzzzzzzzzzzzzzzzz");
    for (const kept of ["1796276778709", "a1j9zzzzzzzzzzzzzzzzzzzzzz", "1796276778709123_a1j9zzzzzzzzzzzzzzzzzzzzzz", "nonsense"]) {
      expect(canonicalCursor(kept)).toBe(kept);
    }
  });
});
