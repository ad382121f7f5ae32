/**
 * Behaviour of the adapter beyond the conformance suite: spec mapping (OpenHands' defaults), ports, re-attaching by
 * name, configuration and profile isolation, error mapping and secret handling.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeProvider, type SandboxError, SandboxProvider } from "@sandkit/core"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { failureOf } from "@sandkit/emulators/testkit"
import { ConfigProvider, Context, Duration, Effect, Exit, Layer, Redacted } from "effect"
import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, expect } from "vitest"
import { ModalProvider } from "../src/index.ts"
import { emulatedOptions } from "./emulated.ts"

class Emulator extends Context.Service<Emulator, ModalEmulator.ModalEmulator>()("@sandkit/modal/test/AdapterEmulator") {}

const providerFor = (emulator: ModalEmulator.ModalEmulator, extra: Partial<ModalProvider.ModalOptions> = {}) =>
  Effect.map(ModalProvider.make(emulatedOptions(emulator, extra)), makeProvider)

const until = (what: string, check: () => Promise<boolean>) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      if (await check()) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    throw new Error(`timed out waiting until ${what}`)
  })

let started: ModalEmulator.ModalEmulator | undefined
const EmulatorLayer = Layer.effect(Emulator, Effect.tap(ModalEmulator.make(), (emulator) => Effect.sync(() => (started = emulator))))

// Every test cleans up after itself: nothing may be left in the emulator.
afterEach(() => {
  if (started !== undefined) expect(started.registry.ids()).toEqual([])
})

describe("modal adapter (emulated)", () => {
  it.layer(EmulatorLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("spec: name, labels, env, relative cwd, lifetime, idle timeout, size and network reach Modal; info comes back", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const sandbox = yield* provider.create({
          name: "named-one",
          labels: { app: "demo" },
          env: { GREETING: "hi" },
          cwd: "project",
          image: "alpine:3.21",
          size: "large",
          network: { outbound: false },
          lifetime: { maxLifetime: "10 minutes", idleTimeout: "90 seconds" }
        })
        const remote = emulator.registry.get(sandbox.id)!
        assert.strictEqual(remote.ext.timeoutSecs, 600)
        assert.strictEqual(remote.ext.idleTimeoutSecs, 90)
        assert.strictEqual(remote.ext.name, "named-one")
        assert.deepInclude(remote.ext.tags, { tagName: "app", tagValue: "demo" })
        assert.strictEqual(sandbox.info.workdir, `${remote.home}/project`)
        assert.strictEqual(sandbox.info.name, "named-one")
        assert.strictEqual(sandbox.info.image, "alpine:3.21")
        assert.strictEqual(sandbox.info.labels["app"], "demo")
        assert.isUndefined(sandbox.info.labels["sandkit.name"], "the adapter's own tags are not labels")
        assert.isTrue(Math.abs(sandbox.info.expiresAt!.getTime() - Date.now() - 600_000) < 60_000)
        assert.strictEqual((yield* sandbox.exec("pwd; echo $GREETING")).stdout, `${remote.home}/project\nhi\n`)
        const byName = yield* provider.connect("named-one")
        assert.strictEqual(byName.id, sandbox.id, "connect by name")
        assert.strictEqual(byName.info.workdir, sandbox.info.workdir)
        const refreshed = yield* byName.refresh
        assert.strictEqual(refreshed.createdAt.getTime(), sandbox.info.createdAt.getTime())
        const missing = failureOf(yield* Effect.exit(sandbox.exec("pwd", { cwd: "no-such-dir" })))
        assert.strictEqual(missing._tag, "FileNotFound")
        assert.strictEqual(missing._tag === "FileNotFound" ? missing.path : "", `${remote.home}/project/no-such-dir`)
      }))

    it.effect("OpenHands' default lifetime is 60 minutes; a template is a published image; disk sizes are Unsupported", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const provider = yield* providerFor(emulator)
        const sandbox = yield* provider.create()
        assert.strictEqual(emulator.registry.get(sandbox.id)!.ext.timeoutSecs, 3600)
        yield* sandbox.destroy
        // Publish an image (built from registry commands) under a name; `template` finds it.
        const imageId = [...emulator.world.images.keys()][0]!
        emulator.world.publish("team/base:v1", imageId)
        const fromTemplate = yield* provider.create({ template: "team/base:v1" })
        assert.strictEqual(emulator.registry.get(fromTemplate.id)!.ext.imageId, imageId)
        assert.strictEqual(fromTemplate.info.image, "team/base:v1")
        yield* fromTemplate.destroy
        const before = emulator.calls("SandboxCreateV2").length
        const unknown = failureOf(yield* Effect.exit(provider.createDetached({ template: "no-such-image" })))
        assert.strictEqual(unknown._tag, "InvalidRequest")
        assert.strictEqual(failureOf(yield* Effect.exit(provider.createDetached({ resources: { diskGiB: 10 } })))._tag, "Unsupported")
        assert.strictEqual(emulator.calls("SandboxCreateV2").length, before)
      }))

    it.effect("exposePort: a declared encrypted port is its https tunnel; any other port a connect token", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const port = 20000 + Math.floor(Math.random() * 20000)
        const provider = yield* providerFor(emulator, { encryptedPorts: [port] })
        const sandbox = yield* provider.create({ network: { outbound: true } })
        yield* sandbox.files.write("www/hi.txt", "hello")
        yield* sandbox.spawn(`exec python3 -m http.server ${port} --bind 127.0.0.1`, { cwd: "www" })
        const tunnel = yield* sandbox.exposePort(port)
        assert.deepStrictEqual(tunnel, { port, url: `https://127.0.0.1:${port}` })
        // The emulator's tunnel is the port itself on 127.0.0.1, without TLS.
        const plain = tunnel.url.replace("https:", "http:") + "/hi.txt"
        yield* until("the server answers", () => fetch(plain).then((r) => r.ok, () => false))
        // Any other port: a connect token (the emulator checks it, as Modal does).
        const other = port + 1
        yield* sandbox.spawn(`exec python3 -m http.server ${other} --bind 127.0.0.1`, { cwd: "www" })
        const grant = yield* sandbox.exposePort(other)
        assert.match(grant.url, /^http:\/\/127\.0\.0\.1:\d+\/connect\//)
        assert.isString(grant.token)
        const withToken = () => fetch(`${grant.url}/hi.txt`, { headers: { authorization: `Bearer ${grant.token}` } })
        yield* until("the second server answers", () => withToken().then((r) => r.ok, () => false))
        assert.strictEqual(yield* Effect.promise(() => withToken().then((r) => r.text())), "hello")
        assert.strictEqual((yield* Effect.promise(() => fetch(`${grant.url}/hi.txt`))).status, 401)
      }))

    it.effect("layerConfig: MODAL_TOKEN_ID / MODAL_TOKEN_SECRET (redacted), MODAL_ENVIRONMENT, MODAL_SERVER_URL", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator
        const env = {
          MODAL_TOKEN_ID: emulator.credentials.tokenId,
          MODAL_TOKEN_SECRET: emulator.credentials.tokenSecret,
          MODAL_ENVIRONMENT: "staging",
          MODAL_SERVER_URL: emulator.serverUrl
        }
        const layer = ModalProvider.layerConfig({ appName: "from-config" }).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
        yield* Effect.scoped(Effect.gen(function*() {
          const provider = yield* SandboxProvider
          const sandbox = yield* provider.create()
          assert.strictEqual((yield* sandbox.exec("echo configured")).stdout, "configured\n")
        })).pipe(Effect.provide(layer))
        assert.strictEqual(emulator.world.apps.get("staging/from-config") !== undefined, true, "the app is in MODAL_ENVIRONMENT")
        const missing = yield* Effect.exit(Effect.scoped(Layer.build(ModalProvider.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))))))
        assert.isTrue(Exit.isFailure(missing), "no token: a ConfigError")
      }))
  })

  it("the user's profile cannot leak in: a hostile ~/.modal.toml and MODAL_* variables are ignored, and restored", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sandkit-modal-profile-"))
    try {
      const toml = join(dir, "modal.toml")
      await writeFile(toml, [
        "[hostile]",
        "active = true",
        "server_url = \"http://127.0.0.1:9\"",
        "token_id = \"ak-fromtheprofile\"",
        "token_secret = \"as-fromtheprofile\"",
        "environment = \"elsewhere\"",
        "sandbox_v2 = false",
        "image_builder_version = \"1999.01\""
      ].join("\n"))
      const env = {
        ...process.env,
        MODAL_CONFIG_PATH: toml,
        MODAL_SERVER_URL: "http://127.0.0.1:9",
        MODAL_TOKEN_ID: "ak-fromtheenvironment",
        MODAL_TOKEN_SECRET: "as-fromtheenvironment",
        MODAL_SANDBOX_V2: "0",
        MODAL_MAX_THROTTLE_WAIT: "600"
      }
      const script = join(import.meta.dirname, "fixtures", "profile-isolation.ts")
      const output = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ["--conditions=@sandkit/source", script], { env, timeout: 60_000 }, (error, stdout, stderr) =>
          error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`)))
      )
      const result = JSON.parse(output.trim().split("\n").at(-1)!)
      assert.deepStrictEqual(result, { stdout: "isolated\n", creates: 1, v1: [], envRestored: true })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 90_000)
})

describe("error mapping and secrets", () => {
  const secrets = { values: () => ["ak-supersecretid", "as-supersecretsecret"] }
  const ctx = { operation: "test", sandboxId: "sb-v2-x", secrets }
  const grpc = (code: number, details: string, path = "/modal.client.ModalClient/SandboxWaitV2") =>
    Object.assign(new Error(`${path} ${code}: ${details}`), { name: "ClientError", code, details, path })

  it("gRPC statuses map onto core tags; the command router's transient failures are ProviderErrors", () => {
    const tag = (error: unknown, c: Partial<typeof ctx> & { path?: string } = {}) => ModalProvider.fromSdkError(error, { ...ctx, ...c })._tag
    assert.strictEqual(tag(grpc(16, "bad token")), "AuthenticationFailed")
    assert.strictEqual(tag(grpc(7, "no")), "PermissionDenied")
    assert.strictEqual(tag(grpc(5, "gone")), "SandboxNotFound")
    assert.strictEqual(tag(grpc(3, "bad")), "InvalidRequest")
    assert.strictEqual(tag(grpc(3, "workdir '/x' does not exist"), { path: "/x" }), "FileNotFound")
    assert.strictEqual(tag(grpc(6, "name taken")), "InvalidRequest")
    assert.strictEqual(tag(grpc(8, "maximum number of concurrent sandboxes")), "QuotaExceeded")
    assert.strictEqual(tag(grpc(8, "slow down")), "RateLimited")
    assert.strictEqual(tag(grpc(8, "Rate limit exceeded, please try again later")), "RateLimited")
    assert.strictEqual(tag(grpc(14, "down")), "ProviderUnavailable")
    assert.strictEqual(tag(grpc(13, "oops")), "ProviderUnavailable")
    assert.strictEqual(tag(grpc(14, "down", "/modal.task_command_router.TaskCommandRouter/TaskExecStart")), "ProviderError")
    assert.strictEqual(tag(grpc(12, "nope")), "ProviderError")
    assert.strictEqual(tag(Object.assign(new Error("x"), { name: "SandboxFilesystemNotFoundError" }), { path: "a.txt" }), "FileNotFound")
    assert.strictEqual(tag(Object.assign(new Error("x"), { name: "InvalidError" })), "InvalidRequest")
    assert.strictEqual(tag(Object.assign(new Error("x"), { name: "SandboxTimeoutError" })), "SandboxNotFound")
    assert.strictEqual(tag(new Error("Profile is missing credentials. Please set them")), "AuthenticationFailed")
    assert.strictEqual(tag(new Error("read ECONNRESET")), "ProviderUnavailable")
  })

  it("decodeRetryAfter reads Modal's RPCRetryPolicy out of google.rpc.Status details", () => {
    const bytes = (...parts: Array<Array<number> | Uint8Array>) => Uint8Array.from(parts.flatMap((p) => Array.from(p)))
    const float = new Uint8Array(4)
    new DataView(float.buffer).setFloat32(0, 2.5, true)
    const policy = bytes([0x0d], float) // field 1, fixed32
    const typeUrl = new TextEncoder().encode("type.googleapis.com/modal.client.RPCRetryPolicy")
    const any = bytes([0x0a, typeUrl.length], typeUrl, [0x12, policy.length], policy)
    const status = bytes([0x08, 0x08], [0x1a, any.length], any) // code = 8, details = [any]
    assert.strictEqual(ModalProvider.decodeRetryAfter(status), 2.5)
    assert.isUndefined(ModalProvider.decodeRetryAfter(bytes([0x08, 0x08])))
    assert.isUndefined(ModalProvider.decodeRetryAfter(bytes([0xff])))
  })

  it("secrets and token-shaped strings never survive into a message or a cause", () => {
    const error = ModalProvider.fromSdkError(grpc(16, "token ak-supersecretid / as-supersecretsecret rejected; jwt eyJhbGciOi.eyJleHAi.sig"), ctx)
    for (const text of [error.message, JSON.stringify(error), JSON.stringify(error.cause), String(error)]) {
      for (const secret of ["ak-supersecretid", "as-supersecretsecret", "eyJhbGciOi"]) assert.notInclude(text, secret)
    }
    assert.include(ModalProvider.redact("ak-0123456789abcdef", { values: () => [] }), "<redacted>")
    const options = emulatedOptionsLike()
    assert.notInclude(JSON.stringify(options), "as-visible")
    assert.notInclude(String(options.tokenSecret), "as-visible")
  })

  it("layer options keep durations as given: 60 minutes by default", () => {
    assert.strictEqual(Duration.toMillis(ModalProvider.DEFAULT_LIFETIME), 3_600_000)
  })
})

const emulatedOptionsLike = (): ModalProvider.ModalOptions => ({ tokenId: Redacted.make("ak-visibleid0000"), tokenSecret: Redacted.make("as-visiblesecret0") })
