import { z } from "zod";
import { type AccountRow, findAccount, findAccountByNickname, renderAccount } from "../accounts/account.view.js";
import type { Executor } from "../db/database.js";
import { AccountEntity, ChatMessageEntity, errors } from "../http/entities.js";
import { notFound } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { pageOf, pageQuery, setLinkHeader } from "../http/pagination.js";
import { defineRoute } from "../http/route.js";
import { isId } from "../shared/ids.js";
import { type ChatJson, findAnyChat, listEveryChatOf, listMessages, renderChat } from "./chat.view.js";
import { deleteMessage } from "./local-message.service.js";

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
    pinned: z.boolean(),
  })
  .meta({ id: "AdminChat" });

/** Pleroma's admin Chat: the owner as `sender`, the counterpart (the user view's `account`) as `receiver`. */
function renderAdminChat({ account, ...chat }: ChatJson, owner: AccountRow, publicUrl: string) {
  return { ...chat, sender: renderAccount(owner, publicUrl), receiver: account };
}

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
    params: z.object({ id: apiId }),
    responses: { 200: { description: "Chat", schema: AdminChatEntity }, ...errors },
    async handle({ deps, params }) {
      const row = await anyChat(deps.db, params.id);
      const owner = await findAccount(deps.db, row.chat.accountId);
      return renderAdminChat(renderChat(row, deps.config.publicUrl), owner!, deps.config.publicUrl);
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/admin/users/:nickname/chats",
    summary: "Every chat of an account (nickname `name`, `name@host`, or id), hidden ones included, most recent first",
    tags,
    auth: "admin",
    params: z.object({ nickname: z.string() }),
    responses: { 200: { description: "Chats (unpaginated)", schema: z.array(AdminChatEntity) }, ...errors },
    async handle({ deps, params }) {
      const owner = await findAccountByNickname(deps.db, params.nickname, deps.config.publicUrl);
      if (!owner) throw notFound();
      const list = await listEveryChatOf(deps.db, owner.id, deps.config.publicUrl);
      return list.map((chat) => renderAdminChat(chat, owner, deps.config.publicUrl));
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/pleroma/admin/chats/:id/messages",
    summary: "Messages of any chat, newest first",
    tags,
    auth: "admin",
    params: z.object({ id: apiId }),
    query: pageQuery,
    responses: { 200: { description: "Messages", schema: z.array(ChatMessageEntity) }, ...errors },
    async handle({ deps, params, query, req, res }) {
      const { chat } = await anyChat(deps.db, params.id);
      const list = await listMessages(deps.db, chat, pageOf(query), deps.config.publicUrl);
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
    params: z.object({ id: apiId, message_id: apiId }),
    responses: { 200: { description: "The message as it was", schema: ChatMessageEntity }, ...errors },
    async handle({ deps, params }) {
      const { chat } = await anyChat(deps.db, params.id);
      if (!isId(params.message_id)) throw notFound();
      return deleteMessage(deps.db, deps.config.publicUrl, chat, params.message_id, { forEveryone: true, queue: deps.queues.deliver });
    },
  }),
];
