/**
 * Fault injection through the emulator's knobs: retries decided by the core schedule alone (the SDK's own retries
 * are off), typed errors, no retry loops on permanent failures, no leaks on interruption.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  makeProvider,
  makeReadiness,
  RetryPolicy,
  type SandboxError,
  type SandboxProviderShape,
  transient
} from "@sandkit/core"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import {
  createHonoursRetryAfter,
  expectClean,
  failureOf,
  fastPolicy,
  type FaultTarget,
  wrongCredentialsAreRefused,
  quotaIsNotRetried,
  rateLimitReachesCaller,
  waitUntil
} from "@sandkit/emulators/testkit"
import { Context, Effect, Fiber, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { E2bProvider } from "../src/index.ts"
import { emulatedOptions } from "./emulated.ts"

const API_KEY = "e2b_faultsuite_0123456789"

class Emulator extends Context.Service<Emulator, E2bEmulator.E2bEmulator>()("@sandkit/e2b/test/Emulator") {}
const EmulatorLayer = Layer.effect(Emulator, E2bEmulator.make({ apiKey: API_KEY }))

/** The provider over the emulator (built per test: cheap, no network call). */
const providerFor = (emulator: E2bEmulator.E2bEmulator, extra: Partial<E2bProvider.E2bOptions> = {}) =>
  Effect.map(E2bProvider.make(emulatedOptions(emulator, extra)), makeProvider)

/** The shared fault scenarios' view of this emulator. */
const targetOf = (emulator: E2bEmulator.E2bEmulator, provider: SandboxProviderShape): FaultTarget => ({
  provider,
  faults: emulator.faults,
  log: emulator.log,
  createRoute: "create"
})

describe("e2b faults (emulated)", () => {
  // TestClock: the waits are observed on the clock, not measured.
  it.layer(EmulatorLayer, { timeout: 60_000 })("on the test clock", (it) => {
    it.effect("two 429s with Retry-After: 1, then success: exactly 3 creates, each wait honoured", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* createHonoursRetryAfter(targetOf(emulator, provider), 201)
        yield* expectClean(emulator, provider)
      }))

    it.effect("the SDK's own 429 retry is off: with no core retries, one create and RateLimited carrying Retry-After", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* rateLimitReachesCaller(targetOf(emulator, provider))
        yield* expectClean(emulator, provider)
      }))
  })

  // The real clock: the retries here are a few milliseconds apart.
  it.layer(EmulatorLayer, { timeout: 60_000, excludeTestServices: true })("on the real clock", (it) => {
    it.effect("503 on create: retried per schedule, then ProviderUnavailable after the cap", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.failNext("create", { status: 503, times: 100, message: "no capacity" })
        const exit = yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3))))
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.strictEqual(error._tag === "ProviderUnavailable" ? error.status : undefined, 503)
        assert.strictEqual(emulator.log.count("create"), 4, "1 attempt + 3 retries")
        yield* expectClean(emulator, provider)
      }))

    it.effect("401: AuthenticationFailed, no retry, and the key appears nowhere", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const wrongKey = "e2b_wrongkey_abcdefghij"
        const provider = yield* providerFor(emulator, { apiKey: Redacted.make(wrongKey) })
        yield* wrongCredentialsAreRefused(provider.createDetached(), [wrongKey])
        assert.strictEqual(emulator.log.count("create"), 1)
        yield* expectClean(emulator, yield* providerFor(emulator))
      }))

    it.effect("a sandbox silently deleted mid-run: the next calls fail with SandboxNotFound, once each", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          assert.strictEqual((yield* sandbox.exec("echo before")).stdout, "before\n")
          emulator.registry.deleteAfter(sandbox.id, 20)
          yield* waitUntil("the silent deletion", () => emulator.registry.get(sandbox.id) === undefined)
          const calls = [
            ["process.Start", sandbox.exec("echo after")],
            ["files.read", sandbox.files.read("x.txt")],
            ["getInfo", sandbox.refresh],
            ["setTimeout", sandbox.setTimeout("10 minutes")],
            ["connect", provider.connect(sandbox.id)]
          ] as const
          for (const [route, call] of calls) {
            emulator.log.clear()
            const error = failureOf(yield* Effect.exit(call as Effect.Effect<unknown, SandboxError>))
            assert.strictEqual(error._tag, "SandboxNotFound", `${route}: ${error.message}`)
            assert.strictEqual(emulator.log.count(route), 1, `${route} called once, not retried`)
          }
        }))
        // Closing the scope destroyed it again: a 404 there is success (destroy is idempotent).
        assert.strictEqual(emulator.log.count("kill"), 1)
        yield* expectClean(emulator, provider)
      }))

    it.effect("interrupted while create is in flight: the sandbox the server created is destroyed", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        // The server creates at once, but envd answers only after a while: create is still in flight.
        emulator.registry.setReadinessDelay(300)
        const fiber = yield* Effect.forkChild(
          Effect.scoped(Effect.andThen(provider.create(), Effect.never)).pipe(Effect.provideService(RetryPolicy, fastPolicy(0)))
        )
        yield* waitUntil("the server created the sandbox", () => emulator.registry.size === 1)
        const [created] = emulator.registry.ids()
        assert.strictEqual(emulator.log.count("kill"), 0)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(emulator.registry.removals.filter((r) => r.id === created), [{ id: created!, reason: "destroyed" }])
        assert.strictEqual(emulator.log.count("kill"), 1)
        yield* expectClean(emulator, provider)
      }))

    it.effect("envd never ready within the readiness schedule: StartupTimeout, and the sandbox is destroyed", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.registry.setReadinessDelay(60_000)
        const policy = { transient, readiness: makeReadiness({ spacing: "5 millis", tries: 4 }) }
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, policy))))
        assert.strictEqual(error._tag, "StartupTimeout")
        assert.strictEqual(emulator.log.count("filesystem.Stat"), 4, "one readiness probe per try")
        assert.strictEqual(emulator.log.count("kill"), 1)
        yield* expectClean(emulator, provider)
      }))

    it.effect("connection reset: a create is not re-sent (it may have happened), a list is", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.resetNext("create")
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.strictEqual(emulator.log.count("create"), 1)
        assert.strictEqual(emulator.log.count("list"), 1, "one lookup for a sandbox the lost create may have made")
        emulator.log.clear()
        emulator.faults.resetNext("list", { times: 2 })
        assert.deepStrictEqual(yield* provider.list().pipe(Effect.provideService(RetryPolicy, fastPolicy(3))), [])
        assert.strictEqual(emulator.log.count("list"), 3)
        yield* expectClean(emulator, provider)
      }))

    it.effect("a create whose answer is lost: not re-sent, and the sandbox the server made is found and killed", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        // The server creates the sandbox, then the connection drops before the answer arrives.
        emulator.faults.resetNext("create", { midStream: true })
        const error = failureOf(yield* Effect.exit(Effect.scoped(provider.create()).pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        assert.strictEqual(error._tag, "ProviderUnavailable", error.message)
        assert.strictEqual(emulator.log.count("create"), 1)
        assert.strictEqual(emulator.log.count("kill"), 1, "the orphan is killed")
        assert.strictEqual(emulator.registry.removals.at(-1)?.reason, "destroyed")
        yield* expectClean(emulator, provider)
      }))

    it.effect("a stream cut mid-way: exec fails with ProviderUnavailable and is not re-run", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          emulator.faults.resetNext("process.Start", { midStream: true, afterMs: 50 })
          const error = failureOf(yield* Effect.exit(sandbox.exec("sleep 2; echo late").pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
          assert.strictEqual(error._tag, "ProviderUnavailable", error.message)
          assert.strictEqual(emulator.log.count("process.Start"), 1)
          assert.strictEqual((yield* sandbox.exec("echo still-alive")).stdout, "still-alive\n")
        }))
        yield* expectClean(emulator, provider)
      }))

    it.effect("a busy data plane (429/503 on a running sandbox) is ProviderUnavailable, a gone sandbox SandboxNotFound", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const policy = fastPolicy(3)
        const sandbox = yield* provider.createDetached()
        // The SDK reports both as "sandbox not found"; the adapter asks the control plane, which still lists it.
        emulator.faults.rateLimitNext("process.Start")
        const busy = failureOf(yield* Effect.exit(sandbox.exec("echo hi").pipe(Effect.provideService(RetryPolicy, policy))))
        assert.strictEqual(busy._tag, "ProviderUnavailable", busy.message)
        assert.strictEqual(emulator.log.count("process.Start"), 1, "a command is not re-sent")
        const statsBefore = emulator.log.count("filesystem.Stat")
        emulator.faults.failNext("filesystem.Stat", { status: 503, times: 10 })
        const statBusy = failureOf(yield* Effect.exit(sandbox.files.stat(".").pipe(Effect.provideService(RetryPolicy, policy))))
        assert.strictEqual(statBusy._tag, "ProviderUnavailable", statBusy.message)
        assert.strictEqual(emulator.log.count("filesystem.Stat") - statsBefore, 4, "idempotent: 1 attempt + 3 retries")
        emulator.faults.clear()
        assert.strictEqual((yield* sandbox.exec("echo still-alive")).stdout, "still-alive\n")
        yield* provider.destroy(sandbox.id)
        const gone = failureOf(yield* Effect.exit(sandbox.exec("echo hi").pipe(Effect.provideService(RetryPolicy, policy))))
        assert.strictEqual(gone._tag, "SandboxNotFound", gone.message)
        yield* expectClean(emulator, provider)
      }))

    it.effect("concurrency quota: QuotaExceeded, not retried", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* quotaIsNotRetried(targetOf(emulator, provider), () => emulator.registry.setQuota(1))
        yield* expectClean(emulator, provider)
      }))

    it.effect("latency: calls still succeed, and the request log counts each route exactly", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.latency("*", { uniform: [1, 5] }).latency("process.Start", 20)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          for (let i = 0; i < 3; i++) assert.strictEqual((yield* sandbox.exec(`echo ${i}`)).stdout, `${i}\n`)
        }))
        assert.strictEqual(emulator.log.count("create"), 1)
        assert.strictEqual(emulator.log.count("process.Start"), 3)
        assert.strictEqual(emulator.log.count("kill"), 1)
        yield* expectClean(emulator, provider)
      }))

    it.effect("data-plane errors carry no token: a bad envd token is AuthenticationFailed without the token in it", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          const token = emulator.registry.get(sandbox.id)!.ext.envdAccessToken
          emulator.faults.failNext("files.read", { status: 401, message: `token ${token} rejected` })
          const error = failureOf(yield* Effect.exit(sandbox.files.read("x")))
          assert.strictEqual(error._tag, "AuthenticationFailed")
          for (const text of [error.message, JSON.stringify(error), JSON.stringify(error.cause)]) assert.notInclude(text, token)
        }))
        yield* expectClean(emulator, provider)
      }))
  })
})

