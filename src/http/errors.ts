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
