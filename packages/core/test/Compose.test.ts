/**
 * Composition (fallback, roundRobin, route, circuit breakers) and observability (spans, metrics) over small in-memory
 * drivers with switchable faults. The emulator-backed versions of these scenarios live with the cloud adapters.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric, Schedule, Tracer } from "effect"
import { TestClock } from "effect/testing"
import {
  AuthenticationFailed,
  type Capabilities,
  fallback,
  layerFromDriver,
  makeBreaker,
  makeTransient,
  RateLimited,
  RetryPolicy,
  roundRobin,
  route,
  SandboxNotFound,
  SandboxProvider,
  type SandboxDriver,
  type SandboxError,
  type SandboxInfo
} from "../src/index.ts"

const capabilities = (runCode: ReadonlyArray<string> = []): Capabilities => ({
  execStream: false,
  spawn: false,
  stdin: false,
  output: "separate",
  files: false,
  bulkTransfer: false,
  exposePort: false,
  runCode,
  setTimeout: false,
  pause: false,
  isolation: "process"
})

/** An in-memory provider whose create can be made to fail. */
const memoryProvider = (name: string, options: { runCode?: ReadonlyArray<string> } = {}) => {
  const sandboxes = new Map<string, SandboxInfo>()
  const state = { createCalls: 0, failWith: undefined as SandboxError | undefined, next: 0 }
  const handle = (info: SandboxInfo) => ({
    info,
    refresh: Effect.succeed(info),
    exec: () => Effect.succeed({ exitCode: 0, stdout: name, stderr: "", durationMs: 0, truncated: false }),
    runCode: () => Effect.succeed({ stdout: `${name} ran it`, stderr: "", results: [] })
  })
  const driver: SandboxDriver = {
    name,
    capabilities: capabilities(options.runCode),
    create: (spec) =>
      Effect.suspend(() => {
        state.createCalls++
        if (state.failWith !== undefined) return Effect.fail(state.failWith)
        const id = `${name}-${state.next++}`
        const info: SandboxInfo = { id, provider: name, state: "running", labels: spec.labels, createdAt: new Date(0), workdir: "/" }
        sandboxes.set(id, info)
        return Effect.succeed(handle(info))
      }),
    connect: (id) => {
      const info = sandboxes.get(id)
      return info === undefined
        ? Effect.fail(new SandboxNotFound({ provider: name, sandboxId: id, message: "gone" }))
        : Effect.succeed(handle(info))
    },
    list: (filter) =>
      Effect.sync(() =>
        [...sandboxes.values()].filter((s) => Object.entries(filter.labels ?? {}).every(([k, v]) => s.labels[k] === v))
      ),
    destroy: (id) => Effect.sync(() => void sandboxes.delete(id))
  }
  return { layer: layerFromDriver(Effect.succeed(driver)), sandboxes, state }
}

const rateLimited = (provider: string) => new RateLimited({ provider, message: "429" })
const noRetries = Effect.provideService(RetryPolicy, { transient: makeTransient({ maxRetries: 0 }), readiness: Schedule.recurs(0) })

const providerOf = <A, E, E2>(layer: Layer.Layer<SandboxProvider, E>, f: (p: SandboxProvider["Service"]) => Effect.Effect<A, E2>) =>
  Effect.gen(function*() {
    const provider = yield* SandboxProvider
    return yield* f(provider)
  }).pipe(Effect.provide(layer), noRetries)

describe("fallback", () => {
  it.effect("A answers 429 to every create: every sandbox lands on B, none is left on A", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      a.state.failWith = rateLimited("a")
      const names = yield* providerOf(fallback([a.layer, b.layer], { breaker: false }), (p) =>
        Effect.forEach([1, 2, 3, 4], () => Effect.map(p.createDetached(), (s) => s.provider)))
      assert.deepStrictEqual(names, ["b", "b", "b", "b"])
      assert.strictEqual(a.sandboxes.size, 0)
      assert.strictEqual(b.sandboxes.size, 4)
      assert.strictEqual(a.state.createCalls, 4)
    }))

  it.effect("a permanent error does not fall back", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      a.state.failWith = new AuthenticationFailed({ provider: "a", message: "bad key" })
      const error = yield* Effect.flip(providerOf(fallback([a.layer, b.layer]), (p) => p.createDetached()))
      assert.strictEqual(error._tag, "AuthenticationFailed")
      assert.strictEqual(b.state.createCalls, 0)
    }))

  it.effect("when every member fails over, the last error comes back", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      a.state.failWith = rateLimited("a")
      b.state.failWith = rateLimited("b")
      const error = yield* Effect.flip(providerOf(fallback([a.layer, b.layer], { breaker: false }), (p) => p.createDetached()))
      assert.strictEqual(error._tag, "RateLimited")
      assert.strictEqual(error.provider, "b")
    }))

  it.effect("scoped creates through the composite are destroyed on their real provider", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      a.state.failWith = rateLimited("a")
      yield* providerOf(fallback([a.layer, b.layer]), (p) =>
        Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* p.create()
          assert.strictEqual(sandbox.provider, "b")
          assert.strictEqual(b.sandboxes.size, 1)
        })))
      assert.strictEqual(b.sandboxes.size, 0)
    }))

  it.effect("the breaker opens after 3 failures, skips A, half-opens after resetAfter, and traffic returns", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      a.state.failWith = rateLimited("a")
      const layer = fallback([a.layer, b.layer], { breaker: { failureThreshold: 3, resetAfter: "30 seconds" } })
      yield* providerOf(layer, (p) =>
        Effect.gen(function*() {
          for (let i = 0; i < 5; i++) yield* p.createDetached()
          assert.strictEqual(a.state.createCalls, 3, "A is not asked once its breaker is open")
          yield* TestClock.adjust("29 seconds")
          yield* p.createDetached()
          assert.strictEqual(a.state.createCalls, 3, "still open before resetAfter")
          a.state.failWith = undefined // A recovers
          yield* TestClock.adjust("1 second")
          const trial = yield* p.createDetached()
          assert.strictEqual(trial.provider, "a", "half-open lets a trial through")
          const after = yield* p.createDetached()
          assert.strictEqual(after.provider, "a", "closed again: traffic is back on A")
        }))
    }))

  it.effect("a failed half-open trial opens the breaker again", () =>
    Effect.gen(function*() {
      const breaker = makeBreaker({ failureThreshold: 2, resetAfter: "10 seconds" })
      yield* breaker.failure
      assert.strictEqual(yield* breaker.state, "closed")
      yield* breaker.failure
      assert.strictEqual(yield* breaker.state, "open")
      assert.isFalse(yield* breaker.allow)
      yield* TestClock.adjust("10 seconds")
      assert.isTrue(yield* breaker.allow)
      assert.strictEqual(yield* breaker.state, "half-open")
      yield* breaker.failure
      assert.strictEqual(yield* breaker.state, "open")
      assert.isFalse(yield* breaker.allow)
    }))

  it.effect("half-open admits one trial at a time; a trial that ends without a verdict frees the slot", () =>
    Effect.gen(function*() {
      const breaker = makeBreaker({ failureThreshold: 1, resetAfter: "10 seconds" })
      yield* breaker.failure
      yield* TestClock.adjust("10 seconds")
      assert.isTrue(yield* breaker.allow, "the trial")
      assert.isFalse(yield* breaker.allow, "no second trial while the first is in flight")
      yield* breaker.release
      assert.strictEqual(yield* breaker.state, "half-open")
      assert.isTrue(yield* breaker.allow, "released: the next caller is the trial")
      yield* breaker.success
      assert.strictEqual(yield* breaker.state, "closed")
      assert.isTrue(yield* breaker.allow)
      assert.isTrue(yield* breaker.allow, "closed: no limit")
    }))
})

describe("routing and spreading", () => {
  it.effect("a spec that requires runCode goes to the member that declares it", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b", { runCode: ["python"] })
      const provider = yield* providerOf(fallback([a.layer, b.layer]), (p) =>
        Effect.map(p.createDetached({ requires: ["runCode"] }), (s) => s.provider))
      assert.strictEqual(provider, "b")
      assert.strictEqual(a.state.createCalls, 0)
    }))

  it.effect("a single provider refuses a spec it cannot serve, before creating anything", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const error = yield* Effect.flip(providerOf(a.layer, (p) => p.createDetached({ requires: ["runCode"] })))
      assert.strictEqual(error._tag, "Unsupported")
      assert.strictEqual(a.state.createCalls, 0)
    }))

  it.effect("route picks the member select names, others stay fallbacks", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      const layer = route([a.layer, b.layer], (spec) => spec?.labels?.["tier"] === "gold" ? 1 : 0)
      const names = yield* providerOf(layer, (p) =>
        Effect.all([
          Effect.map(p.createDetached({ labels: { tier: "gold" } }), (s) => s.provider),
          Effect.map(p.createDetached(), (s) => s.provider)
        ]))
      assert.deepStrictEqual(names, ["b", "a"])
    }))

  it.effect("roundRobin alternates, and weights give a member more turns", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      const even = yield* providerOf(roundRobin([a.layer, b.layer]), (p) =>
        Effect.forEach([1, 2, 3, 4], () => Effect.map(p.createDetached(), (s) => s.provider)))
      assert.deepStrictEqual(even, ["a", "b", "a", "b"])
      const c = memoryProvider("c")
      const d = memoryProvider("d")
      const weighted = yield* providerOf(roundRobin([c.layer, d.layer], { weights: [2, 1] }), (p) =>
        Effect.forEach([1, 2, 3, 4, 5, 6], () => Effect.map(p.createDetached(), (s) => s.provider)))
      assert.deepStrictEqual(weighted, ["c", "c", "d", "c", "c", "d"])
    }))
})

describe("spanning every member", () => {
  it.effect("connect finds the right member; list, destroy and reap span them all", () =>
    Effect.gen(function*() {
      const a = memoryProvider("a")
      const b = memoryProvider("b")
      yield* providerOf(roundRobin([a.layer, b.layer], { name: "both" }), (p) =>
        Effect.gen(function*() {
          assert.strictEqual(p.name, "both")
          const first = yield* p.createDetached({ labels: { job: "x" } })
          const second = yield* p.createDetached({ labels: { job: "x" } })
          assert.deepStrictEqual([first.provider, second.provider], ["a", "b"])
          const again = yield* p.connect(second.id)
          assert.strictEqual(again.provider, "b")
          assert.strictEqual((yield* again.exec("echo")).stdout, "b")
          assert.strictEqual((yield* p.list({ labels: { job: "x" } })).length, 2)
          const missing = yield* Effect.flip(p.connect("nobody-1"))
          assert.strictEqual(missing._tag, "SandboxNotFound")
          yield* p.destroy(first.id)
          assert.strictEqual(a.sandboxes.size, 0)
          const report = yield* p.reap({ labels: { job: "x" } })
          assert.deepStrictEqual(report.destroyed, [second.id])
          assert.deepStrictEqual(yield* p.list(), [])
        }))
    }))
})

describe("observability", () => {
  it.effect("operations are spans with provider, operation, sandbox and outcome; no input values", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (options) => {
          const span = Tracer.nativeTracer.span(options)
          spans.push(span)
          return span
        }
      })
      const a = memoryProvider("a")
      yield* providerOf(a.layer, (p) =>
        Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* p.create({ env: { API_TOKEN: "tok-secret-123" } })
          yield* sandbox.exec("echo tok-secret-456", { env: { OTHER: "tok-secret-789" } })
          yield* Effect.exit(sandbox.exec(""))
        }))).pipe(Effect.provideService(Tracer.Tracer, recording))
      const byName = (name: string) => spans.filter((s) => s.name === name)
      const create = byName("sandkit.create")[0]!
      assert.strictEqual(create.attributes.get("sandkit.provider"), "a")
      assert.strictEqual(create.attributes.get("sandkit.outcome"), "success")
      assert.strictEqual(create.attributes.get("sandkit.sandbox"), "a-0")
      const execs = byName("sandkit.exec")
      assert.strictEqual(execs.length, 2)
      assert.strictEqual(execs[1]!.attributes.get("sandkit.outcome"), "InvalidRequest")
      assert.strictEqual(byName("sandkit.destroy").length, 1)
      const everything = JSON.stringify(spans.map((s) => [s.name, [...s.attributes.entries()]]))
      assert.notInclude(everything, "tok-secret")
    }))

  it.effect("metrics count creates, failures by tag and retries, and time each operation", () =>
    Effect.gen(function*() {
      const a = memoryProvider("metrics-a")
      a.state.failWith = rateLimited("metrics-a")
      const retryTwice = Effect.provideService(RetryPolicy, {
        transient: makeTransient({ maxRetries: 2, jitter: false, base: "1 millis" }),
        readiness: Schedule.recurs(0)
      })
      const program = Effect.gen(function*() {
        const p = yield* SandboxProvider
        yield* Effect.exit(p.createDetached())
        a.state.failWith = undefined
        yield* p.createDetached()
      }).pipe(Effect.provide(a.layer), retryTwice)
      const fiber = yield* Effect.forkChild(program)
      yield* TestClock.adjust("1 second")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      const snapshot = yield* Metric.snapshot
      const find = (id: string, attrs: Record<string, string>) =>
        snapshot.filter((m) => m.id === id && Object.entries(attrs).every(([k, v]) => m.attributes?.[k] === v))
      const state = (m: Metric.Metric.Snapshot | undefined) => m?.state as { count?: number } | undefined
      assert.strictEqual(state(find("sandkit.sandboxes.created", { provider: "metrics-a" })[0])?.count, 1)
      assert.strictEqual(state(find("sandkit.operation.failures", { provider: "metrics-a", operation: "create", error: "RateLimited" })[0])?.count, 1)
      assert.strictEqual(state(find("sandkit.operation.retries", { provider: "metrics-a", operation: "create" })[0])?.count, 2)
      const durations = find("sandkit.operation.duration", { provider: "metrics-a", operation: "create" })
      assert.deepStrictEqual(durations.map((d) => d.attributes?.["outcome"]).sort(), ["RateLimited", "success"])
    }))
})
