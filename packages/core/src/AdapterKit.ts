/**
 * Small pieces every provider adapter needs, kept here once: capped output collection, `Retry-After` parsing, and
 * scrubbing secrets out of text before it reaches an error message or a cause. Pure and runtime-neutral.
 */
import { Duration } from "effect"
import type { ExecResult } from "./Sandbox.ts"

const encoder = new TextEncoder()

/** Collects a stream's output up to `limit` bytes; what is past the limit is dropped and `truncated` says so. */
export class OutputCollector {
  private readonly chunks: Array<Uint8Array> = []
  private size = 0
  private readonly limit: number
  /** Output past the limit was dropped. */
  truncated = false
  constructor(limit: number) {
    this.limit = limit
  }
  push(data: Uint8Array | string): void {
    const chunk = typeof data === "string" ? encoder.encode(data) : data
    const room = this.limit - this.size
    if (room <= 0) {
      this.truncated ||= chunk.byteLength > 0
      return
    }
    const kept = chunk.byteLength > room ? chunk.subarray(0, room) : chunk
    if (kept !== chunk) this.truncated = true
    this.chunks.push(kept)
    this.size += kept.byteLength
  }
  bytes(): Uint8Array {
    const all = new Uint8Array(this.size)
    let offset = 0
    for (const chunk of this.chunks) {
      all.set(chunk, offset)
      offset += chunk.byteLength
    }
    return all
  }
  /** UTF-8 text; a cut in the middle of a character decodes to a replacement character at the end. */
  text(): string {
    return new TextDecoder().decode(this.bytes())
  }
}

/** The default `maxOutputBytes`: 16 MiB per stream. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024

/** A command's two output streams, each capped, timed from when this is made: what an `ExecResult` is built from. */
export class CommandOutput {
  readonly stdout: OutputCollector
  readonly stderr: OutputCollector
  private readonly startedAt = performance.now()
  constructor(maxOutputBytes: number = DEFAULT_MAX_OUTPUT_BYTES) {
    this.stdout = new OutputCollector(maxOutputBytes)
    this.stderr = new OutputCollector(maxOutputBytes)
  }
  /** The result of the command, ended now with `exitCode`. */
  result(exitCode: number): ExecResult {
    return {
      exitCode,
      stdout: this.stdout.text(),
      stderr: this.stderr.text(),
      durationMs: performance.now() - this.startedAt,
      truncated: this.stdout.truncated || this.stderr.truncated
    }
  }
}

/**
 * A `Retry-After` value: whole (or fractional) seconds, or an HTTP date (relative to `now`). Anything else, or
 * nothing, is `undefined`.
 */
export const parseRetryAfter = (value: unknown, now: number = Date.now()): Duration.Duration | undefined => {
  if (typeof value !== "string" || value.trim() === "") return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Duration.millis(Number(trimmed) * 1000)
  // An HTTP date has a weekday and month name; a bare "-1" would otherwise parse as a date in year -1.
  const date = /[A-Za-z]/.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

/**
 * Replace every known secret (values of at least 4 characters) and every match of `patterns` (a provider's key
 * shapes) in `text` with `<redacted>`. A pattern given as `[regexp, replacement]` keeps what the replacement keeps.
 */
export const redactSecrets = (
  text: string,
  secrets: Iterable<string>,
  patterns: ReadonlyArray<RegExp | readonly [RegExp, string]> = []
): string => {
  let out = text
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("<redacted>")
  for (const pattern of patterns) {
    out = Array.isArray(pattern) ? out.replace(pattern[0], pattern[1]) : out.replace(pattern as RegExp, "<redacted>")
  }
  return out
}

/** Where an adapter keeps the secrets it has seen (its key, per-sandbox tokens), for `redactSecrets`. */
export interface SecretSource {
  readonly values: () => ReadonlyArray<string>
}

/** A property of a thrown value of unknown type (`undefined` when it is not an object). */
export const fieldOf = (thrown: unknown, key: string): unknown =>
  typeof thrown === "object" && thrown !== null ? (thrown as Record<string, unknown>)[key] : undefined

/** The text of a thrown value: an `Error`'s message, a string as is, anything else as JSON. */
export const messageOfThrown = (thrown: unknown): string =>
  thrown instanceof Error ? thrown.message : typeof thrown === "string" ? thrown : JSON.stringify(thrown) ?? String(thrown)

/**
 * A POSIX path inside a sandbox: `path` resolved against `base` (`/a/b` + `c/../d` → `/a/b/d`); an absolute `path`
 * wins. Pure string work, never the host's path module: the sandbox's file system is not the host's.
 */
export const joinSandboxPath = (base: string, path: string): string => {
  const parts: Array<string> = []
  for (const part of (path.startsWith("/") ? path : `${base}/${path}`).split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  return "/" + parts.join("/")
}

/**
 * How runtimes and HTTP clients report a connection that dropped or was refused (undici, node:http and http2, Bun,
 * Deno), in an error's message, `code` or `type`. Such a failure says nothing about the request: it is transient.
 */
export const LOST_CONNECTION_MARKERS: ReadonlyArray<string> = [
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "UND_ERR_SOCKET",
  "socket hang up",
  "fetch failed",
  "terminated",
  "other side closed",
  "connection closed",
  "connection reset",
  "Connection refused",
  "network error",
  "Network connection lost",
  "The socket connection was closed unexpectedly",
  "error reading a body from connection"
]

/**
 * Whether `thrown`, or a `cause` below it (SDKs wrap the transport's error, up to 5 levels deep here), reports a lost
 * connection: one of `LOST_CONNECTION_MARKERS`, or of a provider's `extraMarkers`, in its message, code or type.
 */
export const isLostConnection = (thrown: unknown, extraMarkers: ReadonlyArray<string> = []): boolean => {
  for (let error = thrown, depth = 0; depth < 5 && typeof error === "object" && error !== null; error = fieldOf(error, "cause"), depth++) {
    const text = ["message", "code", "type"].map((key) => String(fieldOf(error, key) ?? "")).join(" ")
    if (LOST_CONNECTION_MARKERS.some((m) => text.includes(m)) || extraMarkers.some((m) => text.includes(m))) return true
  }
  return false
}
