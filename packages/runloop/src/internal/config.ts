/**
 * Adapter options and the SDK client built from them. The API key stays `Redacted` until the one place it is
 * handed to the SDK. The SDK's own retries are off (`maxRetries: 0`) so the core `transient` schedule alone decides
 * how many attempts are made; its transport stays the default (HTTP/2 on Node) unless `http2: false`.
 */
import { Runloop } from "@runloop/api-client"
import { Duration, Redacted } from "effect"
import type { Secrets } from "./errors.ts"

export interface RunloopOptions {
  /** The Runloop API key (`RUNLOOP_API_KEY`). */
  readonly apiKey: Redacted.Redacted<string>
  /** API base URL. Default `https://api.runloop.ai`. */
  readonly baseUrl?: string | undefined
  /** HTTP/2 (the SDK's default on Node) or, with `false`, HTTP/1.1. */
  readonly http2?: boolean | undefined
  /** `"openhands"`: devboxes are LARGE unless the spec says otherwise (the OpenHands runtime's choice). */
  readonly profile?: "default" | "openhands" | undefined
  /** Blueprint (name, or `bpt_…` id) for specs that name no `image` / `template`. Default: Runloop's base image. */
  readonly blueprint?: string | undefined
  /** Time limit of one request (long polls hold up to ~30 s server-side). Default 60 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Tunnels for `exposePort`: `open` (default) or `authenticated` (the URL then needs the returned token). */
  readonly tunnelAuth?: "open" | "authenticated" | undefined
  /**
   * The URL for a port behind a devbox's tunnel. Default `https://{port}-{tunnelKey}.tunnel.<domain>`, the domain
   * being the API host without its `api.` (`tunnel.runloop.ai`). The emulator passes its own (`RunloopEmulator.tunnelUrl`).
   */
  readonly tunnelUrl?: ((target: { readonly tunnelKey: string; readonly port: number; readonly devboxId: string }) => string) | undefined
  /**
   * The devbox user's home, when known in advance (Runloop's images: `/home/user`; the emulator: `emulator.homeOf`).
   * Without it the adapter asks each devbox it opens (`pwd`: one command); with it, only when the spec has a `cwd`.
   */
  readonly home?: string | ((devboxId: string) => string | undefined) | undefined
}

export const DEFAULT_BASE_URL = "https://api.runloop.ai"

export interface ResolvedConfig {
  readonly client: Runloop
  readonly baseUrl: string
  readonly profile: "default" | "openhands"
  readonly blueprint: string | undefined
  readonly requestTimeoutMs: number
  readonly tunnelAuth: "open" | "authenticated"
  readonly tunnelUrl: NonNullable<RunloopOptions["tunnelUrl"]>
  readonly home: (devboxId: string) => string | undefined
  /** The API key plus the tunnel tokens this driver has seen: never in a message or a cause. */
  readonly secrets: Secrets & { readonly add: (value: string | null | undefined) => void }
}

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

type FetchArgs = Parameters<Runloop["fetchWithTimeout"]>

/**
 * The SDK client, holding the key where nothing prints it. The SDK builds every request's headers with its bearer
 * token and, when `DEBUG=true` is in the environment, logs them; here it is given a placeholder, and the real
 * `Authorization` header is put in only as the request leaves (`fetchWithTimeout`, after the debug log), through
 * whichever transport the SDK chose. The key lives in a private field: not enumerable, not serialisable.
 */
class KeyedRunloop extends Runloop {
  readonly #authorization: string
  constructor(apiKey: string, options: Omit<NonNullable<ConstructorParameters<typeof Runloop>[0]>, "bearerToken">) {
    super({ ...options, bearerToken: "<redacted>" })
    this.#authorization = `Bearer ${apiKey}`
  }
  override fetchWithTimeout(url: FetchArgs[0], init: FetchArgs[1], ms: FetchArgs[2], controller: FetchArgs[3]) {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries((init?.headers ?? {}) as Record<string, string>)) {
      if (name.toLowerCase() !== "authorization") headers[name] = value
    }
    headers["Authorization"] = this.#authorization
    return super.fetchWithTimeout(url, { ...init, headers }, ms, controller)
  }
}

/** `https://api.runloop.ai` → `tunnel.runloop.ai`. */
export const tunnelDomain = (baseUrl: string): string => {
  const host = new URL(baseUrl).hostname
  return `tunnel.${host.startsWith("api.") ? host.slice(4) : host}`
}

export const resolveConfig = (options: RunloopOptions): ResolvedConfig => {
  const apiKey = Redacted.value(options.apiKey)
  const baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "")
  const requestTimeoutMs = options.requestTimeout === undefined ? 60_000 : millis(options.requestTimeout)
  const tokens = new Set<string>()
  const domain = tunnelDomain(baseUrl)
  return {
    client: new KeyedRunloop(apiKey, {
      baseURL: baseUrl,
      maxRetries: 0,
      timeout: requestTimeoutMs,
      ...(options.http2 === undefined ? {} : { http2: options.http2 })
    }),
    baseUrl,
    profile: options.profile ?? "default",
    blueprint: options.blueprint,
    requestTimeoutMs,
    tunnelAuth: options.tunnelAuth ?? "open",
    tunnelUrl: options.tunnelUrl ?? (({ port, tunnelKey }) => `https://${port}-${tunnelKey}.${domain}`),
    home: typeof options.home === "function" ? options.home : () => options.home as string | undefined,
    secrets: {
      values: () => [apiKey, ...tokens],
      add: (value) => {
        if (value !== null && value !== undefined && value !== "") tokens.add(value)
      }
    }
  }
}
