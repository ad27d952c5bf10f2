import { DomainError, type DomainErrorKind } from "../shared/errors.js";

/** The one error shape of the API: `{"error": code}` plus optional details (e.g. the field). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(code);
  }

  toJSON() {
    return { error: this.code, ...this.details };
  }
}

export const notFound = () => new ApiError(404, "not_found");
export const unauthorized = (code = "invalid_token") => new ApiError(401, code);
export const invalidField = (field: string, message: string) => new ApiError(400, "invalid_request", { field, message });

/** The status of each kind of domain refusal: the only place a service's error becomes HTTP. */
const STATUS_OF: Record<DomainErrorKind, number> = {
  not_found: 404,
  invalid: 400,
  unprocessable: 422,
  forbidden: 403,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
};

/** A service's refusal as the API answers it (ApiErrors pass through unchanged). */
export function asApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (!(error instanceof DomainError)) return undefined;
  const headers: Record<string, string> = error.retryAfter !== undefined ? { "Retry-After": String(error.retryAfter) } : {};
  return new ApiError(STATUS_OF[error.kind], error.code, error.details, headers);
}
