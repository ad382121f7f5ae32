/**
 * Fault injection through the emulator's knobs, through the real SDK: retries decided by the core schedules alone
 * (the SDK's transport retries are off), quota errors never retried, slow readiness within and beyond the
 * `readiness` schedule, auto-stop and `findOrCreate` starting the sandbox again, interruption during create, secrets
 * kept out of errors. After every test the emulator registry and `list()` are empty.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  makeProvider,
  makeReadiness,
  RetryPolicy,
  type SandboxError,
  SandboxProvider,
  type SandboxProviderShape,
  transient
} from "@sandkit/core"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { createHonoursRetryAfter, expectClean, expectNoSecrets, failureOf, fastPolicy, type FaultTarget, rateLimitReachesCaller, waitUntil, wrongCredentialsAreRefused } from "@sandkit/emulators/testkit"
import { Context, Effect, Exit, Fiber, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { DaytonaProvider } from "../src/index.ts"
import { emulatedOptions } from "./emulated.ts"

const API_KEY = "dtn_faultsuite_0123456789abcdef"

class Emulator extends Context.Service<Emulator, DaytonaEmulator.DaytonaEmulator>()("@sandkit/daytona/test/Emulator") {}
const EmulatorLayer = Layer.effect(Emulator, DaytonaEmulator.make({ apiKey: API_KEY }))

/** After every test: nothing left in the emulator or in `list()`; knobs (the start delay too) and the log reset. */
const assertClean = (emulator: DaytonaEmulator.DaytonaEmulator, provider: SandboxProviderShape) =>
  Effect.andThen(Effect.sync(() => emulator.setStartDelay(0)), expectClean(emulator, provider))

/** Readiness polls before StartupTimeout: room for the start walk under a slow machine. */
const READINESS_TRIES = 100

/** The shared fault scenarios' view of this emulator. */
const targetOf = (emulator: DaytonaEmulator.DaytonaEmulator, provider: SandboxProviderShape): FaultTarget => ({
  provider,
  faults: emulator.faults,
  log: emulator.log,
  createRoute: "create",
  readinessTries: READINESS_TRIES
})

/** The provider over the emulator, built in the test's scope (its SDK client is disposed when the test ends). */
const providerFor = (emulator: DaytonaEmulator.DaytonaEmulator, extra: Partial<DaytonaProvider.DaytonaOptions> = {}) =>
  Effect.map(DaytonaProvider.make(emulatedOptions(emulator, extra)), makeProvider)

describe("daytona faults (emulated)", () => {
  // TestClock: waits are observed on the clock, not measured.
  it.layer(EmulatorLayer, { timeout: 60_000 })("on the test clock", (it) => {
    it.effect("two 429s with Retry-After: 1, then success: exactly 3 creates, each wait honoured", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* createHonoursRetryAfter(targetOf(emulator, provider), 200)
        yield* assertClean(emulator, provider)
      }))

    it.effect("slow readiness within the schedule: creating → started is polled on the readiness clock", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.setStartDelay(100)
        const fiber = yield* Effect.forkChild(provider.createDetached())
        const polls = () => emulator.log.count("get")
        yield* waitUntil("the first readiness poll", () => polls() === 1)
        const [id] = emulator.registry.ids()
        assert.strictEqual(emulator.stateOf(id!), "creating")
        yield* waitUntil("the emulator's start walk", () => emulator.stateOf(id!) === "started")
        assert.strictEqual(polls(), 1, "no second poll before the readiness spacing elapsed")
        yield* TestClock.adjust("1 second")
        const sandbox = yield* Fiber.join(fiber)
        assert.strictEqual(polls(), 2, "one poll per readiness tick")
        assert.strictEqual(sandbox.info.state, "running")
        assert.strictEqual((yield* sandbox.exec("echo up")).stdout, "up\n")
        yield* sandbox.destroy
        yield* assertClean(emulator, provider)
      }))

    it.effect("the SDK never retries a 429 itself: no core retries → one create, RateLimited with Retry-After", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* rateLimitReachesCaller(targetOf(emulator, provider))
        yield* assertClean(emulator, provider)
      }))
  })

  it.layer(EmulatorLayer, { timeout: 60_000, excludeTestServices: true })("on the real clock", (it) => {
    it.effect("quota \"limit reached\" (403): QuotaExceeded, never retried, nothing created", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.setQuota(1)
        yield* Effect.scoped(Effect.gen(function*() {
          yield* provider.create()
          const error = failureOf(yield* Effect.exit(Effect.scoped(provider.create()).pipe(Effect.provideService(RetryPolicy, fastPolicy(5, { readinessTries: READINESS_TRIES })))))
          assert.strictEqual(error._tag, "QuotaExceeded", error.message)
          assert.include(error.message, "limit reached (1)")
          assert.deepStrictEqual(emulator.log.entries("create").map((e) => e.status), [200, 403])
        }))
        emulator.setQuota(undefined)
        yield* assertClean(emulator, provider)
      }))

    it.effect("quota as 429 without Retry-After: QuotaExceeded too, not retried; a plain 429 on list is retried", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.setQuota(0, { status: 429 })
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(5, { readinessTries: READINESS_TRIES })))))
        assert.strictEqual(error._tag, "QuotaExceeded", error.message)
        assert.strictEqual(emulator.log.count("create"), 1)
        emulator.setQuota(undefined)
        emulator.faults.rateLimitNext("list", { times: 2 })
        assert.deepStrictEqual(yield* provider.list().pipe(Effect.provideService(RetryPolicy, fastPolicy(3, { readinessTries: READINESS_TRIES }))), [])
        assert.deepStrictEqual(emulator.log.entries("list").map((e) => e.status), [429, 429, 200])
        yield* assertClean(emulator, provider)
      }))

    it.effect("never ready within the readiness schedule: StartupTimeout, and the half-created sandbox is deleted", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.setStartDelay(60_000)
        const policy = { transient, readiness: makeReadiness({ spacing: "5 millis", tries: 4 }) }
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, policy))))
        assert.strictEqual(error._tag, "StartupTimeout", error.message)
        assert.strictEqual(emulator.log.count("get"), 4, "one poll per readiness try")
        assert.strictEqual(emulator.log.count("delete"), 1)
        assert.deepStrictEqual(emulator.registry.removals.at(-1)?.reason, "destroyed")
        yield* assertClean(emulator, provider)
      }))

    it.effect("a start that ends in `error`: ProviderError with Daytona's reason, and the sandbox is deleted", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.setStartDelay(20)
        emulator.failNextStart("no runner available")
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3, { readinessTries: READINESS_TRIES })))))
        assert.strictEqual(error._tag, "ProviderError")
        assert.include(error.message, "no runner available")
        assert.strictEqual(emulator.log.count("create"), 1, "a failed start is not re-created")
        assert.strictEqual(emulator.log.count("delete"), 1)
        yield* assertClean(emulator, provider)
      }))

    it.effect("interrupted during create (scoped and detached): the sandbox the server made is deleted", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.setStartDelay(200)
        for (const [what, create] of [
          ["create", Effect.scoped(Effect.andThen(provider.create(), Effect.never))],
          ["createDetached", Effect.andThen(provider.createDetached(), Effect.never)]
        ] as const) {
          emulator.log.clear()
          const fiber = yield* Effect.forkChild(create.pipe(Effect.provideService(RetryPolicy, fastPolicy(0, { readinessTries: READINESS_TRIES }))))
          yield* waitUntil(`the server created the sandbox (${what})`, () => emulator.registry.size === 1)
          const [created] = emulator.registry.ids()
          yield* Fiber.interrupt(fiber)
          yield* Effect.promise(() => emulator.settled())
          assert.deepStrictEqual(emulator.registry.ids(), [], `${what}: nothing left`)
          assert.deepStrictEqual(emulator.registry.removals.filter((r) => r.id === created), [{ id: created!, reason: "destroyed" }])
          assert.strictEqual(emulator.log.count("delete"), 1, what)
        }
        yield* assertClean(emulator, provider)
      }))

    it.effect("transport retries are off: resets are retried by the core schedule only (GET yes, POST /sandbox no)", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.faults.resetNext("create")
        const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, fastPolicy(3, { readinessTries: READINESS_TRIES })))))
        assert.strictEqual(error._tag, "ProviderUnavailable", error.message)
        assert.strictEqual(emulator.log.count("create"), 1, "a create whose answer was lost is not re-sent")
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          emulator.log.clear()
          emulator.faults.resetNext("get", { times: 2 })
          const again = yield* provider.connect(sandbox.id).pipe(Effect.provideService(RetryPolicy, fastPolicy(3, { readinessTries: READINESS_TRIES })))
          assert.strictEqual(again.id, sandbox.id)
          assert.strictEqual(emulator.log.count("get"), 3, "2 resets + 1 success: the SDK replayed nothing")
          emulator.faults.failNext("files.bulkDownload", { status: 503, times: 2 })
          yield* sandbox.files.write("f.txt", "x")
          assert.strictEqual(yield* sandbox.files.readText("f.txt").pipe(Effect.provideService(RetryPolicy, fastPolicy(3, { readinessTries: READINESS_TRIES }))), "x")
          assert.strictEqual(emulator.log.count("files.bulkDownload"), 3)
          emulator.faults.failNext("session.exec", { status: 503 })
          const execError = failureOf(yield* Effect.exit(sandbox.exec("echo once").pipe(Effect.provideService(RetryPolicy, fastPolicy(3, { readinessTries: READINESS_TRIES })))))
          assert.strictEqual(execError._tag, "ProviderUnavailable")
          assert.strictEqual(emulator.log.count("session.exec"), 1, "a command is never re-run")
        }))
        yield* assertClean(emulator, provider)
      }))

    it.effect("a create whose answer is lost: not re-sent, and the sandbox the server made is found and deleted", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        // The server creates the sandbox, then the connection drops before the answer arrives.
        emulator.faults.resetNext("create", { midStream: true })
        const error = failureOf(yield* Effect.exit(Effect.scoped(provider.create()).pipe(Effect.provideService(RetryPolicy, fastPolicy(3)))))
        // The SDK reports the cut answer as an aborted stream.
        assert.include(["ProviderUnavailable", "ProviderError"], error._tag, error.message)
        assert.strictEqual(emulator.log.count("create"), 1)
        assert.strictEqual(emulator.log.count("delete"), 1, "the orphan is deleted")
        assert.strictEqual(emulator.registry.removals.at(-1)?.reason, "destroyed")
        yield* expectClean(emulator, provider)
      }))

    it.effect("auto-stop after the interval; findOrCreate attaches by label and starts it again", () =>
      Effect.gen(function*() {
        // Its own emulator, where a minute lasts 20 ms.
        const fast = yield* DaytonaEmulator.make({ apiKey: API_KEY, minuteMs: 20 })
        const provider = yield* providerFor(fast, { autoStop: "1 minute" })
        const labels = { team: "openhands", session: "s-1" }
        const sandbox = yield* provider.createDetached({ labels })
        assert.strictEqual(fast.registry.get(sandbox.id)!.ext.autoStopInterval, 1)
        yield* sandbox.files.write("kept.txt", "still here")
        yield* waitUntil("the auto-stop", () => fast.stateOf(sandbox.id) === "stopped")
        assert.strictEqual(fast.registry.get(sandbox.id)!.ext.stoppedBy, "auto-stop")
        assert.strictEqual((yield* provider.list({ labels }))[0]?.state, "paused")
        const stopped = failureOf(yield* Effect.exit(sandbox.exec("true")))
        assert.strictEqual(stopped._tag, "ProviderUnavailable", "the toolbox of a stopped sandbox does not answer")
        fast.log.clear()
        // Long enough not to stop again while the test runs.
        fast.registry.get(sandbox.id)!.ext.autoStopInterval = 60
        const attached = yield* Effect.scoped(Effect.gen(function*() {
          const found = yield* provider.findOrCreate({ labels })
          assert.strictEqual(found.id, sandbox.id, "attached, not created")
          assert.strictEqual((yield* found.refresh).state, "running")
          assert.strictEqual(yield* found.files.readText("kept.txt"), "still here")
          assert.strictEqual((yield* found.exec("echo again")).stdout, "again\n")
          return found.id
        }))
        assert.strictEqual(fast.log.count("create"), 0)
        assert.strictEqual(fast.log.count("start"), 1)
        assert.strictEqual(fast.stateOf(attached), "started", "an attached sandbox is left running")
        yield* provider.destroy(sandbox.id)
        yield* assertClean(fast, provider)
      }))

    it.effect("OpenHands defaults: auto-stop 60 min unless disabled; deleteOnClose: false keeps scoped sandboxes", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const ids: Array<string> = []
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          assert.strictEqual(emulator.registry.get(sandbox.id)!.ext.autoStopInterval, 60)
          const idle = yield* provider.create({ lifetime: { idleTimeout: "90 seconds", maxLifetime: "2 hours" } })
          assert.strictEqual(emulator.registry.get(idle.id)!.ext.autoStopInterval, 2)
          assert.strictEqual(Math.round((idle.info.expiresAt!.getTime() - Date.now()) / 60_000), 120)
          const never = yield* (yield* providerFor(emulator, { autoStop: false })).create()
          assert.strictEqual(emulator.registry.get(never.id)!.ext.autoStopInterval, 0)
        }))
        assert.deepStrictEqual(emulator.registry.ids(), [], "scoped sandboxes are deleted on close by default")
        const keeping = yield* Effect.map(DaytonaProvider.make(emulatedOptions(emulator, { deleteOnClose: false })), makeProvider)
        const kept = DaytonaProvider.layer(emulatedOptions(emulator, { deleteOnClose: false }))
        yield* Effect.scoped(Effect.gen(function*() {
          const p = yield* SandboxProvider
          const sandbox = yield* p.create({ labels: { keep: "yes" } })
          ids.push(sandbox.id)
          const found = yield* p.findOrCreate({ labels: { other: "yes" } })
          ids.push(found.id)
        })).pipe(Effect.provide(kept))
        assert.deepStrictEqual([...emulator.registry.ids()].sort(), [...ids].sort(), "both survive their scopes")
        for (const id of ids) yield* keeping.destroy(id)
        yield* assertClean(emulator, provider)
      }))

    it.effect("silently deleted mid-run: later calls fail with SandboxNotFound, once each", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          assert.strictEqual((yield* sandbox.exec("echo before")).stdout, "before\n")
          yield* Effect.promise(() => emulator.registry.deleteNow(sandbox.id))
          emulator.log.clear()
          const calls = [
            ["session.exec", sandbox.exec("echo after")],
            ["files.bulkDownload", sandbox.files.read("x.txt")],
            ["get", sandbox.refresh]
          ] as const
          for (const [route, call] of calls) {
            const error = failureOf(yield* Effect.exit(call as Effect.Effect<unknown, SandboxError>))
            assert.strictEqual(error._tag, "SandboxNotFound", `${route}: ${error.message}`)
            assert.strictEqual(emulator.log.count(route), 1, `${route} called once, not retried`)
          }
          assert.strictEqual(failureOf(yield* Effect.exit(provider.connect(sandbox.id)))._tag, "SandboxNotFound")
        }))
        yield* assertClean(emulator, provider)
      }))

    it.effect("secrets: a wrong key is AuthenticationFailed and neither key nor preview token appears anywhere", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const wrongKey = "dtn_wrongkey_abcdefghijklmnop"
        const wrong = yield* providerFor(emulator, { apiKey: Redacted.make(wrongKey) })
        yield* wrongCredentialsAreRefused(wrong.createDetached(), [wrongKey], READINESS_TRIES)
        assert.strictEqual(emulator.log.count("create"), 1)
        const provider = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          const link = yield* sandbox.exposePort(8080)
          emulator.faults.failNext("files.info", { status: 500, message: `upstream said Bearer ${API_KEY} and token ${link.token}` })
          const leaked = yield* Effect.exit(sandbox.files.stat("x").pipe(Effect.provideService(RetryPolicy, fastPolicy(0, { readinessTries: READINESS_TRIES }))))
          assert.isTrue(Exit.isFailure(leaked))
          yield* expectNoSecrets(leaked, [API_KEY, link.token!])
          for (const entry of emulator.log.entries()) assert.notInclude(entry.path, link.token!)
        }))
        yield* assertClean(emulator, provider)
      }))

    it.effect("exec sessions are reused after a clean finish, replaced after a timeout or a restart elsewhere", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const other = yield* providerFor(emulator)
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          for (let i = 0; i < 3; i++) assert.strictEqual((yield* sandbox.exec(`echo ${i}`)).stdout, `${i}\n`)
          assert.strictEqual(emulator.log.count("session.create"), 1, "one session for three commands")
          yield* Effect.all([sandbox.exec("sleep 0.2"), sandbox.exec("sleep 0.2")], { concurrency: 2 })
          assert.strictEqual(emulator.log.count("session.create"), 2, "concurrent commands get a session each")
          const timedOut = failureOf(yield* Effect.exit(sandbox.exec("sleep 5", { timeout: 100 })))
          assert.strictEqual(timedOut._tag, "CommandTimeout")
          assert.strictEqual(emulator.log.count("session.delete"), 1, "the timed-out command's session is deleted (killing it)")
          // Stopped and started by another client: every session died; the next exec replaces its stale one.
          const elsewhere = yield* other.connect(sandbox.id)
          yield* elsewhere.pause
          yield* elsewhere.resume
          emulator.log.clear()
          assert.strictEqual((yield* sandbox.exec("echo fresh")).stdout, "fresh\n")
          assert.deepStrictEqual(emulator.log.entries("session.exec").map((e) => e.status), [404, 200])
          assert.strictEqual(emulator.log.count("session.create"), 1)
        }))
        yield* assertClean(emulator, provider)
      }))

    it.effect("pause / resume without socket.io events (polling) still works", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator, { events: false })
        yield* Effect.scoped(Effect.gen(function*() {
          const sandbox = yield* provider.create()
          yield* sandbox.pause
          assert.strictEqual((yield* sandbox.refresh).state, "paused")
          yield* sandbox.resume
          assert.strictEqual((yield* sandbox.exec("echo back")).stdout, "back\n")
        }))
        yield* assertClean(emulator, provider)
      }))
  })
})
