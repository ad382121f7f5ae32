/**
 * Every failure becomes a tagged core error. SDK errors are classified by their name and status (not `instanceof`,
 * so two copies of the SDK still map), control-plane replies by HTTP status. The `cause` kept on a core error is a
 * plain `{ name, message, status? }` with every known secret scrubbed: SDK error objects are never kept, since some
 * carry request headers or connection config.
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
  redactSecrets,
  type SecretSource
} from "@sandkit/core"

export const PROVIDER = "e2b"

/** Values that must never appear in a message or a cause (the API key, envd and traffic tokens). */
export type Secrets = SecretSource

export interface ErrorContext {
  /** What was being done, e.g. `"create"`, `"files.read"`. */
  readonly operation: string
  readonly sandboxId?: string | undefined
  /** The file path of a file operation (for `FileNotFound.path`). */
  readonly path?: string | undefined
  /** The command timeout in force, for `CommandTimeout`. */
  readonly timeoutMs?: number | undefined
  readonly secrets: Secrets
}

/** Replace every secret (and anything shaped like an E2B key) in `text`. */
export const redact = (text: string, secrets: Secrets): string => redactSecrets(text, secrets.values(), [/e2b_[A-Za-z0-9]{8,}/g])

/** A cause safe to keep: name, scrubbed message and status, nothing else (no headers, no config, no nested cause). */
export interface SafeCause {
  readonly name: string
  readonly message: string
  readonly status?: number | undefined
}

const field = fieldOf

export const safeCause = (error: unknown, secrets: Secrets, status?: number): SafeCause => {
  const name = typeof field(error, "name") === "string" ? field(error, "name") as string : typeof error
  return { name, message: redact(messageOfThrown(error), secrets), ...(status === undefined ? {} : { status }) }
}


const common = (ctx: ErrorContext, message: string, cause: SafeCause) => ({
  provider: PROVIDER,
  sandboxId: ctx.sandboxId,
  message: redact(`e2b ${ctx.operation}: ${message}`, ctx.secrets),
  cause
})

/** A control-plane reply with a non-2xx status. */
export const fromStatus = (
  status: number,
  message: string,
  ctx: ErrorContext,
  retryAfter?: string | null
): SandboxError => {
  const cause: SafeCause = { name: "HttpError", message: redact(message, ctx.secrets), status }
  const base = common(ctx, `${status} ${message}`, cause)
  switch (true) {
    case status === 400 || status === 422:
      return new InvalidRequest(base)
    case status === 401:
      return new AuthenticationFailed(base)
    case status === 403:
      return new PermissionDenied(base)
    case status === 404:
      return new SandboxNotFound(base)
    case status === 429: {
      const wait = parseRetryAfter(retryAfter)
      // A concurrency quota answers 429 too, without a hint; waiting for our own sandboxes to end will not help.
      if (wait === undefined && /concurrent/i.test(message)) return new QuotaExceeded(base)
      return new RateLimited({ ...base, retryAfter: wait })
    }
    case status >= 500:
      return new ProviderUnavailable({ ...base, status })
    default:
      return new ProviderError({ ...base, status })
  }
}

/** Connect (gRPC) status codes, as `@connectrpc/connect` numbers them. */
const connectCode = {
  Canceled: 1,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  Unavailable: 14,
  Unauthenticated: 16
} as const

const statusInMessage = (message: string): number | undefined => {
  const m = /^(\d{3})[: ]/.exec(message)
  return m === null ? undefined : Number(m[1])
}

/** Any error thrown by the SDK (or by `fetch` under it) during a data-plane call. */
export const fromSdkError = (error: unknown, ctx: ErrorContext): SandboxError => {
  if (isSandboxError(error)) return error
  const name = String(field(error, "name") ?? "")
  const message = error instanceof Error ? error.message : String(error)
  const statusField = field(error, "statusCode")
  const status = typeof statusField === "number" ? statusField : statusInMessage(message)
  const cause = safeCause(error, ctx.secrets, status)
  const base = common(ctx, message, cause)
  const notFound = () =>
    ctx.path === undefined ? new ProviderError({ ...base, status: 404 }) : new FileNotFound({ ...base, path: ctx.path })
  switch (name) {
    case "AuthenticationError":
    case "GitAuthError":
      return new AuthenticationFailed(base)
    case "RateLimitError":
      return new RateLimited(base)
    case "ServiceBusyError":
      return new ProviderUnavailable({ ...base, status: 503 })
    case "SandboxNotFoundError":
      return new SandboxNotFound(base)
    case "FileNotFoundError":
      return new FileNotFound({ ...base, path: ctx.path ?? "" })
    case "NotFoundError":
      return notFound()
    case "InvalidArgumentError":
      return /cwd '.*' does not exist/.test(message)
        ? new FileNotFound({ ...base, path: /cwd '(.*)' does not exist/.exec(message)![1]! })
        : new InvalidRequest(base)
    case "NotEnoughSpaceError":
      return new QuotaExceeded(base)
    case "TimeoutError": {
      if (/sandbox timeout|end of life|sandbox was killed|killed while the request/i.test(message)) return new SandboxNotFound(base)
      if (/'timeoutMs'|Execution timed out/.test(message) && ctx.timeoutMs !== undefined) {
        return new CommandTimeout({ ...base, timeoutMs: ctx.timeoutMs })
      }
      return new ProviderUnavailable(base)
    }
    case "ConnectError": {
      const code = field(error, "code")
      if (code === connectCode.Unavailable) return new SandboxNotFound(base)
      if (code === connectCode.NotFound) return notFound()
      if (code === connectCode.Unauthenticated) return new AuthenticationFailed(base)
      if (code === connectCode.PermissionDenied) return new PermissionDenied(base)
      if (code === connectCode.InvalidArgument) return new InvalidRequest(base)
      if (code === connectCode.ResourceExhausted) return new RateLimited(base)
      break
    }
  }
  if (status !== undefined) {
    // The data plane answers 502 for a sandbox that is gone (killed, timed out, paused).
    if (status === 502) return new SandboxNotFound(base)
    if (status === 404) return notFound()
    return fromStatus(status, message, ctx)
  }
  if (isLostConnection(error)) return new ProviderUnavailable(base)
  return new ProviderError(base)
}
