/**
 * Bad input fails with `InvalidRequest` before anything is created or run.
 */
import { Effect, Stream } from "effect"
import { hasCapability, type SandboxSpecInput } from "@sandkit/core"
import { assertEqual, assertExcludes, expectFailure } from "../Assert.ts"
import { makeCheck, type CheckContext, type ConformanceCheck } from "../Check.ts"
import { bytes, ok } from "../internal/helpers.ts"

/** Input the types forbid; the checks pass it anyway, as untyped callers (JSON, agents) will. */
const untyped = <A>(value: unknown): A => value as A

const invalid = (ctx: CheckContext, what: string, effect: Effect.Effect<unknown, unknown, never>) =>
  Effect.flatMap(expectFailure(effect, "InvalidRequest", what), (error) =>
    assertEqual((error as { readonly provider?: unknown }).provider, ctx.provider.name, `${what}: InvalidRequest.provider`))

const specs: ReadonlyArray<readonly [string, unknown]> = [
  ["unknown size", { size: "huge" }],
  ["size and resources together", { size: "small", resources: { cpu: 1 } }],
  ["image and template together", { image: "ubuntu:24.04", template: "base" }],
  ["image with a space", { image: "ubuntu 24.04" }],
  ["label value of 64 characters", { labels: { note: "x".repeat(64) } }],
  ["label value with a space", { labels: { note: "a b" } }],
  ["reserved sandkit. label key", { labels: { "sandkit.owner": "me" } }],
  ["label key with a space", { labels: { "bad key": "x" } }],
  ["'=' in a spec env name", { env: { "A=B": "x" } }],
  ["spec env name starting with a digit", { env: { "1A": "x" } }],
  ["NUL in a spec env value", { env: { A: "a\u0000b" } }],
  ["empty spec cwd", { cwd: "" }],
  ["NUL in spec cwd", { cwd: "a\u0000b" }],
  ["negative maxLifetime", { lifetime: { maxLifetime: -1 } }],
  ["NaN idleTimeout", { lifetime: { idleTimeout: Number.NaN } }],
  ["cpu out of range", { resources: { cpu: 0 } }],
  ["fractional memoryMiB", { resources: { memoryMiB: 512.5 } }],
  ["sandbox name with a space", { name: "bad name" }],
  ["unknown isolation", { isolation: "paranoid" }],
  ["misspelt key (imgae)", { imgae: "ubuntu:24.04" }]
]

const providerInputs = makeCheck("validation: bad specs, ids and filters fail with InvalidRequest, nothing created", (ctx) =>
  Effect.gen(function*() {
    const labels = ctx.moreLabels()
    const withLabels = (spec: unknown): SandboxSpecInput => {
      const s = spec as SandboxSpecInput
      return untyped({ ...s, labels: { ...s.labels, ...labels } })
    }
    for (const [what, spec] of specs) {
      yield* invalid(ctx, `create: ${what}`, Effect.scoped(ctx.provider.create(withLabels(spec))))
    }
    yield* invalid(ctx, "createDetached: unknown size", ctx.provider.createDetached(withLabels({ size: "huge" })))
    yield* invalid(ctx, "findOrCreate without name or labels", Effect.scoped(ctx.provider.findOrCreate({ spec: withLabels({}) })))
    yield* invalid(
      ctx,
      "findOrCreate with a bad spec",
      Effect.scoped(ctx.provider.findOrCreate({ name: ctx.unique("bad-spec"), spec: withLabels({ size: "huge" }) }))
    )
    yield* invalid(ctx, "findOrCreate with a bad name", Effect.scoped(ctx.provider.findOrCreate({ name: "../x", spec: withLabels({}) })))
    yield* invalid(ctx, "connect(\"../x\")", ctx.provider.connect("../x"))
    yield* invalid(ctx, "connect(\"\")", ctx.provider.connect(""))
    yield* invalid(ctx, "connect with a NUL", ctx.provider.connect("a\u0000b"))
    yield* invalid(ctx, "destroy(\"../x\")", ctx.provider.destroy("../x"))
    yield* invalid(ctx, "list with a bad label key", ctx.provider.list({ labels: { "bad key": "x" } }))
    yield* invalid(ctx, "list with an unknown state", ctx.provider.list(untyped({ state: "exploded" })))
    yield* invalid(ctx, "reap with a negative olderThan", ctx.provider.reap({ olderThan: -5 }))
    const created = yield* ctx.provider.list({ labels })
    yield* assertEqual(created.length, 0, `sandboxes created by invalid requests: ${created.map((i) => i.id).join(", ")}`)
  }))

const sandboxInputs = makeCheck("validation: bad commands, options, paths and ports fail with InvalidRequest, nothing run", (ctx) =>
  Effect.gen(function*() {
    const sandbox = yield* ctx.sandbox()
    const exec = (what: string, command: unknown, options?: unknown) =>
      invalid(ctx, `exec: ${what}`, sandbox.exec(untyped(command), untyped(options)))
    yield* exec("empty command", "")
    yield* exec("whitespace command", "  \t\n ")
    yield* exec("empty argv", [])
    yield* exec("argv with an empty program", ["", "invalid-empty-program"])
    yield* exec("NUL in the command", "touch invalid-nul\u0000")
    yield* exec("NUL in an argument", ["touch", "invalid-nularg\u0000"])
    yield* exec("a number as the command", 42)
    yield* exec("negative timeout", "touch invalid-neg", { timeout: -1 })
    yield* exec("zero timeout", "touch invalid-zero", { timeout: 0 })
    yield* exec("NaN timeout", "touch invalid-nan", { timeout: Number.NaN })
    yield* exec("Infinity timeout", "touch invalid-inf", { timeout: Number.POSITIVE_INFINITY })
    yield* exec("unparseable timeout", "touch invalid-soon", { timeout: "soon" })
    yield* exec("'=' in an env name", "touch invalid-eq", { env: { "A=B": "x" } })
    yield* exec("env name starting with a digit", "touch invalid-digit", { env: { "1A": "x" } })
    yield* exec("NUL in an env value", "touch invalid-envnul", { env: { A: "x\u0000" } })
    yield* exec("empty cwd", "touch invalid-cwd", { cwd: "" })
    yield* exec("NUL in cwd", "touch invalid-cwdnul", { cwd: "a\u0000b" })
    yield* exec("zero maxOutputBytes", "touch invalid-max", { maxOutputBytes: 0 })
    yield* exec("misspelt option (timout)", "touch invalid-typo", { timout: 100 })
    yield* invalid(ctx, "execStream: empty command", Stream.runDrain(sandbox.execStream("")))
    yield* invalid(ctx, "execStream: negative timeout", Stream.runDrain(sandbox.execStream("touch invalid-stream", { timeout: -1 })))
    yield* invalid(ctx, "spawn: empty command", Effect.scoped(sandbox.spawn("")))
    yield* invalid(ctx, "spawn: '=' in an env name", Effect.scoped(sandbox.spawn("touch invalid-spawn", { env: { "A=B": "x" } })))
    yield* invalid(ctx, "files.write: NUL in the path", sandbox.files.write("invalid-\u0000", "x"))
    yield* invalid(ctx, "files.read: empty path", sandbox.files.read(""))
    yield* invalid(ctx, "files.exists: NUL in the path", sandbox.files.exists("a\u0000b"))
    yield* invalid(ctx, "files.mkdir: empty path", sandbox.files.mkdir(""))
    yield* invalid(ctx, "files.remove: empty path", sandbox.files.remove(""))
    yield* invalid(ctx, "files.upload: empty directory", sandbox.files.upload("", []))
    yield* invalid(ctx, "files.download: empty directory", Stream.runDrain(sandbox.files.download("")))
    if (hasCapability(ctx.capabilities, "bulkTransfer")) {
      yield* invalid(
        ctx,
        "files.upload: a path escaping the directory",
        sandbox.files.upload("upload-dir", [{ path: "../invalid-escape.txt", data: bytes("x") }])
      )
      yield* invalid(
        ctx,
        "files.upload: an absolute path",
        sandbox.files.upload("upload-dir", [{ path: "/tmp/invalid-absolute.txt", data: bytes("x") }])
      )
    }
    yield* invalid(ctx, "exposePort(0)", sandbox.exposePort(0))
    yield* invalid(ctx, "exposePort(70000)", sandbox.exposePort(70000))
    yield* invalid(ctx, "exposePort(1.5)", sandbox.exposePort(1.5))
    yield* invalid(ctx, "exposePort(NaN)", sandbox.exposePort(Number.NaN))
    yield* invalid(ctx, "setTimeout(0)", sandbox.setTimeout(0))
    yield* invalid(ctx, "setTimeout(-1000)", sandbox.setTimeout(-1000))
    yield* invalid(ctx, "runCode with a malformed language", sandbox.runCode("1", { language: "Not A Language!" }))
    const left = yield* ok(sandbox, "ls -A")
    yield* assertExcludes(left.stdout, "invalid-", "files created by commands that should have been rejected")
  }))

export const invalidChecks: ReadonlyArray<ConformanceCheck> = [providerInputs, sandboxInputs]
