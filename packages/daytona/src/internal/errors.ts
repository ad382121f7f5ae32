/**
 * Every SDK failure becomes a tagged core error. `DaytonaError`s are classified by class name and status (not
 * `instanceof`, so two copies of the SDK still map), with the context deciding what a 404 means (a file, or the
 * sandbox itself). Daytona answers an account limit as 403 or 429 with "quota" / "limit reached" in the message:
 * that is `QuotaExceeded`, never retried. The `cause` kept is a plain `{ name, message, status?, code?, source? }`
 * with every known secret scrubbed; SDK and axios error objects (which can hold request headers) are never kept.
 */
import {
  AuthenticationFailed,
  CommandTimeout,
  FileNotFound,
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
  parseRetryAfter,
  redactSecrets
} from "@sandkit/core"
import type { Secrets } from "./config.ts"

export const PROVIDER = "daytona"

export interface ErrorContext {
  /** What was being done, e.g. `"create"`, `"files.read"`. */
  readonly operation: string
  readonly sandboxId?: string | undefined
  /** A file operation's path: a 404 is then `FileNotFound` (when the daemon says so). */
  readonly path?: string | undefined
  /** The command timeout in force, for `CommandTimeout`. */
  readonly timeoutMs?: number | undefined
  readonly secrets: Secrets
}

/** Replace every secret (and anything shaped like a Daytona key) in `text`. */
export const redact = (text: string, secrets: Secrets): string =>
  redactSecrets(text, secrets.values(), [
    /dtn_[A-Za-z0-9_-]{8,}/g,
    [/(DAYTONA_SANDBOX_AUTH_KEY=)[^&\s"']+/g, "$1<redacted>"],
    [/(Bearer\s+)[^\s"',]+/gi, "$1<redacted>"]
  ])

/** A cause safe to keep. */
export interface SafeCause {
  readonly name: string
  readonly message: string
  readonly status?: number | undefined
  readonly code?: string | undefined
  readonly source?: string | undefined
}

const field = fieldOf
const str = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

export const safeCause = (error: unknown, secrets: Secrets): SafeCause => {
  const status = field(error, "statusCode")
  return {
    name: str(field(error, "name")) ?? typeof error,
    message: redact(messageOfThrown(error), secrets),
    ...(typeof status === "number" ? { status } : {}),
    ...(str(field(error, "code")) === undefined ? {} : { code: str(field(error, "code"))! }),
    ...(str(field(error, "source")) === undefined ? {} : { source: str(field(error, "source"))! })
  }
}


/** An account limit, not a request rate: waiting does not help. */
export const isQuotaMessage = (message: string): boolean =>
  /quota|limit reached|(?<!rate )limit exceeded|maximum number of/i.test(message)

const headerOf = (error: unknown, name: string): unknown => {
  const headers = field(error, "headers")
  if (typeof headers !== "object" || headers === null) return undefined
  const get = (headers as { get?: unknown }).get
  if (typeof get === "function") return (get as (n: string) => unknown).call(headers, name)
  return (headers as Record<string, unknown>)[name] ?? (headers as Record<string, unknown>)[name.toLowerCase()]
}

/** How axios and the toolbox WebSocket say the connection is gone, besides the common markers. */
const DAYTONA_LOST_CONNECTION = ["ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "Network Error", "WebSocket error", "Unexpected server response"]

const STATUS_OF_NAME: Readonly<Record<string, number>> = {
  DaytonaValidationError: 400,
  DaytonaBadRequestError: 400,
  DaytonaAuthenticationError: 401,
  DaytonaAuthorizationError: 403,
  DaytonaForbiddenError: 403,
  DaytonaNotFoundError: 404,
  DaytonaConflictError: 409,
  DaytonaGoneError: 410,
  DaytonaUnprocessableEntityError: 422,
  DaytonaRateLimitError: 429,
  DaytonaInternalServerError: 500,
  DaytonaBadGatewayError: 502,
  DaytonaServiceUnavailableError: 503
}

/** Any error thrown by the SDK (or by axios, fetch or a WebSocket under it). */
export const fromSdkError = (error: unknown, ctx: ErrorContext): SandboxError => {
  if (isSandboxError(error)) return error
  const name = str(field(error, "name")) ?? ""
  const cause = safeCause(error, ctx.secrets)
  const status = cause.status ?? STATUS_OF_NAME[name]
  const base = {
    provider: PROVIDER,
    sandboxId: ctx.sandboxId,
    message: redact(`daytona ${ctx.operation}: ${cause.message}`, ctx.secrets),
    cause
  }
  const fromDaemon = cause.source === "DAYTONA_DAEMON"
  switch (name) {
    case "DaytonaInvalidArgumentError":
      return new InvalidRequest(base)
    case "DaytonaFileNotFoundError":
      return new FileNotFound({ ...base, path: ctx.path ?? "" })
    case "DaytonaFileAccessDeniedError":
      return new PermissionDenied(base)
    case "DaytonaInvalidFilePathError":
      return new InvalidRequest({ ...base, field: "path" })
    case "DaytonaProcessExecutionTimeoutError":
    case "DaytonaTimeoutError":
    case "DaytonaConnectionTimeoutError":
      return ctx.timeoutMs !== undefined && name !== "DaytonaConnectionTimeoutError"
        ? new CommandTimeout({ ...base, timeoutMs: ctx.timeoutMs })
        : new ProviderUnavailable({ ...base, status })
    case "DaytonaConnectionError":
      return new ProviderUnavailable(base)
  }
  switch (status) {
    case 400:
    case 422:
      return new InvalidRequest(base)
    case 401:
      return new AuthenticationFailed(base)
    case 403:
      return isQuotaMessage(cause.message) ? new QuotaExceeded(base) : new PermissionDenied(base)
    case 404:
      // The daemon answering means the sandbox is there: a missing file (on a file call) or session. Any other 404
      // (the API, the toolbox proxy) means the sandbox is gone.
      if (fromDaemon) return ctx.path !== undefined ? new FileNotFound({ ...base, path: ctx.path }) : new ProviderError({ ...base, status })
      return new SandboxNotFound(base)
    case 408:
    case 504:
      return ctx.timeoutMs !== undefined
        ? new CommandTimeout({ ...base, timeoutMs: ctx.timeoutMs })
        : new ProviderUnavailable({ ...base, status })
    case 410:
      return fromDaemon ? new ProviderError({ ...base, status }) : new SandboxNotFound(base)
    case 429: {
      const retryAfter = parseRetryAfter(headerOf(error, "retry-after"))
      if (retryAfter === undefined && isQuotaMessage(cause.message)) return new QuotaExceeded(base)
      return new RateLimited({ ...base, retryAfter })
    }
  }
  if (status !== undefined && status >= 500) return new ProviderUnavailable({ ...base, status })
  if (status !== undefined) return new ProviderError({ ...base, status })
  if (isLostConnection(error, DAYTONA_LOST_CONNECTION)) return new ProviderUnavailable(base)
  return new ProviderError(base)
}
