/**
 * Provider composition against real adapters over emulated clouds with faults: A = E2B, B = Runloop, each through its
 * official SDK. The request logs on the wire say how often each member was asked; the registries say what was left.
 */
import { assert, describe, it } from "@effect/vitest"
import { fallback, RetryPolicy, roundRobin, SandboxProvider, type SandboxError, type SandboxProviderShape } from "@sandkit/core"
import { failureOf, fastPolicy } from "@sandkit/emulators/testkit"
import { Clock, Effect, Layer } from "effect"
import {
  assertNothingLeft,
  type Clouds,
  e2bLayer,
  EmulatedClouds,
  EmulatedCloudsLayer,
  makeAdvancingClock,
  runloopLayer
} from "./emulatedClouds.ts"

/** Run `body` against the composed provider built from `layer`, with `retries` fast transient retries per call. */
const usingComposite = <A>(
  layer: Layer.Layer<SandboxProvider, SandboxError>,
  body: (composite: SandboxProviderShape) => Effect.Effect<A, SandboxError>,
  retries = 2
) =>
  Effect.gen(function*() {
    const composite = yield* SandboxProvider
    return yield* body(composite)
  }).pipe(Effect.provide(layer), Effect.provideService(RetryPolicy, fastPolicy(retries)))

const times = <A, E, R>(n: number, effect: Effect.Effect<A, E, R>) => Effect.forEach(Array.from({ length: n }, (_, i) => i), () => effect)

const rateLimitEveryCreate = (clouds: Clouds) => clouds.e2b.faults.rateLimitNext("create", { times: 10_000 })

describe("composition over emulated clouds (A = e2b, B = runloop)", () => {
  it.layer(EmulatedCloudsLayer, { timeout: 120_000, excludeTestServices: true })("fallback", (it) => {
    it.effect("A answers 429 to every create: 6 creates land on B; A saw 3 creates × 3 attempts, then its breaker kept it out", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        rateLimitEveryCreate(clouds)
        const layer = fallback([e2bLayer(clouds), runloopLayer(clouds)], { breaker: { failureThreshold: 3, resetAfter: "1 hour" } })
        yield* usingComposite(layer, (composite) =>
          Effect.gen(function*() {
            yield* Effect.scoped(Effect.gen(function*() {
              const sandboxes = yield* times(6, composite.create())
              assert.deepStrictEqual(sandboxes.map((s) => s.provider), Array(6).fill("runloop"), "handles keep B's name")
              assert.strictEqual(clouds.runloop.registry.size, 6)
              assert.strictEqual(clouds.e2b.registry.size, 0, "nothing created on A")
              assert.strictEqual((yield* sandboxes[5]!.exec("echo on-b")).stdout, "on-b\n")
            }))
            // 2 fast retries per create → 3 attempts each; the breaker opens after the 3rd failed create.
            assert.strictEqual(clouds.e2b.log.count("create"), 9)
            assert.deepStrictEqual([...new Set(clouds.e2b.log.entries("create").map((e) => e.status))], [429])
            assert.strictEqual(clouds.runloop.log.count("create"), 6)
            assert.strictEqual(clouds.e2b.log.count("kill"), 0, "A never had a sandbox to destroy")
            yield* assertNothingLeft(clouds, composite)
          }))
      }))

    it.effect("A recovers: the breaker half-opens after resetAfter, a failed trial re-opens it, a good trial brings traffic back", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        const { advance, clock } = yield* makeAdvancingClock
        rateLimitEveryCreate(clouds)
        const layer = fallback([e2bLayer(clouds), runloopLayer(clouds)], { breaker: { failureThreshold: 2, resetAfter: "30 seconds" } })
        const e2bCreates = () => clouds.e2b.log.count("create")
        yield* usingComposite(layer, (composite) =>
          Effect.scoped(Effect.gen(function*() {
            const placed: Array<string> = []
            const createOne = Effect.map(composite.create(), (s) => void placed.push(s.provider))

            yield* times(3, createOne)
            assert.deepStrictEqual(placed, ["runloop", "runloop", "runloop"])
            assert.strictEqual(e2bCreates(), 6, "2 failed creates × 3 attempts, then open")

            // Half-open while A still fails: one trial (3 attempts), it fails, the breaker opens again at once.
            yield* advance(30_000)
            yield* times(2, createOne)
            assert.deepStrictEqual(placed.slice(3), ["runloop", "runloop"])
            assert.strictEqual(e2bCreates(), 9, "one trial create (with its retries), then open again")

            // A recovers, but the breaker stays open until resetAfter has passed again.
            clouds.e2b.faults.clear()
            yield* advance(29_000)
            yield* createOne
            assert.strictEqual(placed[5], "runloop")
            assert.strictEqual(e2bCreates(), 9, "no request to A while open")

            yield* advance(1_000)
            yield* times(3, createOne)
            assert.deepStrictEqual(placed.slice(6), ["e2b", "e2b", "e2b"], "the trial succeeds and traffic returns to A")
            assert.strictEqual(e2bCreates(), 12)
            assert.deepStrictEqual(clouds.e2b.log.entries("create").slice(9).map((e) => e.status), [201, 201, 201])
            assert.strictEqual(clouds.runloop.log.count("create"), 6)
            assert.strictEqual(clouds.e2b.registry.size, 3)
            assert.strictEqual(clouds.runloop.registry.size, 6)
          }))).pipe(Effect.provideService(Clock.Clock, clock))
        yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) => assertNothingLeft(clouds, composite))
      }))

    it.effect("half-open admits one trial at a time: concurrent creates after resetAfter send one to A, the rest straight to B", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        const { advance, clock } = yield* makeAdvancingClock
        rateLimitEveryCreate(clouds)
        const layer = fallback([e2bLayer(clouds), runloopLayer(clouds)], { breaker: { failureThreshold: 1, resetAfter: "30 seconds" } })
        yield* usingComposite(layer, (composite) =>
          Effect.scoped(Effect.gen(function*() {
            yield* composite.create()
            assert.strictEqual(clouds.e2b.log.count("create"), 3, "one failed create (3 attempts) opens the breaker")
            yield* advance(30_000)
            const placed = yield* Effect.forEach([1, 2, 3, 4], () => Effect.map(composite.create(), (s) => s.provider), {
              concurrency: "unbounded"
            })
            assert.deepStrictEqual(placed, ["runloop", "runloop", "runloop", "runloop"])
            assert.strictEqual(clouds.e2b.log.count("create"), 6, "a single trial (3 attempts), not one per concurrent create")
          }))).pipe(Effect.provideService(Clock.Clock, clock))
        yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) => assertNothingLeft(clouds, composite))
      }))

    it.effect("QuotaExceeded (not retried) and StartupTimeout (half-made sandbox destroyed) on A move the create to B", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)], { breaker: false }), (composite) =>
          Effect.scoped(Effect.gen(function*() {
            // E2B answers a concurrency quota with 429 and no Retry-After: QuotaExceeded, which waiting does not fix.
            clouds.e2b.registry.setQuota(0)
            const first = yield* composite.create()
            assert.strictEqual(first.provider, "runloop")
            assert.strictEqual(clouds.e2b.log.count("create"), 1, "a quota error is not retried")
            clouds.e2b.registry.setQuota(undefined)
          })))
        // Without a known home the E2B adapter waits for envd; here it never answers in time.
        const probing = e2bLayer(clouds, undefined, { knownHome: false })
        clouds.e2b.registry.setReadinessDelay(60_000)
        clouds.e2b.log.clear()
        yield* usingComposite(fallback([probing, runloopLayer(clouds)], { breaker: false }), (composite) =>
          Effect.scoped(Effect.gen(function*() {
            const second = yield* composite.create()
            assert.strictEqual(second.provider, "runloop")
            assert.strictEqual(clouds.e2b.log.count("create"), 1)
            assert.strictEqual(clouds.e2b.log.count("kill"), 1, "the sandbox A made but never readied is destroyed")
            assert.strictEqual(clouds.e2b.registry.size, 0)
          }))).pipe(Effect.provideService(RetryPolicy, fastPolicy(2, { readinessTries: 3 })))
        yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) => assertNothingLeft(clouds, composite))
      }))

    it.effect("errors another provider cannot fix are surfaced, not masked: 401, 403, invalid input; none reaches B", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        const wrongKey = "sk_test_SANDKIT_FAKE_wrong_0000"
        const unauthorised = yield* usingComposite(
          fallback([e2bLayer(clouds, wrongKey), runloopLayer(clouds)]),
          (composite) => Effect.exit(composite.createDetached())
        )
        const auth = failureOf(unauthorised)
        assert.strictEqual(auth._tag, "AuthenticationFailed")
        assert.strictEqual(auth.provider, "e2b")
        assert.notInclude(JSON.stringify({ message: auth.message, cause: auth.cause }), wrongKey)
        assert.strictEqual(clouds.e2b.log.count("create"), 1, "401 is not retried")

        clouds.e2b.faults.failNext("create", { status: 403, message: "team is blocked" })
        const denied = failureOf(
          yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) => Effect.exit(composite.createDetached()))
        )
        assert.strictEqual(denied._tag, "PermissionDenied")
        assert.strictEqual(clouds.e2b.log.count("create"), 2)

        const invalid = failureOf(
          yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) =>
            Effect.exit(composite.createDetached({ env: { "1BAD NAME": "x" } })))
        )
        assert.strictEqual(invalid._tag, "InvalidRequest")
        assert.strictEqual(clouds.e2b.log.count("create"), 2, "invalid input never leaves the machine")
        assert.deepStrictEqual(clouds.runloop.log.entries(), [], "B was never asked")
        yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) => assertNothingLeft(clouds, composite))
      }))

    it.effect("once a sandbox exists on A, its errors stay with A: a 503 on a file write is retried on A, then surfaced, never moved to B", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        yield* usingComposite(fallback([e2bLayer(clouds), runloopLayer(clouds)]), (composite) =>
          Effect.gen(function*() {
            yield* Effect.scoped(Effect.gen(function*() {
              const sandbox = yield* composite.create()
              assert.strictEqual(sandbox.provider, "e2b")
              // The same error that moves a create (ProviderUnavailable) only fails the call on a sandbox that exists.
              clouds.e2b.faults.failNext("files.write", { status: 503, times: 3 })
              const error = failureOf(yield* Effect.exit(sandbox.files.write("note.txt", "hello")))
              assert.strictEqual(error._tag, "ProviderUnavailable")
              assert.strictEqual(error.provider, "e2b")
              assert.strictEqual(clouds.e2b.log.count("files.write"), 3, "1 attempt + 2 retries, all on A")
              yield* sandbox.files.write("note.txt", "hello")
              assert.strictEqual((yield* sandbox.exec("cat note.txt")).stdout, "hello", "the same sandbox still works")
            }))
            assert.strictEqual(clouds.e2b.log.count("create"), 1)
            assert.deepStrictEqual(clouds.runloop.log.entries(), [], "B was never asked")
            yield* assertNothingLeft(clouds, composite)
          }))
      }))
  })

  it.layer(EmulatedCloudsLayer, { timeout: 120_000, excludeTestServices: true })("routing, connect, list, reap", (it) => {
    it.effect("capability routing: runCode goes to the member that declares it, snapshot to the other, neither-alone is Unsupported up front", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        // B (Runloop, no runCode) first: only the spec can send a create to A.
        yield* usingComposite(fallback([runloopLayer(clouds), e2bLayer(clouds)]), (composite) =>
          Effect.gen(function*() {
            assert.include(composite.capabilities.runCode, "python", "the union of the members' capabilities")
            yield* Effect.scoped(Effect.gen(function*() {
              const coder = yield* composite.create({ requires: ["runCode"] })
              assert.strictEqual(coder.provider, "e2b")
              assert.strictEqual((yield* coder.runCode("print(6 * 7)", { language: "python" })).stdout, "42\n")
              assert.strictEqual(clouds.runloop.log.count("create"), 0)

              const snapshotter = yield* composite.create({ requires: ["snapshot"] })
              assert.strictEqual(snapshotter.provider, "runloop")
              assert.strictEqual(clouds.e2b.log.count("create"), 1)
            }))
            const e2bBefore = clouds.e2b.log.entries().length
            const runloopBefore = clouds.runloop.log.entries().length
            const error = failureOf(yield* Effect.exit(composite.createDetached({ requires: ["runCode", "snapshot"] })))
            assert.strictEqual(error._tag, "Unsupported")
            assert.strictEqual(error._tag === "Unsupported" ? error.capability : undefined, "runCode")
            assert.strictEqual(clouds.e2b.log.entries().length, e2bBefore, "no request to A")
            assert.strictEqual(clouds.runloop.log.entries().length, runloopBefore, "no request to B")
            yield* assertNothingLeft(clouds, composite)
          }))
      }))

    it.effect("connect finds sandboxes on either member, list spans both, reap by label destroys on both and spares the rest", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        const labels = { "it.case": "compose-reap" }
        yield* usingComposite(roundRobin([e2bLayer(clouds), runloopLayer(clouds)]), (composite) =>
          Effect.gen(function*() {
            const made = yield* times(4, composite.createDetached({ labels }))
            assert.deepStrictEqual(made.map((s) => s.provider), ["e2b", "runloop", "e2b", "runloop"])
            const keeper = yield* composite.createDetached({ labels: { "it.case": "compose-keep" } })

            const listed = yield* composite.list({ labels })
            assert.deepStrictEqual(listed.map((s) => s.id).sort(), made.map((s) => s.id).sort())
            assert.deepStrictEqual(listed.map((s) => s.provider).sort(), ["e2b", "e2b", "runloop", "runloop"])
            assert.strictEqual((yield* composite.list()).length, 5)

            for (const original of made) {
              const connected = yield* composite.connect(original.id)
              assert.strictEqual(connected.provider, original.provider)
              assert.strictEqual((yield* connected.exec("echo $((20 + 22))")).stdout, "42\n")
            }
            const missing = failureOf(yield* Effect.exit(composite.connect("dbx_nosuchsandbox0000000")))
            assert.strictEqual(missing._tag, "SandboxNotFound")

            const report = yield* composite.reap({ labels })
            assert.deepStrictEqual([...report.destroyed].sort(), made.map((s) => s.id).sort())
            assert.deepStrictEqual(report.failed, [])
            assert.deepStrictEqual([...clouds.e2b.registry.ids(), ...clouds.runloop.registry.ids()], [keeper.id])
            assert.deepStrictEqual(yield* composite.list({ labels }), [])

            yield* composite.destroy(keeper.id)
            yield* assertNothingLeft(clouds, composite)
          }))
      }))
  })
})

