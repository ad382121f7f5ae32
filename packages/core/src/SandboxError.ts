/**
 * The tagged errors every Sandkit operation fails with. Each names the provider, optionally the sandbox, and keeps
 * the underlying cause. Adapters must pass a cause that carries no secret (see `redactSecrets` in AdapterKit.ts).
 */
import { Data, Duration } from "effect"

interface Common {
  readonly provider: string
  readonly sandboxId?: string | undefined
  readonly message: string
  readonly cause?: unknown
}

/** Bad input, rejected before anything runs or any network call is made. Never retried. */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<Common & { readonly field?: string | undefined }> {}
/** The credentials were missing or rejected. Never retried. */
export class AuthenticationFailed extends Data.TaggedError("AuthenticationFailed")<Common> {}
/** Authenticated, but not allowed to do this (or a path outside the sandbox). Never retried. */
export class PermissionDenied extends Data.TaggedError("PermissionDenied")<Common> {}
/** The sandbox does not exist (any more). Permanent: never retried. */
export class SandboxNotFound extends Data.TaggedError("SandboxNotFound")<Common> {}
/** The provider asked us to slow down; `retryAfter` is the server's hint when it gave one. Retried. */
export class RateLimited extends Data.TaggedError("RateLimited")<Common & { readonly retryAfter?: Duration.Duration | undefined }> {}
/** An account limit (concurrent sandboxes, credits) was reached. Waiting does not help: never retried. */
export class QuotaExceeded extends Data.TaggedError("QuotaExceeded")<Common> {}
/** 5xx, connection reset, DNS failure: the provider could not be reached or answered badly. Retried. */
export class ProviderUnavailable extends Data.TaggedError("ProviderUnavailable")<Common & { readonly status?: number | undefined }> {}
/** The sandbox did not become ready within the readiness schedule. The half-created sandbox has been destroyed. */
export class StartupTimeout extends Data.TaggedError("StartupTimeout")<Common> {}
/** A command ran past its timeout; the process was killed. */
export class CommandTimeout extends Data.TaggedError("CommandTimeout")<Common & { readonly timeoutMs: number }> {}
/** A file or directory in the sandbox does not exist. */
export class FileNotFound extends Data.TaggedError("FileNotFound")<Common & { readonly path: string }> {}
/** The provider does not declare this capability. */
export class Unsupported extends Data.TaggedError("Unsupported")<Common & { readonly capability: string }> {}
/** Anything else, with the provider's raw status and message. */
export class ProviderError extends Data.TaggedError("ProviderError")<Common & { readonly status?: number | undefined }> {}

export type SandboxError =
  | InvalidRequest
  | AuthenticationFailed
  | PermissionDenied
  | SandboxNotFound
  | RateLimited
  | QuotaExceeded
  | ProviderUnavailable
  | StartupTimeout
  | CommandTimeout
  | FileNotFound
  | Unsupported
  | ProviderError

export type SandboxErrorTag = SandboxError["_tag"]

export const sandboxErrorTags: ReadonlyArray<SandboxErrorTag> = [
  "InvalidRequest",
  "AuthenticationFailed",
  "PermissionDenied",
  "SandboxNotFound",
  "RateLimited",
  "QuotaExceeded",
  "ProviderUnavailable",
  "StartupTimeout",
  "CommandTimeout",
  "FileNotFound",
  "Unsupported",
  "ProviderError"
]

const tagSet: ReadonlySet<string> = new Set(sandboxErrorTags)

/** True for any of the tagged errors above (used by tests and by adapters to pass core errors through untouched). */
export const isSandboxError = (u: unknown): u is SandboxError =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string" && tagSet.has(u._tag) &&
  "provider" in u

/** Errors a retry may fix. Everything else is permanent. */
export const isTransient = (error: SandboxError): error is RateLimited | ProviderUnavailable =>
  error._tag === "RateLimited" || error._tag === "ProviderUnavailable"
