/**
 * Unit tests of the translation: the log demultiplexer, SDK error → tagged error, the shell scripts commands are
 * wrapped in (run for real with the local `/bin/sh`), the create body, state mapping, and `layerConfig`.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ResolvedSpec, SandboxProvider } from "@sandkit/core"
import {
  DaytonaAuthorizationError,
  DaytonaConnectionError,
  DaytonaError,
  DaytonaFileNotFoundError,
  DaytonaNotFoundError,
  DaytonaRateLimitError,
  DaytonaServiceUnavailableError,
  DaytonaTimeoutError
} from "@daytonaio/sdk"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { ConfigProvider, Duration, Effect, Layer, Redacted } from "effect"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DaytonaProvider } from "../src/index.ts"
import { resolveConfig } from "../src/internal/config.ts"
import { fromSdkError } from "../src/internal/errors.ts"
import { Demux, SDK_VERSION } from "../src/internal/logs.ts"

const sdkPackage = createRequire(import.meta.url)("@daytonaio/sdk/package.json") as { readonly version: string }

const bytes = (...parts: Array<string | Array<number>>) =>
  Uint8Array.from(parts.flatMap((p) => typeof p === "string" ? [...new TextEncoder().encode(p)] : p))

const demuxed = (frames: ReadonlyArray<Uint8Array>) => {
  const out: Array<[number, string]> = []
  const demux = new Demux((stream, data) => out.push([stream, new TextDecoder().decode(data)]))
  const afterEach: Array<number> = []
  for (const frame of frames) {
    demux.push(frame)
    afterEach.push(out.length)
  }
  demux.flush()
  return { out, afterEach }
}

describe("log demultiplexer", () => {
  it("passes short payloads on at once (the SDK's holds back tails under 3 bytes)", () => {
    const { afterEach, out } = demuxed([bytes([1, 1, 1], "a\n"), bytes([2, 2, 2], "b\n")])
    assert.deepStrictEqual(afterEach, [1, 2], "each frame's payload is out before the next frame")
    assert.deepStrictEqual(out, [[1, "a\n"], [2, "b\n"]])
  })

  it("markers split across frames, several markers per frame, data before any marker", () => {
    const { out } = demuxed([bytes("pre", [1]), bytes([1, 1], "x", [2, 2]), bytes([2], "y", [1, 1, 1], "z")])
    assert.deepStrictEqual(out, [[1, "pre"], [1, "x"], [2, "y"], [1, "z"]])
  })

  it("a held-back partial marker at the end is data after all", () => {
    const { out } = demuxed([bytes([2, 2, 2], "e", [2, 2])])
    assert.deepStrictEqual(out.map(([s, t]) => [s, [...new TextEncoder().encode(t)]]), [[2, [101]], [2, [2, 2]]])
  })

  it("offers the SDK's own version as the WebSocket subprotocol", () => {
    assert.strictEqual(SDK_VERSION, sdkPackage.version)
  })
})

const secrets = resolveConfig({ apiKey: Redacted.make("dtn_secret_key_1234567890") }).secrets
const ctx = (extra: Record<string, unknown> = {}) => ({ operation: "op", sandboxId: "sb1", secrets, ...extra })

describe("SDK error → tagged error", () => {
  const cases: ReadonlyArray<readonly [string, unknown, Record<string, unknown>, string]> = [
    ["401", new DaytonaError("Unauthorized", 401), {}, "AuthenticationFailed"],
    ["403", new DaytonaAuthorizationError("Forbidden", 403), {}, "PermissionDenied"],
    ["403 quota", new DaytonaAuthorizationError("Total CPU quota exceeded. Maximum allowed: 10", 403), {}, "QuotaExceeded"],
    ["403 limit reached", new DaytonaAuthorizationError("Sandbox quota exceeded: limit reached (16)", 403), {}, "QuotaExceeded"],
    ["429", new DaytonaRateLimitError("Rate limit exceeded, please try again later", 429), {}, "RateLimited"],
    ["429 limit reached", new DaytonaRateLimitError("limit reached (16)", 429), {}, "QuotaExceeded"],
    ["404 on the API", new DaytonaNotFoundError("Sandbox not found", 404), {}, "SandboxNotFound"],
    ["404 from the daemon for a file", new DaytonaFileNotFoundError("file not found", 404, undefined, "FILE_NOT_FOUND", "DAYTONA_DAEMON"), { path: "/x" }, "FileNotFound"],
    ["404 from the proxy for a file call", new DaytonaNotFoundError("Sandbox gone", 404, undefined, "NOT_FOUND", "DAYTONA_PROXY"), { path: "/x" }, "SandboxNotFound"],
    ["400", new DaytonaError("bad", 400), {}, "InvalidRequest"],
    ["409", new DaytonaError("conflict", 409), {}, "ProviderError"],
    ["503", new DaytonaServiceUnavailableError("down", 503), {}, "ProviderUnavailable"],
    ["502 (a stopped sandbox's toolbox)", new DaytonaError("not running", 502), {}, "ProviderUnavailable"],
    ["no response", new DaytonaConnectionError("connect ECONNREFUSED 127.0.0.1:1"), {}, "ProviderUnavailable"],
    ["408 with a command timeout", new DaytonaTimeoutError("execution timeout", 408), { timeoutMs: 100 }, "CommandTimeout"],
    ["a reset socket", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), {}, "ProviderUnavailable"],
    ["anything else", new TypeError("boom"), {}, "ProviderError"]
  ]
  for (const [what, error, extra, tag] of cases) {
    it(`${what} → ${tag}`, () => assert.strictEqual(fromSdkError(error, ctx(extra))._tag, tag))
  }

  it("Retry-After (seconds or a date) becomes RateLimited.retryAfter", () => {
    const headers = (value: string) => ({ "retry-after": value }) as never
    const seconds = fromSdkError(new DaytonaRateLimitError("slow down", 429, headers("3")), ctx())
    assert.strictEqual(seconds._tag === "RateLimited" && seconds.retryAfter !== undefined ? Duration.toMillis(seconds.retryAfter) : undefined, 3_000)
    const date = fromSdkError(new DaytonaRateLimitError("slow down", 429, headers(new Date(Date.now() + 60_000).toUTCString())), ctx())
    const ms = date._tag === "RateLimited" && date.retryAfter !== undefined ? Duration.toMillis(date.retryAfter) : 0
    assert.isTrue(ms > 50_000 && ms <= 60_000, `${ms}`)
  })

  it("secrets never reach a message or a cause", () => {
    const error = fromSdkError(
      new DaytonaError("key dtn_secret_key_1234567890 and Bearer abc.def and ?DAYTONA_SANDBOX_AUTH_KEY=tok123&x=1", 500),
      ctx()
    )
    for (const text of [error.message, JSON.stringify(error.cause), String(error)]) {
      assert.notInclude(text, "dtn_secret_key_1234567890")
      assert.notInclude(text, "abc.def")
      assert.notInclude(text, "tok123")
    }
    assert.deepStrictEqual(Object.keys(error.cause as object).sort(), ["message", "name", "status"])
  })
})

/** Run a script with the local POSIX shell, as a session would. */
const sh = (script: string) => execFileSync("/bin/sh", ["-c", script], { encoding: "utf8" })

describe("command scripts (run with the local /bin/sh)", () => {
  it("argv passes each argument verbatim; env values with quotes and $ survive; cwd applies; stdin is /dev/null", () => {
    const dir = mkdtempSync(join(tmpdir(), "sandkit-daytona-"))
    try {
      const tricky = `it's "quoted" $HOME \`x\` \\ ; & | * ünï`
      const argv = DaytonaProvider.execScript(
        DaytonaProvider.commandBody(["printf", "%s|", "a  b", "$HOME", "'q'", tricky], dir, {}),
        undefined
      )
      assert.strictEqual(sh(argv), `a  b|$HOME|'q'|${tricky}|`)
      const env = DaytonaProvider.execScript(DaytonaProvider.commandBody(`printf '%s:' "$A" "$(pwd)"; cat`, dir, { A: tricky }), undefined)
      assert.strictEqual(sh(env), `${tricky}:${dir}:`)
      writeFileSync(join(dir, "in.txt"), "from file")
      const stdin = DaytonaProvider.execScript(DaytonaProvider.commandBody("cat; exit 3", dir, undefined), join(dir, "in.txt"))
      const withStdin = spawnSync("/bin/sh", ["-c", stdin], { encoding: "utf8" })
      assert.deepStrictEqual([withStdin.stdout, withStdin.status], ["from file", 3])
      assert.isFalse(existsSync(join(dir, "in.txt")), "the stdin file is removed after the command")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("spawn stdin: numbered chunk files feed the FIFO in order, eof closes it, the exit code comes through", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sandkit-daytona-"))
    const chunks = join(dir, "stdin")
    try {
      const script = DaytonaProvider.spawnScript(DaytonaProvider.commandBody("read l; echo got:$l; cat; exit 5", dir, undefined), chunks)
      const child = spawn("/bin/sh", ["-c", script])
      let out = ""
      child.stdout.on("data", (d: Buffer) => void (out += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
      await new Promise((resolve) => setTimeout(resolve, 100))
      const put = (name: string, data: string) => writeFileSync(join(chunks, name), data)
      put("0", "hello\n")
      put("0.done", "")
      put("1", "more")
      put("1.done", "")
      put("eof", "")
      assert.strictEqual(await exited, 5)
      assert.strictEqual(out, "got:hello\nmore")
      assert.isFalse(existsSync(chunks), "the chunk directory is removed")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

const spec = (extra: Partial<ResolvedSpec> = {}): ResolvedSpec => ({ labels: { "sandkit.owner": "me", team: "x" }, ...extra })
const dockerfile = { dockerfile: (image: string) => `FROM ${image}\n` }

describe("create body", () => {
  const config = resolveConfig({ apiKey: Redacted.make("k"), target: "eu" })
  it("OpenHands defaults: auto-stop 60 minutes, labels plus the toolbox language, the target", () => {
    const body = DaytonaProvider.createBody(config, dockerfile, spec())
    assert.deepStrictEqual(body.labels, { "sandkit.owner": "me", team: "x", "code-toolbox-language": "python" })
    assert.strictEqual(body.autoStopInterval, 60)
    assert.strictEqual(body.target, "eu")
    assert.strictEqual(body.public, false)
    assert.strictEqual(body.ttlMinutes, undefined)
    assert.strictEqual(DaytonaProvider.createBody(resolveConfig({ apiKey: Redacted.make("k"), autoStop: false }), dockerfile, spec()).autoStopInterval, 0)
  })

  it("lifetime, resources, sizes, network, cwd, image / template / snapshot", () => {
    const body = DaytonaProvider.createBody(config, dockerfile, spec({
      lifetime: { idleTimeout: "61 seconds", maxLifetime: "2 hours" },
      resources: { cpu: 2, memoryMiB: 1536, diskGiB: 5 },
      network: { outbound: false },
      cwd: "work",
      image: "python:3.12",
      env: { A: "1" }
    }))
    assert.strictEqual(body.autoStopInterval, 2)
    assert.strictEqual(body.ttlMinutes, 120)
    assert.deepStrictEqual([body.cpu, body.memory, body.disk], [2, 2, 5])
    assert.strictEqual(body.networkBlockAll, true)
    assert.strictEqual(body.labels["sandkit.cwd"], "work")
    assert.deepStrictEqual(body.buildInfo, { dockerfileContent: "FROM python:3.12\n" })
    assert.strictEqual(body.snapshot, undefined)
    assert.deepStrictEqual(body.env, { A: "1" })
    assert.deepStrictEqual(
      [DaytonaProvider.createBody(config, dockerfile, spec({ size: "large" })).cpu, DaytonaProvider.createBody(config, dockerfile, spec({ template: "snap-a" })).snapshot],
      [4, "snap-a"]
    )
    const from = DaytonaProvider.createBody(config, dockerfile, spec({ from: { provider: "daytona", id: "sandkit-abc" } }))
    assert.strictEqual(from.snapshot, "sandkit-abc")
  })

  it("states: stopped and archived are paused (start resumes them), errors unknown", () => {
    const states = ["started", "creating", "stopped", "archived", "error", "destroyed", "weird"].map(DaytonaProvider.stateOf)
    assert.deepStrictEqual(states, ["running", "starting", "paused", "paused", "unknown", "stopped", "unknown"])
  })
})

describe("layerConfig", () => {
  it.effect("reads DAYTONA_API_KEY (redacted), DAYTONA_API_URL, DAYTONA_TARGET and DAYTONA_DELETE_ON_CLOSE", () =>
    Effect.gen(function*() {
      const emulator = yield* DaytonaEmulator.make({ apiKey: "dtn_from_env_123456" })
      const env = {
        DAYTONA_API_KEY: "dtn_from_env_123456",
        DAYTONA_API_URL: emulator.apiUrl,
        DAYTONA_TARGET: "local",
        DAYTONA_DELETE_ON_CLOSE: "false"
      }
      const layer = DaytonaProvider.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
      const id = yield* Effect.scoped(Effect.gen(function*() {
        const provider = yield* SandboxProvider
        const sandbox = yield* provider.create()
        return sandbox.id
      })).pipe(Effect.provide(layer))
      assert.strictEqual(emulator.stateOf(id), "started", "kept: DAYTONA_DELETE_ON_CLOSE=false")
      yield* Effect.promise(() => emulator.registry.destroy(id))
      const missing = yield* Effect.flip(
        Effect.gen(function*() {
          return yield* SandboxProvider
        }).pipe(Effect.provide(DaytonaProvider.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))))))
      )
      assert.include(String(missing), "DAYTONA_API_KEY")
    }), { timeout: 30_000 })
})
