export * from "./accounts.js";
export * from "./chats.js";
export * from "./federation.js";
export * from "./media.js";
export * from "./mls.js";
export * from "./notifications.js";
