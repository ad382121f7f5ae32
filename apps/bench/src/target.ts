/**
 * What the runner measures: a "target" that can create a sandbox and run the benchmark operations in it. A Sandkit
 * provider is one (`fromProvider`); a raw baseline (bare spawn, raw SDK) is another, so both are timed by the very
 * same code.
 */
import type { SandboxError, SandboxProviderShape, SandboxSpecInput } from "@sandkit/core"
import { RUN_LABEL } from "@sandkit/core"
import { Cause, Data, Effect, Scope } from "effect"

/** Where a target's numbers come from. Every output shows it. */
export type TargetKind = "local" | "cloud" | "emulated"
/** `sandkit`: through the Sandkit API; `raw`: the same operations without Sandkit; `injected`: with added latency. */
export type TargetVariant = "sandkit" | "raw" | "injected"

/** A failed operation, by the error's tag (`SandboxError` tags, or the bench's own: `WrongOutput`, `Defect`, …). */
export class BenchFailure extends Data.TaggedError("BenchFailure")<{ readonly tag: string; readonly message: string }> {}

export interface BenchHandle {
  readonly id: string
  /** Run a shell command line; succeed with its exit code and stdout. */
  readonly exec: (command: string) => Effect.Effect<{ readonly exitCode: number; readonly stdout: string }, BenchFailure>
  readonly write: (path: string, data: Uint8Array) => Effect.Effect<void, BenchFailure>
  readonly read: (path: string) => Effect.Effect<Uint8Array, BenchFailure>
  /** Destroy now; after it succeeds the scope's finaliser does nothing more. */
  readonly destroy: Effect.Effect<void, BenchFailure>
}

export interface LeakReport {
  readonly target: string
  /** Sandboxes still present under this run's label after the run. */
  readonly found: ReadonlyArray<string>
  /** Of those, destroyed by the reaper. */
  readonly reaped: ReadonlyArray<string>
  readonly failed: ReadonlyArray<{ readonly id: string; readonly error: string }>
  /** When the check itself could not run. */
  readonly error?: string | undefined
}

export interface BenchTarget {
  /** Unique key, also the name in every output: `local`, `local:raw`, `local:+150ms`, `e2b:emulated`. */
  readonly key: string
  /** The provider underneath (`local`, `e2b`, …). */
  readonly provider: string
  readonly kind: TargetKind
  readonly variant: TargetVariant
  /** Human label, e.g. `local (raw baseline)`, `e2b [EMULATED]`. */
  readonly label: string
  /** Extra facts for the environment section (the local isolation tier, an emulator's address, …). */
  readonly details: Readonly<Record<string, string>>
  /** Create a sandbox, destroyed when the scope closes unless `destroy` succeeded first. */
  readonly create: Effect.Effect<BenchHandle, BenchFailure, Scope.Scope>
  /**
   * Providers with snapshots: create a sandbox from a snapshot of a prepared workspace (made once per run, on first
   * use, and deleted when the run ends). `undefined` when the provider has no snapshots.
   */
  readonly createFromSnapshot?: Effect.Effect<BenchHandle, BenchFailure, Scope.Scope> | undefined
  /** After the run: list by this run's label (must be empty), reap what is left. `undefined` = shares another target's. */
  readonly leakCheck: Effect.Effect<LeakReport> | undefined
}

/** A Sandkit error (or anything else) as a failure tag and message. */
export const toFailure = (error: unknown): BenchFailure => {
  if (error instanceof BenchFailure) return error
  const tag = typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string" ? error._tag : "UnknownError"
  const message = error instanceof Error || (typeof error === "object" && error !== null && "message" in error)
    ? String((error as { message: unknown }).message)
    : String(error)
  return new BenchFailure({ tag, message })
}

/** Defects (bugs, thrown exceptions) become failures tagged `Defect` instead of crashing the run; interrupts stay. */
export const catchAllFailures = <A, R>(effect: Effect.Effect<A, unknown, R>): Effect.Effect<A, BenchFailure, R> =>
  effect.pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const failure = cause.reasons.find(Cause.isFailReason)
      if (failure !== undefined) return Effect.fail(toFailure(failure.error))
      return Effect.fail(new BenchFailure({ tag: "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "defect" }))
    })
  )

const ioMap = <A>(effect: Effect.Effect<A, SandboxError>) => catchAllFailures(effect)

/** A Sandkit provider as a bench target. */
export const fromProvider = (options: {
  readonly provider: SandboxProviderShape
  readonly key: string
  readonly kind: TargetKind
  readonly variant?: TargetVariant
  readonly label: string
  readonly runId: string
  readonly spec?: SandboxSpecInput | undefined
  readonly details?: Readonly<Record<string, string>>
  /** Set false for twins (e.g. the latency-injected one) that share the provider, and so its leak check. */
  readonly checkLeaks?: boolean
  /** The run's scope: the snapshot source for `createFromSnapshot` lives in it. Without it, no snapshot metric. */
  readonly runScope?: Scope.Scope
  /** Bytes in the snapshotted workspace (default 100 MiB). */
  readonly snapshotBytes?: number
}): BenchTarget => {
  const { provider, runId } = options
  const runLabel = { [RUN_LABEL]: runId }

  const createWith = (spec: SandboxSpecInput | undefined): BenchTarget["create"] => Effect.gen(function*() {
    let destroyed = false
    const sandbox = yield* Effect.acquireRelease(
      ioMap(provider.createDetached(spec)),
      (sb) =>
        destroyed ? Effect.void : sb.destroy.pipe(
          Effect.catchCause((cause) => Effect.logWarning(`bench: could not destroy ${sb.id}`, Cause.pretty(cause)))
        )
    )
    const handle: BenchHandle = {
      id: sandbox.id,
      exec: (command) => ioMap(Effect.map(sandbox.exec(command), (r) => ({ exitCode: r.exitCode, stdout: r.stdout }))),
      write: (path, data) => ioMap(sandbox.files.write(path, data)),
      read: (path) => ioMap(sandbox.files.read(path)),
      destroy: ioMap(sandbox.destroy).pipe(Effect.tap(() => Effect.sync(() => (destroyed = true))))
    }
    return handle
  })
  const create = createWith(options.spec)

  // One snapshot per run, made on first use: a sandbox whose workspace holds `snapshotBytes` of files, snapshotted,
  // then destroyed; the snapshot itself is deleted when the run's scope closes.
  const runScope = options.runScope
  const snapshotBytes = options.snapshotBytes ?? 100 * 1024 * 1024
  const snapshotRef = runScope === undefined || provider.capabilities.snapshot !== true
    ? undefined
    : Effect.runSync(Effect.cached(
      Effect.gen(function*() {
        const source = yield* ioMap(provider.createDetached(options.spec))
        const ref = yield* ioMap(Effect.gen(function*() {
          const chunk = new Uint8Array(Math.min(snapshotBytes, 4 * 1024 * 1024)).fill(97)
          for (let written = 0, i = 0; written < snapshotBytes; written += chunk.length, i++) {
            yield* source.files.write(`prepared/part-${i}.bin`, chunk)
          }
          return yield* source.snapshot
        })).pipe(Effect.ensuring(Effect.ignore(source.destroy)))
        yield* Scope.addFinalizer(runScope, Effect.ignore(provider.deleteSnapshot(ref)))
        return ref
      })
    ))
  const createFromSnapshot = snapshotRef === undefined
    ? undefined
    : Effect.flatMap(snapshotRef, (ref) => createWith({ ...options.spec, from: ref }))

  const leakCheck: Effect.Effect<LeakReport> = Effect.gen(function*() {
    const left = yield* provider.list({ labels: runLabel })
    if (left.length === 0) return { target: options.key, found: [], reaped: [], failed: [] }
    const report = yield* provider.reap({ labels: runLabel })
    return {
      target: options.key,
      found: left.map((info) => info.id),
      reaped: report.destroyed,
      failed: report.failed.map((f) => ({ id: f.id, error: `${f.error._tag}: ${f.error.message}` }))
    }
  }).pipe(
    Effect.catchCause((cause) =>
      Effect.succeed({ target: options.key, found: [], reaped: [], failed: [], error: Cause.pretty(cause).split("\n")[0] })
    )
  )

  return {
    key: options.key,
    provider: provider.name,
    kind: options.kind,
    variant: options.variant ?? "sandkit",
    label: options.label,
    details: options.details ?? {},
    create,
    createFromSnapshot,
    leakCheck: options.checkLeaks === false ? undefined : leakCheck
  }
}
