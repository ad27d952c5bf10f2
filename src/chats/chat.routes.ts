import type { RequestHandler, Response } from "express";
import multer from "multer";
import { z } from "zod";
import type { AccountRow } from "../accounts/account.view.js";
import { findAccount, unreadChatCount } from "../accounts/account.view.js";
import type { Executor } from "../db/database.js";
import { ChatEntity, ChatMessageEntity, ErrorEntity, errors } from "../http/entities.js";
import { ApiError, invalidField, notFound } from "../http/errors.js";
import { apiId, DECIMAL_ID } from "../http/ids.js";
import { pageOf, pageQuery, setLinkHeader } from "../http/pagination.js";
import { booleanLike, defineRoute } from "../http/route.js";
import { linkCardRequests } from "../link-cards/link-cards.js";
import { isId } from "../shared/ids.js";
import { hideChat, markChatRead, markMessageRead, openChat } from "./chat.service.js";
import { findChat, listChatPage, listChats, listMessages, renderChat, showChat } from "./chat.view.js";
import { setChatPinned } from "./chat-pins.service.js";
import { deleteMessage, editMessage, postMessage } from "./local-message.service.js";

const tags = ["chats"];
const chatParams = z.object({ id: apiId });
const messageParams = z.object({ id: apiId, message_id: apiId });
const withMuted = z.object({ with_muted: booleanLike.default(false) });
const listFilters = withMuted.extend({
  pinned: booleanLike.optional().meta({ description: "true: only pinned chats; false: only the others (Pleroma 2.10)" }),
});
/** Form and multipart bodies carry only fields here; files arrive through /api/v1/media. */
const formFields = multer({ limits: { fields: 20, fieldSize: 1_048_576, files: 0 } }).none();

/** A chat of the requesting account; any other id (foreign, unknown, malformed) is a 404. */
async function ownChat(db: Executor, account: AccountRow, chatId: string) {
  const row = isId(chatId) ? await findChat(db, account.id, chatId) : undefined;
  if (!row) throw notFound();
  return row;
}

const ownMessageId = (id: string) => {
  if (!isId(id)) throw notFound();
  return id;
};

/** A form names the array `media_ids[]`: the urlencoded parser keeps the brackets (multer drops them). */
const formMediaIds: RequestHandler = (req, _res, next) => {
  const body = req.body as Record<string, unknown> | undefined;
  if (body && "media_ids[]" in body) {
    body.media_ids = [body.media_ids ?? [], body["media_ids[]"]].flat();
    delete body["media_ids[]"];
  }
  next();
};
const mediaIdList = z.preprocess((v) => (typeof v === "string" ? [v] : v), z.array(apiId));

/**
 * The one attachment of a message: Pleroma takes `media_id`, Soapbox sends `media_ids` (with the same
 * id in `media_id` when there is one). A second attachment is refused, never dropped.
 */
function attachmentOf(body: { media_id?: string | null; media_ids?: string[] | null }) {
  const ids = new Set(body.media_ids ?? []);
  if ((body.media_ids?.length ?? 0) > 1 || (body.media_id && ids.size === 1 && !ids.has(body.media_id))) {
    throw new ApiError(422, "too_many_attachments", { field: "media_ids", limit: 1 });
  }
  if (body.media_id) return { mediaId: body.media_id, mediaField: "media_id" };
  const [only] = ids;
  return only === undefined ? {} : { mediaId: only, mediaField: "media_ids" };
}

/**
 * Truth Social's `X-Unread-Messages-Count`: the unread total of the whole list (as
 * `pleroma.unread_chat_count`). Soapbox's useChats sets its unread badge from this header on every
 * page it loads, else from the sum of that page alone: the empty page after the last `next` link
 * (or any second page) would otherwise reset the badge to 0 or to that page's share.
 */
async function setUnreadHeader(db: Executor, accountId: string, res: Response) {
  res.setHeader("X-Unread-Messages-Count", String(await unreadChatCount(db, accountId)));
}

export const chatRoutes = [
  defineRoute({
    method: "post",
    path: "/api/v1/pleroma/chats/by-account-id/:account_id",
    summary: "Get or create the chat with an account",
    tags,
    auth: "user",
    params: z.object({ account_id: apiId }),
    responses: { 200: { description: "Chat", schema: ChatEntity }, ...errors },
    async handle({ deps, account, params }) {
      const recipient = isId(params.account_id) ? await findAccount(deps.db, params.account_id) : undefined;
      if (!recipient) throw notFound();
      const chat = await openChat(deps.db, account.id, recipient.id);
      return showChat(deps.db, account.id, chat.id, deps.config.publicUrl);
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/chats",
    summary: "All chats, most recent first (unpaginated, one query)",
    tags,
    auth: "user",
    query: listFilters,
    responses: { 200: { description: "Chats, with X-Unread-Messages-Count", schema: z.array(ChatEntity) }, ...errors },
    async handle({ deps, account, query, res }) {
      await setUnreadHeader(deps.db, account.id, res);
      return listChats(deps.db, account.id, { withMuted: query.with_muted, pinned: query.pinned }, deps.config.publicUrl);
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v2/pleroma/chats",
    summary: "Chats, most recent first, paginated by (updated_at, id)",
    tags,
    auth: "user",
    query: pageQuery.extend(listFilters.shape),
    responses: {
      200: { description: "Chats, with a Link header and X-Unread-Messages-Count", schema: z.array(ChatEntity) },
      ...errors,
    },
    async handle({ deps, account, query, req, res }) {
      await setUnreadHeader(deps.db, account.id, res);
      const page = await listChatPage(
        deps.db,
        account.id,
        { withMuted: query.with_muted, pinned: query.pinned, ...pageOf(query) },
        deps.config.publicUrl,
      );
      setLinkHeader(req, res, deps.config.publicUrl, page.chats, page.cursors);
      return page.chats;
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/chats/:id",
    summary: "A chat",
    tags,
    auth: "user",
    params: chatParams,
    responses: { 200: { description: "Chat", schema: ChatEntity }, ...errors },
    handle: async ({ deps, account, params }) => renderChat(await ownChat(deps.db, account, params.id), deps.config.publicUrl),
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/pleroma/chats/:id",
    summary: "Hide a chat until a new message arrives",
    tags,
    auth: "user",
    params: chatParams,
    responses: { 200: { description: "The hidden chat", schema: ChatEntity }, ...errors },
    async handle({ deps, account, params }) {
      const row = await ownChat(deps.db, account, params.id);
      await hideChat(deps.db, row.chat);
      return renderChat(row, deps.config.publicUrl);
    },
  }),
  ...(["pin", "unpin"] as const).map((action) =>
    defineRoute({
      method: "post",
      path: `/api/v1/pleroma/chats/:id/${action}`,
      summary: action === "pin" ? "Pin a chat (Pleroma 2.10; list pinned chats with `?pinned=true`)" : "Unpin a chat",
      tags,
      auth: "user",
      params: chatParams,
      responses: { 200: { description: "Chat", schema: ChatEntity }, ...errors },
      async handle({ deps, account, params }) {
        const { chat } = await ownChat(deps.db, account, params.id);
        await setChatPinned(deps.db, chat, action === "pin");
        return showChat(deps.db, account.id, chat.id, deps.config.publicUrl);
      },
    }),
  ),
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/chats/:id/messages",
    summary: "Messages of a chat, newest first",
    tags,
    auth: "user",
    params: chatParams,
    query: pageQuery,
    responses: { 200: { description: "Messages, with a Link header", schema: z.array(ChatMessageEntity) }, ...errors },
    async handle({ deps, account, params, query, req, res }) {
      const { chat } = await ownChat(deps.db, account, params.id);
      const list = await listMessages(deps.db, chat, pageOf(query), deps.config.publicUrl);
      setLinkHeader(req, res, deps.config.publicUrl, list);
      return list;
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/pleroma/chats/:id/messages",
    summary: "Send a message (JSON, form or multipart body)",
    tags,
    auth: "user",
    before: [formFields, formMediaIds],
    params: chatParams,
    headers: z.object({ "idempotency-key": z.string().optional() }),
    // null is "absent" (clients send `"content": null` with a media_id).
    body: z.object({
      content: z.string().nullish(),
      media_id: apiId.nullish(),
      media_ids: mediaIdList.nullish().meta({
        description: "Soapbox's form of `media_id`: at most one id (`422 too_many_attachments` for more); form field `media_ids[]`",
      }),
    }),
    responses: { 200: { description: "The message", schema: ChatMessageEntity }, ...errors },
    async handle({ deps, account, params, body, req, res }) {
      const row = await ownChat(deps.db, account, params.id);
      const idempotencyKey = req.get("idempotency-key")?.trim() || undefined;
      if (idempotencyKey && idempotencyKey.length > 256) throw invalidField("Idempotency-Key", "at most 256 characters");
      const input = { content: body.content ?? undefined, ...attachmentOf(body), idempotencyKey };
      const result = await postMessage(deps.db, deps.config, account, row.recipient, input, deps.queues.deliver, linkCardRequests(deps));
      if (idempotencyKey) res.set("Idempotency-Key", idempotencyKey);
      if (result.replayed) res.set("Idempotent-Replayed", "true");
      res.status(result.status);
      return result.body;
    },
  }),
  defineRoute({
    method: "put",
    path: "/api/v1/pleroma/chats/:id/messages/:message_id",
    summary: "Edit your own message",
    tags,
    auth: "user",
    before: [formFields],
    params: messageParams,
    body: z.object({ content: z.string().nullish() }),
    responses: {
      200: { description: "The edited message", schema: ChatMessageEntity },
      403: { description: "Not the author (`not_author`)", schema: ErrorEntity },
      ...errors,
    },
    async handle({ deps, account, params, body }) {
      const { chat } = await ownChat(deps.db, account, params.id);
      return editMessage(
        deps.db,
        deps.config,
        chat,
        ownMessageId(params.message_id),
        body.content ?? "",
        deps.queues.deliver,
        linkCardRequests(deps),
      );
    },
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/pleroma/chats/:id/messages/:message_id",
    summary: "Delete your message for everyone, or hide another's for you",
    tags,
    auth: "user",
    params: messageParams,
    responses: { 200: { description: "The message as it was", schema: ChatMessageEntity }, ...errors },
    async handle({ deps, account, params }) {
      const { chat } = await ownChat(deps.db, account, params.id);
      return deleteMessage(deps.db, deps.config.publicUrl, chat, ownMessageId(params.message_id), { queue: deps.queues.deliver });
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/pleroma/chats/:id/read",
    summary: "Mark messages read up to last_read_id (all when absent)",
    tags,
    auth: "user",
    before: [formFields],
    params: chatParams,
    body: z.object({ last_read_id: apiId.optional() }),
    responses: { 200: { description: "Chat", schema: ChatEntity }, ...errors },
    async handle({ deps, account, params, body }) {
      const { chat } = await ownChat(deps.db, account, params.id);
      const lastReadId = body.last_read_id;
      if (lastReadId !== undefined && !isId(lastReadId)) {
        // A decimal string (Pleroma-FE's temporary id of a message sent into an empty chat, kept as
        // its largest id) sorts below every id: nothing is read up to it, as Pleroma answers.
        if (!DECIMAL_ID.test(lastReadId)) throw notFound();
      } else {
        await markChatRead(deps.db, chat, lastReadId);
      }
      return showChat(deps.db, account.id, chat.id, deps.config.publicUrl);
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/pleroma/chats/:id/messages/:message_id/read",
    summary: "Mark one message read",
    tags,
    auth: "user",
    params: messageParams,
    responses: { 200: { description: "The message", schema: ChatMessageEntity }, ...errors },
    async handle({ deps, account, params }) {
      const { chat } = await ownChat(deps.db, account, params.id);
      return markMessageRead(deps.db, deps.config.publicUrl, chat, ownMessageId(params.message_id));
    },
  }),
];
