/**
 * Adapter options and their defaults (OpenHands' Modal runtime: sandboxes live 60 minutes, ports are encrypted
 * tunnels). The token id and secret stay `Redacted` until the one place they are handed to the SDK.
 */
import { Duration, Redacted } from "effect"
import type { Secrets } from "./errors.ts"

export interface ModalOptions {
  /** The Modal token id (`ak-…`). */
  readonly tokenId: Redacted.Redacted<string>
  /** The Modal token secret (`as-…`). */
  readonly tokenSecret: Redacted.Redacted<string>
  /** Modal environment. Default: the workspace's default environment. */
  readonly environment?: string | undefined
  /** Control-plane URL. Default `https://api.modal.com:443`; the emulator passes its own `http://127.0.0.1:<port>`. */
  readonly serverUrl?: string | undefined
  /** The App the sandboxes belong to, looked up by name and created if missing. Default `"sandkit"`. */
  readonly appName?: string | undefined
  /** Registry image used when the spec names none. Default `python:3.12-slim`. */
  readonly image?: string | undefined
  /** Lifetime of a sandbox whose spec has no `lifetime.maxLifetime`. Default 60 minutes (OpenHands). */
  readonly defaultLifetime?: Duration.Input | undefined
  /**
   * Ports opened as encrypted tunnels on every sandbox (OpenHands' `encrypted_ports`): `exposePort` answers their
   * `https` tunnel URL. Any other port is reached through a connect token (`{ url, token }`).
   */
  readonly encryptedPorts?: ReadonlyArray<number> | undefined
  /**
   * While a command runs longer than this, the sandbox is checked this often, so a command whose sandbox ended
   * (timeout, termination) fails with `SandboxNotFound` instead of waiting forever. Default 5 seconds.
   */
  readonly livenessInterval?: Duration.Input | undefined
  /** The SDK's own log level; its lines go to the console. Default `"error"`. */
  readonly sdkLogLevel?: "debug" | "info" | "warn" | "error" | undefined
  /**
   * The sandboxes' working directory, when known in advance (absolute; e.g. the image's `WORKDIR`). It is passed to
   * Modal, and create then skips its readiness/workdir probe and its tag write (two round trips): the first command
   * waits for the sandbox to come up instead. Default: learnt from each new sandbox (`pwd`).
   */
  readonly workdir?: string | undefined
  /** Image builder version (skips asking the server). Default: the environment's. */
  readonly imageBuilderVersion?: string | undefined
}

export const DEFAULT_SERVER_URL = "https://api.modal.com:443"
export const DEFAULT_APP_NAME = "sandkit"
export const DEFAULT_IMAGE = "python:3.12-slim"
export const DEFAULT_LIFETIME = Duration.minutes(60)

export interface ResolvedConfig {
  readonly tokenId: string
  readonly tokenSecret: string
  readonly environment: string | undefined
  readonly serverUrl: string
  readonly appName: string
  readonly image: string
  readonly defaultLifetimeMs: number
  readonly encryptedPorts: ReadonlyArray<number>
  readonly livenessIntervalMs: number
  readonly sdkLogLevel: "debug" | "info" | "warn" | "error"
  readonly imageBuilderVersion: string | undefined
  readonly workdir: string | undefined
  /** Values that must never appear in a message, a cause or a log line. */
  readonly secrets: Secrets & { readonly add: (value: string) => void }
}

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

export const resolveConfig = (options: ModalOptions): ResolvedConfig => {
  const tokenId = Redacted.value(options.tokenId)
  const tokenSecret = Redacted.value(options.tokenSecret)
  const extra = new Set<string>()
  return {
    tokenId,
    tokenSecret,
    environment: options.environment === "" ? undefined : options.environment,
    serverUrl: options.serverUrl ?? DEFAULT_SERVER_URL,
    appName: options.appName ?? DEFAULT_APP_NAME,
    image: options.image ?? DEFAULT_IMAGE,
    defaultLifetimeMs: millis(options.defaultLifetime ?? DEFAULT_LIFETIME),
    encryptedPorts: options.encryptedPorts ?? [],
    livenessIntervalMs: millis(options.livenessInterval ?? Duration.seconds(5)),
    sdkLogLevel: options.sdkLogLevel ?? "error",
    imageBuilderVersion: options.imageBuilderVersion,
    workdir: options.workdir,
    secrets: {
      values: () => [tokenId, tokenSecret, ...extra],
      add: (value) => {
        if (value.length >= 8) extra.add(value)
      }
    }
  }
}

/** Modal timeouts are whole seconds: round a duration up to the next second. */
export const wholeSecondsMs = (ms: number): number => Math.max(1, Math.ceil(ms / 1000)) * 1000
