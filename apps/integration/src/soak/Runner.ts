/**
 * Runs one scenario against its target: creates a scoped sandbox, runs the steps with their faults, interrupts the
 * whole scenario at the planned point, then (after the scope has closed) checks what is left behind and what the
 * request log says about retries.
 */
import {
  makeReadiness,
  makeTransient,
  RetryPolicy,
  type Sandbox,
  type SandboxError
} from "@sandkit/core"
import type { LogEntry, RequestLog } from "@sandkit/emulators"
import { Duration, Effect, Exit, Fiber, Stream } from "effect"
import { readdir } from "node:fs/promises"
import {
  analyzeRetries,
  type CallObservation,
  checkLeftovers,
  checkSteps,
  classifyExit,
  secretsIn,
  type StepRecord,
  type Violation
} from "./Invariants.ts"
import { describeProcess, processesUnder } from "./Processes.ts"
import { type FaultClass, MAX_RETRIES, type Scenario, type Step } from "./Scenario.ts"
import type { Target } from "./Targets.ts"

/** The soak's schedules: the same shapes as the defaults, in milliseconds instead of seconds. */
export const soakPolicy: RetryPolicy = {
  transient: makeTransient({ base: "2 millis", factor: 2, maxDelay: "20 millis", maxRetries: MAX_RETRIES, maxElapsed: "10 seconds" }),
  readiness: makeReadiness({ spacing: "10 millis", tries: 30 })
}

const CONTENT = "soak data ✓\n"
const FILE = "soak/data.txt"

export interface ScenarioResult {
  readonly scenario: Scenario
  readonly durationMs: number
  /** The planned interruption landed before the scenario ended. */
  readonly interrupted: boolean
  readonly steps: ReadonlyArray<StepRecord>
  readonly violations: ReadonlyArray<Violation>
  readonly calls: ReadonlyArray<CallObservation>
  /** Faults armed, by class (a step that never started arms nothing). */
  readonly injected: Readonly<Partial<Record<FaultClass, number>>>
  /** Requests the emulator answered with a fault, by class. */
  readonly hits: Readonly<Partial<Record<string, number>>>
}

const lastSeq = (log: RequestLog | undefined): number => log?.entries().at(-1)?.seq ?? 0

const sandboxDirs = async (root: string): Promise<ReadonlyArray<string>> =>
  (await readdir(root).catch(() => [] as Array<string>)).filter((name) => !name.startsWith("."))

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** What an operation does, and what its value must be when it succeeds. */
const operation = (
  step: Step,
  index: number,
  sandbox: Sandbox,
  target: Target,
  labels: Readonly<Record<string, string>>
): Effect.Effect<string | undefined, SandboxError> => {
  const expect = (ok: boolean, what: string) => (ok ? undefined : what)
  switch (step.op) {
    case "create":
      return Effect.succeed(undefined)
    case "exec":
      return Effect.map(sandbox.exec(`echo soak-${index}; exit ${index % 3}`, { timeout: "20 seconds" }), (r) =>
        expect(r.stdout === `soak-${index}\n` && r.exitCode === index % 3, `exec gave ${JSON.stringify(r.stdout)} exit ${r.exitCode}`))
    case "execStream":
      return Effect.map(Stream.runCollect(sandbox.execStream("echo a; sleep 0.02; echo b", { timeout: "20 seconds" })), (events) => {
        const stdout = new TextDecoder().decode(Uint8Array.from(events.flatMap((e) => (e._tag === "Stdout" ? [...e.data] : []))))
        const last = events.at(-1)
        return expect(stdout === "a\nb\n" && last?._tag === "Exit" && last.exitCode === 0, `execStream gave ${JSON.stringify(stdout)}, last ${JSON.stringify(last)}`)
      })
    case "spawn":
      return Effect.scoped(Effect.gen(function*() {
        if (index % 2 === 0) {
          const process = yield* sandbox.spawn("cat")
          yield* process.write("ping\n")
          yield* process.closeStdin
          const code = yield* process.wait
          return expect(code === 0, `cat exited ${code}`)
        }
        const process = yield* sandbox.spawn("sleep 30")
        yield* process.kill("SIGKILL")
        const code = yield* process.wait
        return expect(code !== 0, `a killed sleep exited ${code}`)
      }))
    case "writeFile":
      return Effect.as(sandbox.files.write(FILE, CONTENT), undefined)
    case "readFile":
      // Every write writes the same content: whatever was written, a successful read returns exactly it.
      return Effect.map(sandbox.files.readText(FILE), (text) => expect(text === CONTENT, `read ${JSON.stringify(text)}`))
    case "listFiles":
      return Effect.as(sandbox.files.list("."), undefined)
    case "connect":
      return Effect.map(target.provider.connect(sandbox.id), (again) => expect(again.id === sandbox.id, `connected to ${again.id}`))
    case "refresh":
      return Effect.map(sandbox.refresh, (info) => expect(info.id === sandbox.id, `refreshed ${info.id}`))
    case "list":
      return Effect.as(target.provider.list({ labels }), undefined)
    case "destroy":
      return Effect.as(sandbox.destroy, undefined)
  }
}

/** Run `scenario` on `target`; `runTag` labels every sandbox of the run. */
export const runScenario = (target: Target, scenario: Scenario, runTag: string): Effect.Effect<ScenarioResult> =>
  Effect.gen(function*() {
    const started = Date.now()
    const log = target.log
    log?.clear()
    const labels = { "soak.run": runTag, "soak.scenario": String(scenario.index) }
    const records: Array<StepRecord> = []
    const injected: Partial<Record<FaultClass, number>> = {}
    const count = (cls: FaultClass) => void (injected[cls] = (injected[cls] ?? 0) + 1)
    const leakedSecrets: Array<Violation> = []
    let signalStep: (index: number) => void = () => {}
    const interruptStep = new Promise<void>((resolve) => {
      signalStep = (index) => {
        if (index === scenario.interrupt?.step) resolve()
      }
    })

    const applyLatency = () => target.setLatency(scenario.latency)
    if (scenario.latency !== undefined) {
      count("latency")
      applyLatency()
    }

    const runStep = <A, R>(index: number, step: Step, gone: boolean, effect: Effect.Effect<A, SandboxError, R>, check: (a: A) => string | undefined) =>
      Effect.gen(function*() {
        const record: StepRecord = {
          index,
          op: step.op,
          fault: step.fault,
          route: target.routeOf(step.op),
          fromSeq: lastSeq(log),
          toSeq: undefined,
          outcome: undefined,
          gone
        }
        records.push(record)
        signalStep(index)
        if (step.fault !== undefined && step.fault._tag !== "silentDeletion") {
          count(step.fault._tag)
          target.inject(step.fault, record.route)
        }
        const exit = yield* Effect.exit(effect)
        record.toSeq = lastSeq(log)
        record.outcome = classifyExit(exit)
        if (Exit.isSuccess(exit)) record.wrongResult = check(exit.value)
        for (const secret of secretsIn(exit, target.secrets)) {
          leakedSecrets.push({ kind: "secret", detail: `step ${index} ${step.op}: a credential (${secret.length} characters) appears in the error` })
        }
        // Faults not consumed by this step must not leak into the next one.
        target.clearFaults()
        target.clearKnobs()
        applyLatency()
        return exit
      })

    const body = Effect.gen(function*() {
      const [first, ...rest] = scenario.steps
      if (first === undefined) return
      const created = yield* runStep(0, first, false, target.provider.create({ labels }), () => undefined)
      if (Exit.isFailure(created)) return
      const sandbox = created.value
      let gone = false
      for (const [i, step] of rest.entries()) {
        const index = i + 1
        const fault = step.fault
        if (fault?._tag === "silentDeletion") {
          count("silentDeletion")
          yield* Effect.promise(() => target.deleteSilently(sandbox.id, fault.delayMs))
          if (fault.delayMs <= 0) gone = true
        }
        const exit = yield* runStep(index, step, gone, operation(step, scenario.index, sandbox, target, labels), (v) => v)
        if (step.op === "destroy" && Exit.isSuccess(exit)) gone = true
      }
    }).pipe(Effect.scoped, Effect.provideService(RetryPolicy, soakPolicy))

    const fiber = yield* Effect.forkChild(body)
    const interrupt = scenario.interrupt
    const watcher = interrupt === undefined ? undefined : yield* Effect.forkChild(Effect.gen(function*() {
      yield* Effect.promise(() => interruptStep)
      yield* Effect.sleep(Duration.millis(interrupt.afterMs))
      yield* Fiber.interrupt(fiber)
    }))
    const exit = yield* Fiber.await(fiber)
    if (watcher !== undefined) yield* Fiber.interrupt(watcher)
    const interrupted = Exit.isFailure(exit) && Exit.hasInterrupts(exit)
    const violations: Array<Violation> = [...leakedSecrets]
    const outcome = classifyExit(exit)
    if (outcome._tag === "defect" || outcome._tag === "untagged") {
      violations.push({ kind: outcome._tag, detail: `scenario: ${outcome.detail}` })
    }

    // Leftovers: the scope has closed, so nothing of this scenario may remain (async teardown gets a moment).
    target.clearFaults()
    target.clearKnobs()
    yield* Effect.promise(() => target.settled())
    let left = { registry: [] as ReadonlyArray<string>, workspaces: [] as ReadonlyArray<string>, processes: [] as ReadonlyArray<string> }
    for (let i = 0; i < 200; i++) {
      left = {
        registry: target.live(),
        workspaces: yield* Effect.promise(() => sandboxDirs(target.root)),
        processes: processesUnder(target.root).map(describeProcess)
      }
      if (left.registry.length + left.workspaces.length + left.processes.length === 0) break
      yield* Effect.promise(() => sleep(25))
    }
    const listed = yield* target.provider.list({ labels }).pipe(
      Effect.provideService(RetryPolicy, soakPolicy),
      Effect.map((infos) => infos.map((i) => i.id)),
      Effect.catch((error) => Effect.succeed([`<list failed: ${error._tag}>`]))
    )
    const leftovers = checkLeftovers({ ...left, listed })
    violations.push(...leftovers)
    if (leftovers.length > 0) {
      yield* Effect.promise(() => target.purge())
      // Reported already; killed by pid so the next scenario starts clean.
      for (const p of processesUnder(target.root)) {
        try {
          process.kill(p.pid, "SIGKILL")
        } catch {
          // Gone meanwhile.
        }
      }
    }

    const entries: ReadonlyArray<LogEntry> = log?.entries() ?? []
    const windowOf = (record: StepRecord) =>
      entries.filter((e) => e.seq > record.fromSeq && (record.toSeq === undefined || e.seq <= record.toSeq))
    violations.push(...checkSteps(records, windowOf))
    const calls: Array<CallObservation> = []
    for (const record of records) {
      if (record.fault === undefined || record.fault._tag === "silentDeletion") continue
      const analysis = analyzeRetries(record, windowOf(record), target.bound)
      calls.push(...analysis.calls)
      violations.push(...analysis.violations)
    }
    const hits: Record<string, number> = {}
    for (const e of entries) {
      if (e.fault === undefined) continue
      const cls = e.fault !== "fail" ? "reset" : e.status === 429 ? "rateLimit" : e.status >= 500 ? "serverError" : e.status >= 400 ? "permanent" : "reset"
      hits[cls] = (hits[cls] ?? 0) + 1
    }
    log?.clear()
    return { scenario, durationMs: Date.now() - started, interrupted, steps: records, violations, calls, injected, hits }
  })
