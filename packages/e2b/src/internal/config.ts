/**
 * Adapter options and the SDK connection options built from them. The API key stays `Redacted` until the one
 * place it is handed to the SDK; the SDK's own 429 retries are switched off (`retries: 0`) so the core `transient`
 * schedule alone decides how many attempts are made, and `debug` is pinned off so an `E2B_DEBUG` in the
 * environment cannot silently turn every call into a no-op.
 */
import { Duration, Redacted } from "effect"
import type { Secrets } from "./errors.ts"

export interface E2bOptions {
  /** The E2B API key. */
  readonly apiKey: Redacted.Redacted<string>
  /** Control-plane URL (default `https://api.<domain>`). */
  readonly apiUrl?: string | undefined
  /** One URL for every sandbox's data plane (local development and the emulator). */
  readonly sandboxUrl?: string | undefined
  /** E2B domain (default `e2b.app`). */
  readonly domain?: string | undefined
  /** Template used when the spec names none. Default `code-interpreter-v1` (it has the code interpreter). */
  readonly template?: string | undefined
  /** Lifetime of a sandbox whose spec has no `lifetime.maxLifetime`. Default: E2B's (300 s). */
  readonly defaultLifetime?: Duration.Input | undefined
  /**
   * The template's working directory (where commands start; E2B's templates: `/home/user`), or a lookup by sandbox
   * id. When it is known, create and connect trust E2B (whose create answers once envd is up) and skip the envd
   * call that otherwise waits for the sandbox and asks it for its home: one round trip less per create.
   * Default: ask the sandbox.
   */
  readonly workdir?: string | ((sandboxId: string) => string | undefined) | undefined
  /** Time limit of one control-plane or file request. Default 60 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Languages declared for `runCode`, the first being the default. Default the code interpreter's. */
  readonly runCodeLanguages?: ReadonlyArray<string> | undefined
  /**
   * The URL for a port inside a sandbox, from the host name E2B assigns it (`<port>-<id>.<domain>`).
   * Default `https://<host>`. The emulator passes its own (`E2bEmulator.portUrl`).
   */
  readonly portUrl?: ((target: { readonly host: string; readonly port: number; readonly sandboxId: string }) => string) | undefined
}

export const defaultTemplate = "code-interpreter-v1"

/** What E2B's code interpreter runs. */
export const defaultRunCodeLanguages: ReadonlyArray<string> = ["python", "javascript", "typescript", "r", "java", "bash"]

/** The connection options every SDK call gets (the plain key only lives inside this object, handed to the SDK). */
export interface SdkConnection {
  readonly apiKey: string
  readonly apiUrl?: string
  readonly sandboxUrl?: string
  readonly domain?: string
  readonly debug: false
  readonly retries: 0
  readonly requestTimeoutMs: number
}

export interface ResolvedConfig {
  readonly connection: SdkConnection
  readonly template: string
  readonly defaultLifetimeMs: number | undefined
  readonly requestTimeoutMs: number
  readonly runCodeLanguages: ReadonlyArray<string>
  readonly portUrl: NonNullable<E2bOptions["portUrl"]>
  /** The known home of a sandbox, if configured. */
  readonly knownHome: (sandboxId: string) => string | undefined
  /** Secrets known to this driver: the key, plus the envd/traffic tokens of the sandboxes it talks to. */
  readonly secrets: Secrets & {
    readonly add: (sandboxId: string, ...values: ReadonlyArray<string | undefined>) => void
    readonly forget: (sandboxId: string) => void
  }
}

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

export const resolveConfig = (options: E2bOptions): ResolvedConfig => {
  const requestTimeoutMs = options.requestTimeout === undefined ? 60_000 : millis(options.requestTimeout)
  const apiKey = Redacted.value(options.apiKey)
  const tokens = new Map<string, ReadonlyArray<string>>()
  return {
    connection: {
      apiKey,
      ...(options.apiUrl === undefined ? {} : { apiUrl: options.apiUrl }),
      ...(options.sandboxUrl === undefined ? {} : { sandboxUrl: options.sandboxUrl }),
      ...(options.domain === undefined ? {} : { domain: options.domain }),
      debug: false,
      retries: 0,
      requestTimeoutMs
    },
    template: options.template ?? defaultTemplate,
    defaultLifetimeMs: options.defaultLifetime === undefined ? undefined : millis(options.defaultLifetime),
    requestTimeoutMs,
    runCodeLanguages: options.runCodeLanguages ?? defaultRunCodeLanguages,
    portUrl: options.portUrl ?? (({ host }) => `https://${host}`),
    knownHome: (sandboxId) => typeof options.workdir === "function" ? options.workdir(sandboxId) : options.workdir,
    secrets: {
      values: () => [apiKey, ...[...tokens.values()].flat()],
      add: (sandboxId, ...values) => {
        const kept = values.filter((v): v is string => v !== undefined && v !== "")
        if (kept.length > 0) tokens.set(sandboxId, kept)
      },
      forget: (sandboxId) => {
        tokens.delete(sandboxId)
      }
    }
  }
}
