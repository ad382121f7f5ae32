/**
 * Behaviour of the adapter beyond the conformance suite: code contexts, spec mapping, paging, configuration, error
 * mapping and secret handling.
 */
import { assert, describe, it } from "@effect/vitest"
import { afterEach, expect } from "vitest"
import { makeProvider, type SandboxError, SandboxProvider } from "@sandkit/core"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { failureOf } from "@sandkit/emulators/testkit"
import { ConfigProvider, Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { E2bProvider } from "../src/index.ts"
import { fromSdkError, fromStatus, redact, safeCause } from "../src/internal/errors.ts"
import { emulatedOptions } from "./emulated.ts"

class Emulator extends Context.Service<Emulator, E2bEmulator.E2bEmulator>()("@sandkit/e2b/test/AdapterEmulator") {}

const providerFor = (emulator: E2bEmulator.E2bEmulator, extra: Partial<E2bProvider.E2bOptions> = {}) =>
  Effect.map(E2bProvider.make(emulatedOptions(emulator, extra)), makeProvider)

// Every test's sandboxes live in its scope: none may survive it.
let started: E2bEmulator.E2bEmulator | undefined
afterEach(() => {
  if (started !== undefined) expect(started.registry.ids()).toEqual([])
})

describe("e2b adapter (emulated)", () => {
  const emulatorLayer = Layer.effect(Emulator, Effect.tap(E2bEmulator.make({ pageSize: 2 }), (e) => Effect.sync(() => (started = e))))
  it.layer(emulatorLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("runCode: contexts keep state apart; the default context keeps state too; errors are data", () =>
      Effect.gen(function*() {
        const provider = yield* providerFor(yield* Emulator)
        const sandbox = yield* provider.create()
        yield* sandbox.runCode("a = 1", { context: "first" })
        yield* sandbox.runCode("a = 2", { context: "second" })
        assert.deepStrictEqual((yield* sandbox.runCode("a", { context: "first" })).results, [{ "text/plain": "1" }])
        assert.deepStrictEqual((yield* sandbox.runCode("a", { context: "second" })).results, [{ "text/plain": "2" }])
        yield* sandbox.runCode("b = 'default'")
        const again = yield* sandbox.runCode("print(b)")
        assert.strictEqual(again.stdout, "default\n")
        const failed = yield* sandbox.runCode("raise ValueError('bad')")
        assert.strictEqual(failed.error?.name, "ValueError")
        assert.strictEqual(failed.error?.value, "bad")
        assert.include(failed.error?.traceback ?? "", "ValueError: bad")
        const html = yield* sandbox.runCode("class H:\n    def _repr_html_(self):\n        return '<b>x</b>'\nH()")
        assert.strictEqual(html.results[0]?.["text/html"], "<b>x</b>")
      }))

    it.effect("runCode with a timeout: CommandTimeout", () =>
      Effect.gen(function*() {
        const provider = yield* providerFor(yield* Emulator)
        const sandbox = yield* provider.create()
        const error = failureOf(yield* Effect.exit(sandbox.runCode("import time\ntime.sleep(5)", { timeout: 200 })))
        assert.strictEqual(error._tag, "CommandTimeout")
      }))

    it.effect("spec: cwd becomes the workdir; env, labels, name and lifetime reach E2B", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const sandbox = yield* provider.create({
          cwd: "project",
          env: { GREETING: "hi" },
          labels: { app: "demo" },
          name: "named-one",
          lifetime: { maxLifetime: "10 minutes" },
          template: "base"
        })
        const remote = emulator.registry.get(sandbox.id)!
        assert.strictEqual(remote.template, "base")
        assert.strictEqual(remote.metadata["app"], "demo")
        assert.strictEqual(remote.metadata["sandkit.name"], "named-one")
        assert.isTrue(Math.abs(remote.endAt!.getTime() - Date.now() - 600_000) < 60_000)
        assert.strictEqual(sandbox.info.workdir, `${remote.home}/project`)
        assert.strictEqual(sandbox.info.name, "named-one")
        assert.isUndefined(sandbox.info.labels["sandkit.name"], "the adapter's own keys are not labels")
        yield* sandbox.files.mkdir(".")
        const pwd = yield* sandbox.exec("pwd; echo $GREETING")
        assert.strictEqual(pwd.stdout, `${remote.home}/project\nhi\n`)
        yield* sandbox.files.write("here.txt", "x")
        assert.strictEqual((yield* sandbox.exec("cat here.txt")).stdout, "x")
        const again = yield* provider.connect(sandbox.id)
        assert.strictEqual(again.info.workdir, sandbox.info.workdir)
        assert.strictEqual(again.info.name, "named-one")
      }))

    it.effect("spec: images, resources and sizes are refused before any call; an unknown template is InvalidRequest", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        emulator.log.clear()
        for (const spec of [{ image: "ubuntu:24.04" }, { size: "large" as const }, { resources: { cpu: 2 } }]) {
          const error = failureOf(yield* Effect.exit(provider.createDetached(spec)))
          assert.strictEqual(error._tag, "Unsupported")
        }
        assert.strictEqual(emulator.log.count("create"), 0)
        const unknown = failureOf(yield* Effect.exit(provider.createDetached({ template: "no-such-template" })))
        assert.strictEqual(unknown._tag, "InvalidRequest", unknown.message)
        assert.strictEqual(emulator.log.count("create"), 1)
      }))

    it.effect("list follows every page", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const labels = { paging: "yes" }
        const ids = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.map(provider.create({ labels }), (s) => s.id))
        emulator.log.clear()
        const listed = yield* provider.list({ labels })
        assert.deepStrictEqual(listed.map((i) => i.id).sort(), [...ids].sort())
        assert.strictEqual(emulator.log.count("list"), 3, "pages of 2")
      }))

    it.effect("exposePort: the E2B host by default, the emulator's URL when configured", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const plain = yield* providerFor(emulator, { portUrl: undefined })
        const sandbox = yield* plain.create()
        const exposed = yield* sandbox.exposePort(8080)
        assert.strictEqual(exposed.url, `https://8080-${sandbox.id}.e2b.app`)
        const local = yield* (yield* providerFor(emulator)).connect(sandbox.id)
        assert.strictEqual((yield* local.exposePort(8080)).url, emulator.portUrl({ sandboxId: sandbox.id, port: 8080 }))
      }))

    it.effect("workdir known in advance: no envd probe on create or connect", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator, { workdir: emulator.homeOf })
        emulator.log.clear()
        const sandbox = yield* provider.create({ cwd: "sub" })
        const again = yield* provider.connect(sandbox.id)
        assert.strictEqual(emulator.log.count("filesystem.Stat"), 0)
        const home = emulator.registry.get(sandbox.id)!.home
        assert.strictEqual(sandbox.info.workdir, `${home}/sub`)
        assert.strictEqual(again.info.workdir, `${home}/sub`)
        const fixed = yield* (yield* providerFor(emulator, { workdir: "/home/user" })).create()
        assert.strictEqual(fixed.info.workdir, "/home/user")
        assert.strictEqual(emulator.log.count("filesystem.Stat"), 0)
      }))

    it.effect("exec: argv is quoted, signals map to 128+N, unread stdin is fine, output caps count bytes", () =>
      Effect.gen(function*() {
        const provider = yield* providerFor(yield* Emulator)
        const sandbox = yield* provider.create()
        assert.strictEqual((yield* sandbox.exec(["printf", "%s|", "a b", "it's", "$X", ""])).stdout, "a b|it's|$X||")
        assert.strictEqual((yield* sandbox.exec("kill -9 $$")).exitCode, 137)
        assert.strictEqual((yield* sandbox.exec("exit 0", { stdin: "ignored input" })).exitCode, 0, "unread stdin is not an error")
        assert.strictEqual((yield* sandbox.exec("head -c 3", { stdin: "x".repeat(100_000) })).stdout, "xxx")
        const capped = yield* sandbox.exec("printf 'ééé'", { maxOutputBytes: 3 })
        assert.isTrue(capped.truncated)
        assert.strictEqual(capped.stdout.startsWith("é"), true)
      }))
  })
})

describe("error mapping and secrets", () => {
  const secrets = { values: () => ["e2b_secretkey_123456", "envdtoken99"] }
  const ctx = { operation: "test", sandboxId: "sbx", secrets }

  it("control-plane statuses", () => {
    assert.strictEqual(fromStatus(401, "nope", ctx)._tag, "AuthenticationFailed")
    assert.strictEqual(fromStatus(403, "nope", ctx)._tag, "PermissionDenied")
    assert.strictEqual(fromStatus(404, "gone", ctx)._tag, "SandboxNotFound")
    assert.strictEqual(fromStatus(400, "bad", ctx)._tag, "InvalidRequest")
    const limited = fromStatus(429, "slow", ctx, "3")
    assert.strictEqual(limited._tag, "RateLimited")
    assert.strictEqual(limited._tag === "RateLimited" ? Duration.toMillis(limited.retryAfter!) : 0, 3000)
    const dated = fromStatus(429, "slow", ctx, new Date(Date.now() + 60_000).toUTCString())
    assert.isTrue(dated._tag === "RateLimited" && Duration.toMillis(dated.retryAfter!) > 50_000)
    assert.strictEqual(fromStatus(429, "You have reached the maximum number of concurrent sandboxes", ctx)._tag, "QuotaExceeded")
    const busy = fromStatus(503, "busy", ctx)
    assert.strictEqual(busy._tag === "ProviderUnavailable" ? busy.status : 0, 503)
    assert.strictEqual(fromStatus(418, "teapot", ctx)._tag, "ProviderError")
  })

  it("SDK errors by name, status and message", () => {
    const sdk = (name: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name, ...extra })
    assert.strictEqual(fromSdkError(sdk("AuthenticationError", "x"), ctx)._tag, "AuthenticationFailed")
    assert.strictEqual(fromSdkError(sdk("SandboxNotFoundError", "x"), ctx)._tag, "SandboxNotFound")
    assert.strictEqual(fromSdkError(sdk("TimeoutError", "502: This error is likely due to sandbox timeout."), ctx)._tag, "SandboxNotFound")
    assert.strictEqual(fromSdkError(sdk("TimeoutError", "Execution timed out"), { ...ctx, timeoutMs: 5 })._tag, "CommandTimeout")
    assert.strictEqual(fromSdkError(sdk("TimeoutError", "exceeding 'requestTimeoutMs'"), ctx)._tag, "ProviderUnavailable")
    const missing = fromSdkError(sdk("FileNotFoundError", "no"), { ...ctx, path: "a.txt" })
    assert.strictEqual(missing._tag === "FileNotFound" ? missing.path : "", "a.txt")
    assert.strictEqual(fromSdkError(sdk("InvalidArgumentError", "cwd '/x' does not exist"), ctx)._tag, "FileNotFound")
    assert.strictEqual(fromSdkError(sdk("SandboxError", "502: gone"), ctx)._tag, "SandboxNotFound")
    assert.strictEqual(fromSdkError(sdk("SandboxError", "x", { statusCode: 500 }), ctx)._tag, "ProviderUnavailable")
    assert.strictEqual(fromSdkError(new TypeError("fetch failed", { cause: { code: "ECONNRESET" } }), ctx)._tag, "ProviderUnavailable")
    assert.strictEqual(fromSdkError(new Error("something else"), ctx)._tag, "ProviderError")
  })

  it("secrets never survive into a message or a cause", () => {
    const leaky = Object.assign(new Error("request with key e2b_secretkey_123456 and token envdtoken99 failed"), {
      name: "SandboxError",
      headers: { "X-API-KEY": "e2b_secretkey_123456" },
      config: { apiKey: "e2b_secretkey_123456" }
    })
    const mapped = fromSdkError(leaky, ctx)
    for (const text of [mapped.message, JSON.stringify(mapped), JSON.stringify(mapped.cause), String(mapped)]) {
      assert.notInclude(text, "e2b_secretkey_123456")
      assert.notInclude(text, "envdtoken99")
    }
    assert.deepStrictEqual(Object.keys(safeCause(leaky, secrets)).sort(), ["message", "name"])
    assert.strictEqual(redact("key e2b_otherkey12345678 here", { values: () => [] }), "key <redacted> here")
  })
})

describe("layerConfig", () => {
  it.effect("reads E2B_API_KEY (redacted) and the optional URLs", () =>
    Effect.gen(function*() {
      const emulator = yield* E2bEmulator.make()
      const provider = yield* SandboxProvider.pipe(
        Effect.provide(E2bProvider.layerConfig({ runCodeLanguages: ["python"] })),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          E2B_API_KEY: "e2b_fromconfig_0000",
          E2B_API_URL: emulator.apiUrl,
          E2B_SANDBOX_URL: emulator.sandboxUrl
        })))
      )
      assert.strictEqual(provider.name, "e2b")
      assert.deepStrictEqual(yield* provider.list(), [])
      assert.strictEqual(emulator.log.count("list"), 1)
    }).pipe(Effect.scoped))

  it.effect("fails with a ConfigError without E2B_API_KEY", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        SandboxProvider.pipe(Effect.provide(E2bProvider.layerConfig()), Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))))
      )
      assert.isTrue(Exit.isFailure(exit))
    }))

  it.effect("an empty key fails up front with AuthenticationFailed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(E2bProvider.make({ apiKey: Redacted.make(" ") }))
      assert.strictEqual(error._tag, "AuthenticationFailed")
    }))

  it.effect("the key is Redacted: the options print without it", () =>
    Effect.sync(() => {
      const options = { apiKey: Redacted.make("e2b_printme_999999") }
      assert.notInclude(JSON.stringify(options), "e2b_printme_999999")
      assert.notInclude(String(options.apiKey), "e2b_printme_999999")
    }))
})
