/**
 * Building the SDK's `ModalClient` without letting a user's profile leak in, and with the SDK's own retries out of
 * the way of the core schedule.
 *
 * **Profile.** `modal` 0.11 reads `~/.modal.toml` (or `MODAL_CONFIG_PATH`) once, when the module is imported, and
 * the `MODAL_*` environment variables when a client is constructed; only the token, environment and throttle
 * wait can be given to the constructor, and the server URL cannot be given at all. So, while the client is
 * constructed (synchronously, nothing else runs in between), the adapter pins every variable the SDK reads:
 * `MODAL_PROFILE` names a profile no file has (so no section of any `.modal.toml` applies), `MODAL_SERVER_URL` is
 * the adapter's `serverUrl`, `MODAL_SANDBOX_V2` is on, and the rest (`MODAL_TOKEN_*`, `MODAL_OAUTH_*`,
 * `MODAL_ENVIRONMENT`, `MODAL_IMAGE_BUILDER_VERSION`, `MODAL_LOGLEVEL`, `MODAL_MAX_THROTTLE_WAIT`,
 * `MODAL_SANDBOX_CHANNEL_IDLE_TIMEOUT`) are removed or set from the options; the environment is restored right
 * after. Precedence is therefore: adapter options › (with `layerConfig`) `MODAL_TOKEN_ID`, `MODAL_TOKEN_SECRET`,
 * `MODAL_ENVIRONMENT`, `MODAL_SERVER_URL` › the adapter's defaults. The profile file is never used.
 *
 * **Retries.** The SDK retries control-plane calls 3 times on transient codes and waits out server throttling on its
 * own. The adapter's middleware (outermost in the SDK's chain) sets `retries: 0` on every control-plane call and
 * the client is built with `maxThrottleWaitSecs: 0`, so each SDK call is one RPC and the core `transient` schedule
 * alone decides the attempts, honouring the server's `RPCRetryPolicy` (recorded from `grpc-status-details-bin`) as
 * `RateLimited.retryAfter`. The one exception is `SandboxCreateV2`: the SDK re-sends it with the same
 * `x-idempotency-key`, which a re-send from the core could not do, and the core never retries a create after a
 * `ProviderUnavailable`, so its 4 attempts are the only layer. The command router has its own retry loop that the
 * SDK does not let us configure (see `errors.ts`).
 */
import { ModalClient } from "modal"
import { decodeRetryAfter, redact, setRetryHint } from "./errors.ts"
import type { ResolvedConfig } from "./config.ts"

/** A profile name no `.modal.toml` is expected to have: the SDK then applies none of the file's sections. */
export const PINNED_PROFILE = "sandkit-pinned-no-profile"

const PROFILE_VARIABLES = [
  "MODAL_PROFILE",
  "MODAL_SERVER_URL",
  "MODAL_TOKEN_ID",
  "MODAL_TOKEN_SECRET",
  "MODAL_OAUTH_REFRESH_TOKEN",
  "MODAL_OAUTH_CLIENT_ID",
  "MODAL_OAUTH_CLIENT_SECRET",
  "MODAL_OAUTH_JWT_KEY",
  "MODAL_ENVIRONMENT",
  "MODAL_IMAGE_BUILDER_VERSION",
  "MODAL_LOGLEVEL",
  "MODAL_MAX_THROTTLE_WAIT",
  "MODAL_SANDBOX_V2",
  "MODAL_SANDBOX_CHANNEL_IDLE_TIMEOUT"
] as const

/** Run `f` with exactly these `MODAL_*` variables set (others in `PROFILE_VARIABLES` removed), then restore. */
export const withPinnedEnvironment = <A>(values: Readonly<Record<string, string | undefined>>, f: () => A): A => {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env
  if (env === undefined) return f()
  const saved = new Map(PROFILE_VARIABLES.map((name) => [name, env[name]] as const))
  try {
    for (const name of PROFILE_VARIABLES) {
      const value = values[name]
      if (value === undefined) delete env[name]
      else env[name] = value
    }
    return f()
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete env[name]
      else env[name] = value
    }
  }
}

const CREATE_PATH = "/modal.client.ModalClient/SandboxCreateV2"

interface CallLike {
  readonly method: { readonly path: string }
  readonly request: unknown
  readonly next: (request: unknown, options: Record<string, unknown>) => AsyncGenerator<unknown, unknown, undefined>
}

/** Outermost SDK middleware: SDK retries off (but for keyed creates), the server's retry hint kept with the error. */
const retryPolicyMiddleware = async function*(call: CallLike, options: Record<string, unknown>) {
  let details: Uint8Array | undefined
  const outer = options["onTrailer"] as ((trailer: { get: (key: string) => unknown }) => void) | undefined
  const onTrailer = (trailer: { get: (key: string) => unknown }) => {
    const raw = trailer.get("grpc-status-details-bin")
    if (raw instanceof Uint8Array) details = raw
    outer?.(trailer)
  }
  try {
    return yield* call.next(call.request, {
      ...options,
      ...(call.method.path === CREATE_PATH ? {} : { retries: 0 }),
      onTrailer
    })
  } catch (error) {
    const hint = details === undefined ? undefined : decodeRetryAfter(details)
    if (hint !== undefined) setRetryHint(error, hint)
    throw error
  }
}

/** The SDK's log lines, secrets scrubbed, at or above `level`. */
const makeLogger = (config: ResolvedConfig) => {
  const order = { debug: 0, info: 1, warn: 2, error: 3 } as const
  const min = order[config.sdkLogLevel]
  const line = (level: keyof typeof order) => (message: string, ...args: Array<unknown>) => {
    if (order[level] < min) return
    const text = redact(`[modal ${level}] ${message} ${args.map((a) => a instanceof Error ? a.message : String(a)).join(" ")}`, config.secrets)
    if (level === "error" || level === "warn") console.warn(text)
    else console.log(text)
  }
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") }
}

/** A `ModalClient` for this configuration, built with the profile pinned (see above). */
export const makeClient = (config: ResolvedConfig): ModalClient =>
  withPinnedEnvironment(
    {
      MODAL_PROFILE: PINNED_PROFILE,
      MODAL_SERVER_URL: config.serverUrl,
      MODAL_SANDBOX_V2: "1",
      MODAL_IMAGE_BUILDER_VERSION: config.imageBuilderVersion
    },
    () =>
      new ModalClient({
        tokenId: config.tokenId,
        tokenSecret: config.tokenSecret,
        ...(config.environment === undefined ? {} : { environment: config.environment }),
        maxThrottleWaitSecs: 0,
        logger: makeLogger(config),
        logLevel: config.sdkLogLevel,
        grpcMiddleware: [retryPolicyMiddleware as never]
      })
  )
