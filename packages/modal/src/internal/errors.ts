/**
 * Every failure becomes a tagged core error. gRPC failures (nice-grpc's `ClientError`) are classified by status
 * code, SDK errors by class name (not `instanceof`, so two copies of the SDK still map). The `cause` kept is a plain
 * `{ name, message, code? }` with every known secret scrubbed: SDK error objects are never kept.
 *
 * Status fields (`ProviderError.status`, `ProviderUnavailable.status`) carry the raw gRPC status code.
 */
import {
  AuthenticationFailed,
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
  redactSecrets,
  type SecretSource
} from "@sandkit/core"
import { Duration } from "effect"

export const PROVIDER = "modal"

/** Values that must never appear in a message or a cause. */
export type Secrets = SecretSource

export interface ErrorContext {
  /** What was being done, e.g. `"create"`, `"files.read"`. */
  readonly operation: string
  readonly sandboxId?: string | undefined
  /** The file path of a file operation (for `FileNotFound.path`). */
  readonly path?: string | undefined
  readonly secrets: Secrets
}

/** gRPC status codes. */
export const Status = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16
} as const

/** The server's retry hint (`RPCRetryPolicy.retryAfterSecs`) of a failed call, recorded by the adapter's middleware. */
const retryHints = new WeakMap<object, number>()
export const setRetryHint = (error: unknown, seconds: number): void => {
  if (typeof error === "object" && error !== null) retryHints.set(error, seconds)
}
export const retryHint = (error: unknown): number | undefined =>
  typeof error === "object" && error !== null ? retryHints.get(error) : undefined

/** Replace every secret, and anything shaped like a Modal token or a JWT, in `text`. */
export const redact = (text: string, secrets: Secrets): string =>
  redactSecrets(text, secrets.values(), [/\b(ak|as)-[A-Za-z0-9]{8,}/g, /\beyJ[\w-]+\.[\w-]+\.[\w-]*/g])

export interface SafeCause {
  readonly name: string
  readonly message: string
  readonly code?: number | undefined
}

const field = fieldOf

/** The gRPC status of a nice-grpc `ClientError`, or `undefined`. */
export const grpcCode = (error: unknown): number | undefined => {
  const code = field(error, "code")
  return field(error, "name") === "ClientError" && typeof code === "number" ? code : undefined
}

/** Whether the failed call went to the task command router (exec, stdio, stdin, files) rather than the control plane. */
export const isRouterCall = (error: unknown): boolean => String(field(error, "path") ?? "").includes("TaskCommandRouter")

const messageOf = (error: unknown): string => {
  const details = field(error, "details")
  if (typeof details === "string" && details !== "") return details
  return error instanceof Error ? error.message : typeof error === "string" ? error : String(error)
}

export const safeCause = (error: unknown, secrets: Secrets): SafeCause => {
  const name = typeof field(error, "name") === "string" ? field(error, "name") as string : typeof error
  const code = grpcCode(error)
  return { name, message: redact(messageOf(error), secrets), ...(code === undefined ? {} : { code }) }
}

const LOST_CONNECTION = /ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|connection (reset|closed|refused)|network error|No connection established/i

/** Any error thrown by the SDK (or by gRPC under it). */
export const fromSdkError = (error: unknown, ctx: ErrorContext): SandboxError => {
  if (isSandboxError(error)) return error
  const name = String(field(error, "name") ?? "")
  const raw = messageOf(error)
  const cause = safeCause(error, ctx.secrets)
  const base = { provider: PROVIDER, sandboxId: ctx.sandboxId, message: redact(`modal ${ctx.operation}: ${raw}`, ctx.secrets), cause }
  const code = grpcCode(error)
  if (code !== undefined) {
    switch (code) {
      case Status.INVALID_ARGUMENT:
        return /does not exist|no such file/i.test(raw) && ctx.path !== undefined
          ? new FileNotFound({ ...base, path: ctx.path })
          : new InvalidRequest(base)
      case Status.ALREADY_EXISTS:
        return new InvalidRequest({ ...base, field: "name" })
      case Status.UNAUTHENTICATED:
        return new AuthenticationFailed(base)
      case Status.PERMISSION_DENIED:
        return new PermissionDenied(base)
      case Status.NOT_FOUND:
        return ctx.sandboxId !== undefined ? new SandboxNotFound(base) : new ProviderError({ ...base, status: code })
      case Status.RESOURCE_EXHAUSTED: {
        const hint = retryHint(error)
        if (hint !== undefined) return new RateLimited({ ...base, retryAfter: Duration.millis(Math.max(0, hint) * 1000) })
        // "Rate limit exceeded" is throttling, not an account limit, though it says "limit".
        if (/rate.?limit|too many requests/i.test(raw)) return new RateLimited(base)
        return /quota|limit|concurren|maximum/i.test(raw) ? new QuotaExceeded(base) : new RateLimited(base)
      }
      case Status.UNAVAILABLE:
      case Status.DEADLINE_EXCEEDED:
      case Status.INTERNAL:
      case Status.UNKNOWN:
      case Status.CANCELLED: {
        // Hinted throttling (RPCRetryPolicy) on any code: the server asked for a pause.
        const hint = retryHint(error)
        if (hint !== undefined) return new RateLimited({ ...base, retryAfter: Duration.millis(Math.max(0, hint) * 1000) })
        // The command router is retried by the SDK itself (10 times, ~10 s, not configurable): what survives that is
        // reported as a ProviderError, so the core's schedule does not multiply the SDK's attempts.
        if (isRouterCall(error)) {
          return new ProviderError({ ...base, status: code, message: `${base.message} (after the SDK's own command-router retries)` })
        }
        return new ProviderUnavailable({ ...base, status: code })
      }
      default:
        return new ProviderError({ ...base, status: code })
    }
  }
  switch (name) {
    case "InvalidError":
      return new InvalidRequest(base)
    case "AlreadyExistsError":
      return new InvalidRequest({ ...base, field: "name" })
    case "NotFoundError":
    case "ConflictError":
    case "SandboxTimeoutError":
      return ctx.sandboxId !== undefined || name !== "NotFoundError" ? new SandboxNotFound(base) : new ProviderError(base)
    case "SandboxFilesystemNotFoundError":
      return new FileNotFound({ ...base, path: ctx.path ?? "" })
    case "SandboxFilesystemPermissionError":
      return new PermissionDenied(base)
    case "SandboxFilesystemIsADirectoryError":
    case "SandboxFilesystemNotADirectoryError":
    case "SandboxFilesystemPathAlreadyExistsError":
    case "SandboxFilesystemDirectoryNotEmptyError":
      return new InvalidRequest({ ...base, field: "path" })
    case "ResourceExhaustedError":
      return new QuotaExceeded(base)
    case "TimeoutError":
      return new ProviderUnavailable(base)
    case "AbortError":
      return new ProviderUnavailable(base)
  }
  if (/Profile is missing credentials|OAuth credentials cannot both/i.test(raw)) return new AuthenticationFailed(base)
  if (/Deadline exceeded while (waiting|polling) for exec/i.test(raw)) return new ProviderUnavailable(base)
  if (LOST_CONNECTION.test(raw) || LOST_CONNECTION.test(String(field(field(error, "cause"), "message") ?? ""))) return new ProviderUnavailable(base)
  return new ProviderError(base)
}

/** Decode the `retryAfterSecs` of Modal's `RPCRetryPolicy` from a `grpc-status-details-bin` trailer (`google.rpc.Status`). */
export const decodeRetryAfter = (details: Uint8Array): number | undefined => {
  // A minimal protobuf walk: Status { details = 3: repeated Any { type_url = 1, value = 2 } },
  // RPCRetryPolicy { retry_after_secs = 1: float }.
  const fields = (bytes: Uint8Array): Array<{ readonly field: number; readonly bytes?: Uint8Array; readonly fixed32?: number }> => {
    const out: Array<{ field: number; bytes?: Uint8Array; fixed32?: number }> = []
    let i = 0
    const varint = () => {
      let result = 0
      let shift = 0
      for (;;) {
        if (i >= bytes.length) throw new Error("truncated")
        const b = bytes[i++]!
        result += (b & 0x7f) * 2 ** shift
        if ((b & 0x80) === 0) return result
        shift += 7
      }
    }
    while (i < bytes.length) {
      const key = varint()
      const type = key % 8
      const number = Math.floor(key / 8)
      if (type === 0) varint()
      else if (type === 1) i += 8
      else if (type === 2) {
        const length = varint()
        out.push({ field: number, bytes: bytes.subarray(i, i + length) })
        i += length
      } else if (type === 5) {
        out.push({ field: number, fixed32: new DataView(bytes.buffer, bytes.byteOffset + i, 4).getFloat32(0, true) })
        i += 4
      } else throw new Error("unsupported wire type")
    }
    return out
  }
  try {
    for (const detail of fields(details).filter((f) => f.field === 3 && f.bytes !== undefined)) {
      const any = fields(detail.bytes!)
      const typeUrl = new TextDecoder().decode(any.find((f) => f.field === 1)?.bytes ?? new Uint8Array(0))
      if (!typeUrl.endsWith("/modal.client.RPCRetryPolicy")) continue
      const value = any.find((f) => f.field === 2)?.bytes ?? new Uint8Array(0)
      return fields(value).find((f) => f.field === 1)?.fixed32 ?? 0
    }
  } catch {
    return undefined
  }
  return undefined
}
