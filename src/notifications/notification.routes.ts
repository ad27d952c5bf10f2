import multer from "multer";
import { z } from "zod";
import { AccountEntity, ChatMessageEntity, errors } from "../http/entities.js";
import { invalidField, notFound } from "../http/errors.js";
import { apiId } from "../http/ids.js";
import { pageQuery, setLinkHeader } from "../http/pagination.js";
import { booleanLike, defineRoute } from "../http/route.js";
import { MlsMessageEntity } from "../mls/mailbox.routes.js";
import { isId } from "../shared/ids.js";
import { clearNotifications, dismissNotification, markNotificationsSeen } from "./notification.service.js";
import { listNotifications, showNotification, showNotifications } from "./notification.view.js";

const tags = ["notifications"];

const NotificationEntity = z
  .object({
    id: z.string(),
    group_key: z.string().meta({ description: "`ungrouped-<id>`" }),
    type: z.enum(["pleroma:chat_mention", "parley:mls_message"]),
    created_at: z.string(),
    account: AccountEntity.meta({ description: "The sender" }),
    pleroma: z.object({ is_seen: z.boolean(), is_muted: z.boolean() }),
    chat_message: ChatMessageEntity.optional().meta({ description: "`pleroma:chat_mention` only" }),
    parley: z
      .object({ mls_message: MlsMessageEntity })
      .optional()
      .meta({ description: "`parley:mls_message` only: the mailbox entry, as GET /api/v1/parley/mls/messages lists it" }),
  })
  .meta({ id: "Notification" });

/** `name[]=a&name[]=b`, `name=a` (the query parser keeps the brackets in the key). */
const stringList = z.preprocess((value) => (value === undefined ? undefined : [value].flat()), z.array(z.string()).optional());

const listQuery = pageQuery.extend({
  "types[]": stringList,
  types: stringList,
  "include_types[]": stringList,
  include_types: stringList,
  "exclude_types[]": stringList,
  exclude_types: stringList,
  account_id: apiId.optional(),
  with_muted: booleanLike.default(false),
});

const idParams = z.object({ id: apiId });

/** Pleroma-FE's markNotificationsAsSeen posts `id`/`max_id` as a multipart form (FormData), as Pleroma parses it. */
const formFields = multer({ limits: { fields: 10, fieldSize: 1024, files: 0 } }).none();

/** An id of ours or nothing: anything else can only be another's or unknown, a 404 either way. */
const ownId = (id: string) => {
  if (!isId(id)) throw notFound();
  return id;
};

export const notificationRoutes = [
  defineRoute({
    method: "get",
    path: "/api/v1/notifications",
    summary: "Notifications, newest first; `pleroma:chat_mention` and `parley:mls_message` only with include_types[] (or types[])",
    tags,
    auth: "user",
    query: listQuery,
    responses: { 200: { description: "Notifications, with a Link header", schema: z.array(NotificationEntity) }, ...errors },
    async handle({ deps, account, query, req, res }) {
      const includeTypes = [
        ...(query["types[]"] ?? []),
        ...(query.types ?? []),
        ...(query["include_types[]"] ?? []),
        ...(query.include_types ?? []),
      ];
      const list = await listNotifications(
        deps.db,
        account.id,
        {
          includeTypes,
          excludeTypes: [...(query["exclude_types[]"] ?? []), ...(query.exclude_types ?? [])],
          accountId: query.account_id,
          withMuted: query.with_muted,
          maxId: query.max_id,
          minId: query.min_id,
          sinceId: query.since_id,
          limit: query.limit,
        },
        deps.config.publicUrl,
      );
      setLinkHeader(req, res, deps.config.publicUrl, list);
      return list;
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/notifications/clear",
    summary: "Dismiss all notifications",
    tags,
    auth: "user",
    responses: { 200: { description: "Empty object" }, 401: errors[401] },
    async handle({ deps, account }) {
      await clearNotifications(deps.db, account.id);
      return {};
    },
  }),
  defineRoute({
    method: "get",
    path: "/api/v1/notifications/:id",
    summary: "A notification",
    tags,
    auth: "user",
    params: idParams,
    responses: { 200: { description: "Notification", schema: NotificationEntity }, ...errors },
    async handle({ deps, account, params }) {
      const shown = await showNotification(deps.db, account.id, ownId(params.id), deps.config.publicUrl);
      if (!shown) throw notFound();
      return shown;
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/notifications/:id/dismiss",
    summary: "Dismiss a notification",
    tags,
    auth: "user",
    params: idParams,
    responses: { 200: { description: "Empty object" }, ...errors },
    async handle({ deps, account, params }) {
      if (!(await dismissNotification(deps.db, account.id, ownId(params.id)))) throw notFound();
      return {};
    },
  }),
  defineRoute({
    method: "post",
    path: "/api/v1/pleroma/notifications/read",
    summary: "Mark one notification (`id`) or all up to `max_id` seen (Pleroma); JSON, form or multipart body",
    tags,
    auth: "user",
    before: [formFields],
    body: z.object({ id: apiId.optional(), max_id: apiId.optional() }),
    responses: { 200: { description: "The notification (`id`), or those marked (`max_id`)" }, ...errors },
    async handle({ deps, account, body }) {
      if (body.id !== undefined) {
        await markNotificationsSeen(deps.db, account.id, { id: ownId(body.id) });
        const shown = await showNotification(deps.db, account.id, body.id, deps.config.publicUrl);
        if (!shown) throw notFound();
        return shown;
      }
      if (body.max_id === undefined) throw invalidField("id", "id or max_id is required");
      const marked = isId(body.max_id) ? await markNotificationsSeen(deps.db, account.id, { maxId: body.max_id }) : [];
      return showNotifications(deps.db, account.id, marked, deps.config.publicUrl);
    },
  }),
];
