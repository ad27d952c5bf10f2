import { composeHtml, mentionKey, previewableUrl, sanitizeRemoteHtml, shortcodesIn } from "../../src/chats/compose.js";
import { isId, newId } from "../../src/shared/ids.js";

describe("local compose (Pleroma's CommonAPI rules)", () => {
  it("escapes HTML", () => {
    expect(composeHtml(`<script>alert("x")</script> & 'q'`)).toBe("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;");
  });

  it("turns newlines into <br/>", () => {
    expect(composeHtml("uguu\nuguuu\r\nend")).toBe("uguu<br/>uguuu<br/>end");
  });

  it("links http(s) URLs with rel=ugc and escapes them", () => {
    expect(composeHtml("see https://example.com/a?b=1&c=2 now")).toBe(
      'see <a href="https://example.com/a?b=1&amp;c=2" rel="ugc">https://example.com/a?b=1&amp;c=2</a> now',
    );
  });

  it("does not link e-mail addresses or javascript: text", () => {
    expect(composeHtml("mail a@b.co or javascript:alert(1)")).not.toContain("<a");
  });

  it("keeps :shortcode: text and lists the shortcodes once", () => {
    expect(composeHtml("hi :blob: :blob:")).toBe("hi :blob: :blob:");
    expect(shortcodesIn("hi :blob: :cat_2: :blob: : x:")).toEqual(["blob", "cat_2"]);
  });
});

describe("lookup keys and preview links", () => {
  it("keys a mention by lower-case name, with the host when there is one", () => {
    expect(mentionKey("Bob")).toBe("bob");
    expect(mentionKey("Bob", "Remote.Example")).toBe("bob@remote.example");
  });

  it("previews http(s) URLs without credentials, normalised, up to 2048 characters", () => {
    expect(previewableUrl("HTTPS://News.Example/a b")).toBe("https://news.example/a%20b");
    expect(previewableUrl(`https://a.example/${"x".repeat(2_100)}`)).toBeNull();
    for (const bad of [undefined, "", "not a url", "ftp://a.example/f", "javascript:alert(1)", "https://u:p@a.example/"]) {
      expect(previewableUrl(bad)).toBeNull();
    }
  });
});

describe("remote HTML sanitizing", () => {
  it("drops scripts with their text, and event attributes", () => {
    const clean = sanitizeRemoteHtml(`<p onclick="x()">hi<script>alert(1)</script></p><img src=x onerror=alert(1)>`);
    expect(clean).toBe("<p>hi</p>");
  });

  it("keeps mentions, h-card spans and links; drops images, emoji ones too (emoji travel as tags)", () => {
    const kept =
      '<span class="h-card"><a class="u-url mention" href="https://a.example/users/bob">@bob</a></span> :e: <a href="https://x.example">x</a>';
    expect(sanitizeRemoteHtml(kept)).toBe(kept);
    expect(sanitizeRemoteHtml('a <img class="emoji" src="http://127.0.0.1:9/e.png" alt=":e:"> b')).toBe("a  b");
  });

  it("escapes quotes in text as local messages do", () => {
    expect(sanitizeRemoteHtml(`<p>:x" onerror="alert(1)" y=": it's &quot;q&quot; a < b</p>`)).toBe(
      "<p>:x&quot; onerror=&quot;alert(1)&quot; y=&quot;: it&#39;s &quot;q&quot; a &lt; b</p>",
    );
  });

  it("removes javascript: links and non-emoji images", () => {
    expect(sanitizeRemoteHtml('<a href="javascript:alert(1)">x</a><img src="https://t.example/p.png">')).toBe("<a>x</a>");
  });
});

describe("ids", () => {
  it("sort by creation", () => {
    const ids = Array.from({ length: 1000 }, () => newId());
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every(isId)).toBe(true);
    expect(isId("../../etc")).toBe(false);
  });
});
