/**
 * The checks run after every scenario, written as pure functions over what the runner recorded (step outcomes, the
 * emulator's request log, what is left on disk and in /proc), so the test suite can feed them deliberately broken
 * records and see them flag it.
 */
import { isSandboxError } from "@sandkit/core"
import type { LogEntry } from "@sandkit/emulators"
import { Cause, Exit } from "effect"
import type { Operation, StepFault } from "./Scenario.ts"
import type { AttemptBound, RetryLayer, TransientClass } from "./Targets.ts"

export type Outcome =
  | { readonly _tag: "ok" }
  | { readonly _tag: "failed"; readonly errorTag: string; readonly message: string }
  | { readonly _tag: "interrupted" }
  | { readonly _tag: "defect"; readonly detail: string }
  | { readonly _tag: "untagged"; readonly detail: string }

export interface StepRecord {
  readonly index: number
  readonly op: Operation
  readonly fault: StepFault | undefined
  readonly route: string | undefined
  /** Log entries with a greater `seq` belong to this step. */
  readonly fromSeq: number
  /** The last `seq` of the step; undefined when it never finished (interrupted). */
  toSeq: number | undefined
  /** Undefined when the step never finished (interrupted). */
  outcome: Outcome | undefined
  /** The sandbox was destroyed or silently deleted (and that had completed) before this step started. */
  readonly gone: boolean
  /** A success with a wrong value (wrong output, wrong file content). */
  wrongResult?: string | undefined
}

export type ViolationKind =
  | "leak"
  | "process"
  | "untagged"
  | "defect"
  | "retry-bound"
  | "retry-after-permanent"
  | "quota"
  | "gone"
  | "wrong-result"
  | "secret"

export interface Violation {
  readonly kind: ViolationKind
  readonly detail: string
}

/** One call that met a transient fault: how many attempts it made and how many it was allowed. */
export interface CallObservation {
  readonly cls: TransientClass
  readonly layer: RetryLayer
  readonly attempts: number
  readonly allowed: number
}

const render = (u: unknown): string => {
  const parts: Array<string> = []
  try {
    parts.push(String(u))
  } catch {
    // An object without a string form: the JSON below still shows its fields.
  }
  try {
    parts.push(JSON.stringify(u) ?? "")
  } catch {
    parts.push("<unserialisable>")
  }
  if (typeof u === "object" && u !== null) {
    if ("message" in u) parts.push(String(u.message))
    if ("cause" in u) parts.push(render(u.cause))
  }
  return parts.join("\n")
}

/** Every failure must be a tagged core error; interruptions are expected; a defect is a soak failure. */
export const classifyExit = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return { _tag: "ok" }
  const reasons = exit.cause.reasons
  const die = reasons.find(Cause.isDieReason)
  if (die !== undefined) return { _tag: "defect", detail: render(die.defect).split("\n")[0] ?? "defect" }
  const fail = reasons.find(Cause.isFailReason)
  if (fail !== undefined) {
    const error = fail.error
    if (!isSandboxError(error)) return { _tag: "untagged", detail: render(error).split("\n")[0] ?? "untagged failure" }
    return { _tag: "failed", errorTag: error._tag, message: error.message }
  }
  return { _tag: "interrupted" }
}

/** Secrets found in the rendering of a failure (message, String, JSON, cause). */
export const secretsIn = (exit: Exit.Exit<unknown, unknown>, secrets: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (Exit.isSuccess(exit) || secrets.length === 0) return []
  const text = [
    ...exit.cause.reasons.map((r) => (Cause.isFailReason(r) ? render(r.error) : Cause.isDieReason(r) ? render(r.defect) : "")),
    Cause.pretty(exit.cause)
  ].join("\n")
  return secrets.filter((s) => s.length >= 4 && text.includes(s))
}

const classOf = (entry: LogEntry): TransientClass | "permanent" | undefined => {
  if (entry.fault === undefined) return undefined
  if (entry.fault === "reset" || entry.fault === "reset-mid-stream") return "reset"
  if (entry.status === 429) return "rateLimit"
  if (entry.status >= 500) return "serverError"
  if (entry.status >= 400) return "permanent"
  // A refusal whose answer was never sent (0, or the default 200 of a response the departed client never got —
  // an interrupted scenario): for the client it was a lost answer, like a reset.
  return "reset"
}

/**
 * Attempts per call on the step's route, from the request log. Calls are told apart by path (concurrent calls such
 * as one list per status have different paths); within one path, a call is a run of faulted answers ended by the
 * first answer that was not a fault. A call that met a transient fault may make at most `bound(...).allowed`
 * attempts; after a permanent refusal the same call must not be sent again.
 */
export const analyzeRetries = (
  step: Pick<StepRecord, "index" | "op" | "route">,
  window: ReadonlyArray<LogEntry>,
  bound: (op: Operation, route: string, cls: TransientClass, status: number) => AttemptBound
): { readonly calls: ReadonlyArray<CallObservation>; readonly violations: ReadonlyArray<Violation> } => {
  const route = step.route
  if (route === undefined) return { calls: [], violations: [] }
  const byPath = new Map<string, Array<LogEntry>>()
  for (const entry of window) {
    if (entry.route !== route) continue
    byPath.set(entry.path, [...(byPath.get(entry.path) ?? []), entry])
  }
  const calls: Array<CallObservation> = []
  const violations: Array<Violation> = []
  for (const [path, entries] of byPath) {
    let run: Array<LogEntry> = []
    const close = () => {
      const first = run.find((e) => {
        const c = classOf(e)
        return c !== undefined && c !== "permanent"
      })
      const cls = first === undefined ? undefined : classOf(first)
      if (first !== undefined && cls !== undefined && cls !== "permanent") {
        const { allowed, layer } = bound(step.op, route, cls, first.status)
        calls.push({ cls, layer, attempts: run.length, allowed })
        if (run.length > allowed) {
          violations.push({
            kind: "retry-bound",
            detail: `step ${step.index} ${step.op}: ${run.length} attempts of ${route} ${path} under ${cls} faults, at most ${allowed} allowed (${layer})`
          })
        }
      }
      run = []
    }
    entries.forEach((entry, i) => {
      run.push(entry)
      const cls = classOf(entry)
      if (cls === "permanent") {
        const next = entries[i + 1]
        if (next !== undefined) {
          violations.push({
            kind: "retry-after-permanent",
            detail: `step ${step.index} ${step.op}: ${route} ${path} was sent again after a permanent ${entry.status}`
          })
        }
        close()
      } else if (cls === undefined) close()
    })
    close()
  }
  return { calls, violations }
}

/** Operations that must fail with `SandboxNotFound` once the sandbox is gone. */
const NEEDS_SANDBOX: ReadonlySet<Operation> = new Set(["exec", "execStream", "spawn", "writeFile", "readFile", "listFiles", "refresh", "connect"])

/** Per-step outcome checks: tagged errors, quota, operations on a sandbox that is gone, wrong results. */
export const checkSteps = (
  steps: ReadonlyArray<StepRecord>,
  window: (step: StepRecord) => ReadonlyArray<LogEntry>
): ReadonlyArray<Violation> => {
  const out: Array<Violation> = []
  let deletionScheduled = false
  for (const step of steps) {
    const outcome = step.outcome
    const where = `step ${step.index} ${step.op}`
    if (step.fault?._tag === "silentDeletion" && step.fault.delayMs > 0) deletionScheduled = true
    if (outcome?._tag === "defect") out.push({ kind: "defect", detail: `${where}: ${outcome.detail}` })
    if (outcome?._tag === "untagged") out.push({ kind: "untagged", detail: `${where}: ${outcome.detail}` })
    // A deletion timed to land later may hit while an operation runs and cut its output short (killed: exit 137).
    if (step.wrongResult !== undefined && !deletionScheduled) out.push({ kind: "wrong-result", detail: `${where}: ${step.wrongResult}` })
    if (step.fault?._tag === "quota" && step.route !== undefined) {
      const attempts = window(step).filter((e) => e.route === step.route).length
      if (outcome !== undefined && (outcome._tag !== "failed" || outcome.errorTag !== "QuotaExceeded")) {
        out.push({ kind: "quota", detail: `${where}: quota reached, but the outcome was ${describeOutcome(outcome)}` })
      }
      if (attempts > 1) out.push({ kind: "quota", detail: `${where}: ${attempts} create attempts past the quota, exactly 1 expected` })
    }
    const requestFault = step.fault !== undefined && step.fault._tag !== "silentDeletion"
    if (step.gone && !requestFault && outcome !== undefined && outcome._tag !== "interrupted") {
      if (NEEDS_SANDBOX.has(step.op) && !(outcome._tag === "failed" && outcome.errorTag === "SandboxNotFound")) {
        out.push({ kind: "gone", detail: `${where} on a sandbox that is gone: ${describeOutcome(outcome)}, SandboxNotFound expected` })
      }
      if (step.op === "destroy" && outcome._tag !== "ok") {
        out.push({ kind: "gone", detail: `${where}: destroying a sandbox that is gone must succeed, got ${describeOutcome(outcome)}` })
      }
    }
  }
  return out
}

export const describeOutcome = (outcome: Outcome | undefined): string => {
  if (outcome === undefined) return "interrupted"
  switch (outcome._tag) {
    case "ok":
      return "ok"
    case "failed":
      return `${outcome.errorTag}: ${outcome.message.slice(0, 160)}`
    case "interrupted":
      return "interrupted"
    case "defect":
      return `defect: ${outcome.detail}`
    case "untagged":
      return `untagged failure: ${outcome.detail}`
  }
}

/** What is left after a scenario, as violations. */
export const checkLeftovers = (left: {
  readonly registry: ReadonlyArray<string>
  readonly listed: ReadonlyArray<string>
  readonly workspaces: ReadonlyArray<string>
  readonly processes: ReadonlyArray<string>
}): ReadonlyArray<Violation> => [
  ...left.registry.map((id) => ({ kind: "leak" as const, detail: `sandbox ${id} is still in the emulator` })),
  ...left.listed.map((id) => ({ kind: "leak" as const, detail: `sandbox ${id} is still listed by the provider` })),
  ...left.workspaces.map((dir) => ({ kind: "leak" as const, detail: `workspace directory ${dir} is left on disk` })),
  ...left.processes.map((p) => ({ kind: "process" as const, detail: `process left: ${p}` }))
]
