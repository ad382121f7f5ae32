/**
 * What one soak scenario does: on which provider, which operations in which order, which fault before each
 * operation, and when (if at all) the whole scenario is interrupted. A scenario is pure data, drawn from its own seed.
 */
import { Draw, scenarioSeed } from "./Prng.ts"

export const PROVIDERS = ["local", "e2b", "daytona", "modal", "runloop"] as const
export type ProviderName = (typeof PROVIDERS)[number]

/** Operations after `create`; each runs against the scenario's one sandbox (or the provider, for `list`). */
export const OPERATIONS = [
  "exec",
  "execStream",
  "spawn",
  "writeFile",
  "readFile",
  "listFiles",
  "connect",
  "refresh",
  "list",
  "destroy"
] as const
export type Operation = "create" | (typeof OPERATIONS)[number]

/** The fault classes the issue names; `permanent` is a 4xx the adapter must not retry. */
export const FAULT_CLASSES = [
  "latency",
  "rateLimit",
  "serverError",
  "reset",
  "permanent",
  "quota",
  "silentDeletion",
  "slowReadiness"
] as const
export type FaultClass = (typeof FAULT_CLASSES)[number]

export type StepFault =
  /** The next `times` calls of the operation's route get 429, with `Retry-After: retryAfterSec` when set. */
  | { readonly _tag: "rateLimit"; readonly times: number; readonly retryAfterSec: number | undefined }
  | { readonly _tag: "serverError"; readonly times: number; readonly status: 500 | 502 | 503 }
  /** Connection lost before the answer, or (midStream) after the answer started: the work may have been done. */
  | { readonly _tag: "reset"; readonly times: number; readonly midStream: boolean }
  | { readonly _tag: "permanent"; readonly status: 400 | 403 }
  /** Concurrency quota of 0 during `create`. */
  | { readonly _tag: "quota" }
  /** Sandboxes answer only `delayMs` after creation. */
  | { readonly _tag: "slowReadiness"; readonly delayMs: number }
  /** The sandbox is deleted behind the client's back `delayMs` after the step starts (0: before it). */
  | { readonly _tag: "silentDeletion"; readonly delayMs: number }

export interface Step {
  readonly op: Operation
  readonly fault?: StepFault | undefined
}

export interface Scenario {
  readonly runSeed: number
  readonly index: number
  readonly seed: number
  readonly provider: ProviderName
  /** Latency on every route of the emulator for the whole scenario, in ms. */
  readonly latency?: { readonly min: number; readonly max: number } | undefined
  readonly steps: ReadonlyArray<Step>
  /** Interrupt the scenario `afterMs` after step `step` (0 = create) starts. */
  readonly interrupt?: { readonly step: number; readonly afterMs: number } | undefined
}

/** Retries the soak's fast transient schedule allows after the first attempt. */
export const MAX_RETRIES = 3

/** Faults that only make sense on a given operation. */
const createFault = (draw: Draw): StepFault | undefined =>
  draw.weighted<() => StepFault | undefined>([
    [() => undefined, 30],
    [() => ({ _tag: "quota" }), 10],
    [() => ({ _tag: "slowReadiness", delayMs: draw.int(20, 400) }), 15],
    [() => requestFault(draw), 45]
  ])()

/** A request-level fault; at most `MAX_RETRIES + 1` times so it sometimes outlasts the schedule. */
const requestFault = (draw: Draw): StepFault =>
  draw.weighted<() => StepFault>([
    [() => ({ _tag: "rateLimit", times: draw.int(1, MAX_RETRIES + 1), retryAfterSec: draw.pick([undefined, 0, 0.01, 0.03]) }), 3],
    [() => ({ _tag: "serverError", times: draw.int(1, MAX_RETRIES + 1), status: draw.pick([500, 502, 503] as const) }), 3],
    [() => ({ _tag: "reset", times: draw.int(1, MAX_RETRIES + 1), midStream: draw.chance(0.2) }), 2],
    [() => ({ _tag: "permanent", status: draw.pick([400, 403] as const) }), 2]
  ])()

const operationFault = (draw: Draw, op: Operation): StepFault | undefined => {
  if (op === "destroy") {
    // An explicit destroy may only see faults the schedule absorbs: past them it would fail, and rightly so, but the
    // scope's own destroy at close must stay the only way a sandbox can outlive a scenario (tested separately).
    return draw.chance(0.4) ? { _tag: "serverError", times: draw.int(1, MAX_RETRIES), status: 503 } : undefined
  }
  return draw.weighted<() => StepFault | undefined>([
    [() => undefined, 45],
    [() => requestFault(draw), 45],
    [() => ({ _tag: "silentDeletion", delayMs: draw.pick([0, 0, draw.int(1, 60)]) }), 10]
  ])()
}

/** Build scenario `index` of the run seeded with `runSeed`, on `providers[index % providers.length]`. */
export const generate = (runSeed: number, index: number, providers: ReadonlyArray<ProviderName>): Scenario => {
  const seed = scenarioSeed(runSeed, index)
  const draw = new Draw(seed)
  const provider = providers[index % providers.length]!
  const emulated = provider !== "local"
  const length = draw.int(1, 5)
  const steps: Array<Step> = []
  const create = emulated ? createFault(draw) : undefined
  steps.push({ op: "create", fault: create })
  for (let i = 0; i < length; i++) {
    const op = draw.pick(OPERATIONS)
    const fault = operationFault(draw, op)
    // Local has no emulator: only silent deletion (another client destroying it) applies there.
    const applicable = emulated || fault?._tag === "silentDeletion" ? fault : undefined
    steps.push({ op, fault: applicable })
  }
  const latency = emulated && draw.chance(0.25) ? { min: 0, max: draw.int(2, 15) } : undefined
  const interrupt = draw.chance(0.25) ? { step: draw.int(0, steps.length - 1), afterMs: draw.int(0, 60) } : undefined
  return { runSeed, index, seed, provider, latency, steps, interrupt }
}

/** The fault classes a scenario plans, one entry per injection. */
export const plannedClasses = (scenario: Scenario): ReadonlyArray<FaultClass> => [
  ...(scenario.latency === undefined ? [] : ["latency" as const]),
  ...scenario.steps.flatMap((s) => (s.fault === undefined ? [] : [s.fault._tag]))
]

/** One line describing the scenario, for progress and failure reports. */
export const describe = (scenario: Scenario): string => {
  const steps = scenario.steps.map((s) => {
    if (s.fault === undefined) return s.op
    const f = s.fault
    const detail = f._tag === "rateLimit"
      ? `429x${f.times}${f.retryAfterSec === undefined ? "" : ` ra=${f.retryAfterSec}s`}`
      : f._tag === "serverError"
      ? `${f.status}x${f.times}`
      : f._tag === "reset"
      ? `reset${f.midStream ? "-mid" : ""}x${f.times}`
      : f._tag === "permanent"
      ? `${f.status}`
      : f._tag === "slowReadiness"
      ? `ready+${f.delayMs}ms`
      : f._tag === "silentDeletion"
      ? `deleted+${f.delayMs}ms`
      : "quota=0"
    return `${s.op}[${detail}]`
  })
  const extras = [
    scenario.latency === undefined ? "" : ` latency≤${scenario.latency.max}ms`,
    scenario.interrupt === undefined ? "" : ` interrupt@${scenario.interrupt.step}+${scenario.interrupt.afterMs}ms`
  ].join("")
  return `${scenario.provider}: ${steps.join(" → ")}${extras}`
}
