/**
 * The input schemas: what decodes, and a battery of bad inputs that must each fail with `InvalidRequest` naming the
 * offending field, before anything runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Schema } from "effect"
import {
  Command,
  decodeInput,
  EnvName,
  ExecOptions,
  FindOrCreateOptions,
  InvalidRequest,
  LabelKey,
  ListFilter,
  Port,
  PositiveDuration,
  ReapOptions,
  RunCodeOptions,
  SandboxId,
  SandboxPath,
  SandboxSpec,
  SpawnOptions,
  toMillis
} from "../src/index.ts"

const provider = "test"

const failureOf = <A>(exit: Exit.Exit<A, InvalidRequest>): InvalidRequest => {
  const error = Exit.findErrorOption(exit)
  if (Option.isNone(error)) throw new Error(`expected a failure, got ${JSON.stringify(exit)}`)
  return error.value
}

const decodeSpec = decodeInput(SandboxSpec, provider, "spec")

const manyLabels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]))

describe("valid input decodes", () => {
  const validSpecs: ReadonlyArray<readonly [string, unknown]> = [
    ["an empty spec", {}],
    ["an image", { image: "python:3.12-slim" }],
    ["a template", { template: "code-interpreter-v1" }],
    ["a size", { size: "large" }],
    ["resources", { resources: { cpu: 0.5, memoryMiB: 2048, diskGiB: 10 } }],
    ["the smallest resources", { resources: { cpu: 0.125, memoryMiB: 64, diskGiB: 1 } }],
    ["empty resources", { resources: {} }],
    ["env", { env: { PATH: "/usr/bin", _UNDERSCORE: "", A1: "x=y", LANG: "C.UTF-8" } }],
    ["an env value of 128 KiB", { env: { BIG: "x".repeat(131072) } }],
    ["labels", { labels: { team: "infra", "app.kubernetes.io/name": "agent", a: "", ticket: "ABC-1:2@x/y+z" } }],
    ["32 labels", { labels: manyLabels(32) }],
    ["a 63-character label key and value", { labels: { ["k".repeat(63)]: "v".repeat(63) } }],
    ["label keys that only look reserved", { labels: { sandkit: "x", "my.sandkit.owner": "y" } }],
    ["a name", { name: "my-box_1.dev" }],
    ["a cwd", { cwd: "/workspace" }],
    ["durations as milliseconds", { lifetime: { maxLifetime: 3_600_000, idleTimeout: 0.5 } }],
    ["durations as strings", { lifetime: { maxLifetime: "60 minutes", idleTimeout: "1.5 seconds" } }],
    ["durations as Duration", { lifetime: { maxLifetime: Duration.hours(1), idleTimeout: Duration.seconds(30) } }],
    ["the longest lifetime a timer can wait", { lifetime: { maxLifetime: 2 ** 31 - 1, idleTimeout: "24 days" } }],
    ["a surrogate pair (an emoji) is well-formed", { cwd: "/w/\u{1F600}", env: { A: "\u{1F600}" } }],
    ["network", { network: { outbound: false } }],
    ["isolation", { isolation: "strict" }],
    ["everything at once", {
      image: "node:24",
      name: "full",
      env: { NODE_ENV: "test" },
      cwd: "/app",
      labels: { purpose: "ci" },
      resources: { cpu: 2, memoryMiB: 4096 },
      lifetime: { maxLifetime: "2 hours" },
      network: { outbound: true },
      isolation: "any"
    }]
  ]
  for (const [name, input] of validSpecs) {
    it.effect(`SandboxSpec: ${name}`, () =>
      Effect.gen(function*() {
        const decoded = yield* decodeSpec(input)
        assert.deepStrictEqual(decoded, input as typeof decoded)
      }))
  }

  it.effect("the other schemas accept good input", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* decodeInput(Command, provider, "command")("echo hi"), "echo hi")
      assert.deepStrictEqual(yield* decodeInput(Command, provider, "command")(["ls", "-l", ""]), ["ls", "-l", ""])
      assert.strictEqual(yield* decodeInput(Port, provider, "port")(1), 1)
      assert.strictEqual(yield* decodeInput(Port, provider, "port")(65535), 65535)
      assert.strictEqual(yield* decodeInput(SandboxPath, provider, "path")("x".repeat(4096)), "x".repeat(4096))
      assert.strictEqual(yield* decodeInput(SandboxId, provider, "sandbox id")("sbx_01:abc.DEF-9"), "sbx_01:abc.DEF-9")
      assert.deepStrictEqual(
        yield* decodeInput(ExecOptions, provider, "exec options")({
          cwd: "/tmp",
          env: { A: "1" },
          timeout: "5 seconds",
          stdin: new Uint8Array([1, 2]),
          maxOutputBytes: 1
        }),
        { cwd: "/tmp", env: { A: "1" }, timeout: "5 seconds", stdin: new Uint8Array([1, 2]), maxOutputBytes: 1 }
      )
      assert.deepStrictEqual(yield* decodeInput(SpawnOptions, provider, "spawn options")({ cwd: "/" }), { cwd: "/" })
      assert.deepStrictEqual(
        yield* decodeInput(RunCodeOptions, provider, "runCode options")({ language: "python", context: "c1" }),
        { language: "python", context: "c1" }
      )
      assert.deepStrictEqual(yield* decodeInput(FindOrCreateOptions, provider, "findOrCreate")({ name: "box" }), { name: "box" })
      assert.deepStrictEqual(
        yield* decodeInput(FindOrCreateOptions, provider, "findOrCreate")({ labels: { a: "b" } }),
        { labels: { a: "b" } }
      )
      assert.deepStrictEqual(
        yield* decodeInput(ReapOptions, provider, "reap")({ olderThan: "1 hour", dryRun: true }),
        { olderThan: "1 hour", dryRun: true }
      )
      // An age is not a timer: a year is fine there.
      assert.deepStrictEqual(yield* decodeInput(ReapOptions, provider, "reap")({ olderThan: "365 days" }), { olderThan: "365 days" })
      assert.deepStrictEqual(yield* decodeInput(ListFilter, provider, "list")({ state: "running" }), { state: "running" })
    }))

  it("toMillis converts every accepted duration form", () => {
    assert.strictEqual(toMillis(1500), 1500)
    assert.strictEqual(toMillis("2 seconds"), 2000)
    assert.strictEqual(toMillis(Duration.minutes(1)), 60_000)
  })
})

interface BadCase {
  readonly name: string
  readonly schema: Schema.Decoder<unknown>
  readonly what: string
  readonly input: unknown
  /** Substrings the message must contain: the field's path and/or the rule broken. */
  readonly mentions: ReadonlyArray<string>
}

const spec = (name: string, input: unknown, ...mentions: Array<string>): BadCase => ({
  name,
  schema: SandboxSpec,
  what: "spec",
  input,
  mentions
})
const bad = (schema: Schema.Decoder<unknown>, what: string) => (name: string, input: unknown, ...mentions: Array<string>): BadCase => ({
  name,
  schema,
  what,
  input,
  mentions
})
const command = bad(Command, "command")
const exec = bad(ExecOptions, "exec options")
const port = bad(Port, "port")
const path = bad(SandboxPath, "path")
const id = bad(SandboxId, "sandbox id")
const find = bad(FindOrCreateOptions, "findOrCreate options")
const reap = bad(ReapOptions, "reap options")
const duration = bad(PositiveDuration, "duration")

const badCases: ReadonlyArray<BadCase> = [
  // the spec as a whole
  spec("spec is null", null, "Expected object"),
  spec("spec is an array", [], "Expected object"),
  // env
  spec("env name with '='", { env: { "A=B": "x" } }, `["env"]`, `"A=B"`),
  spec("env name with a leading digit", { env: { "1A": "x" } }, `["env"]`, `"1A"`),
  spec("empty env name", { env: { "": "x" } }, `["env"]`),
  spec("env name with a space", { env: { "MY VAR": "x" } }, `["env"]`, `"MY VAR"`),
  spec("NUL in an env value", { env: { A: "a\u0000b" } }, `["env"]["A"]`, "NUL"),
  spec("env value over 128 KiB", { env: { A: "x".repeat(131073) } }, `["env"]["A"]`, "128 KiB"),
  spec("env value not a string", { env: { A: 1 } }, `["env"]["A"]`),
  spec("env not an object", { env: ["A=1"] }, `["env"]`),
  // labels
  spec("label key starting with '-'", { labels: { "-a": "x" } }, `["labels"]`, `"-a"`),
  spec("label key ending with '.'", { labels: { "a.": "x" } }, `["labels"]`, `"a."`),
  spec("label key with a space", { labels: { "a b": "x" } }, `["labels"]`, `"a b"`),
  spec("label key of 64 characters", { labels: { ["k".repeat(64)]: "x" } }, `["labels"]`),
  spec("empty label key", { labels: { "": "x" } }, `["labels"]`),
  spec("label value with a space", { labels: { a: "has space" } }, `["labels"]["a"]`),
  spec("label value of 64 characters", { labels: { a: "v".repeat(64) } }, `["labels"]["a"]`),
  spec("label value with a newline", { labels: { a: "x\ny" } }, `["labels"]["a"]`),
  spec("more than 32 labels", { labels: manyLabels(33) }, `["labels"]`, "at most 32 labels"),
  spec("reserved 'sandkit.owner' label", { labels: { "sandkit.owner": "me" } }, "sandkit.", "reserved"),
  spec("reserved 'sandkit.run' label", { labels: { "sandkit.run": "r1" } }, "sandkit.", "reserved"),
  spec("reserved 'sandkit.' prefix", { labels: { "sandkit.anything": "x" } }, "reserved"),
  // image / template / size / resources
  spec("unknown size", { size: "huge" }, `["size"]`),
  spec("size and resources", { size: "small", resources: { cpu: 1 } }, "size or resources"),
  spec("image and template", { image: "a", template: "b" }, "image or template"),
  spec("empty image", { image: "" }, `["image"]`),
  spec("image with a space", { image: "python 3" }, `["image"]`),
  spec("cpu 0", { resources: { cpu: 0 } }, `["resources"]["cpu"]`),
  spec("cpu negative", { resources: { cpu: -1 } }, `["resources"]["cpu"]`),
  spec("cpu NaN", { resources: { cpu: NaN } }, `["resources"]["cpu"]`),
  spec("memoryMiB 1.5", { resources: { memoryMiB: 1.5 } }, `["resources"]["memoryMiB"]`, "integer"),
  spec("memoryMiB below 64", { resources: { memoryMiB: 32 } }, `["resources"]["memoryMiB"]`),
  spec("diskGiB 0", { resources: { diskGiB: 0 } }, `["resources"]["diskGiB"]`),
  // name, cwd, isolation, network
  spec("name with a leading '-'", { name: "-x" }, `["name"]`),
  spec("name with a slash", { name: "a/b" }, `["name"]`),
  spec("empty cwd", { cwd: "" }, `["cwd"]`, "empty"),
  spec("NUL in cwd", { cwd: "/a\u0000" }, `["cwd"]`, "NUL"),
  spec("unknown isolation", { isolation: "paranoid" }, `["isolation"]`),
  spec("outbound not a boolean", { network: { outbound: "yes" } }, `["network"]["outbound"]`),
  // durations
  spec("maxLifetime NaN", { lifetime: { maxLifetime: NaN } }, `["lifetime"]["maxLifetime"]`, "positive finite duration"),
  spec("maxLifetime -1", { lifetime: { maxLifetime: -1 } }, `["lifetime"]["maxLifetime"]`),
  spec("maxLifetime 0", { lifetime: { maxLifetime: 0 } }, `["lifetime"]["maxLifetime"]`),
  spec("maxLifetime Infinity", { lifetime: { maxLifetime: Infinity } }, `["lifetime"]["maxLifetime"]`),
  spec("maxLifetime \"forever\"", { lifetime: { maxLifetime: "forever" } }, `["lifetime"]["maxLifetime"]`),
  spec("idleTimeout \"0 seconds\"", { lifetime: { idleTimeout: "0 seconds" } }, `["lifetime"]["idleTimeout"]`),
  spec("idleTimeout Duration.zero", { lifetime: { idleTimeout: Duration.zero } }, `["lifetime"]["idleTimeout"]`),
  spec("idleTimeout Duration.infinity", { lifetime: { idleTimeout: Duration.infinity } }, `["lifetime"]["idleTimeout"]`),
  duration("duration -5 seconds", "-5 seconds", "positive finite duration"),
  duration("duration as an object", { seconds: 5 }, "positive finite duration"),
  duration("duration null", null, "positive finite duration"),
  exec("exec timeout 0", { timeout: 0 }, `["timeout"]`),
  exec("exec timeout NaN", { timeout: NaN }, `["timeout"]`),
  reap("reap olderThan -1", { olderThan: -1 }, `["olderThan"]`),
  // durations past what a timer can wait (a longer one fires at once) or any date can name
  spec("maxLifetime 1e300 ms", { lifetime: { maxLifetime: 1e300 } }, `["lifetime"]["maxLifetime"]`, "24.8 days"),
  spec("idleTimeout \"30 days\"", { lifetime: { idleTimeout: "30 days" } }, `["lifetime"]["idleTimeout"]`),
  exec("exec timeout 1e12 ms", { timeout: 1e12 }, `["timeout"]`, "24.8 days"),
  duration("duration one past the timer limit", 2 ** 31, "24.8 days"),
  reap("reap olderThan 1e300 ms", { olderThan: 1e300 }, `["olderThan"]`, "100 years"),
  // lone surrogates cannot be encoded: they would arrive as U+FFFD, a different name
  path("lone surrogate in a path", "a\uD800b", "well-formed"),
  command("lone surrogate in a command", "echo \uDC00", "well-formed"),
  command("lone surrogate in an argv element", ["echo", "\uD800"], "well-formed", "[1]"),
  exec("lone surrogate in an env value", { env: { A: "\uDFFF" } }, `["env"]["A"]`, "well-formed"),
  find("reserved label key in findOrCreate", { labels: { "sandkit.owner": "me" } }, "reserved"),
  // ports
  port("port 0", 0, "between 1 and 65535"),
  port("port 65536", 65536, "between 1 and 65535"),
  port("port 1.5", 1.5, "integer"),
  port("port NaN", NaN, "port"),
  port("port Infinity", Infinity, "port"),
  port("port as a string", "80", "number"),
  // commands
  command("empty command", "", "command must not be empty"),
  command("whitespace command", "  \t\n", "command must not be empty"),
  command("NUL in a command", "echo a\u0000b", "NUL"),
  command("empty argv", [], "argv must start with a non-empty program"),
  command("argv[0] empty", ["", "x"], "argv must start with a non-empty program"),
  command("NUL in an argv element", ["ls", "a\u0000"], "NUL", "[1]"),
  command("command not a string or array", 42, "Expected"),
  exec("maxOutputBytes 0", { maxOutputBytes: 0 }, `["maxOutputBytes"]`),
  exec("maxOutputBytes 1.5", { maxOutputBytes: 1.5 }, `["maxOutputBytes"]`),
  exec("exec env with a bad name", { env: { "A-B": "x" } }, `["env"]`, `"A-B"`),
  exec("exec cwd empty", { cwd: "" }, `["cwd"]`),
  exec("stdin a number", { stdin: 5 }, `["stdin"]`),
  // paths
  path("empty path", "", "path must not be empty"),
  path("NUL in a path", "/data/a\u0000b", "NUL"),
  path("path over 4096 characters", "/" + "x".repeat(4096), "at most 4096"),
  // sandbox ids
  id("sandbox id ../x", "../x", "sandbox ids"),
  id("sandbox id with a slash", "a/b", "sandbox ids"),
  id("empty sandbox id", "", "sandbox ids"),
  id("sandbox id of 129 characters", "a".repeat(129), "sandbox ids"),
  // findOrCreate, runCode, reap
  find("findOrCreate without name or labels", {}, "needs a name or at least one label"),
  find("findOrCreate with empty labels", { labels: {} }, "needs a name or at least one label"),
  find("findOrCreate with a bad name", { name: "bad name" }, `["name"]`),
  bad(RunCodeOptions, "runCode options")("runCode language upper-case", { language: "Python" }, `["language"]`),
  bad(RunCodeOptions, "runCode options")("runCode empty context", { context: "" }, `["context"]`),
  reap("reap dryRun not a boolean", { dryRun: "yes" }, `["dryRun"]`),
  bad(ListFilter, "list filter")("list unknown state", { state: "exploded" }, `["state"]`)
]

describe("invalid input fails with InvalidRequest naming the field", () => {
  it("the battery is large enough", () => {
    assert.isAtLeast(badCases.length, 25)
  })

  for (const c of badCases) {
    it.effect(c.name, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(decodeInput(c.schema, provider, c.what)(c.input, "sb-7"))
        const error = failureOf(exit)
        assert.instanceOf(error, InvalidRequest)
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.strictEqual(error.provider, provider)
        assert.strictEqual(error.sandboxId, "sb-7")
        assert.strictEqual(error.field, c.what)
        assert.isTrue(error.message.startsWith(`invalid ${c.what}: `), error.message)
        for (const m of c.mentions) assert.include(error.message, m)
        assert.isTrue(Schema.isSchemaError(error.cause), "the SchemaError is kept as the cause")
      }))
  }
})

describe("records with checked keys (recordOf)", () => {
  it("Schema.Record with a refined key schema silently drops bad keys (why core does not use it)", () => {
    const naive = Schema.decodeUnknownSync(Schema.Record(EnvName, Schema.String))({ "A=B": "x", OK: "y" })
    assert.deepStrictEqual(naive, { OK: "y" })
    const naiveLabels = Schema.decodeUnknownSync(Schema.Record(LabelKey, Schema.String))({ "-bad": "x" })
    assert.deepStrictEqual(naiveLabels, {})
  })

  it.effect("a bad env key is an error, not a dropped variable", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(decodeSpec({ env: { GOOD: "1", "BAD=KEY": "2" } }))
      assert.isTrue(Exit.isFailure(exit), "must not decode to { GOOD: \"1\" }")
      assert.include(failureOf(exit).message, `"BAD=KEY"`)
    }))

  it.effect("a bad env key in exec and spawn options is an error too", () =>
    Effect.gen(function*() {
      for (const schema of [ExecOptions, SpawnOptions]) {
        const exit = yield* Effect.exit(decodeInput(schema, provider, "options")({ env: { "9LIVES": "x" } }))
        assert.include(failureOf(exit).message, `"9LIVES"`)
      }
    }))

  it.effect("a bad label key is an error, not a dropped label (spec, list, reap, findOrCreate)", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Schema.Decoder<unknown>, unknown]> = [
        [SandboxSpec, { labels: { ok: "1", "bad key": "2" } }],
        [ListFilter, { labels: { "bad key": "2" } }],
        [ReapOptions, { labels: { "bad key": "2" } }],
        [FindOrCreateOptions, { labels: { "bad key": "2" } }]
      ]
      for (const [schema, input] of cases) {
        const exit = yield* Effect.exit(decodeInput(schema, provider, "input")(input))
        assert.include(failureOf(exit).message, `"bad key"`)
      }
    }))

  it.effect("good keys and values come through intact", () =>
    Effect.gen(function*() {
      const decoded = yield* decodeSpec({ env: { A: "1", _B: "x=y" }, labels: { "a.b/c-d": "v" } })
      assert.deepStrictEqual(decoded.env, { A: "1", _B: "x=y" })
      assert.deepStrictEqual(decoded.labels, { "a.b/c-d": "v" })
    }))
})

describe("decodeInput", () => {
  it.effect("omits sandboxId when none is given", () =>
    Effect.gen(function*() {
      const error = failureOf(yield* Effect.exit(decodeSpec({ size: "huge" })))
      assert.isUndefined(error.sandboxId)
      assert.strictEqual(error.field, "spec")
    }))

  it.effect("runs synchronously, without any service", () =>
    Effect.sync(() => {
      const exit = Effect.runSyncExit(decodeSpec({ resources: { cpu: 0 } }))
      assert.isTrue(Exit.isFailure(exit))
    }))
})

describe("unknown options", () => {
  it.effect("a misspelt option is an error, not silently dropped (spec, exec options, nested)", () =>
    Effect.gen(function*() {
      for (
        const [schema, what, input, key] of [
          [SandboxSpec, "spec", { imgae: "python:3.12" }, "imgae"],
          [SandboxSpec, "spec", { lifetime: { maxLifeTime: 5 } }, "maxLifeTime"],
          [ExecOptions, "exec options", { timeOut: 5 }, "timeOut"]
        ] as const
      ) {
        const exit = yield* Effect.exit(decodeInput(schema, provider, what)(input))
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.include(error.message, key)
      }
    }))
})
