/**
 * The measurement procedure.
 *
 * A *round* runs one target at one concurrency c: c sandboxes are created at once (each timed for `create` and
 * `tti`), then, phase by phase and again c at a time, the warm `exec`, the 1 KiB and 1 MiB file round trips, and
 * `destroy`. c = 1 is the sequential case. Rounds are scheduled as
 *
 *   warm-up:   `warmup` rounds at c = 1           (recorded with phase "warmup", reported apart)
 *   measured:  for each level c (ascending): `iterations` rounds if c = 1, else `bursts` rounds
 *
 * and before every round index the order of the targets is shuffled with the seeded PRNG, so no provider always
 * runs first (or right after another's burst). Nothing is trimmed; a failed operation is a sample with its error tag.
 *
 * Every sandbox lives in the round's scope: if the run is interrupted (Ctrl-C), the scope closes and destroys it.
 */
import { Cause, Effect, Exit, Scope } from "effect"
import type { BenchConfig } from "./args.ts"
import { BURST_METRIC, type MetricId, type RecordedMetric } from "./metrics.ts"
import { mulberry32, shuffle } from "./prng.ts"
import type { Progress } from "./progress.ts"
import { type BenchHandle, type BenchTarget, catchAllFailures, toFailure } from "./target.ts"

export type Phase = "warmup" | "measured"

/** One measurement: a success with its duration, or a failure with its error tag. */
export interface Sample {
  readonly target: string
  readonly phase: Phase
  readonly concurrency: number
  /** Round index within (phase, concurrency). */
  readonly round: number
  /** Sandbox index within the round (0 … c−1); 0 for the per-burst metric. */
  readonly slot: number
  readonly metric: RecordedMetric
  readonly ok: boolean
  /** Milliseconds, rounded to 1 µs (successes only). */
  readonly ms?: number
  /** Failures only. */
  readonly error?: { readonly tag: string; readonly message: string }
  /** When the measurement started, in ms since the run started. */
  readonly at: number
}

export interface Usage {
  readonly sandboxes: number
  /** Sum over sandboxes of (destroy done − create called), for the cost estimate. */
  readonly sandboxMs: number
}

/** Where samples accumulate while the run goes; read at the end (also after an interrupt). */
export interface Collector {
  readonly origin: number
  readonly samples: Array<Sample>
  readonly usage: Map<string, { sandboxes: number; sandboxMs: number }>
}

export const makeCollector = (): Collector => ({ origin: performance.now(), samples: [], usage: new Map() })

const round3 = (ms: number) => Math.round(ms * 1000) / 1000

/** File contents for the file round trips: deterministic bytes from the seed (not compressible runs of zeros). */
export const payload = (bytes: number, seed: number): Uint8Array => {
  const random = mulberry32(seed ^ bytes)
  const out = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i += 4) {
    const word = Math.floor(random() * 4294967296)
    out[i] = word & 0xff
    if (i + 1 < bytes) out[i + 1] = (word >>> 8) & 0xff
    if (i + 2 < bytes) out[i + 2] = (word >>> 16) & 0xff
    if (i + 3 < bytes) out[i + 3] = word >>> 24
  }
  return out
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))

const ECHO = "sandkit-bench"

interface RoundContext {
  readonly target: BenchTarget
  readonly phase: Phase
  readonly concurrency: number
  readonly round: number
  readonly collector: Collector
}

const record = (ctx: RoundContext, metric: RecordedMetric, slot: number, start: number, outcome: { ms: number } | { tag: string; message: string }) => {
  ctx.collector.samples.push({
    target: ctx.target.key,
    phase: ctx.phase,
    concurrency: ctx.concurrency,
    round: ctx.round,
    slot,
    metric,
    at: round3(start - ctx.collector.origin),
    ...("ms" in outcome
      ? { ok: true, ms: round3(outcome.ms) }
      : { ok: false, error: { tag: outcome.tag, message: outcome.message.slice(0, 300) } })
  })
}

/**
 * Time `effect`, record it under `metric`, and return its value (or `undefined` on failure). `check` looks at the
 * value after the clock has stopped and names what is wrong with it, if anything (a `WrongOutput` failure).
 */
const timed = <A>(
  ctx: RoundContext,
  metric: RecordedMetric,
  slot: number,
  effect: Effect.Effect<A, unknown>,
  check: (a: A) => string | undefined = () => undefined
): Effect.Effect<A | undefined> =>
  Effect.gen(function*() {
    const start = performance.now()
    const exit = yield* Effect.exit(catchAllFailures(effect))
    const end = performance.now()
    if (Exit.isSuccess(exit)) {
      const wrong = check(exit.value)
      if (wrong === undefined) {
        record(ctx, metric, slot, start, { ms: end - start })
        return exit.value
      }
      record(ctx, metric, slot, start, { tag: "WrongOutput", message: wrong })
      return undefined
    }
    if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
    const failure = Cause.findErrorOption(exit.cause)
    const error = failure._tag === "Some" ? toFailure(failure.value) : toFailure(Cause.squash(exit.cause))
    record(ctx, metric, slot, start, { tag: error.tag, message: error.message })
    return undefined
  })

interface Started {
  readonly slot: number
  readonly handle: BenchHandle
  readonly createdAt: number
  readonly interactive: boolean
}

/** create → handle, then the first `echo`: the create and time-to-interactive samples of one sandbox. */
const startSandbox = (ctx: RoundContext, slot: number) =>
  Effect.gen(function*() {
    const start = performance.now()
    const created = yield* Effect.exit(catchAllFailures(ctx.target.create))
    const createdAt = performance.now()
    if (Exit.isFailure(created)) {
      if (Cause.hasInterruptsOnly(created.cause)) return yield* Effect.failCause(created.cause as Cause.Cause<never>)
      const found = Cause.findErrorOption(created.cause)
      const error = found._tag === "Some" ? toFailure(found.value) : toFailure(Cause.squash(created.cause))
      // Without a sandbox there is no time to interactive either: both count the failure.
      record(ctx, "create", slot, start, error)
      record(ctx, "tti", slot, start, error)
      return undefined
    }
    record(ctx, "create", slot, start, { ms: createdAt - start })
    const handle = created.value
    const echo = yield* Effect.exit(catchAllFailures(handle.exec(`echo ${ECHO}`)))
    const readyAt = performance.now()
    let interactive = false
    if (Exit.isSuccess(echo)) {
      const { exitCode, stdout } = echo.value
      if (exitCode === 0 && stdout.trim() === ECHO) {
        record(ctx, "tti", slot, start, { ms: readyAt - start })
        interactive = true
      } else {
        record(ctx, "tti", slot, start, { tag: "WrongOutput", message: `echo exited ${exitCode} with ${JSON.stringify(stdout.slice(0, 80))}` })
      }
    } else {
      if (Cause.hasInterruptsOnly(echo.cause)) return yield* Effect.failCause(echo.cause as Cause.Cause<never>)
      const found = Cause.findErrorOption(echo.cause)
      const error = found._tag === "Some" ? toFailure(found.value) : toFailure(Cause.squash(echo.cause))
      record(ctx, "tti", slot, start, error)
    }
    return { slot, handle, createdAt: start, interactive } satisfies Started
  })

const inParallel = <A, B>(items: ReadonlyArray<A>, f: (a: A) => Effect.Effect<B>) =>
  Effect.forEach(items, f, { concurrency: "unbounded", discard: true })

export interface RoundOptions {
  readonly metrics: ReadonlyArray<MetricId>
  readonly files: { readonly kib: Uint8Array; readonly mib: Uint8Array }
}

/** One round: c sandboxes through every selected operation, phase by phase, destroyed at the end (or on interrupt). */
export const runRound = (ctx: RoundContext, options: RoundOptions): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    const c = ctx.concurrency
    const wants = (m: MetricId) => options.metrics.includes(m)
    const burstStart = performance.now()
    const started = yield* Effect.forEach(Array.from({ length: c }, (_, i) => i), (slot) => startSandbox(ctx, slot), {
      concurrency: "unbounded"
    })
    const burstEnd = performance.now()
    const created = started.filter((s): s is Started => s !== undefined)
    const live = created.filter((s) => s.interactive)
    if (c > 1) {
      record(ctx, BURST_METRIC, 0, burstStart, live.length === c
        ? { ms: burstEnd - burstStart }
        : { tag: "Incomplete", message: `${live.length} of ${c} sandboxes became interactive` })
    }
    if (wants("exec")) {
      yield* inParallel(live, (s) =>
        timed(ctx, "exec", s.slot, s.handle.exec("echo ok"), (r) =>
          r.exitCode === 0 && r.stdout.trim() === "ok" ? undefined : `echo exited ${r.exitCode} with ${JSON.stringify(r.stdout.slice(0, 80))}`))
    }
    const fileRoundTrip = (metric: MetricId, name: string, data: Uint8Array) =>
      inParallel(live, (s) =>
        timed(ctx, metric, s.slot, Effect.andThen(s.handle.write(name, data), s.handle.read(name)), (back) =>
          sameBytes(back, data) ? undefined : `read back ${back.length} bytes that differ from the ${data.length} written`))
    const fromSnapshot = ctx.target.createFromSnapshot
    const roundScope = yield* Effect.scope
    if (wants("tti-snapshot") && fromSnapshot !== undefined) {
      // Same shape as tti: create (from the snapshot) → first echo; the sandbox is destroyed with the round.
      yield* inParallel(live, (s) =>
        timed(ctx, "tti-snapshot", s.slot, Effect.flatMap(fromSnapshot, (handle) => handle.exec(`echo ${ECHO}`)).pipe(Scope.provide(roundScope)), (r) =>
          r.exitCode === 0 && r.stdout.trim() === ECHO ? undefined : `echo exited ${r.exitCode} with ${JSON.stringify(r.stdout.slice(0, 80))}`))
    }
    if (wants("file-1k")) yield* fileRoundTrip("file-1k", "sandkit-bench-1k.bin", options.files.kib)
    if (wants("file-1m")) yield* fileRoundTrip("file-1m", "sandkit-bench-1m.bin", options.files.mib)
    yield* inParallel(created, (s) =>
      Effect.gen(function*() {
        yield* timed(ctx, "destroy", s.slot, s.handle.destroy)
        const usage = ctx.collector.usage.get(ctx.target.key) ?? { sandboxes: 0, sandboxMs: 0 }
        usage.sandboxes += 1
        usage.sandboxMs += performance.now() - s.createdAt
        ctx.collector.usage.set(ctx.target.key, usage)
      }))
  }))

export interface ScheduleStep {
  readonly phase: Phase
  readonly concurrency: number
  readonly round: number
  readonly rounds: number
  readonly targets: ReadonlyArray<BenchTarget>
}

/** The full schedule, with each round's target order drawn from the seeded PRNG (deterministic for a seed). */
export const schedule = (
  targets: ReadonlyArray<BenchTarget>,
  config: Pick<BenchConfig, "warmup" | "iterations" | "bursts" | "concurrency" | "seed">
): ReadonlyArray<ScheduleStep> => {
  const random = mulberry32(config.seed)
  const steps: Array<ScheduleStep> = []
  for (let round = 0; round < config.warmup; round++) {
    steps.push({ phase: "warmup", concurrency: 1, round, rounds: config.warmup, targets: shuffle(targets, random) })
  }
  for (const c of config.concurrency) {
    const rounds = c === 1 ? config.iterations : config.bursts
    for (let round = 0; round < rounds; round++) {
      steps.push({ phase: "measured", concurrency: c, round, rounds, targets: shuffle(targets, random) })
    }
  }
  return steps
}

/** Sandboxes the whole schedule creates (the progress bar's total). */
export const scheduledSandboxes = (steps: ReadonlyArray<ScheduleStep>): number =>
  steps.reduce((sum, step) => sum + step.concurrency * step.targets.length, 0)

/** Run the schedule, recording into `collector`. Interruptible between and within rounds. */
export const runSchedule = (
  steps: ReadonlyArray<ScheduleStep>,
  collector: Collector,
  options: RoundOptions & { readonly progress: Progress }
): Effect.Effect<void> =>
  Effect.forEach(steps, (step) =>
    Effect.forEach(step.targets, (target) =>
      Effect.gen(function*() {
        options.progress.step({ ...step, target: target.label })
        yield* runRound({ target, phase: step.phase, concurrency: step.concurrency, round: step.round, collector }, options)
        options.progress.advance(step.concurrency)
      }), { discard: true }), { discard: true })
