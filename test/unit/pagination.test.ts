import type { Request, Response } from "express";
import { DECIMAL_ID } from "../../src/http/ids.js";
import { DEFAULT_LIMIT, MAX_LIMIT, pageOf, pageQuery, setLinkHeader } from "../../src/http/pagination.js";

/** Keyset pagination parameters and the Link header (src/http/pagination.ts), without a server. */

const LEGACY = "01j9zzzzzzzzzzzzzzzzzzzzzz";
const CURRENT = "a1j9zzzzzzzzzzzzzzzzzzzzzz";

describe("pageQuery", () => {
  it("defaults the limit, clamps it at MAX_LIMIT, refuses below 1 and non-integers", () => {
    expect(pageQuery.parse({})).toEqual({ limit: DEFAULT_LIMIT });
    expect(pageQuery.parse({ limit: "5" }).limit).toBe(5);
    expect(pageQuery.parse({ limit: "400" }).limit).toBe(MAX_LIMIT);
    for (const limit of ["0", "-3", "2.5", "many"]) expect(pageQuery.safeParse({ limit }).success).toBe(false);
  });

  it("canonicalises cursors, keeps other strings, refuses empty ones", () => {
    const query = pageQuery.parse({ max_id: LEGACY, min_id: `1796276778709123_${LEGACY}`, since_id: "1796276778709" });
    expect(pageOf(query)).toEqual({ maxId: CURRENT, minId: `1796276778709123_${CURRENT}`, sinceId: "1796276778709", limit: DEFAULT_LIMIT });
    expect(pageQuery.safeParse({ max_id: "" }).success).toBe(false);
  });
});

describe("DECIMAL_ID", () => {
  it("is up to 20 digits, nothing else", () => {
    expect(DECIMAL_ID.test("1796276778709")).toBe(true);
    expect(DECIMAL_ID.test("9".repeat(20))).toBe(true);
    for (const bad of ["9".repeat(21), "", "12a", CURRENT]) expect(DECIMAL_ID.test(bad)).toBe(false);
  });
});

describe("setLinkHeader", () => {
  /** What setLinkHeader reads of a request and writes on a response. */
  function link(path: string, query: Record<string, string | string[]>, items: { id: string }[], cursors?: string[]) {
    const set: Record<string, string> = {};
    const res = { set: (name: string, value: string) => (set[name] = value) } as unknown as Response;
    setLinkHeader({ path, query } as unknown as Request, res, "https://chat.example", items, cursors);
    return set.Link;
  }

  it("links next to the last item (max_id) and prev to the first (min_id), naming the limit in force", () => {
    expect(link("/api/v1/notifications", {}, [{ id: "c" }, { id: "b" }, { id: "a" }])).toBe(
      '<https://chat.example/api/v1/notifications?limit=20&max_id=a>; rel="next", ' +
        '<https://chat.example/api/v1/notifications?limit=20&min_id=c>; rel="prev"',
    );
  });

  it("keeps other parameters (repeated ones too) and drops the request's own cursors", () => {
    const header = link("/api/v1/x", { limit: "5", max_id: "zz", since_id: "yy", "types[]": ["a", "b"] }, [{ id: "c" }, { id: "b" }]);
    const [next, prev] = [...header.matchAll(/<([^>]+)>/g)].map((m) => new URL(m[1]));
    expect([...next.searchParams]).toEqual([
      ["limit", "5"],
      ["types[]", "a"],
      ["types[]", "b"],
      ["max_id", "b"],
    ]);
    expect([...prev.searchParams]).toEqual([
      ["limit", "5"],
      ["types[]", "a"],
      ["types[]", "b"],
      ["min_id", "c"],
    ]);
  });

  it("uses the given cursors when they are not the ids (v2 chats), and sets nothing for an empty page", () => {
    expect(link("/api/v2/pleroma/chats", {}, [{ id: "c" }, { id: "a" }], ["2_c", "1_a"])).toContain("max_id=1_a");
    expect(link("/api/v1/x", {}, [])).toBeUndefined();
  });
});
