/**
 * The OpenHands Runloop runtime's behaviours, each as a test, through the adapter and the real SDK against the
 * emulator: auth by RUNLOOP_API_KEY, attach by name (left running) vs create (shut down on close), LARGE for the
 * OpenHands profile, a tunnel for the server in the devbox, 429 back-off, the 120 × 1 s readiness wait, blueprints.
 */
import { assert, describe, it } from "@effect/vitest"
import { Runloop } from "@runloop/api-client"
import { makeProvider, type SandboxError, SandboxProvider } from "@sandkit/core"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { failureOf, realSleep } from "@sandkit/emulators/testkit"
import { Cause, ConfigProvider, Effect, Exit, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { afterAll, afterEach, beforeAll } from "vitest"
import { RunloopProvider } from "../src/index.ts"
import { emulatedOptions } from "./emulated.ts"

type Emulator = Awaited<ReturnType<typeof RunloopEmulator.start>>
let emulator: Emulator

beforeAll(async () => {
  emulator = await RunloopEmulator.start({
    apiKey: "rl_openhands_tests_key",
    blueprints: [{ name: "openhands", setup: ["mkdir -p openhands/code"] }]
  })
})
afterAll(async () => {
  await emulator.close()
})
afterEach(async () => {
  // After every test: nothing left in the emulator, nothing listed by the provider.
  const provider = await Effect.runPromise(providerFor())
  const listed = await Effect.runPromise(provider.list())
  const live = emulator.registry.ids()
  await emulator.reset()
  assert.deepStrictEqual(live, [])
  assert.deepStrictEqual(listed.map((i) => i.id), [])
})

const providerFor = (extra: Partial<RunloopProvider.RunloopOptions> = {}) =>
  Effect.map(RunloopProvider.make(emulatedOptions(emulator, extra)), makeProvider)

/**
 * Advance the test clock a second at a time while `fiber` runs, each time once no request is in flight (so the
 * sleep the fiber is about to take is the one advanced). Counts, never wall-clock time, are asserted afterwards.
 */
const driveClock = <A, E>(fiber: Fiber.Fiber<A, E>, done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) {
      yield* realSleep(3)
      if (emulator.log.entries().every((e) => e.status !== 0 || e.fault === "reset")) yield* TestClock.adjust("1 second")
    }
    return yield* Fiber.await(fiber)
  })

const raw = () => new Runloop({ ...emulator.sdkOptions, maxRetries: 0 })

describe("coming from the OpenHands Runloop runtime", () => {
  it.live("auth by RUNLOOP_API_KEY (layerConfig); a rejected key is AuthenticationFailed and never shows up in it", () =>
    Effect.gen(function*() {
      const config = (key: string) =>
        ConfigProvider.layer(ConfigProvider.fromUnknown({ RUNLOOP_API_KEY: key, RUNLOOP_BASE_URL: emulator.url }))
      const listed = yield* Effect.gen(function*() {
        return yield* (yield* SandboxProvider).list()
      }).pipe(Effect.provide(RunloopProvider.layerConfig().pipe(Layer.provide(config("rl_openhands_tests_key")))))
      assert.deepStrictEqual(listed, [])
      const secret = "rl_wrong_but_secret_value"
      const exit = yield* Effect.exit(Effect.gen(function*() {
        return yield* (yield* SandboxProvider).list()
      }).pipe(Effect.provide(RunloopProvider.layerConfig().pipe(Layer.provide(config(secret))))))
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "AuthenticationFailed")
      for (const text of [error.message, JSON.stringify(error), JSON.stringify(error.cause), String(error), Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty)]) {
        assert.notInclude(text, secret)
      }
      const missing = yield* Effect.exit(Effect.gen(function*() {
        return yield* (yield* SandboxProvider).list()
      }).pipe(Effect.provide(RunloopProvider.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))))))
      assert.isTrue(Exit.isFailure(missing), "no RUNLOOP_API_KEY: the layer fails (ConfigError) before any request")
    }))

  it.live("attach by name reuses the running devbox and leaves it running; the devbox findOrCreate created is shut down", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      const sessionId = "oh-session-1"
      const id = yield* Effect.scoped(Effect.gen(function*() {
        const owner = yield* provider.findOrCreate({ name: sessionId, spec: RunloopProvider.openHandsSpec({ sessionId }) })
        assert.strictEqual(emulator.log.count("create"), 1)
        yield* owner.exec("echo state > state.txt")
        const attachedId = yield* Effect.scoped(Effect.gen(function*() {
          const attached = yield* provider.findOrCreate({ name: sessionId })
          assert.strictEqual(attached.id, owner.id)
          assert.strictEqual((yield* attached.exec("cat state.txt")).stdout, "state\n")
          return attached.id
        }))
        assert.strictEqual(emulator.registry.get(attachedId)?.ext.status, "running", "attached: left running on close")
        assert.strictEqual(emulator.log.count("shutdown"), 0)
        assert.strictEqual(emulator.log.count("create"), 1, "attaching created nothing")
        return owner.id
      }))
      assert.strictEqual(emulator.log.count("shutdown"), 1, "created: shut down on close")
      assert.strictEqual(emulator.tombstones.get(id)?.["shutdown_reason"], "api_shutdown")
    }))

  it.live("attach to a devbox the OpenHands runtime itself made (name = session id, container name in metadata)", () =>
    Effect.gen(function*() {
      const sessionId = "oh-made-by-openhands"
      const made = yield* Effect.promise(() =>
        raw().devboxes.createAndAwaitRunning({
          name: sessionId,
          metadata: { "container-name": `openhands-runtime-${sessionId}` },
          launch_parameters: { resource_size_request: "LARGE", launch_commands: ["mkdir -p workspace"] }
        })
      )
      const provider = yield* providerFor()
      yield* Effect.scoped(Effect.gen(function*() {
        const attached = yield* provider.findOrCreate({ name: sessionId })
        assert.strictEqual(attached.id, made.id)
        assert.strictEqual(attached.info.labels["container-name"], `openhands-runtime-${sessionId}`)
        assert.strictEqual((yield* attached.exec(["test", "-d", "workspace"])).exitCode, 0)
      }))
      assert.strictEqual(emulator.registry.get(made.id)?.ext.status, "running")
      assert.strictEqual(emulator.log.count("create"), 0, "the adapter created nothing")
      assert.strictEqual(emulator.log.count("shutdown"), 0, "nor shut anything down")
      yield* Effect.promise(() => raw().devboxes.shutdown(made.id))
    }))

  it.live("LARGE for the OpenHands profile; other sizes from size / resources; a blueprint from image / template", () =>
    Effect.gen(function*() {
      const sizeOf = (id: string) => emulator.registry.get(id)?.ext.launchParameters
      yield* Effect.scoped(Effect.gen(function*() {
        const openhands = yield* (yield* providerFor({ profile: "openhands" })).create()
        assert.strictEqual(sizeOf(openhands.id)?.["resource_size_request"], "LARGE")
        const provider = yield* providerFor()
        const plain = yield* provider.create()
        assert.isUndefined(sizeOf(plain.id)?.["resource_size_request"], "no profile, no size: Runloop's default")
        const small = yield* provider.create({ size: "small" })
        assert.strictEqual(sizeOf(small.id)?.["resource_size_request"], "SMALL")
        const custom = yield* provider.create({ resources: { cpu: 3, memoryMiB: 4096, diskGiB: 9 } })
        assert.deepInclude(sizeOf(custom.id), { resource_size_request: "CUSTOM_SIZE", custom_cpu_cores: 4, custom_gb_memory: 8, custom_disk_size: 10 })
        const prebuilt = yield* provider.create({ template: "openhands" })
        assert.match(emulator.registry.get(prebuilt.id)!.ext.blueprintId ?? "", /^bpt_/)
        assert.strictEqual((yield* prebuilt.exec(["test", "-d", "openhands/code"])).exitCode, 0, "the blueprint's setup ran")
        const unknown = failureOf(yield* Effect.exit(provider.createDetached({ image: "no-such-blueprint" })))
        assert.strictEqual(unknown._tag, "InvalidRequest")
        const tooBig = failureOf(yield* Effect.exit(provider.createDetached({ resources: { cpu: 32 } })))
        assert.strictEqual(tooBig._tag, "InvalidRequest")
      }))
      assert.strictEqual(emulator.log.count("create"), 6, "the too-big request never left the machine")
    }))

  it.live("a tunnel to a port in the devbox: exposePort gives the URL (one tunnel for every port)", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* (yield* providerFor()).create()
        const port = 20000 + Math.floor(Math.random() * 20000)
        const exposed = yield* sandbox.exposePort(port)
        const tunnel = emulator.registry.get(sandbox.id)!.ext.tunnel!
        assert.strictEqual(exposed.url, emulator.tunnelUrl({ tunnelKey: tunnel.tunnel_key, port }))
        yield* sandbox.exec(`mkdir -p www && echo from-devbox > www/index.txt`)
        yield* sandbox.spawn(`exec python3 -m http.server ${port} --bind 127.0.0.1`, { cwd: "www" })
        let body = ""
        for (let i = 0; i < 200 && body === ""; i++) {
          body = yield* Effect.promise(() => fetch(`${exposed.url}/index.txt`).then((r) => (r.ok ? r.text() : ""), () => ""))
          if (body === "") yield* realSleep(50)
        }
        assert.strictEqual(body, "from-devbox\n")
        yield* sandbox.exposePort(port + 1)
        assert.strictEqual(emulator.log.count("enableTunnel"), 1)
        // Without a tunnelUrl option: Runloop's own tunnel host, derived from the API host.
        const plain = yield* (yield* providerFor({ tunnelUrl: undefined, baseUrl: emulator.url })).connect(sandbox.id)
        assert.strictEqual((yield* plain.exposePort(3000)).url, `https://3000-${tunnel.tunnel_key}.tunnel.127.0.0.1`)
        assert.strictEqual(RunloopProvider.tunnelDomain("https://api.runloop.ai"), "tunnel.runloop.ai")
        const locked = yield* (yield* providerFor({ tunnelAuth: "authenticated" })).create()
        const secured = yield* locked.exposePort(port)
        assert.isString(secured.token)
      }))
    }))

  it.effect("429 × 2 with Retry-After, then success: exactly 3 create requests, one devbox (TestClock)", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      // With the server's Retry-After, and without it (the core schedule's exponential back-off decides).
      for (const retryAfter of [1, undefined]) {
        emulator.log.clear()
        emulator.faults.rateLimitNext("create", { times: 2, ...(retryAfter === undefined ? {} : { retryAfter }) })
        let done = false
        const fiber = yield* Effect.forkChild(provider.createDetached().pipe(Effect.ensuring(Effect.sync(() => (done = true)))))
        const exit = yield* driveClock(fiber, () => done)
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(emulator.log.entries("create").map((e) => e.status), [429, 429, 200])
        assert.strictEqual(emulator.registry.size, 1)
        if (Exit.isSuccess(exit)) yield* exit.value.destroy
      }
    }))

  it.effect("readiness never reached: StartupTimeout after 120 polls 1 s apart (TestClock), the devbox shut down", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      emulator.registry.setReadinessDelay(10 ** 12)
      let done = false
      const fiber = yield* Effect.forkChild(provider.createDetached().pipe(Effect.ensuring(Effect.sync(() => (done = true)))))
      const error = failureOf(yield* driveClock(fiber, () => done))
      assert.strictEqual(error._tag, "StartupTimeout")
      assert.strictEqual(emulator.log.count("retrieve"), 120)
      assert.strictEqual(emulator.log.count("shutdown"), 1)
      assert.strictEqual(emulator.registry.size, 0)
      const [tomb] = [...emulator.tombstones.values()]
      assert.strictEqual(tomb?.status, "shutdown")
    }))
})

