/**
 * Adapter options and what they resolve to. The API key stays `Redacted` until the one place it is handed to the
 * SDK. Defaults follow OpenHands' Daytona runtime: auto-stop after 60 idle minutes, sandboxes deleted when the scope
 * that created them closes.
 */
import type { SecretSource } from "@sandkit/core"
import { Duration, Redacted } from "effect"

export type CodeLanguage = "python" | "typescript" | "javascript"

export interface DaytonaOptions {
  /** The Daytona API key. */
  readonly apiKey: Redacted.Redacted<string>
  /** API URL. Default `https://app.daytona.io/api`. */
  readonly apiUrl?: string | undefined
  /** Target region (`us`, `eu`, …). Default: the organisation's default. */
  readonly target?: string | undefined
  /**
   * Auto-stop a sandbox after this long without activity, when its spec has no `lifetime.idleTimeout`. Whole
   * minutes (rounded up). Default 60 minutes (OpenHands); `false` disables auto-stop.
   */
  readonly autoStop?: Duration.Input | false | undefined
  /**
   * Delete a sandbox when the scope that created it closes (OpenHands' `DAYTONA_DELETE_ON_CLOSE`). Default true;
   * with false, `create` and `findOrCreate` leave their sandboxes behind (stopped by auto-stop, found again by label).
   */
  readonly deleteOnClose?: boolean | undefined
  /** The sandbox's code-toolbox language, which `runCode` runs. Default `python`. */
  readonly language?: CodeLanguage | undefined
  /** Snapshot used when the spec names no `template` or `image`. Default: Daytona's default snapshot. */
  readonly snapshot?: string | undefined
  /** OS user commands run as. Default: the snapshot's (`daytona`). */
  readonly user?: string | undefined
  /**
   * The sandboxes' work dir (absolute), when known in advance: `create` and `connect` then skip asking the toolbox
   * for it. Default: ask (Daytona's default snapshot uses `/home/daytona`).
   */
  readonly workdir?: string | undefined
  /** Make preview links public (no token needed). Default false. */
  readonly public?: boolean | undefined
  /** Time limit of one control-plane or file request. Default 60 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /**
   * Use the SDK's socket.io event channel (default true): state waits finish as soon as the event arrives. With
   * false the SDK polls instead and opens no socket at all.
   */
  readonly events?: boolean | undefined
}

/** What a `size` maps to (vCPU, GiB of memory, GiB of disk). */
export const sizes = {
  small: { cpu: 1, memory: 1, disk: 3 },
  medium: { cpu: 2, memory: 4, disk: 5 },
  large: { cpu: 4, memory: 8, disk: 10 },
  xlarge: { cpu: 8, memory: 16, disk: 10 }
} as const

export const DEFAULT_API_URL = "https://app.daytona.io/api"
export const DEFAULT_AUTO_STOP_MINUTES = 60

/** Everything the SDK constructor gets (the plain key only lives inside this object). */
export interface SdkConfig {
  readonly apiKey: string
  readonly apiUrl: string
  readonly target?: string
  readonly requestTimeoutMs: number
  readonly useDeprecatedPolling: boolean
  readonly otelEnabled: false
}

export interface ResolvedConfig {
  readonly sdk: SdkConfig
  readonly target: string | undefined
  /** Minutes; 0 disables. */
  readonly autoStopMinutes: number
  readonly deleteOnClose: boolean
  readonly language: CodeLanguage
  readonly snapshot: string | undefined
  readonly user: string | undefined
  readonly workdir: string | undefined
  readonly public: boolean
  readonly requestTimeoutMs: number
  /** Secrets known to this driver: the key and the preview tokens it has seen. */
  readonly secrets: Secrets
}

export interface Secrets extends SecretSource {
  readonly add: (value: string | undefined) => void
}

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

/** Whole minutes, rounded up, at least 1. */
export const minutesOf = (input: Duration.Input): number => Math.max(1, Math.ceil(millis(input) / 60_000))

export const resolveConfig = (options: DaytonaOptions): ResolvedConfig => {
  const apiKey = Redacted.value(options.apiKey)
  const requestTimeoutMs = options.requestTimeout === undefined ? 60_000 : millis(options.requestTimeout)
  const tokens = new Set<string>()
  return {
    sdk: {
      apiKey,
      apiUrl: options.apiUrl ?? DEFAULT_API_URL,
      ...(options.target === undefined ? {} : { target: options.target }),
      requestTimeoutMs,
      useDeprecatedPolling: options.events === false,
      otelEnabled: false
    },
    target: options.target,
    autoStopMinutes: options.autoStop === false
      ? 0
      : options.autoStop === undefined
      ? DEFAULT_AUTO_STOP_MINUTES
      : minutesOf(options.autoStop),
    deleteOnClose: options.deleteOnClose ?? true,
    language: options.language ?? "python",
    snapshot: options.snapshot,
    user: options.user,
    workdir: options.workdir,
    public: options.public ?? false,
    requestTimeoutMs,
    secrets: {
      values: () => [apiKey, ...tokens],
      add: (value) => {
        if (value !== undefined && value.length >= 8) tokens.add(value)
      }
    }
  }
}
