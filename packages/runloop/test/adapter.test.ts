/**
 * Behaviour of the adapter beyond the conformance suite: spec mapping, error mapping and secrets (pure), then
 * against the emulator: retries that never duplicate, long output, cut streams, paging, suspended devboxes,
 * transports.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeProvider, type ResolvedSpec, RetryPolicy, type SandboxError } from "@sandkit/core"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { failureOf, fastPolicy, quotaIsNotRetried } from "@sandkit/emulators/testkit"
import { Duration, Effect, Exit, Stream } from "effect"
import { afterAll, afterEach, beforeAll, vi } from "vitest"
import { RunloopProvider } from "../src/index.ts"
import { emulatedOptions } from "./emulated.ts"

const spec = (s: Partial<ResolvedSpec> = {}): ResolvedSpec => ({ labels: { "sandkit.owner": "t" }, ...s })
const defaults = { profile: "default", blueprint: undefined } as const

describe("spec → create request (no network)", () => {
  it("sizes, resources (rounded to Runloop's grid), lifetimes, cwd, blueprint names and ids, snapshots", () => {
    const params = (s: Partial<ResolvedSpec>, d: RunloopProvider.RunloopOptions["profile"] = "default") =>
      Effect.runSync(RunloopProvider.createParams(spec(s), { ...defaults, profile: d ?? "default" }))
    assert.strictEqual(params({ size: "xlarge" }).launch_parameters?.resource_size_request, "X_LARGE")
    assert.strictEqual(params({}, "openhands").launch_parameters?.resource_size_request, "LARGE")
    assert.strictEqual(params({ size: "small" }, "openhands").launch_parameters?.resource_size_request, "SMALL")
    assert.isUndefined(params({}).launch_parameters)
    const cases: ReadonlyArray<readonly [ResolvedSpec["resources"], Record<string, unknown>]> = [
      [{ cpu: 0.25 }, { custom_cpu_cores: 0.5, custom_gb_memory: 1 }],
      [{ cpu: 3 }, { custom_cpu_cores: 4, custom_gb_memory: 8 }],
      [{ memoryMiB: 16384 }, { custom_cpu_cores: 2, custom_gb_memory: 16 }],
      [{ cpu: 1, memoryMiB: 512 }, { custom_cpu_cores: 1, custom_gb_memory: 2 }],
      [{ cpu: 1, memoryMiB: 32768 }, { custom_cpu_cores: 4, custom_gb_memory: 32 }],
      [{ diskGiB: 3 }, { custom_cpu_cores: 1, custom_gb_memory: 2, custom_disk_size: 4 }]
    ]
    for (const [resources, expected] of cases) {
      assert.deepInclude(RunloopProvider.customSize(resources!), { resource_size_request: "CUSTOM_SIZE", ...expected }, JSON.stringify(resources))
    }
    assert.isString(RunloopProvider.customSize({ cpu: 17 }))
    assert.isString(RunloopProvider.customSize({ memoryMiB: 128 * 1024 }))
    assert.isString(RunloopProvider.customSize({ diskGiB: 100 }))
    const life = params({ lifetime: { maxLifetime: "90 minutes" }, cwd: "work", name: "n", env: { A: "1" } })
    assert.strictEqual(life.launch_parameters?.keep_alive_time_seconds, 5400)
    assert.deepStrictEqual(life.metadata, { "sandkit.owner": "t", "sandkit.cwd": "work" })
    assert.strictEqual(life.name, "n")
    assert.deepStrictEqual(life.environment_variables, { A: "1" })
    assert.deepStrictEqual(params({ lifetime: { idleTimeout: 600_000 } }).launch_parameters?.after_idle, { idle_time_seconds: 600, on_idle: "shutdown" })
    assert.strictEqual(params({ template: "openhands" }).blueprint_name, "openhands")
    assert.strictEqual(params({ image: "bpt_123" }).blueprint_id, "bpt_123")
    assert.strictEqual(params({ from: { provider: "runloop", id: "snp_1" } }).snapshot_id, "snp_1")
    const refused = (s: Partial<ResolvedSpec>) => Effect.runSync(Effect.flip(RunloopProvider.createParams(spec(s), defaults)))._tag
    assert.strictEqual(refused({ lifetime: { maxLifetime: 60_000, idleTimeout: 60_000 } }), "Unsupported")
    assert.strictEqual(refused({ network: { outbound: false } }), "Unsupported")
    assert.strictEqual(refused({ lifetime: { maxLifetime: "49 hours" } }), "InvalidRequest")
    assert.strictEqual(refused({ from: { provider: "runloop", id: "snp_1" }, template: "x" }), "InvalidRequest")
    const oh = RunloopProvider.openHandsSpec({ sessionId: "abc" })
    assert.deepStrictEqual(oh, { name: "abc", size: "large", labels: { "container-name": "openhands-runtime-abc" } })
  })

  it("command scripts quote everything; exit statuses map to data", () => {
    const text = RunloopProvider.script(["echo", "it's $HOME"], { cwd: "/w d", env: { X: "a'b" }, stdinFile: "/h/in" })
    assert.strictEqual(text, "exec 0</h/in && rm -f -- /h/in || exit 126\ncd -- '/w d' || exit 1\nexport X='a'\\''b'\necho 'it'\\''s $HOME'")
    assert.strictEqual(RunloopProvider.exitCodeOf(3), 3)
    assert.strictEqual(RunloopProvider.exitCodeOf(null), 137)
    assert.strictEqual(RunloopProvider.exitCodeOf(-1), 137)
    assert.match(RunloopProvider.uuidv7(), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})

describe("errors and secrets (no network)", () => {
  const secrets = { values: () => ["rl_super_secret_key"] }
  const ctx = { operation: "create", secrets }
  it("statuses map to tagged errors; Retry-After (ms, seconds, date) is kept; quota is not a retry", () => {
    const tag = (status: number, message = "x", headers: Record<string, string> = {}) =>
      RunloopProvider.fromStatus(status, message, ctx, (name) => headers[name])
    assert.strictEqual(tag(400)._tag, "InvalidRequest")
    assert.strictEqual(tag(400, "Snapshot snp_1 not found")._tag, "SandboxNotFound")
    assert.strictEqual(tag(401)._tag, "AuthenticationFailed")
    assert.strictEqual(tag(402)._tag, "QuotaExceeded")
    assert.strictEqual(tag(403)._tag, "PermissionDenied")
    assert.strictEqual(tag(403, "Maximum number of concurrent devboxes reached")._tag, "QuotaExceeded")
    assert.strictEqual(tag(404)._tag, "SandboxNotFound")
    assert.strictEqual(tag(408)._tag, "ProviderUnavailable")
    assert.strictEqual(tag(409)._tag, "ProviderUnavailable")
    assert.strictEqual(tag(429, "Maximum number of concurrent devboxes reached")._tag, "QuotaExceeded")
    assert.strictEqual(tag(503)._tag, "ProviderUnavailable")
    assert.strictEqual(tag(418)._tag, "ProviderError")
    const limited = tag(429, "slow down", { "retry-after": "2" })
    assert.strictEqual(limited._tag === "RateLimited" && Duration.toMillis(limited.retryAfter!), 2000)
    const header = (values: Record<string, string>) => (name: string) => values[name]
    assert.strictEqual(Duration.toMillis(RunloopProvider.parseRetryAfter(header({ "retry-after-ms": "250", "retry-after": "9" }))!), 250)
    assert.strictEqual(Duration.toMillis(RunloopProvider.parseRetryAfter(header({ "retry-after": "1.5" }))!), 1500)
    assert.strictEqual(Duration.toMillis(RunloopProvider.parseRetryAfter(header({ "retry-after": new Date(61_000).toUTCString() }), 1_000)!), 60_000)
    assert.isUndefined(RunloopProvider.parseRetryAfter(header({ "retry-after": "soon" })))
  })

  it("no message, cause or rendering carries the key or a bearer token", () => {
    const error = RunloopProvider.fromSdkError(new Error("failed with rl_super_secret_key and Authorization: Bearer abc.def"), ctx)
    for (const text of [error.message, JSON.stringify(error), String(error)]) {
      assert.notInclude(text, "rl_super_secret_key")
      assert.notInclude(text, "abc.def")
    }
    assert.strictEqual(RunloopProvider.redact("x rl_super_secret_key y", secrets), "x <redacted> y")
  })
})

type Emulator = Awaited<ReturnType<typeof RunloopEmulator.start>>
let emulator: Emulator

beforeAll(async () => {
  emulator = await RunloopEmulator.start({ pageSize: 2, outputLimitBytes: 4096, longPollMs: 2000 })
})
afterAll(async () => {
  await emulator.close()
})
afterEach(async () => {
  const listed = await Effect.runPromise(Effect.flatMap(providerFor(), (p) => p.list()))
  const live = emulator.registry.ids()
  await emulator.reset()
  assert.deepStrictEqual(live, [])
  assert.deepStrictEqual(listed, [])
})

const providerFor = (extra: Partial<RunloopProvider.RunloopOptions> = {}) =>
  Effect.map(RunloopProvider.make(emulatedOptions(emulator, extra)), makeProvider)

describe("against the emulator", () => {
  it.live("a create whose answer was lost is sent again with the same x-request-id: one devbox", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      emulator.faults.resetNext("create", { midStream: true }).failNext("create", { status: 503 })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* provider.create()
        assert.deepStrictEqual(emulator.log.entries("create").map((e) => e.status !== 0 && e.fault !== "reset-mid-stream"), [false, true, true])
        assert.strictEqual(emulator.registry.size, 1)
        assert.strictEqual(emulator.replays(), 1)
      }))
    }))

  it.live("every answer to a create lost: the devbox the server made is found by its key and shut down", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      emulator.faults.resetNext("create", { midStream: true, times: 4 })
      const exit = yield* Effect.exit(Effect.scoped(provider.create()).pipe(Effect.provideService(RetryPolicy, fastPolicy(3))))
      assert.include(["ProviderUnavailable", "ProviderError"], failureOf(exit)._tag)
      assert.strictEqual(emulator.log.count("create"), 4, "1 + 3 keyed re-sends, each answer lost")
      assert.strictEqual(emulator.log.count("shutdown"), 1, "the orphan is shut down")
    }))

  it.live("a devbox deleted behind our back: its handle's calls fail with SandboxNotFound", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      const sandbox = yield* provider.createDetached()
      yield* Effect.promise(() => emulator.registry.deleteNow(sandbox.id))
      assert.strictEqual(failureOf(yield* Effect.exit(sandbox.exec("true")))._tag, "SandboxNotFound")
      assert.strictEqual(failureOf(yield* Effect.exit(sandbox.files.read("x")))._tag, "SandboxNotFound")
      assert.strictEqual(failureOf(yield* Effect.exit(provider.connect(sandbox.id)))._tag, "SandboxNotFound")
      yield* sandbox.destroy
    }))

  it.live("a devbox shut down through its handle: exec, execStream and spawn fail with SandboxNotFound", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      const sandbox = yield* provider.createDetached()
      yield* sandbox.destroy
      assert.strictEqual(failureOf(yield* Effect.exit(sandbox.exec("true")))._tag, "SandboxNotFound")
      assert.strictEqual(failureOf(yield* Effect.exit(Stream.runDrain(sandbox.execStream("true"))))._tag, "SandboxNotFound")
      assert.strictEqual(failureOf(yield* Effect.exit(Effect.scoped(sandbox.spawn("cat"))))._tag, "SandboxNotFound")
    }))

  it.live("a concurrency quota (429 without Retry-After) is QuotaExceeded, not retried", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      const target = { provider, faults: emulator.faults, log: emulator.log, createRoute: "create" }
      yield* quotaIsNotRetried(target, () =>
        emulator.registry.setQuota(1, { status: 429, message: "Maximum number of concurrent devboxes (1) reached" }))
    }))

  it.live("long output: past 100 lines or the answer's byte limit, the whole of it comes from the streams", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create()
        emulator.log.clear()
        const short = yield* sandbox.exec("seq 1 5")
        assert.strictEqual(short.stdout, "1\n2\n3\n4\n5\n")
        assert.strictEqual(emulator.log.count("executions.streamStdout"), 0, "short output: one request")
        const lines = yield* sandbox.exec("seq 1 500; seq 1 150 >&2")
        assert.strictEqual(lines.stdout.split("\n").length, 501)
        assert.isTrue(lines.stdout.startsWith("1\n2\n"))
        assert.strictEqual(lines.stderr.split("\n").length, 151)
        const wide = yield* sandbox.exec("head -c 10000 /dev/zero | tr '\\0' w")
        assert.strictEqual(wide.stdout.length, 10000)
        const capped = yield* sandbox.exec("seq 1 500", { maxOutputBytes: 10 })
        assert.strictEqual(capped.stdout, "1\n2\n3\n4\n5\n")
        assert.isTrue(capped.truncated)
      }))
    }))

  it.live("execStream survives output streams the server cuts (the SDK resumes from its offset)", () =>
    Effect.gen(function*() {
      const cutting = yield* RunloopEmulator.make({ streamCutMs: 120 })
      const provider = makeProvider(yield* RunloopProvider.make(emulatedOptions(cutting)))
      const sandbox = yield* provider.create()
      const events = yield* Stream.runCollect(sandbox.execStream("for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done; exit 4"))
      const text = new TextDecoder().decode(Uint8Array.from(events.flatMap((e) => (e._tag === "Stdout" ? [...e.data] : []))))
      assert.strictEqual(text, "1\n2\n3\n4\n5\n6\n")
      assert.deepStrictEqual(events.at(-1), { _tag: "Exit", exitCode: 4 })
      assert.isAbove(cutting.log.count("executions.streamStdout"), 1)
    }))

  it.live("spawn: stdin is text (non-UTF-8 bytes are InvalidRequest); SIGINT interrupts", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create()
        const process = yield* sandbox.spawn("cat")
        assert.strictEqual(failureOf(yield* Effect.exit(process.write(Uint8Array.of(0xff, 0xfe))))._tag, "InvalidRequest")
        yield* process.write("text ✓\n")
        yield* process.kill("SIGINT")
        assert.notStrictEqual(yield* process.wait, 0)
      }))
    }))

  it.live("list follows every page of every live status, filters labels and states; suspended devboxes are paused", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      const labels = { paging: "yes" }
      const ids = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.map(provider.createDetached({ labels }), (s) => s.id))
      const listed = yield* provider.list({ labels })
      assert.deepStrictEqual(listed.map((i) => i.id).sort(), [...ids].sort())
      assert.isAtLeast(emulator.log.count("list", (e) => e.path.includes("status=running")), 3, "pages of 2")
      const paused = yield* provider.connect(ids[0]!)
      yield* paused.pause
      assert.deepStrictEqual((yield* provider.list({ labels, state: "paused" })).map((i) => i.id), [ids[0]])
      assert.strictEqual((yield* provider.list({ labels, state: "running" })).length, 4)
      const again = yield* provider.connect(ids[0]!)
      assert.strictEqual(again.info.state, "paused")
      const refused = failureOf(yield* Effect.exit(again.exec("true")))
      assert.strictEqual(refused._tag, "ProviderError")
      assert.include(refused.message, "suspended")
      yield* again.resume
      assert.strictEqual((yield* again.exec("echo back")).stdout, "back\n")
      yield* again.files.write("after-resume.txt", "ok")
      assert.strictEqual(yield* again.files.readText("after-resume.txt"), "ok")
      assert.strictEqual((yield* again.refresh).workdir, emulator.registry.get(ids[0]!)!.home, "the workdir is learnt once it runs")
      yield* Effect.forEach(ids, (id) => provider.destroy(id))
      yield* provider.destroy("dbx_never_existed")
    }))

  it.live("the spec reaches Runloop: lifetime → keep-alive and expiresAt, idle policy, cwd as workdir, env", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor()
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create({ lifetime: { maxLifetime: "10 minutes" }, cwd: "project/src", env: { GREETING: "hi" } })
        const devbox = emulator.registry.get(sandbox.id)!
        assert.strictEqual(devbox.ext.launchParameters["keep_alive_time_seconds"], 600)
        assert.strictEqual(sandbox.info.expiresAt!.getTime() - sandbox.info.createdAt.getTime(), 600_000)
        assert.strictEqual(sandbox.info.workdir, `${devbox.home}/project/src`)
        assert.strictEqual((yield* sandbox.exec("pwd; echo $GREETING")).stdout, `${devbox.home}/project/src\nhi\n`)
        assert.isUndefined(sandbox.info.labels["sandkit.cwd"], "the adapter's own keys are not labels")
        const idle = yield* provider.create({ lifetime: { idleTimeout: "5 minutes" } })
        assert.deepStrictEqual(emulator.registry.get(idle.id)!.ext.launchParameters["after_idle"], { idle_time_seconds: 300, on_idle: "shutdown" })
      }))
    }))

  it.live("an answer cut half way over HTTP/1.1 (node-fetch would wait forever) ends at the deadline and is retried", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor({ http2: false, requestTimeout: 300 })
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create()
        emulator.log.clear()
        emulator.faults.resetNext("retrieve", { midStream: true })
        assert.strictEqual((yield* sandbox.refresh).state, "running")
        assert.deepStrictEqual(emulator.log.entries("retrieve").map((e) => e.fault), ["reset-mid-stream", undefined])
      }))
    }))

  it.live("a home known in advance (Runloop: /home/user) saves the pwd probe, unless the spec has a cwd", () =>
    Effect.gen(function*() {
      const provider = yield* providerFor({ home: emulator.homeOf })
      yield* Effect.scoped(Effect.gen(function*() {
        const sandbox = yield* provider.create()
        assert.strictEqual(emulator.log.count("execute"), 0)
        assert.strictEqual(sandbox.info.workdir, emulator.homeOf(sandbox.id))
        const withCwd = yield* provider.create({ cwd: "w" })
        assert.strictEqual(emulator.log.count("execute"), 1, "the cwd is created by the probe")
        assert.strictEqual((yield* withCwd.exec("pwd")).stdout, `${emulator.homeOf(withCwd.id)}/w\n`)
      }))
    }))

  it.live("the key never reaches a log line, even with the SDK's DEBUG=true request logging", () =>
    Effect.gen(function*() {
      const key = emulator.sdkOptions.bearerToken
      const lines: Array<string> = []
      const spy = vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "))
      })
      const previous = process.env["DEBUG"]
      process.env["DEBUG"] = "true"
      try {
        const provider = yield* providerFor()
        yield* provider.list({ state: "running" })
        assert.isTrue(lines.some((l) => l.includes("Runloop:DEBUG:request")), "the SDK did log its requests")
        assert.isTrue(lines.some((l) => l.includes("<redacted>")))
        assert.isFalse(lines.some((l) => l.includes(key)))
        assert.isFalse(JSON.stringify(provider).includes(key))
      } finally {
        if (previous === undefined) delete process.env["DEBUG"]
        else process.env["DEBUG"] = previous
        spy.mockRestore()
      }
    }))

  it.live("transports: HTTP/2 by default (h2c), HTTP/1.1 with http2: false", () =>
    Effect.gen(function*() {
      for (const http2 of [undefined, false] as const) {
        const before = emulator.requests()
        const provider = yield* providerFor(http2 === undefined ? {} : { http2 })
        yield* Effect.scoped(Effect.flatMap(provider.create(), (s) => s.exec("true")))
        const after = emulator.requests()
        const [used, unused] = http2 === undefined ? ["h2c", "http1"] as const : ["http1", "h2c"] as const
        assert.isAbove(after[used], before[used])
        assert.strictEqual(after[unused], before[unused])
      }
    }))
})
