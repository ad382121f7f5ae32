/**
 * `@sandkit/runloop`: Runloop devboxes (microVMs) as a Sandkit provider, through the official `@runloop/api-client`.
 *
 * ```ts
 * Effect.provide(program, RunloopProvider.layerConfig())                      // RUNLOOP_API_KEY from the environment
 * Effect.provide(program, RunloopProvider.layer({ apiKey: Redacted.make(key), profile: "openhands" }))
 * ```
 */
import type { Capabilities, DriverSandbox, ResolvedSpec, SandboxDriver, SandboxError, SandboxInfo, SnapshotRef } from "@sandkit/core"
import { layerFromDriver, RetryPolicy, SandboxNotFound, type SandboxProvider, withTransientRetry } from "@sandkit/core"
import { Config, Effect, Exit, Layer, Option, type Redacted } from "effect"
import { call, listByStatus } from "./internal/api.ts"
import { type ResolvedConfig, resolveConfig, type RunloopOptions } from "./internal/config.ts"
import { awaitRunning, type Deps, open, retrieve } from "./internal/devbox.ts"
import { PROVIDER } from "./internal/errors.ts"
import { uuidv7 } from "./internal/commands.ts"
import { CREATE_KEY, createParams, DEFAULT_HOME, infoOf, statusesFor, workdirOf } from "./internal/spec.ts"

export type { RunloopOptions } from "./internal/config.ts"
export { DEFAULT_BASE_URL, tunnelDomain } from "./internal/config.ts"
export { exitCodeOf, script, uuidv7 } from "./internal/commands.ts"
export { fromSdkError, fromStatus, parseRetryAfter, redact } from "./internal/errors.ts"
export { createParams, customSize, openHandsSpec, type OpenHandsSpecOptions, SIZES } from "./internal/spec.ts"

/** What Runloop devboxes can do through this adapter. */
export const capabilities: Capabilities = {
  execStream: true,
  spawn: true,
  stdin: true,
  output: "separate",
  files: true,
  bulkTransfer: true,
  exposePort: true,
  // Runloop has no code interpreter; run `python3 -c …` with `exec`.
  runCode: [],
  // Runloop's lifetime is fixed at creation (`keep_alive_time_seconds`); `keep_alive` only restarts the idle timer.
  setTimeout: false,
  pause: true,
  snapshot: true,
  template: true,
  isolation: "microvm"
}

const shutdown = (config: ResolvedConfig, id: string): Effect.Effect<void, SandboxError> =>
  call(config, "destroy", id, (client, options) => client.devboxes.shutdown(id, options)).pipe(
    Effect.asVoid,
    // Gone already is success: unknown (404), or Runloop refusing to shut down what has ended.
    Effect.catchIf(
      (error) => error._tag === "SandboxNotFound" || error._tag === "InvalidRequest",
      (error) =>
        Effect.flatMap(Effect.exit(retrieve({ config, tunnels: new Map() }, id)), (exit) => {
          if (Exit.isSuccess(exit)) return exit.value.status === "shutdown" || exit.value.status === "failure" ? Effect.void : Effect.fail(error)
          return error._tag === "SandboxNotFound" ? Effect.void : Effect.fail(error)
        })
    )
  )

/** Build the driver (no network call until the first operation). */
export const make = (options: RunloopOptions): Effect.Effect<SandboxDriver> =>
  Effect.sync(() => {
    const config = resolveConfig(options)
    const deps: Deps = { config, tunnels: new Map() }

    /** No answer at all (reset, cut half way, timeout): the request may have been carried out. */
    const lostAnswer = (error: SandboxError): boolean =>
      error._tag === "ProviderUnavailable" ||
      (error._tag === "ProviderError" && (error.status === undefined || (error.status >= 200 && error.status < 300)))

    const shutdownByKey = (key: string): Effect.Effect<void> =>
      withTransientRetry(list({ labels: { [CREATE_KEY]: key } })).pipe(
        Effect.flatMap((found) => Effect.forEach(found, (info) => withTransientRetry(shutdown(config, info.id)), { discard: true })),
        Effect.ignore
      )

    const create = (spec: ResolvedSpec): Effect.Effect<DriverSandbox, SandboxError> => {
      // Made once per create: core re-runs this effect on RateLimited, and the server answers a repeated
      // `x-request-id` with the devbox it already made rather than a second one.
      const idempotencyKey = `sandkit-${uuidv7()}`
      return Effect.gen(function*() {
        const base = yield* createParams(spec, config)
        const params = { ...base, metadata: { ...base.metadata, [CREATE_KEY]: idempotencyKey } }
        const policy = yield* RetryPolicy
        const created = yield* call(config, "create", undefined, (client, o) => client.devboxes.create(params, { ...o, idempotencyKey })).pipe(
          // A lost answer may hide a created devbox; with the same key, asking again is safe.
          Effect.retry({ schedule: policy.transient, while: (e: SandboxError) => e._tag === "ProviderUnavailable" }),
          // Every answer lost: the devbox may exist with nothing naming it but its key; find it and shut it down.
          Effect.tapError((error) => (lostAnswer(error) ? shutdownByKey(idempotencyKey) : Effect.void))
        )
        // From here on a devbox exists: whatever goes wrong (readiness timeout, interruption), it is shut down.
        return yield* Effect.flatMap(awaitRunning(deps, created.id), (view) => open(deps, view)).pipe(
          Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.ignore(shutdown(config, created.id))))
        )
      })
    }

    const connect = (id: string): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const view = yield* retrieve(deps, id)
        if (view.status === "shutdown" || view.status === "failure") {
          return yield* new SandboxNotFound({
            provider: PROVIDER,
            sandboxId: id,
            message: `runloop: devbox ${id} has ${view.status === "failure" ? "failed" : "been shut down"}`
          })
        }
        const ready = view.status === "running" || view.status === "suspended" || view.status === "suspending"
          ? view
          : yield* awaitRunning(deps, id)
        return yield* open(deps, ready)
      })

    const list = (filter: { readonly labels?: Readonly<Record<string, string>>; readonly state?: SandboxInfo["state"] }) =>
      Effect.gen(function*() {
        const statuses = statusesFor(filter.state)
        const pages = yield* Effect.forEach(statuses, (status) => listByStatus(config, status), { concurrency: "unbounded" })
        const seen = new Set<string>()
        const out: Array<SandboxInfo> = []
        for (const view of pages.flat()) {
          if (seen.has(view.id)) continue
          seen.add(view.id)
          const labels = view.metadata ?? {}
          if (!Object.entries(filter.labels ?? {}).every(([k, v]) => labels[k] === v)) continue
          out.push(infoOf(view, workdirOf(view, DEFAULT_HOME)))
        }
        return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      })

    const driver: SandboxDriver = {
      name: PROVIDER,
      capabilities,
      create,
      connect,
      list,
      destroy: (id) => Effect.andThen(shutdown(config, id), Effect.sync(() => deps.tunnels.delete(id))),
      listSnapshots: () =>
        call(config, "listSnapshots", undefined, async (client, o) => {
          const all: Array<SnapshotRef> = []
          for await (const s of client.devboxes.diskSnapshots.list({}, o)) {
            all.push({
              provider: PROVIDER,
              id: s.id,
              createdAt: new Date(s.create_time_ms),
              sizeBytes: s.size_bytes ?? undefined,
              sourceSandboxId: s.source_devbox_id
            })
          }
          return all
        }),
      deleteSnapshot: (id) =>
        call(config, "deleteSnapshot", undefined, (client, o) => client.devboxes.diskSnapshots.delete(id, o)).pipe(
          Effect.asVoid,
          Effect.catchTag("SandboxNotFound", () => Effect.void)
        )
    }
    return driver
  })

/** The Runloop provider as a `SandboxProvider` layer. */
export const layer = (options: RunloopOptions): Layer.Layer<SandboxProvider> => layerFromDriver(make(options))

/**
 * Options from the environment: `RUNLOOP_API_KEY` (required, kept `Redacted`) and optionally `RUNLOOP_BASE_URL`.
 * Anything else comes from `extra`.
 */
export const layerConfig = (
  extra: Omit<RunloopOptions, "apiKey" | "baseUrl"> = {}
): Layer.Layer<SandboxProvider, Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const apiKey: Redacted.Redacted<string> = yield* Config.Redacted("RUNLOOP_API_KEY")
    const baseUrl = yield* Config.String("RUNLOOP_BASE_URL").pipe(Config.option, Config.map(Option.getOrUndefined))
    return layer({ ...extra, apiKey, baseUrl })
  }))
