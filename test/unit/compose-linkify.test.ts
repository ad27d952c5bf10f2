import { composeHtml, firstLinkOf, type MentionTarget, mentionKeysIn } from "../../src/chats/compose.js";
import { Parser } from "../../src/shared/html-parser.js";

/**
 * @mentions and #hashtags in local messages, as Pleroma's chat composition writes them
 * (CommonAPI.post_chat_message → Pleroma.Formatter.linkify): expectations carried over from
 * Pleroma's formatter tests (test/pleroma/formatter_test.exs). Through the API: test/compose-linkify.test.ts.
 */

const BASE = "http://localhost:4001";
const target = (id: string, username: string, url: string): MentionTarget => ({ id, username, url });

describe("hashtags (Pleroma.Formatter.hashtag_handler)", () => {
  it("turns hashtags into links, lower-cased in data-tag and href", () => {
    expect(composeHtml("I love #cofe and #2hu", { publicUrl: BASE })).toBe(
      `I love <a class="hashtag" data-tag="cofe" href="${BASE}/tag/cofe">#cofe</a> and ` +
        `<a class="hashtag" data-tag="2hu" href="${BASE}/tag/2hu">#2hu</a>`,
    );
    expect(composeHtml("a #Test.", { publicUrl: BASE })).toBe(`a <a class="hashtag" data-tag="test" href="${BASE}/tag/test">#Test</a>.`);
  });

  it("leaves what follows the tag out of it", () => {
    expect(composeHtml("#fact_3: pleroma does what mastodon't", { publicUrl: BASE })).toBe(
      `<a class="hashtag" data-tag="fact_3" href="${BASE}/tag/fact_3">#fact_3</a>: pleroma does what mastodon&#39;t`,
    );
  });

  it("takes letters of any script, not digits alone", () => {
    const html = composeHtml("What about #漢字? And #は｡ not #123", { publicUrl: BASE });
    expect(html).toContain(`data-tag="漢字"`);
    expect(html).toContain(`data-tag="は" href="${BASE}/tag/は">#は</a>｡`);
    expect(html).toContain(" not #123");
  });

  it("does not link a # inside a URL or in the middle of a word", () => {
    const html = composeHtml("C# and https://example.com/page#anchor", { publicUrl: BASE });
    expect(html).toBe('C# and <a href="https://example.com/page#anchor" rel="ugc">https://example.com/page#anchor</a>');
  });
});

describe("mentions (Pleroma.Formatter.mention_handler)", () => {
  const gsimg = target("id-gsimg", "gsimg", "https://local.example/users/gsimg");
  const archa = target("id-archa", "archa_eme_", "https://archeme/@archa_eme_");
  const remote = target("id-archaeme", "archaeme", "https://archae.me/users/archaeme");
  const mentions = new Map([
    ["gsimg", gsimg],
    ["archa_eme_", archa],
    ["archaeme@archae.me", remote],
    ["o", target("id-o", "o", "https://local.example/users/o")],
  ]);
  const hcard = (t: MentionTarget) =>
    `<span class="h-card"><a class="u-url mention" data-user="${t.id}" href="${t.url}" rel="ugc">@<span>${t.username}</span></a></span>`;

  it("links known accounts with the local part of the name; unknown ones stay text", () => {
    const text = "@gsimg According to @archa_eme_, that is @daggsy. Also hello @archaeme@archae.me";
    expect(composeHtml(text, { mentions })).toBe(
      `${hcard(gsimg)} According to ${hcard(archa)}, that is @daggsy. Also hello ${hcard(remote)}`,
    );
  });

  it("finds the names to look up, once each, and none in URLs", () => {
    expect(mentionKeysIn("@@gsimg According to @archaeme, @Daggsy. @archaeme@archae.me @o @@@jimm @o https://example.com/@lain")).toEqual([
      "archaeme",
      "daggsy",
      "archaeme@archae.me",
      "o",
    ]);
  });

  it("links single-character names, and a mention before D:<", () => {
    expect(composeHtml("@o hi", { mentions })).toBe(`${hcard(mentions.get("o")!)} hi`);
    expect(composeHtml("@a hi", { mentions })).toBe("@a hi");
    expect(composeHtml("@archaeme@archae.me D:<", { mentions })).toBe(`${hcard(remote)} D:&lt;`);
  });

  it("keeps a URL that contains a mention a plain link", () => {
    expect(composeHtml("https://example.com/@gsimg", { mentions })).toBe(
      '<a href="https://example.com/@gsimg" rel="ugc">https://example.com/@gsimg</a>',
    );
  });

  it("matches names case-insensitively, with ('s), parentheses and across lines", () => {
    expect(composeHtml("(@GSIMG) @gsimg's\n@o", { mentions })).toBe(
      `(${hcard(gsimg)}) ${hcard(gsimg)}&#39;s<br/>${hcard(mentions.get("o")!)}`,
    );
  });
});

/** Every element and attribute of an HTML fragment: what a client's renderer would act on. */
function elementsOf(html: string): { name: string; attribs: Record<string, string> }[] {
  const found: { name: string; attribs: Record<string, string> }[] = [];
  const parser = new Parser({ onopentag: (name, attribs) => found.push({ name, attribs }) });
  parser.write(html);
  parser.end();
  return found;
}

describe("XSS through a mention or a hashtag stays inert", () => {
  it("escapes what surrounds or follows them", () => {
    const html = composeHtml(
      `#tag"onmouseover=alert(1) @bob"><script>alert(1)</script> #<img/src=x/onerror=alert(1)> @bob<svg/onload=alert(1)>`,
      {
        publicUrl: BASE,
        mentions: new Map([["bob", target("b", "bob", "https://local.example/users/bob")]]),
      },
    );
    const elements = elementsOf(html);
    expect(elements.map((e) => e.name).sort()).toEqual(["a", "a", "span", "span"]);
    for (const { attribs } of elements) {
      expect(Object.keys(attribs).every((name) => ["class", "data-tag", "data-user", "href", "rel"].includes(name))).toBe(true);
    }
    expect(html).not.toMatch(/<(script|img|svg)/i);
  });

  it("escapes a stored account's URL and name", () => {
    const evil = target('x" onmouseover="alert(1)', "<b>bob</b>", 'https://x.example/"><script>alert(1)</script>');
    const html = composeHtml("@bob", { mentions: new Map([["bob", evil]]) });
    const elements = elementsOf(html);
    expect(elements.map((e) => e.name)).toEqual(["span", "a", "span"]);
    expect(elements[1].attribs).toEqual({
      class: "u-url mention",
      "data-user": 'x" onmouseover="alert(1)',
      href: 'https://x.example/"><script>alert(1)</script>',
      rel: "ugc",
    });
    expect(html).toContain("@<span>&lt;b&gt;bob&lt;/b&gt;</span>");
  });
});

describe("the link a preview card is for (Pleroma's extract_first_external_url_from_object)", () => {
  it("skips mentions, hashtags and attachments, and non-http links", () => {
    const html =
      '<span class="h-card"><a class="u-url mention" href="https://a.example/users/bob">@bob</a></span> ' +
      '<a class="hashtag" href="https://a.example/tag/x">#x</a> <a rel="tag" href="https://a.example/tags/y">#y</a> ' +
      '<a href="mailto:x@a.example">mail</a> <a href="https://news.example/story?id=1&amp;b=2">story</a> <a href="https://later.example">later</a>';
    expect(firstLinkOf(html)).toBe("https://news.example/story?id=1&b=2");
  });

  it("is null without a link, and for links with credentials", () => {
    expect(firstLinkOf("no link here")).toBeNull();
    expect(firstLinkOf(null)).toBeNull();
    expect(firstLinkOf('<a href="https://user:pw@a.example/">x</a>')).toBeNull();
  });
});
