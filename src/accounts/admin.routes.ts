import { z } from "zod";
import { AccountEntity, errors } from "../http/entities.js";
import { notFound } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { booleanLike, defineRoute } from "../http/route.js";
import { removeStored } from "../media/storage.js";
import { createLocalAccount } from "./account.service.js";
import { findAccount, renderAccount } from "./account.view.js";
import { deleteLocalAccount } from "./account-deletion.js";
import { issueToken, revokeTokens } from "./tokens.js";

const tags = ["admin"];
const TokenEntity = z.object({ access_token: z.string() });

export const adminRoutes = [
  defineRoute({
    method: "post",
    path: "/api/v1/admin/accounts",
    summary: "Create a local account and its first token",
    tags,
    auth: "admin",
    body: z.object({
      username: z.string(),
      display_name: z.string().max(100).optional(),
      accepts_chat_messages: booleanLike.optional(),
    }),
    responses: {
      201: { description: "Created", schema: z.object({ account: AccountEntity, access_token: z.string() }) },
      409: { description: "username_taken", schema: errors[422].schema },
      ...errors,
    },
    async handle({ deps, body, res }) {
      const { account, token } = await createLocalAccount(deps.db, deps.config.publicUrl, {
        username: body.username,
        displayName: body.display_name,
        acceptsChatMessages: body.accepts_chat_messages,
      });
      res.status(201);
      return { account: renderAccount(account, deps.config.publicUrl), access_token: token };
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/admin/accounts/:id/tokens",
    summary: "Issue another token for a local account",
    tags,
    auth: "admin",
    params: z.object({ id: apiId }),
    responses: { 201: { description: "Token", schema: TokenEntity }, ...errors },
    async handle({ deps, params, res }) {
      const account = await findAccount(deps.db, params.id);
      if (!account || account.domain !== null) throw notFound();
      res.status(201);
      return { access_token: await issueToken(deps.db, account.id) };
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/admin/tokens/revoke",
    summary: "Revoke one token (by its value); the streaming sockets opened with it close",
    tags,
    auth: "admin",
    body: z.object({ token: z.string().min(1).max(1024) }),
    responses: { 200: { description: "Revoked", schema: z.object({}) }, ...errors },
    async handle({ deps, body }) {
      if ((await revokeTokens(deps.db, { token: body.token })) === 0) throw notFound();
      return {};
    },
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/admin/accounts/:id/tokens",
    summary: "Revoke every token of a local account; its streaming sockets close",
    tags,
    auth: "admin",
    params: z.object({ id: apiId }),
    responses: { 200: { description: "How many were revoked", schema: z.object({ revoked: z.number() }) }, ...errors },
    async handle({ deps, params }) {
      const account = await findAccount(deps.db, params.id);
      if (!account || account.domain !== null) throw notFound();
      return { revoked: await revokeTokens(deps.db, { accountId: account.id }) };
    },
  }),
  defineRoute({
    method: "delete",
    path: "/api/v1/admin/accounts/:id",
    summary: "Delete a local account, its chats, messages and tokens; federates Delete of the actor",
    tags,
    auth: "admin",
    params: z.object({ id: apiId }),
    responses: { 200: { description: "Deleted", schema: z.object({}) }, ...errors },
    async handle({ deps, params }) {
      const { mediaPaths } = await deleteLocalAccount(deps.db, deps.queues.deliver, params.id);
      // Its uploads stop being served (the files are public by URL).
      await Promise.all(mediaPaths.map((file) => removeStored(deps.config.dataDir, file)));
      return {};
    },
  }),
];
