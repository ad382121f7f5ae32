/**
 * The `SandboxProvider` service: what programs use, whichever provider layer is underneath.
 */
import { Cause, Clock, Context, Effect, Layer, Metric, type Scope } from "effect"
import { hasCapability, type Capabilities } from "./Capabilities.ts"
import { wrapSandbox } from "./internal/sandboxHandle.ts"
import { instrument, sandboxesCreated } from "./Observability.ts"
import { withTransientRetry } from "./Retry.ts"
import type { Sandbox, SandboxInfo, SnapshotRef } from "./Sandbox.ts"
import type { ResolvedSpec, SandboxDriver } from "./SandboxDriver.ts"
import { InvalidRequest, Unsupported, type SandboxError } from "./SandboxError.ts"
import {
  decodeInput,
  FindOrCreateOptions,
  ListFilter,
  ReapOptions,
  SandboxId,
  SandboxSpec,
  toMillis,
  type SandboxSpecInput
} from "./SandboxSpec.ts"
import { OWNER_LABEL, runLabels, SandkitRun } from "./SandkitRun.ts"

export interface ReapReport {
  /** Ids destroyed (or, with `dryRun`, that would have been). */
  readonly destroyed: ReadonlyArray<string>
  readonly failed: ReadonlyArray<{ readonly id: string; readonly error: SandboxError }>
  readonly dryRun: boolean
}

export interface SandboxProviderShape {
  readonly name: string
  readonly capabilities: Capabilities
  /** Create a sandbox that is destroyed when the scope closes: on success, failure or interruption. */
  readonly create: (spec?: SandboxSpecInput) => Effect.Effect<Sandbox, SandboxError, Scope.Scope>
  /** Create a sandbox that outlives this program; end it with `destroy`, its lifetime, or `reap`. */
  readonly createDetached: (spec?: SandboxSpecInput) => Effect.Effect<Sandbox, SandboxError>
  /** Re-attach by id. `SandboxNotFound` when it is gone (never retried). */
  readonly connect: (id: string) => Effect.Effect<Sandbox, SandboxError>
  /**
   * Attach to a running (or paused: resumed) sandbox with this name / these labels, or create one. Only a sandbox
   * created here is destroyed when the scope closes; an attached one is left running.
   */
  readonly findOrCreate: (
    options: typeof FindOrCreateOptions.Encoded & { readonly spec?: SandboxSpecInput }
  ) => Effect.Effect<Sandbox, SandboxError, Scope.Scope>
  readonly list: (filter?: typeof ListFilter.Encoded) => Effect.Effect<ReadonlyArray<SandboxInfo>, SandboxError>
  /** Destroy by id. Destroying a sandbox that is already gone succeeds. */
  readonly destroy: (id: string) => Effect.Effect<void, SandboxError>
  /** Destroy Sandkit-created sandboxes (those with `sandkit.owner`) matching the filter. */
  readonly reap: (options?: typeof ReapOptions.Encoded) => Effect.Effect<ReapReport, SandboxError>
  /** Snapshots this provider keeps (capability `snapshot`). */
  readonly listSnapshots: () => Effect.Effect<ReadonlyArray<SnapshotRef>, SandboxError>
  /** Delete a snapshot by ref or id; one already gone is success (capability `snapshot`). */
  readonly deleteSnapshot: (snapshot: SnapshotRef | string) => Effect.Effect<void, SandboxError>
}

export class SandboxProvider extends Context.Service<SandboxProvider, SandboxProviderShape>()(
  "@sandkit/core/SandboxProvider"
) {}

/** Build the provider service from a driver. Every provider package does this once. */
export const makeProvider = (driver: SandboxDriver): SandboxProviderShape => {
  const provider = driver.name
  const decodeSpec = decodeInput(SandboxSpec, provider, "spec")
  const decodeId = decodeInput(SandboxId, provider, "sandbox id")
  const decodeList = decodeInput(ListFilter, provider, "list filter")
  const decodeReap = decodeInput(ReapOptions, provider, "reap options")
  const decodeFind = decodeInput(FindOrCreateOptions, provider, "findOrCreate options")
  const decodeSnapshotId = decodeInput(SandboxId, provider, "snapshot id")
  const op = (operation: string, sandboxId?: string) => <A, E extends SandboxError, R>(effect: Effect.Effect<A, E, R>) =>
    instrument({ provider, operation, sandboxId }, effect)
  const retried = <A, R>(operation: string, effect: Effect.Effect<A, SandboxError, R>, idempotent = true) =>
    withTransientRetry(effect, { idempotent, context: { provider, operation } })

  const unsupported = (capability: string) =>
    new Unsupported({ provider, capability, message: `${provider} does not support ${capability}` })

  const listSnapshots = () =>
    Effect.gen(function*() {
      if (!hasCapability(driver.capabilities, "snapshot") || driver.listSnapshots === undefined) {
        return yield* unsupported("snapshot")
      }
      return yield* retried("listSnapshots", driver.listSnapshots())
    }).pipe(op("listSnapshots"))

  const deleteSnapshot = (snapshot: SnapshotRef | string) =>
    Effect.gen(function*() {
      if (!hasCapability(driver.capabilities, "snapshot") || driver.deleteSnapshot === undefined) {
        return yield* unsupported("snapshot")
      }
      const id = yield* decodeSnapshotId(
        typeof snapshot === "object" && snapshot !== null ? (snapshot as { readonly id?: unknown }).id : snapshot
      )
      return yield* retried("deleteSnapshot", driver.deleteSnapshot(id))
    }).pipe(op("deleteSnapshot"))

  const destroy = (id: string): Effect.Effect<void, SandboxError> =>
    decodeId(id).pipe(
      Effect.flatMap((valid) => retried("destroy", driver.destroy(valid))),
      op("destroy", id)
    )

  const wrap = (handle: Parameters<typeof wrapSandbox>[2]) => wrapSandbox(provider, driver.capabilities, handle, destroy)

  const resolveSpec = (input: SandboxSpecInput | undefined, extraLabels: Record<string, string> = {}) =>
    Effect.gen(function*() {
      // Only a missing spec means "defaults": `null` is bad input like any other non-object.
      const spec = yield* decodeSpec(input === undefined ? {} : input)
      const run = yield* SandkitRun
      const resolved: ResolvedSpec = { ...spec, labels: { ...spec.labels, ...extraLabels, ...runLabels(run) } }
      const missing = (spec.requires ?? []).find((capability) => !hasCapability(driver.capabilities, capability))
      if (missing !== undefined) {
        return yield* new Unsupported({
          provider,
          capability: missing,
          message: `${provider} does not support ${missing}, which the spec requires`
        })
      }
      if ((spec.image !== undefined || spec.template !== undefined) && !hasCapability(driver.capabilities, "template")) {
        return yield* unsupported("template")
      }
      if (spec.from !== undefined) {
        if (!hasCapability(driver.capabilities, "snapshot")) return yield* unsupported("snapshot")
        if (spec.from.provider !== provider) {
          return yield* new InvalidRequest({
            provider,
            field: "from",
            message: `snapshot ${spec.from.id} belongs to ${spec.from.provider}, not ${provider}`
          })
        }
      }
      if (spec.isolation === "strict" && driver.capabilities.isolation === "process") {
        return yield* new Unsupported({
          provider,
          capability: "isolation:strict",
          message: `${provider} runs sandboxes as plain processes here, which is not a security boundary`
        })
      }
      return resolved
    })

  const createDetached = (input?: SandboxSpecInput): Effect.Effect<Sandbox, SandboxError> =>
    resolveSpec(input).pipe(
      // Not retried on a reset connection: the sandbox may exist; RateLimited means nothing was created.
      Effect.flatMap((spec) => retried("create", driver.create(spec), false)),
      Effect.map(wrap),
      Effect.tap((sandbox) =>
        Effect.andThen(
          Effect.annotateCurrentSpan("sandkit.sandbox", sandbox.id),
          Metric.update(Metric.withAttributes(sandboxesCreated, { provider }), 1)
        )
      ),
      op("create")
    )

  const releaseOnScopeClose = (sandbox: Sandbox) =>
    sandbox.destroy.pipe(
      Effect.catchCause((cause) =>
        Effect.logWarning(`sandkit: could not destroy ${provider} sandbox ${sandbox.id}`, Cause.pretty(cause))
      )
    )

  const create = (input?: SandboxSpecInput) =>
    // acquireRelease runs the create uninterruptibly: an interrupt mid-create waits for the handle, then destroys it.
    Effect.acquireRelease(createDetached(input), releaseOnScopeClose)

  const connect = (id: string) =>
    decodeId(id).pipe(
      Effect.flatMap((valid) => retried("connect", driver.connect(valid))),
      Effect.map(wrap),
      op("connect", id)
    )

  const list = (filter: typeof ListFilter.Encoded = {}) =>
    decodeList(filter).pipe(Effect.flatMap((f) => retried("list", driver.list(f))), op("list"))

  const findOrCreate: SandboxProviderShape["findOrCreate"] = ({ spec, ...options }) =>
    Effect.gen(function*() {
      const find = yield* decodeFind(options)
      const specToCreate = {
        ...spec,
        ...(find.name === undefined ? {} : { name: find.name }),
        labels: { ...spec?.labels, ...find.labels }
      }
      // Validate the spec a create would use (name and labels merged in) up front, so bad input fails before
      // anything is looked up.
      if (spec !== undefined) yield* resolveSpec(spec)
      yield* resolveSpec(specToCreate)
      const candidates = yield* list(find.labels === undefined ? {} : { labels: find.labels })
      const match = candidates.find((info) =>
        (find.name === undefined || info.name === find.name) && info.state !== "stopped" && info.state !== "unknown"
      )
      if (match !== undefined) {
        const sandbox = yield* connect(match.id)
        if (match.state === "paused") yield* sandbox.resume
        return sandbox
      }
      return yield* create(specToCreate)
    }).pipe(op("findOrCreate"))

  const reap = (options: typeof ReapOptions.Encoded = {}) =>
    Effect.gen(function*() {
      const opts = yield* decodeReap(options)
      const now = yield* Clock.currentTimeMillis
      const cutoff = opts.olderThan === undefined ? Infinity : now - toMillis(opts.olderThan)
      const all = yield* list(opts.labels === undefined ? {} : { labels: opts.labels })
      const targets = all.filter((info) =>
        info.labels[OWNER_LABEL] !== undefined && info.createdAt.getTime() <= cutoff &&
        (opts.orphaned !== true || info.orphaned === true)
      )
      if (opts.dryRun === true) return { destroyed: targets.map((t) => t.id), failed: [], dryRun: true }
      const outcomes = yield* Effect.forEach(
        targets,
        (info) => Effect.result(destroy(info.id)).pipe(Effect.map((result) => ({ id: info.id, result }))),
        { concurrency: 8 }
      )
      const destroyed: Array<string> = []
      const failed: Array<{ id: string; error: SandboxError }> = []
      for (const { id, result } of outcomes) {
        if (result._tag === "Success") destroyed.push(id)
        else failed.push({ id, error: result.failure })
      }
      return { destroyed, failed, dryRun: false }
    }).pipe(op("reap"))

  return {
    name: provider,
    capabilities: driver.capabilities,
    create,
    createDetached,
    connect,
    findOrCreate,
    list,
    destroy,
    reap,
    listSnapshots,
    deleteSnapshot
  }
}

/** A layer providing `SandboxProvider` from a driver built by an Effect (e.g. one that reads config). */
export const layerFromDriver = <E, R>(driver: Effect.Effect<SandboxDriver, E, R>): Layer.Layer<SandboxProvider, E, R> =>
  Layer.effect(SandboxProvider, Effect.map(driver, makeProvider))
