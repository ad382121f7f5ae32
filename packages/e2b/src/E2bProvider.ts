/**
 * `@sandkit/e2b`: E2B sandboxes (Firecracker microVMs) as a Sandkit provider, through the official `e2b` and
 * `@e2b/code-interpreter` SDKs.
 *
 * ```ts
 * Effect.provide(program, E2bProvider.layerConfig())        // E2B_API_KEY from the environment
 * Effect.provide(program, E2bProvider.layer({ apiKey: Redacted.make(key) }))
 * ```
 */
import type { Capabilities, DriverSandbox, ResolvedSpec, SandboxDriver, SandboxError, SandboxInfo } from "@sandkit/core"
import {
  AuthenticationFailed,
  InvalidRequest,
  layerFromDriver,
  ProviderError,
  RetryPolicy,
  type SandboxProvider,
  toMillis,
  Unsupported,
  withTransientRetry,
  joinSandboxPath
} from "@sandkit/core"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { type Api, makeApi, type NewSandbox } from "./internal/api.ts"
import { type E2bOptions, resolveConfig } from "./internal/config.ts"
import { PROVIDER } from "./internal/errors.ts"
import { CREATE_KEY, CWD_KEY, DEFAULT_HOME, type Deps, infoOf, NAME_KEY, openSandbox } from "./internal/sandbox.ts"

export type { E2bOptions } from "./internal/config.ts"
export { defaultRunCodeLanguages, defaultTemplate } from "./internal/config.ts"
export { exitCodeOf } from "./internal/commands.ts"
export { redact } from "./internal/errors.ts"

/** `0.1.0`-style versions; below the SDK's minimum the template is too old to talk to. */
const versionBelow = (version: string, minimum: string): boolean => {
  const parse = (v: string) => v.split(/[.-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0)
  const [a, b] = [parse(version), parse(minimum)]
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] ?? 0) < (b[i] ?? 0)
  return false
}

const unsupported = (capability: string, message: string) => new Unsupported({ provider: PROVIDER, capability, message })

const capabilitiesOf = (runCode: ReadonlyArray<string>): Capabilities => ({
  execStream: true,
  spawn: true,
  stdin: true,
  output: "separate",
  files: true,
  bulkTransfer: true,
  exposePort: true,
  runCode,
  setTimeout: true,
  pause: true,
  template: true,
  isolation: "microvm"
})

/** The create request for a spec. Resources come with the template on E2B, so an explicit request is refused. */
const createBody = (spec: ResolvedSpec, template: string, lifetimeMs: number | undefined): Effect.Effect<NewSandbox, Unsupported> => {
  if (spec.image !== undefined) {
    return Effect.fail(unsupported("image", "E2B runs templates, not images: build a template from the image (e2b template build) and pass `template`"))
  }
  if (spec.resources !== undefined || spec.size !== undefined) {
    return Effect.fail(unsupported("resources", "E2B sandboxes get their CPU and memory from the template; build a template with the resources you need"))
  }
  const metadata: Record<string, string> = { ...spec.labels }
  if (spec.name !== undefined) metadata[NAME_KEY] = spec.name
  if (spec.cwd !== undefined) metadata[CWD_KEY] = spec.cwd
  metadata[CREATE_KEY] = globalThis.crypto.randomUUID()
  return Effect.succeed({
    templateID: spec.template ?? template,
    metadata,
    ...(spec.env === undefined ? {} : { envVars: { ...spec.env } }),
    ...(lifetimeMs === undefined ? {} : { timeout: Math.max(1, Math.ceil(lifetimeMs / 1000)) }),
    ...(spec.network?.outbound === undefined ? {} : { allow_internet_access: spec.network.outbound })
  })
}

/**
 * Create once. A 503 means the service refused before placing anything (E2B: "no capacity"), so it is safe to
 * send again even though `create` is not idempotent; core only retries `RateLimited` for creates, so the 503s are
 * retried here, under the same `transient` schedule.
 */
const createOnce = (api: Api, body: NewSandbox) =>
  Effect.gen(function*() {
    const policy = yield* RetryPolicy
    return yield* api.create(body).pipe(
      Effect.tapError((error) => destroyLostCreate(api, body, error)),
      Effect.retry({ schedule: policy.transient, while: (e: SandboxError) => e._tag === "ProviderUnavailable" && e.status === 503 }),
      // A create has no sandbox to miss: its 404 is the template.
      Effect.mapError((e): SandboxError =>
        e._tag === "SandboxNotFound"
          ? new InvalidRequest({ provider: PROVIDER, field: "template", message: `no E2B template ${body.templateID}: ${e.message}`, cause: e.cause })
          : e
      )
    )
  })

/**
 * A create whose answer was lost (connection reset or cut, timeout, a gateway's 5xx) may have made a sandbox that
 * nothing names: it would run until E2B's timeout. Find it by the request's `CREATE_KEY` and kill it. A 503 is E2B
 * refusing before placing anything, so there is nothing to look for.
 */
const destroyLostCreate = (api: Api, body: NewSandbox, error: SandboxError): Effect.Effect<void> => {
  const nonce = body.metadata?.[CREATE_KEY]
  if (error._tag !== "ProviderUnavailable" || error.status === 503 || nonce === undefined) return Effect.void
  return withTransientRetry(api.list({ metadata: { [CREATE_KEY]: nonce } })).pipe(
    Effect.flatMap((found) => Effect.forEach(found, (detail) => withTransientRetry(api.kill(detail.sandboxID)), { discard: true })),
    Effect.ignore
  )
}

/** Build the driver (no network call until the first operation). An empty API key fails here, not on first use. */
export const make = (options: E2bOptions): Effect.Effect<SandboxDriver, AuthenticationFailed> =>
  Effect.suspend(() => {
    if (Redacted.value(options.apiKey).trim() === "") {
      return Effect.fail(new AuthenticationFailed({ provider: PROVIDER, message: "the E2B API key is empty (set E2B_API_KEY)" }))
    }
    const config = resolveConfig(options)
    const api = makeApi(config)
    const deps: Deps = { config, api, codeContexts: new Map() }

    const forget = (id: string) => {
      deps.codeContexts.delete(id)
      config.secrets.forget(id)
    }

    const create = (spec: ResolvedSpec): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const lifetimeMs = spec.lifetime?.maxLifetime === undefined ? config.defaultLifetimeMs : toMillis(spec.lifetime.maxLifetime)
        const body = yield* createBody(spec, config.template, lifetimeMs)
        const connection = yield* createOnce(api, body)
        const now = Date.now()
        // From here on a sandbox exists: any failure (a template too old, envd never answering) destroys it.
        return yield* Effect.gen(function*() {
          if (versionBelow(connection.envdVersion, "0.1.0")) {
            return yield* new ProviderError({
              provider: PROVIDER,
              sandboxId: connection.sandboxID,
              message: `template ${body.templateID} runs envd ${connection.envdVersion}, too old for this SDK: rebuild the template`
            })
          }
          const info: Omit<SandboxInfo, "workdir"> = {
            id: connection.sandboxID,
            provider: PROVIDER,
            name: spec.name,
            state: "running",
            labels: { ...spec.labels },
            createdAt: new Date(now),
            expiresAt: lifetimeMs === undefined ? undefined : new Date(now + lifetimeMs),
            image: body.templateID
          }
          return yield* openSandbox(deps, connection, info, spec.cwd)
        }).pipe(
          Effect.onError(() => Effect.ignore(api.kill(connection.sandboxID)).pipe(Effect.andThen(Effect.sync(() => forget(connection.sandboxID)))))
        )
      })

    const connect = (id: string): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const connection = yield* api.connect(id)
        const detail = yield* api.info(id)
        const { workdir: _, ...info } = infoOf(detail, DEFAULT_HOME)
        return yield* openSandbox(deps, connection, info, detail.metadata?.[CWD_KEY])
      })

    const driver: SandboxDriver = {
      name: PROVIDER,
      capabilities: capabilitiesOf(config.runCodeLanguages),
      create,
      connect,
      list: (filter) => {
        // E2B lists running and paused sandboxes; a stopped one is gone, a starting one is not visible yet.
        if (filter.state === "starting" || filter.state === "stopped") return Effect.succeed([])
        return Effect.map(
          api.list({ metadata: filter.labels, state: filter.state === undefined ? undefined : [filter.state] }),
          (details) =>
            details.map((detail) => {
              const home = config.knownHome(detail.sandboxID) ?? DEFAULT_HOME
              const cwd = detail.metadata?.[CWD_KEY]
              return infoOf(detail, cwd === undefined ? home : joinSandboxPath(home, cwd))
            })
        )
      },
      destroy: (id) => Effect.map(api.kill(id), () => forget(id))
    }
    return Effect.succeed(driver)
  })

/** The E2B provider as a `SandboxProvider` layer. */
export const layer = (options: E2bOptions): Layer.Layer<SandboxProvider, AuthenticationFailed> => layerFromDriver(make(options))

/**
 * Options from the environment: `E2B_API_KEY` (required, kept `Redacted`), and optionally `E2B_API_URL`,
 * `E2B_SANDBOX_URL`, `E2B_DOMAIN`. Anything else comes from `extra`.
 */
export const layerConfig = (
  extra: Omit<E2bOptions, "apiKey" | "apiUrl" | "sandboxUrl" | "domain"> = {}
): Layer.Layer<SandboxProvider, Config.ConfigError | AuthenticationFailed> =>
  Layer.unwrap(Effect.gen(function*() {
    const apiKey = yield* Config.Redacted("E2B_API_KEY")
    const optional = (name: string) => Config.String(name).pipe(Config.option, Config.map(Option.getOrUndefined))
    const apiUrl = yield* optional("E2B_API_URL")
    const sandboxUrl = yield* optional("E2B_SANDBOX_URL")
    const domain = yield* optional("E2B_DOMAIN")
    return layer({ ...extra, apiKey, apiUrl, sandboxUrl, domain })
  }))
