import type { InboxListenerSetters } from "@fedify/fedify";
import { Activity, Create, Delete, Undo, Update } from "@fedify/vocab";
import { INBOUND_ACTIVITY_TYPES } from "../src/federation/inbox/activity-types.js";
import { INBOUND_ACTIVITIES, inboundActivityOf } from "../src/federation/inbox/handlers.js";
import type { ContextData, InboxDeps } from "../src/federation/inbox/inbox-context.js";

/**
 * The type → handlers map the inbox wiring (federation.ts) and the inbound worker share. Nothing
 * connects here, but the handlers' modules import the database's, so this lives outside test/unit.
 */

const AS = "https://www.w3.org/ns/activitystreams#";

describe("inbound activity handlers", () => {
  it("has an entry for every inbound type and no other", () => {
    expect(Object.keys(INBOUND_ACTIVITIES).sort()).toEqual([...INBOUND_ACTIVITY_TYPES].sort());
  });

  it.each(INBOUND_ACTIVITY_TYPES)("%s: Fedify's class of that name, a listener and an apply handler", (type) => {
    const entry = INBOUND_ACTIVITIES[type];
    expect(entry.vocab.typeId.href).toBe(`${AS}${type}`);
    expect(entry.vocab.prototype).toBeInstanceOf(Activity);
    expect(typeof entry.apply).toBe("function");
    expect(inboundActivityOf({ type })).toBe(entry);
  });

  it("registers each listener for its class", () => {
    const registered: unknown[] = [];
    const inbox = {
      on(vocab: unknown, listener: unknown) {
        expect(typeof listener).toBe("function");
        registered.push(vocab);
        return inbox;
      },
    } as unknown as InboxListenerSetters<ContextData>;
    for (const entry of Object.values(INBOUND_ACTIVITIES)) entry.listen(inbox, {} as InboxDeps);
    expect(registered).toEqual([Create, Update, Delete, Undo]);
  });

  it("resolves the author of a Create only", () => {
    expect(INBOUND_ACTIVITY_TYPES.filter((type) => INBOUND_ACTIVITIES[type].resolvesAuthor)).toEqual(["Create"]);
  });

  it.each(["Like", "EmojiReact", "Follow", "Announce"])("%s has none", (type) => {
    expect(inboundActivityOf({ type })).toBeUndefined();
  });
});
