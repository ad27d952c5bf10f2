import { linkPathsOf, linksOf } from "../helpers/link-header.js";

/** The tests' reader of Link headers (test/helpers/link-header.ts): a wrong reader would hide a pagination bug. */

const HEADER =
  '<https://chat.example/api/v1/notifications?limit=20&max_id=a1>; rel="next", ' +
  '<https://chat.example/api/v1/notifications?limit=20&min_id=b2>; rel="prev"';

it("reads next and prev as full URLs, and as paths with their query", () => {
  expect(linksOf(HEADER)).toEqual({
    next: "https://chat.example/api/v1/notifications?limit=20&max_id=a1",
    prev: "https://chat.example/api/v1/notifications?limit=20&min_id=b2",
  });
  expect(linkPathsOf(HEADER)).toEqual({
    next: "/api/v1/notifications?limit=20&max_id=a1",
    prev: "/api/v1/notifications?limit=20&min_id=b2",
  });
});

it("reads any spacing and an unquoted rel; a missing header is no link", () => {
  expect(linksOf("<https://a.example/x?max_id=1>;rel=next")).toEqual({ next: "https://a.example/x?max_id=1" });
  expect(linksOf(null)).toEqual({});
  expect(linksOf("")).toEqual({});
  expect(linkPathsOf(undefined)).toEqual({});
});

it("keeps a comma inside a URL", () => {
  expect(linksOf('<https://a.example/x?types[]=a,b&max_id=1>; rel="next"').next).toBe("https://a.example/x?types[]=a,b&max_id=1");
});
