import { z } from "zod";
import { findAccount, renderAccount } from "../accounts/account.view.js";
import type { Executor } from "../db/database.js";
import { AccountEntity, ChatMessageEntity, errors } from "../http/entities.js";
import { notFound } from "../http/errors.js";
import { pageOf, pageQuery, setLinkHeader } from "../http/pagination.js";
import { defineRoute } from "../http/route.js";
import { isId } from "../shared/ids.js";
import { deleteMessage } from "./chat.service.js";
import { findAnyChat, listMessages, renderChat } from "./chat.view.js";

/** Pleroma's admin chat moderation: read any chat, delete any message (for everyone). */

const tags = ["admin"];
const AdminChatEntity = z
  .object({
    id: z.string(),
    sender: AccountEntity,
    receiver: AccountEntity,
    unread: z.number().int(),
    last_message: ChatMessageEntity.nullable(),
    updated_at: z.string(),
  })
  .meta({ id: "AdminChat" });

async function anyChat(db: Executor, chatId: string) {
  const row = isId(chatId) ? await findAnyChat(db, chatId) : undefined;
  if (!row) throw notFound();
  return row;
}

export const adminChatRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/admin/chats/:id",
    summary: "Any chat, with its owner (`sender`) and counterpart (`receiver`)",
    tags,
    auth: "admin",
    params: z.object({ id: z.string() }),
    responses: { 200: { description: "Chat", schema: AdminChatEntity }, ...errors },
    async handle({ deps, params }) {
      const row = await anyChat(deps.db, params.id);
      const owner = await findAccount(deps.db, row.chat.accountId);
      const { account, ...chat } = renderChat(row, deps.config.publicUrl);
      return { ...chat, sender: renderAccount(owner!, deps.config.publicUrl), receiver: account };
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/admin/chats/:id/messages",
    summary: "Messages of any chat, newest first",
    tags,
    auth: "admin",
    params: z.object({ id: z.string() }),
    query: pageQuery,
    responses: { 200: { description: "Messages", schema: z.array(ChatMessageEntity) }, ...errors },
    async handle({ deps, params, query, req, res }) {
      const { chat } = await anyChat(deps.db, params.id);
      const list = await listMessages(
        deps.db,
        chat,
        pageOf(query),
        deps.config.publicUrl,
      );
      setLinkHeader(req, res, deps.config.publicUrl, list);
      return list;
    },
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/pleroma/admin/chats/:id/messages/:message_id",
    summary: "Delete a message for every participant",
    tags,
    auth: "admin",
    params: z.object({ id: z.string(), message_id: z.string() }),
    responses: { 200: { description: "The message as it was", schema: ChatMessageEntity }, ...errors },
    async handle({ deps, params }) {
      const { chat } = await anyChat(deps.db, params.id);
      if (!isId(params.message_id)) throw notFound();
      return deleteMessage(deps.db, deps.config.publicUrl, chat, params.message_id, { forEveryone: true, queue: deps.queues.deliver });
    },
  }),
];
