/**
 * `@sandkit/daytona`: Daytona sandboxes as a Sandkit provider, through the official `@daytonaio/sdk`.
 *
 * ```ts
 * Effect.provide(program, DaytonaProvider.layerConfig())      // DAYTONA_API_KEY (+ DAYTONA_API_URL, DAYTONA_TARGET)
 * Effect.provide(program, DaytonaProvider.layer({ apiKey: Redacted.make(key) }))
 * ```
 *
 * OpenHands' defaults: every sandbox auto-stops after 60 idle minutes (`autoStop: false` turns that off) and is
 * deleted when the scope that created it closes (`deleteOnClose: false`, or `DAYTONA_DELETE_ON_CLOSE=false`,
 * keeps it); `findOrCreate({ labels })` attaches to a labelled sandbox and starts it again if it was stopped.
 */
import type { Capabilities, DriverSandbox, ResolvedSpec, SandboxDriver, SandboxError, SandboxInfo } from "@sandkit/core"
import {
  awaitReadiness,
  makeProvider,
  ProviderError,
  SandboxNotFound,
  SandboxProvider,
  type SandboxProviderShape,
  withTransientRetry
} from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "@daytonaio/sdk"
import { Config, Effect, Layer, Option, Scope } from "effect"
import { type Client, type CreateBody, makeClient, type SandboxRecord } from "./internal/client.ts"
import { makeSessionPool, newSessionId, type SessionPool } from "./internal/commands.ts"
import { type DaytonaOptions, minutesOf, type ResolvedConfig, resolveConfig, sizes } from "./internal/config.ts"
import { fromSdkError, PROVIDER } from "./internal/errors.ts"
import {
  askWorkDir,
  CREATE_LABEL,
  CWD_LABEL,
  type Deps,
  infoOf,
  isGone,
  LANGUAGE_LABEL,
  openSandbox,
  SNAPSHOT_PREFIX,
  snapshotRefOf,
  statesFor,
  workdirOf
} from "./internal/sandbox.ts"

export type { CodeLanguage, DaytonaOptions } from "./internal/config.ts"
export { DEFAULT_API_URL, DEFAULT_AUTO_STOP_MINUTES, sizes } from "./internal/config.ts"
export { isQuotaMessage, redact } from "./internal/errors.ts"
export { commandBody, execScript, quote, spawnScript } from "./internal/commands.ts"
export { stateOf } from "./internal/sandbox.ts"

const capabilitiesOf = (config: ResolvedConfig): Capabilities => ({
  execStream: true,
  spawn: true,
  stdin: true,
  output: "separate",
  files: true,
  bulkTransfer: true,
  exposePort: true,
  runCode: [config.language],
  setTimeout: true,
  pause: true,
  snapshot: true,
  template: true,
  isolation: "microvm"
})

/** The `POST /sandbox` body for a spec. */
export const createBody = (config: ResolvedConfig, client: Pick<Client, "dockerfile">, spec: ResolvedSpec): CreateBody => {
  const labels: Record<string, string> = { ...spec.labels, [LANGUAGE_LABEL]: config.language }
  if (spec.cwd !== undefined) labels[CWD_LABEL] = spec.cwd
  const resources = spec.size !== undefined
    ? sizes[spec.size]
    : spec.resources === undefined
    ? undefined
    : {
      ...(spec.resources.cpu === undefined ? {} : { cpu: spec.resources.cpu }),
      ...(spec.resources.memoryMiB === undefined ? {} : { memory: Math.max(1, Math.ceil(spec.resources.memoryMiB / 1024)) }),
      ...(spec.resources.diskGiB === undefined ? {} : { disk: spec.resources.diskGiB })
    }
  const idle = spec.lifetime?.idleTimeout
  const snapshot = spec.from?.id ?? spec.template ?? (spec.image === undefined ? config.snapshot : undefined)
  return {
    ...(spec.name === undefined ? {} : { name: spec.name }),
    ...(snapshot === undefined ? {} : { snapshot }),
    ...(spec.image === undefined ? {} : { buildInfo: { dockerfileContent: client.dockerfile(spec.image) } }),
    ...(config.user === undefined ? {} : { user: config.user }),
    env: { ...spec.env },
    labels,
    public: config.public,
    ...(config.target === undefined ? {} : { target: config.target }),
    ...resources,
    autoStopInterval: idle === undefined ? config.autoStopMinutes : minutesOf(idle),
    ...(spec.lifetime?.maxLifetime === undefined ? {} : { ttlMinutes: minutesOf(spec.lifetime.maxLifetime) }),
    ...(spec.network?.outbound === false ? { networkBlockAll: true } : {})
  }
}

/** Build the driver in the current scope (the SDK client is disposed when it closes). No request is made yet. */
export const make = (options: DaytonaOptions): Effect.Effect<SandboxDriver, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = resolveConfig(options)
    const client = yield* makeClient(config)
    const pools = new Map<string, { readonly pool: SessionPool; readonly sdk: SdkSandbox }>()
    const sessionsFor = (sdk: SdkSandbox): SessionPool => {
      const known = pools.get(sdk.id)
      if (known !== undefined) return known.pool
      const pool = makeSessionPool()
      pools.set(sdk.id, { pool, sdk })
      return pool
    }
    // Runs before the client is disposed: idle exec sessions of sandboxes that outlive us are deleted (best effort).
    yield* Effect.addFinalizer(() =>
      Effect.forEach(
        [...pools.values()].flatMap(({ pool, sdk }) => pool.drain().map((id) => ({ id, sdk }))),
        ({ id, sdk }) => Effect.ignore(Effect.tryPromise(() => sdk.process.deleteSession(id))),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.timeoutOption("2 seconds"), Effect.asVoid)
    )
    const deps: Deps = { config, client, sessionsFor }
    /** SDK objects of the sandboxes this driver opened, so `destroy` needs no extra lookup. */
    const opened = new Map<string, SdkSandbox>()
    const ctx = (operation: string, sandboxId?: string) => ({ operation, sandboxId, secrets: config.secrets })
    const call = <A>(operation: string, sandboxId: string | undefined, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (error) => fromSdkError(error, ctx(operation, sandboxId)) })

    const open = (sdk: SdkSandbox, workDir: string | undefined): DriverSandbox => {
      opened.set(sdk.id, sdk)
      return openSandbox(deps, sdk, workDir)
    }

    const forget = (id: string) => {
      opened.delete(id)
      pools.delete(id)
    }

    const destroy = (id: string): Effect.Effect<void, SandboxError> =>
      Effect.gen(function*() {
        const sdk = opened.get(id) ?? (yield* client.get(id))
        yield* call("destroy", id, () => sdk.delete())
        forget(id)
      }).pipe(Effect.catchTag("SandboxNotFound", () => Effect.sync(() => forget(id))))

    /**
     * Poll under the `readiness` schedule until the sandbox is `started` and its toolbox answers (→ its work dir).
     * An `error` state fails at once; transient failures of a poll count as "not yet". `holder` keeps the SDK object
     * once fetched, so a cleanup needs no second lookup.
     */
    const awaitStarted = (id: string, holder: { sdk?: SdkSandbox }) =>
      Effect.gen(function*() {
        let workDir: string | undefined
        let failed: SandboxError | undefined
        const poll = Effect.gen(function*() {
          const sdk = holder.sdk ?? (holder.sdk = yield* client.get(id))
          const state = sdk.state as string | undefined
          if (state === "error" || state === "build_failed") {
            failed = new ProviderError({
              provider: PROVIDER,
              sandboxId: id,
              message: `daytona sandbox ${id} failed to start (${state}): ${sdk.errorReason ?? "no reason given"}`
            })
            return true
          }
          if (isGone(state)) return yield* new SandboxNotFound({ provider: PROVIDER, sandboxId: id, message: `sandbox ${id} was deleted while starting` })
          if (state !== "started") return false
          // The toolbox must answer too. Meanwhile the first exec's session is made, so that exec is one call.
          const session = newSessionId()
          const [dir, made] = yield* Effect.all([
            Effect.result(askWorkDir(deps, sdk)),
            Effect.result(call("readiness", id, () => sdk.process.createSession(session)))
          ], { concurrency: "unbounded" })
          if (made._tag === "Success") sessionsFor(sdk).give(session)
          if (dir._tag === "Failure") return yield* Effect.fail(dir.failure)
          if (made._tag === "Failure") return yield* Effect.fail(made.failure)
          workDir = dir.success
          return true
        })
        /** The first poll fetches the record; later ones refresh it. */
        let first = true
        const probe = Effect.suspend(() => {
          const refresh = first || holder.sdk === undefined ? Effect.void : call("readiness", id, () => holder.sdk!.refreshData())
          first = false
          return Effect.andThen(refresh, poll)
        }).pipe(
          Effect.catchIf(
            (error: SandboxError) => error._tag === "ProviderUnavailable" || error._tag === "RateLimited",
            () => Effect.succeed(false)
          )
        )
        yield* awaitReadiness(probe, { provider: PROVIDER, sandboxId: id })
        if (failed !== undefined) return yield* failed
        return open(holder.sdk!, workDir)
      })

    const create = (spec: ResolvedSpec): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          // The request itself is not interrupted: once sent, the sandbox may exist, and only its answer names it.
          const body = createBody(config, client, spec)
          const nonce = globalThis.crypto.randomUUID()
          const record: SandboxRecord = yield* client.create({ ...body, labels: { ...body.labels, [CREATE_LABEL]: nonce } }).pipe(
            Effect.tapError((error) => deleteLostCreate(nonce, error))
          )
          // From here on a sandbox exists: a failure, a timeout or an interruption deletes it.
          const holder: { sdk?: SdkSandbox } = {}
          return yield* restore(awaitStarted(record.id, holder)).pipe(
            Effect.onError(() => {
              const sdk = holder.sdk
              return Effect.ignore(sdk === undefined ? destroy(record.id) : call("destroy", record.id, () => sdk.delete())).pipe(
                Effect.andThen(Effect.sync(() => forget(record.id)))
              )
            })
          )
        })
      )

    /**
     * A create whose answer was lost (connection reset or cut, timeout, a 5xx) may have made a sandbox nothing names:
     * it would run until auto-stop. Find it by the request's `CREATE_LABEL` and delete it. (An answer cut half way is
     * the SDK's "stream has been aborted": a `ProviderError` with the 200 the body never followed, or no status.)
     */
    const lostAnswer = (error: SandboxError): boolean =>
      error._tag === "ProviderUnavailable" ||
      (error._tag === "ProviderError" && (error.status === undefined || (error.status >= 200 && error.status < 300)))
    const deleteLostCreate = (nonce: string, error: SandboxError): Effect.Effect<void> =>
      !lostAnswer(error) ? Effect.void : withTransientRetry(list({ labels: { [CREATE_LABEL]: nonce } })).pipe(
        Effect.flatMap((found) => Effect.forEach(found, (info) => withTransientRetry(destroy(info.id)), { discard: true })),
        Effect.ignore
      )

    const connect = (id: string): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const sdk = yield* client.get(id)
        if (isGone(sdk.state)) return yield* new SandboxNotFound({ provider: PROVIDER, sandboxId: id, message: `sandbox ${id} has been deleted` })
        const workDir = sdk.state === "started" ? yield* Effect.option(askWorkDir(deps, sdk)) : Option.none()
        return open(sdk, Option.getOrUndefined(workDir))
      })

    const list = (filter: { readonly labels?: Readonly<Record<string, string>>; readonly state?: SandboxInfo["state"] }) =>
      Effect.gen(function*() {
        // Without a state filter, ask for every live state: errored sandboxes are listed too (reap can end them).
        const states = statesFor(filter.state) ?? statesFor("running")!.concat(statesFor("starting")!, statesFor("paused")!, statesFor("unknown")!)
        const found = yield* call("list", undefined, async () => {
          const out: Array<SdkSandbox> = []
          const query = { ...(filter.labels === undefined ? {} : { labels: { ...filter.labels } }), states: states as Array<never>, limit: 100 }
          for await (const sandbox of client.daytona.list(query)) out.push(sandbox)
          return out
        })
        return found
          .filter((s) => Object.entries(filter.labels ?? {}).every(([k, v]) => s.labels?.[k] === v))
          .map((s) => infoOf(s, workdirOf(s, undefined)))
          .filter((info) => filter.state === undefined || info.state === filter.state)
      })

    const listSnapshots = () =>
      call("listSnapshots", undefined, async () => {
        const refs = []
        for (let page = 1, pages = 1; page <= pages; page++) {
          const result = await client.daytona.snapshot.list({ page, limit: 100 })
          pages = result.totalPages
          for (const dto of result.items) if (dto.name.startsWith(SNAPSHOT_PREFIX)) refs.push(snapshotRefOf(dto))
        }
        return refs
      })

    const deleteSnapshot = (id: string) =>
      call("deleteSnapshot", undefined, () => client.daytona.snapshot.delete(id)).pipe(
        Effect.catchTag("SandboxNotFound", () => Effect.void)
      )

    const driver: SandboxDriver = {
      name: PROVIDER,
      capabilities: capabilitiesOf(config),
      create,
      connect,
      list,
      destroy,
      listSnapshots,
      deleteSnapshot
    }
    return driver
  })

/** With `deleteOnClose: false`, scoped creates keep their sandboxes (OpenHands' `DAYTONA_DELETE_ON_CLOSE=false`). */
const keepOnClose = (provider: SandboxProviderShape): SandboxProviderShape => ({
  ...provider,
  create: (spec) => provider.createDetached(spec),
  findOrCreate: (options) =>
    Effect.flatMap(Scope.make(), (detached) => provider.findOrCreate(options).pipe(Scope.provide(detached)))
})

/** The Daytona provider as a `SandboxProvider` layer; the SDK client is disposed when the layer is released. */
export const layer = (options: DaytonaOptions): Layer.Layer<SandboxProvider, SandboxError> =>
  Layer.effect(
    SandboxProvider,
    Effect.map(make(options), (driver) => {
      const provider = makeProvider(driver)
      return options.deleteOnClose === false ? keepOnClose(provider) : provider
    })
  )

/**
 * Options from the environment: `DAYTONA_API_KEY` (required, kept `Redacted`), and optionally `DAYTONA_API_URL`,
 * `DAYTONA_TARGET` and `DAYTONA_DELETE_ON_CLOSE` (`true`/`false`). Anything else comes from `extra`.
 */
export const layerConfig = (
  extra: Omit<DaytonaOptions, "apiKey" | "apiUrl" | "target"> = {}
): Layer.Layer<SandboxProvider, Config.ConfigError | SandboxError> =>
  Layer.unwrap(Effect.gen(function*() {
    const apiKey = yield* Config.Redacted("DAYTONA_API_KEY")
    const optional = (name: string) => Config.String(name).pipe(Config.option, Config.map(Option.getOrUndefined))
    const apiUrl = yield* optional("DAYTONA_API_URL")
    const target = yield* optional("DAYTONA_TARGET")
    const deleteOnClose = yield* Config.Boolean("DAYTONA_DELETE_ON_CLOSE").pipe(Config.option, Config.map(Option.getOrUndefined))
    return layer({ ...extra, apiKey, apiUrl, target, deleteOnClose: extra.deleteOnClose ?? deleteOnClose })
  }))

