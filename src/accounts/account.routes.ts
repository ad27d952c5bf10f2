import { z } from "zod";
import { blocks, mutes } from "../db/schema/index.js";
import { lookupRemoteAccount } from "../federation/remote-actors.js";
import { AccountEntity, CredentialAccountEntity, errors, RelationshipEntity } from "../http/entities.js";
import { notFound } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { booleanLike, defineRoute } from "../http/route.js";
import { setRelation, updateLocalAccount } from "./account.service.js";
import { findAccount, findLocalAccountByUsername, renderAccount, renderCredentialAccount, unreadChatCount } from "./account.view.js";
import { relationshipsOf } from "./relationship.view.js";

const idParams = z.object({ id: apiId });
const tags = ["accounts"];

const relationRoute = (action: "block" | "unblock" | "mute" | "unmute") =>
  defineRoute({
    method: "post",
    path: `/api/v1/accounts/:id/${action}`,
    summary: `${action[0].toUpperCase()}${action.slice(1)} an account`,
    tags,
    auth: "user",
    params: idParams,
    responses: { 200: { description: "Relationship", schema: RelationshipEntity }, ...errors },
    async handle({ deps, account, params }) {
      const target = await findAccount(deps.db, params.id);
      if (!target || target.id === account.id) throw notFound();
      const table = action.endsWith("block") ? blocks : mutes;
      await setRelation(deps.db, table, account.id, target.id, !action.startsWith("un"));
      const [relationship] = await relationshipsOf(deps.db, account.id, [target.id], { withSuspended: true });
      return relationship;
    },
  });

export const accountRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/accounts/verify_credentials",
    summary: "The token's own account",
    tags,
    auth: "user",
    responses: { 200: { description: "Account", schema: CredentialAccountEntity }, 401: errors[401] },
    handle: async ({ deps, account }) =>
      renderCredentialAccount(account, deps.config.publicUrl, await unreadChatCount(deps.db, account.id)),
  }),
  defineRoute({
    method: "patch",
    path: "/api/v1/accounts/update_credentials",
    summary: "Change display name or chat acceptance",
    tags,
    auth: "user",
    body: z.object({
      display_name: z.string().max(100).optional(),
      accepts_chat_messages: booleanLike.optional(),
    }),
    responses: { 200: { description: "Account", schema: CredentialAccountEntity }, ...errors },
    async handle({ deps, account, body }) {
      const updated = await updateLocalAccount(deps.db, account, {
        displayName: body.display_name,
        acceptsChatMessages: body.accepts_chat_messages,
      });
      return renderCredentialAccount(updated, deps.config.publicUrl, await unreadChatCount(deps.db, account.id));
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/accounts/lookup",
    summary: "Find an account by `acct`: `name` (local), `name@host` (WebFinger) or an actor URL",
    tags,
    auth: "user",
    query: z.object({ acct: z.string().min(1) }),
    responses: { 200: { description: "Account", schema: AccountEntity }, ...errors },
    async handle({ deps, query }) {
      // A remote account is fetched and cached on first sight (refreshed at most daily).
      const acct = query.acct.trim().replace(/^@/, "");
      const local = new URL(deps.config.publicUrl).host;
      const [name, host, ...rest] = acct.split("@");
      const found = /^https?:\/\//i.test(acct)
        ? await lookupRemoteAccount(deps, acct)
        : rest.length > 0
          ? undefined
          : host !== undefined && host.toLowerCase() !== local
            ? await lookupRemoteAccount(deps, acct)
            : await findLocalAccountByUsername(deps.db, name);
      if (!found) throw notFound();
      return renderAccount(found, deps.config.publicUrl);
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/accounts/:id",
    summary: "An account",
    tags,
    auth: "user",
    params: idParams,
    responses: { 200: { description: "Account", schema: AccountEntity }, ...errors },
    async handle({ deps, params }) {
      const found = await findAccount(deps.db, params.id);
      if (!found) throw notFound();
      return renderAccount(found, deps.config.publicUrl);
    },
  }),
  relationRoute("block"),
  relationRoute("unblock"),
  relationRoute("mute"),
  relationRoute("unmute"),
];
