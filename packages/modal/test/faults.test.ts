/**
 * Fault injection through the Modal emulator's knobs: attempts decided by the core schedule alone (the SDK's own
 * control-plane retries are off, its keyed create retries counted), throttling honoured, typed errors, no hang when
 * a sandbox ends under a running command, nothing left after an interrupted create.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeProvider, RetryPolicy, type SandboxError } from "@sandkit/core"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { expectClean, failureOf, fastPolicy, quotaIsNotRetried, realSleep, waitUntil, wrongCredentialsAreRefused } from "@sandkit/emulators/testkit"
import { Context, Duration, Effect, Fiber, Layer, Redacted, Stream } from "effect"
import { TestClock } from "effect/testing"
import { ModalProvider } from "../src/index.ts"
import { emulatedOptions } from "./emulated.ts"

const TOKEN_ID = "ak-faultsuite0123456789"
const TOKEN_SECRET = "as-faultsuitesecret0123456789"

class Emulator extends Context.Service<Emulator, ModalEmulator.ModalEmulator>()("@sandkit/modal/test/FaultsEmulator") {}
const EmulatorLayer = Layer.effect(Emulator, ModalEmulator.make({ tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET }))

const providerFor = (emulator: ModalEmulator.ModalEmulator, extra: Partial<ModalProvider.ModalOptions> = {}) =>
  Effect.map(ModalProvider.make(emulatedOptions(emulator, extra)), makeProvider)

const codes = (emulator: ModalEmulator.ModalEmulator, method: string) => emulator.calls(method).map((c) => c.grpcCode)

describe("modal faults (emulated)", () => {
  // TestClock: the core schedule's waits are observed on the clock, not measured.
  it.layer(EmulatorLayer, { timeout: 60_000 })("on the test clock", (it) => {
    it.effect("throttling (RESOURCE_EXHAUSTED + RPCRetryPolicy 1 s) twice, then success: 3 lists, each wait honoured", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* provider.list() // the app lookup and the auth token, before the clock matters
        emulator.log.clear()
        ModalEmulator.grpcFaults(emulator.faults).throttleNext("SandboxListV2", 1, 2)
        const fiber = yield* Effect.forkChild(provider.list())
        const lists = () => emulator.calls("SandboxListV2").length
        yield* waitUntil("the first list", () => lists() === 1)
        yield* TestClock.adjust("999 millis")
        yield* realSleep(100)
        assert.strictEqual(lists(), 1, "no retry before the server's retry-after elapsed")
        yield* TestClock.adjust("1 millis")
        yield* waitUntil("the second list", () => lists() === 2)
        yield* TestClock.adjust("999 millis")
        yield* realSleep(100)
        assert.strictEqual(lists(), 2)
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual(yield* Fiber.join(fiber), [])
        assert.deepStrictEqual(codes(emulator, "SandboxListV2"), [8, 8, 0])
        yield* expectClean(emulator, provider)
      }))

    it.effect("the SDK's throttle wait is off: with no core retries, one call and RateLimited carrying the retry-after", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* provider.list()
        emulator.log.clear()
        ModalEmulator.grpcFaults(emulator.faults).throttleNext("SandboxListV2", 7, 3)
        const error = failureOf(yield* Effect.exit(provider.list().pipe(Effect.provideService(RetryPolicy, fastPolicy(0)))))
        assert.strictEqual(error._tag, "RateLimited")
        assert.strictEqual(error._tag === "RateLimited" && error.retryAfter !== undefined ? Duration.toMillis(error.retryAfter) : undefined, 7_000)
        assert.strictEqual(emulator.calls("SandboxListV2").length, 1)
        yield* expectClean(emulator, provider)
      }))
  })

  it.layer(EmulatorLayer, { timeout: 60_000, excludeTestServices: true })("on the real clock", (it) => {
    it.effect("UNAVAILABLE bursts on the control plane: the core schedule alone retries (SDK retries off)", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const knobs = ModalEmulator.grpcFaults(emulator.faults)
        yield* provider.list()
        emulator.log.clear()
        knobs.unavailableNext("SandboxListV2", 2)
        assert.deepStrictEqual(yield* provider.list().pipe(Effect.provideService(RetryPolicy, fastPolicy(3))), [])
        assert.deepStrictEqual(codes(emulator, "SandboxListV2"), [14, 14, 0])
        emulator.log.clear()
        knobs.unavailableNext("SandboxListV2", 50)
        const error = failureOf(yield* Effect.exit(provider.list().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.strictEqual(emulator.calls("SandboxListV2").length, 4, "1 attempt + 3 core retries, not multiplied by the SDK's 3")
        yield* expectClean(emulator, provider)
      }))

    it.effect("UNAVAILABLE on SandboxCreateV2: the SDK's keyed retries (4 attempts) are the only layer; one sandbox", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const knobs = ModalEmulator.grpcFaults(emulator.faults)
        knobs.unavailableNext("SandboxCreateV2", 2)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))
          assert.deepStrictEqual(codes(emulator, "SandboxCreateV2"), [14, 14, 0])
          assert.deepStrictEqual(emulator.registry.ids(), [sandbox.id])
        }))
        emulator.log.clear()
        knobs.unavailableNext("SandboxCreateV2", 50)
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.strictEqual(emulator.calls("SandboxCreateV2").length, 4, "the SDK's 1 + 3; the core never re-sends a create")
        yield* expectClean(emulator, provider)
      }))

    it.effect("a create whose answer is lost is re-sent with the same idempotency key: one sandbox", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.resetNext("SandboxCreateV2", { midStream: true })
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          assert.strictEqual(emulator.calls("SandboxCreateV2").length, 2)
          assert.deepStrictEqual(emulator.registry.ids(), [sandbox.id])
          assert.strictEqual((yield* sandbox.exec("echo once")).stdout, "once\n")
        }))
        yield* expectClean(emulator, provider)
      }))

    it.effect("every create answer lost (4 keyed attempts, each reset after the server made it): found by its hidden name and terminated", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* provider.list()
        emulator.log.clear()
        emulator.faults.resetNext("SandboxCreateV2", { midStream: true, times: 4 })
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.strictEqual(emulator.calls("SandboxCreateV2").length, 4, "the SDK's 1 + 3 keyed attempts; the core never re-sends a create")
        assert.strictEqual(emulator.calls("SandboxGetFromNameV2").length, 1)
        assert.strictEqual(emulator.calls("SandboxTerminateV2").length, 1)
        assert.deepStrictEqual(emulator.registry.ids(), [])
        yield* expectClean(emulator, provider)
      }))

    it.effect("every create answer lost for a named sandbox: found by the user's name, terminated; the name is free again", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.resetNext("SandboxCreateV2", { midStream: true, times: 4 })
        const error = failureOf(yield* Effect.exit(provider.createDetached({ name: "lost-answers" }).pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        assert.strictEqual(error._tag, "ProviderUnavailable")
        assert.deepStrictEqual(emulator.registry.ids(), [])
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create({ name: "lost-answers" })
          assert.strictEqual(sandbox.info.name, "lost-answers")
          assert.notInclude(Object.keys(sandbox.info.labels), "sandkit.create", "the create id stays hidden")
        }))
        yield* expectClean(emulator, provider)
      }))

    it.effect("a create refused before anything was made (UNAVAILABLE, no answer lost): the lookup finds nothing and touches nothing", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const other = yield* provider.create({ name: "taken" })
          emulator.log.clear()
          ModalEmulator.grpcFaults(emulator.faults).unavailableNext("SandboxCreateV2", 4)
          const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
          assert.strictEqual(error._tag, "ProviderUnavailable")
          assert.strictEqual(emulator.calls("SandboxGetFromNameV2").length, 1)
          assert.strictEqual(emulator.calls("SandboxTerminateV2").length, 0)
          assert.deepStrictEqual(emulator.registry.ids(), [other.id])
        }))
        yield* expectClean(emulator, provider)
      }))

    it.effect("throttled create and an UNAVAILABLE app lookup: retried by the core schedule, one sandbox", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator, { appName: "throttled-app" })
        const knobs = ModalEmulator.grpcFaults(emulator.faults)
        knobs.unavailableNext("AppGetOrCreate", 2)
        knobs.throttleNext("SandboxCreateV2", 0.01, 1)
        yield* Effect.scoped(Effect.gen(function*() {
          yield* provider.create().pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))
          assert.deepStrictEqual(codes(emulator, "AppGetOrCreate"), [14, 14, 0])
          assert.deepStrictEqual(codes(emulator, "SandboxCreateV2"), [8, 0])
          assert.strictEqual(emulator.registry.size, 1)
        }))
        yield* expectClean(emulator, provider)
      }))

    it.effect("command router: an UNAVAILABLE burst is absorbed by the SDK's router retries; a persistent one is a ProviderError after them, not retried again", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          emulator.log.clear()
          ModalEmulator.grpcFaults(emulator.faults).unavailableNext("TaskExecStart", 3)
          assert.strictEqual((yield* sandbox.exec("echo through")).stdout, "through\n")
          assert.deepStrictEqual(codes(emulator, "TaskExecStart"), [14, 14, 14, 0])
          emulator.log.clear()
          ModalEmulator.grpcFaults(emulator.faults).unavailableNext("TaskExecStart", 100)
          const error = failureOf(yield* Effect.exit(sandbox.files.read("x.txt").pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
          assert.strictEqual(error._tag, "ProviderError", error.message)
          assert.strictEqual(emulator.calls("TaskExecStart").length, 11, "the SDK's 1 + 10 router attempts, not multiplied by the core's")
          emulator.faults.clear()
        }))
        yield* expectClean(emulator, provider)
      }), { timeout: 60_000 })

    it.effect("sandbox timeout reached mid-command: exec, execStream and spawn fail with SandboxNotFound at once", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        // The sandbox's own timeoutSecs (2 s) ends it while `sleep 30` runs.
        const short = yield* provider.createDetached({ lifetime: { maxLifetime: "2 seconds" } })
        assert.strictEqual(emulator.registry.get(short.id)?.ext.timeoutSecs, 2)
        const error = failureOf(yield* Effect.exit(short.exec("sleep 30")))
        assert.strictEqual(error._tag, "SandboxNotFound")
        assert.match(error.message, /timeout/)
        assert.deepStrictEqual(emulator.registry.removals.at(-1), { id: short.id, reason: "expired" })
        // The same, ended through the registry knob, for a stream and a background process.
        const sandbox = yield* provider.createDetached()
        emulator.registry.setTimeout(sandbox.id, 300)
        const streamed = failureOf(yield* Effect.exit(Stream.runDrain(sandbox.execStream("echo started; sleep 30"))))
        assert.strictEqual(streamed._tag, "SandboxNotFound")
        const other = yield* provider.createDetached()
        const waited = yield* Effect.scoped(Effect.gen(function*() {
          const process = yield* other.spawn("sleep 30")
          emulator.registry.setTimeout(other.id, 100)
          return yield* Effect.exit(process.wait)
        }))
        assert.strictEqual(failureOf(waited)._tag, "SandboxNotFound")
        yield* expectClean(emulator, provider)
      }))

    it.effect("a router that never answers after the sandbox ended: the liveness check ends the wait", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator, { livenessInterval: "100 millis" })
        const sandbox = yield* provider.createDetached()
        emulator.faults.latency("TaskExecWait", 60_000)
        const fiber = yield* Effect.forkChild(sandbox.exec("sleep 30"))
        yield* waitUntil("the exec waits", () => emulator.calls("TaskExecWait").length > 0)
        yield* Effect.promise(() => emulator.registry.deleteNow(sandbox.id))
        const error = failureOf(yield* Fiber.await(fiber))
        assert.strictEqual(error._tag, "SandboxNotFound")
        yield* expectClean(emulator, provider)
      }))

    it.effect("interrupted during create (in flight, then during the readiness probe): nothing is left", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.latency("SandboxCreateV2", 300)
        const inFlight = yield* Effect.forkChild(Effect.scoped(Effect.andThen(provider.create(), Effect.never)))
        yield* waitUntil("the create reached the server", () => emulator.calls("SandboxCreateV2").length === 1)
        yield* Fiber.interrupt(inFlight)
        assert.deepStrictEqual(emulator.registry.ids(), [])
        assert.strictEqual(emulator.calls("SandboxTerminateV2").length, 1)
        emulator.faults.clear()
        emulator.registry.setReadinessDelay(300)
        const probing = yield* Effect.forkChild(Effect.scoped(Effect.andThen(provider.create(), Effect.never)))
        yield* waitUntil("the sandbox exists", () => emulator.registry.size === 1)
        yield* Fiber.interrupt(probing)
        assert.deepStrictEqual(emulator.registry.ids(), [])
        yield* expectClean(emulator, provider)
      }))

    it.effect("concurrency quota: QuotaExceeded, not retried", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const target = { provider, faults: emulator.faults, log: emulator.log, createRoute: "SandboxCreateV2" }
        yield* quotaIsNotRetried(target, () => emulator.registry.setQuota(1))
        assert.deepStrictEqual(codes(emulator, "SandboxCreateV2"), [0, 8], "OK, then RESOURCE_EXHAUSTED")
        yield* expectClean(emulator, provider)
      }))

    it.effect("a wrong token secret: AuthenticationFailed, one token call, and the secret appears nowhere", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const wrong = "as-wrongsecretvalue0123456789"
        const provider = yield* providerFor(emulator, { tokenSecret: Redacted.make(wrong) })
        yield* wrongCredentialsAreRefused(provider.list(), [wrong, TOKEN_SECRET])
        assert.strictEqual(emulator.calls("AuthTokenGet").length, 1)
        yield* expectClean(emulator, yield* providerFor(emulator))
      }))

    it.effect("a sandbox silently deleted: exec, files, refresh and connect fail with SandboxNotFound, without retries", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          assert.strictEqual((yield* sandbox.exec("echo before")).stdout, "before\n")
          yield* Effect.promise(() => emulator.registry.deleteNow(sandbox.id))
          emulator.log.clear()
          const calls = [
            ["TaskExecStart", sandbox.exec("echo after")],
            ["TaskExecStart", sandbox.files.read("x.txt")],
            ["SandboxWaitV2", sandbox.refresh],
            ["SandboxWaitV2", provider.connect(sandbox.id)]
          ] as const
          for (const [route, call] of calls) {
            emulator.log.clear()
            const error = failureOf(yield* Effect.exit((call as Effect.Effect<unknown, SandboxError>).pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
            assert.strictEqual(error._tag, "SandboxNotFound", `${route}: ${error.message}`)
            assert.strictEqual(emulator.calls(route).length, 1, `${route} called once, not retried`)
          }
        }))
        yield* expectClean(emulator, provider)
      }))
  })
})
