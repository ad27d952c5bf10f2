import { INBOUND_ACTIVITY_TYPES, inboundTypeOf } from "../../src/federation/inbox/activity-types.js";

/**
 * Which type an inbound activity is handled as (the listeners and apply handlers of each type:
 * src/federation/inbox/handlers.ts, checked in test/inbox-handlers.test.ts).
 */

describe("inbound activity types", () => {
  it("are the types the inbox listeners store", () => {
    expect([...INBOUND_ACTIVITY_TYPES]).toEqual(["Create", "Update", "Delete", "Undo"]);
  });

  it.each(INBOUND_ACTIVITY_TYPES)("%s is handled as itself", (type) => {
    expect(inboundTypeOf({ type })).toBe(type);
    expect(inboundTypeOf({ type: [type] })).toBe(type);
    expect(inboundTypeOf({ type: ["https://example.com/ns#Extra", type] })).toBe(type);
  });

  it.each([
    ["Like", { type: "Like" }],
    ["EmojiReact", { type: "EmojiReact" }],
    ["Follow", { type: "Follow" }],
    ["a bare object", { type: "ChatMessage" }],
    ["no type", {}],
    ["a type that is not a string", { type: 3 }],
    ["a namespaced spelling", { type: "as:Create" }],
    ["another case", { type: "create" }],
  ])("%s has no handler", (_name, activity) => {
    expect(inboundTypeOf(activity)).toBeUndefined();
  });

  it("takes the first of the list when a type array names several", () => {
    expect(inboundTypeOf({ type: ["Update", "Create"] })).toBe("Create");
    expect(inboundTypeOf({ type: ["Undo", "Delete"] })).toBe("Delete");
    expect(inboundTypeOf({ type: ["Like", "Undo"] })).toBe("Undo");
  });
});
