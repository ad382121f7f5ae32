/**
 * Every failure becomes a tagged core error. SDK errors are classified by their class and HTTP status; the `cause`
 * kept on a core error is a plain `{ name, message, status? }` with every known secret scrubbed: SDK error objects
 * are never kept, since they carry the response headers.
 */
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError
} from "@runloop/api-client"
import {
  AuthenticationFailed,
  InvalidRequest,
  isSandboxError,
  PermissionDenied,
  ProviderError,
  ProviderUnavailable,
  QuotaExceeded,
  RateLimited,
  type SandboxError,
  SandboxNotFound,
  fieldOf,
  isLostConnection,
  messageOfThrown,
  redactSecrets,
  type SecretSource
} from "@sandkit/core"
import { Duration } from "effect"

export const PROVIDER = "runloop"

/** Values that must never appear in a message or a cause (the API key, tunnel tokens). */
export type Secrets = SecretSource

export interface ErrorContext {
  /** What was being done, e.g. `"create"`, `"files.read"`. */
  readonly operation: string
  readonly sandboxId?: string | undefined
  readonly secrets: Secrets
}

/** Replace every secret (and anything shaped like a Runloop key or a bearer token) in `text`. */
export const redact = (text: string, secrets: Secrets): string =>
  redactSecrets(text, secrets.values(), [/\bak_[A-Za-z0-9_-]{8,}/g, [/(Bearer\s+)[^\s"',]+/gi, "$1<redacted>"]])

/** A cause safe to keep: name, scrubbed message and status, nothing else. */
export interface SafeCause {
  readonly name: string
  readonly message: string
  readonly status?: number | undefined
}

const field = fieldOf

export const safeCause = (error: unknown, secrets: Secrets, status?: number): SafeCause => {
  const name = error instanceof Error ? error.constructor.name || error.name : typeof error
  return { name, message: redact(messageOfThrown(error), secrets), ...(status === undefined ? {} : { status }) }
}

/**
 * How long the server asked us to wait: `retry-after-ms` (milliseconds) first, then `retry-after` as seconds
 * (fractions allowed) or an HTTP date — the headers the Runloop SDK itself honours.
 */
export const parseRetryAfter = (
  header: (name: string) => string | null | undefined,
  now: number = Date.now()
): Duration.Duration | undefined => {
  const ms = header("retry-after-ms")
  if (ms !== null && ms !== undefined && ms.trim() !== "" && Number.isFinite(Number(ms)) && Number(ms) >= 0) {
    return Duration.millis(Number(ms))
  }
  const value = header("retry-after")?.trim()
  if (value === undefined || value === "") return undefined
  if (/^\d+(\.\d+)?$/.test(value)) return Duration.millis(Number(value) * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

const common = (ctx: ErrorContext, message: string, cause: SafeCause) => ({
  provider: PROVIDER,
  sandboxId: ctx.sandboxId,
  message: redact(`runloop ${ctx.operation}: ${message}`, ctx.secrets),
  cause
})

const QUOTA = /quota|concurrent|maximum number|limit reached|insufficient (credit|fund|balance)/i

/** A non-2xx answer. */
export const fromStatus = (
  status: number,
  message: string,
  ctx: ErrorContext,
  header: (name: string) => string | null | undefined = () => undefined
): SandboxError => {
  const cause: SafeCause = { name: "APIError", message: redact(message, ctx.secrets), status }
  const base = common(ctx, message, cause)
  switch (true) {
    case status === 400 || status === 422:
      return /snapshot .*not found|no such snapshot/i.test(message) ? new SandboxNotFound(base) : new InvalidRequest(base)
    case status === 401:
      return new AuthenticationFailed(base)
    case status === 402:
      return new QuotaExceeded(base)
    case status === 403:
      return QUOTA.test(message) ? new QuotaExceeded(base) : new PermissionDenied(base)
    case status === 404:
      return new SandboxNotFound(base)
    case status === 429: {
      const retryAfter = parseRetryAfter(header)
      // An account limit answers 429 too, without a hint; waiting for our own devboxes to end is not a retry.
      if (retryAfter === undefined && QUOTA.test(message)) return new QuotaExceeded(base)
      return new RateLimited({ ...base, retryAfter })
    }
    // 408: a server-side timeout; 409: Runloop's lock conflicts, which the SDK itself treats as transient.
    case status === 408 || status === 409 || status >= 500:
      return new ProviderUnavailable({ ...base, status })
    default:
      return new ProviderError({ ...base, status })
  }
}

/** How an HTTP/2 session and a cut stream say the connection is gone, besides the common markers. */
const RUNLOOP_LOST_CONNECTION = ["premature close", "ERR_HTTP2", "NGHTTP2", "stream was closed", "Session closed"]

/** Any error thrown by the SDK (or by the transport under it). */
export const fromSdkError = (error: unknown, ctx: ErrorContext): SandboxError => {
  if (isSandboxError(error)) return error
  if (error instanceof APIUserAbortError) return new ProviderError(common(ctx, "the request was aborted", safeCause(error, ctx.secrets)))
  if (error instanceof APIConnectionTimeoutError) {
    return new ProviderUnavailable(common(ctx, "the request timed out", safeCause(error, ctx.secrets)))
  }
  if (error instanceof APIConnectionError) {
    const why = error.cause instanceof Error ? `: ${error.cause.message}` : ""
    return new ProviderUnavailable(common(ctx, `cannot reach Runloop${why}`, safeCause(error, ctx.secrets)))
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const body = error.error as { readonly message?: unknown } | undefined
    const message = typeof body?.message === "string" ? body.message : error.message
    const headers = error.headers as Record<string, string> | undefined
    return fromStatus(error.status, message, ctx, (name) => headers?.[name])
  }
  const cause = safeCause(error, ctx.secrets)
  if (/bearerToken|RUNLOOP_API_KEY/.test(cause.message)) return new AuthenticationFailed(common(ctx, "no API key", cause))
  if (isLostConnection(error, RUNLOOP_LOST_CONNECTION)) return new ProviderUnavailable(common(ctx, cause.message, cause))
  return new ProviderError(common(ctx, cause.message, cause))
}
