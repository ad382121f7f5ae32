/**
 * The bad-input battery: malformed input over the whole public API, each with the error it must produce. The
 * conformance suite's `invalid` checks already cover the common cases (empty commands, NUL bytes, zero / negative /
 * NaN timeouts, `=` in env names, ports 0 and 70000, …); this table goes past them: wrong types everywhere, nested
 * unknown keys, limits (lengths, counts, sizes, huge durations), lone surrogates, reserved labels through every entry
 * point, snapshot refs, bulk transfers, runCode, and the operations the conformance checks do not reach.
 *
 * Every input is passed untyped, as a JSON or agent caller would.
 */
import type { Capabilities, Sandbox, SandboxError, SandboxProviderShape } from "@sandkit/core"
import { hasCapability, type OptionalCapability } from "@sandkit/core"
import { type Effect, Stream } from "effect"
import type * as Scope from "effect/Scope"

/** Input the types forbid, passed anyway. */
const untyped = <A>(value: unknown): A => value as A

export type Expected =
  | { readonly tag: "InvalidRequest"; readonly field: string; readonly mentions: string }
  | { readonly tag: "Unsupported"; readonly capability: string }
  | { readonly tag: "PermissionDenied" }

export interface TargetInfo {
  readonly name: string
  readonly capabilities: Capabilities
}

/** The right answer for a target, or `undefined` where the input is not bad there (e.g. a host path on a cloud VM). */
export type Expectation = Expected | ((target: TargetInfo) => Expected | undefined)

export type Area =
  | "spec"
  | "labels"
  | "env"
  | "durations"
  | "resources"
  | "snapshots"
  | "ids"
  | "list/reap"
  | "commands"
  | "paths"
  | "file data"
  | "ports"
  | "runCode"
  | "encodings"

export interface BadInput<Ctx> {
  readonly area: Area
  readonly name: string
  readonly call: (ctx: Ctx) => Effect.Effect<unknown, SandboxError, Scope.Scope>
  readonly expect: Expectation
}

/** `InvalidRequest` whose `field` is `field` and whose message names `mentions` (the key or limit at fault). */
const invalid = (field: string, mentions: string): Expected => ({ tag: "InvalidRequest", field, mentions })
/** `Unsupported { capability }` where the target lacks `capability`, else `otherwise`. */
const unlessCapable = (capability: OptionalCapability, otherwise: Expected): Expectation => (target) =>
  hasCapability(target.capabilities, capability) ? otherwise : { tag: "Unsupported", capability }
/** Only on the local provider, whose files are confined to the workspace; elsewhere the path is the VM's own. */
const localOnly = (expected: Expected): Expectation => (target) => target.name === "local" ? expected : undefined

const LONE_SURROGATE = "bad\uD800input"
const HUGE_MS = 1e300
const bigLabels = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]))

// ---------------------------------------------------------------------------------------------------------------
// Provider-level: create / createDetached / findOrCreate / connect / destroy / list / reap / snapshots
// ---------------------------------------------------------------------------------------------------------------

type P = SandboxProviderShape
const create = (spec: unknown) => (p: P) => p.create(untyped(spec))
const spec = (name: string, input: unknown, expect: Expectation, area: Area = "spec"): BadInput<P> => ({
  area,
  name: `create: ${name}`,
  call: create(input),
  expect
})

export const providerInputs: ReadonlyArray<BadInput<P>> = [
  // spec shape
  spec("spec is a string", "ubuntu:24.04", invalid("spec", "object")),
  spec("spec is null", null, invalid("spec", "Expected object")),
  spec("spec is an array", [{ size: "small" }], invalid("spec", "object")),
  spec("unknown top-level key (timeout)", { timeout: 5000 }, invalid("spec", "timeout")),
  spec("unknown nested key resources.gpu", { resources: { gpu: 1 } }, invalid("spec", "gpu")),
  spec("unknown nested key lifetime.ttl", { lifetime: { ttl: 60_000 } }, invalid("spec", "ttl")),
  spec("unknown nested key network.inbound", { network: { inbound: true } }, invalid("spec", "inbound")),
  spec("env as a string", { env: "A=B" }, invalid("spec", "env")),
  spec("name as a number", { name: 42 }, invalid("spec", "name")),
  spec("name of 64 characters", { name: "n".repeat(64) }, invalid("spec", "name")),
  spec("network.outbound as a string", { network: { outbound: "yes" } }, invalid("spec", "outbound")),
  spec("unknown size XL", { size: "XL" }, invalid("spec", "size")),
  spec("empty image", { image: "" }, invalid("spec", "image")),
  spec("image of 513 characters", { image: "i".repeat(513) }, invalid("spec", "image")),
  spec("template with a NUL", { template: "base\u0000" }, invalid("spec", "template")),
  spec("requires an unknown capability", { requires: ["teleport"] }, invalid("spec", "requires")),
  spec("requires as a string", { requires: "files" }, invalid("spec", "requires")),
  spec("cwd of 4097 characters", { cwd: "c".repeat(4097) }, invalid("spec", "cwd")),
  spec("cwd as a number", { cwd: 7 }, invalid("spec", "cwd")),
  spec("cwd escaping the workspace", { cwd: "../.." }, localOnly({ tag: "PermissionDenied" }), "paths"),
  // labels
  spec("labels as an array", { labels: ["a"] }, invalid("spec", "labels"), "labels"),
  spec("empty label key", { labels: { "": "x" } }, invalid("spec", "labels"), "labels"),
  spec("label key of 64 characters", { labels: { ["k".repeat(64)]: "x" } }, invalid("spec", "labels"), "labels"),
  spec("reserved sandkit.run label key", { labels: { "sandkit.run": "r000000000000" } }, invalid("spec", "sandkit."), "labels"),
  spec("label value a number", { labels: { team: 1 } }, invalid("spec", "team"), "labels"),
  spec("33 labels", { labels: bigLabels }, invalid("spec", "32 labels"), "labels"),
  // env
  spec("empty env name", { env: { "": "x" } }, invalid("spec", "environment variable names"), "env"),
  spec("env name with a dash", { env: { "A-B": "x" } }, invalid("spec", "A-B"), "env"),
  spec("env value a number", { env: { A: 1 } }, invalid("spec", "env"), "env"),
  spec("env value over 128 KiB", { env: { A: "v".repeat(131073) } }, invalid("spec", "128 KiB"), "env"),
  // durations
  spec("maxLifetime \"soon\"", { lifetime: { maxLifetime: "soon" } }, invalid("spec", "maxLifetime"), "durations"),
  spec("maxLifetime \"-5 minutes\"", { lifetime: { maxLifetime: "-5 minutes" } }, invalid("spec", "maxLifetime"), "durations"),
  spec("maxLifetime 1e300 ms", { lifetime: { maxLifetime: HUGE_MS } }, invalid("spec", "maxLifetime"), "durations"),
  spec("maxLifetime as an object", { lifetime: { maxLifetime: { minutes: 5 } } }, invalid("spec", "maxLifetime"), "durations"),
  spec("idleTimeout -Infinity", { lifetime: { idleTimeout: -Infinity } }, invalid("spec", "idleTimeout"), "durations"),
  // resources
  spec("cpu NaN", { resources: { cpu: Number.NaN } }, invalid("spec", "cpu"), "resources"),
  spec("cpu 1000", { resources: { cpu: 1000 } }, invalid("spec", "cpu"), "resources"),
  spec("memoryMiB 32", { resources: { memoryMiB: 32 } }, invalid("spec", "memoryMiB"), "resources"),
  spec("diskGiB 0", { resources: { diskGiB: 0 } }, invalid("spec", "diskGiB"), "resources"),
  spec("diskGiB as a string", { resources: { diskGiB: "10" } }, invalid("spec", "diskGiB"), "resources"),
  // snapshots in the spec
  spec("from as a string", { from: "snap-1" }, invalid("spec", "from"), "snapshots"),
  spec("from with a path-like id", { from: { provider: "local", id: "../snap" } }, invalid("spec", "snapshot ids"), "snapshots"),
  spec("from without an id", { from: { provider: "local" } }, invalid("spec", "id"), "snapshots"),
  spec(
    "from another provider's snapshot",
    { from: { provider: "elsewhere", id: "snap-1" } },
    unlessCapable("snapshot", invalid("from", "elsewhere")),
    "snapshots"
  ),
  // the other entry points
  {
    area: "spec",
    name: "createDetached: huge idleTimeout",
    call: (p) => p.createDetached(untyped({ lifetime: { idleTimeout: HUGE_MS } })),
    expect: invalid("spec", "idleTimeout")
  },
  {
    area: "labels",
    name: "findOrCreate: reserved sandkit.owner label",
    call: (p) => p.findOrCreate(untyped({ labels: { "sandkit.owner": "someone-else" } })),
    expect: invalid("findOrCreate options", "sandkit.")
  },
  {
    area: "spec",
    name: "findOrCreate: misspelt option (nmae)",
    call: (p) => p.findOrCreate(untyped({ nmae: "x" })),
    expect: invalid("findOrCreate options", "nmae")
  },
  {
    area: "spec",
    name: "findOrCreate: name of 64 characters",
    call: (p) => p.findOrCreate({ name: "n".repeat(64) }),
    expect: invalid("findOrCreate options", "name")
  },
  {
    area: "labels",
    name: "findOrCreate: label value with a space",
    call: (p) => p.findOrCreate({ labels: { team: "a b" } }),
    expect: invalid("findOrCreate options", "team")
  },
  // ids
  { area: "ids", name: "connect: id of 129 characters", call: (p) => p.connect("i".repeat(129)), expect: invalid("sandbox id", "sandbox ids") },
  { area: "ids", name: "connect: a number", call: (p) => p.connect(untyped(42)), expect: invalid("sandbox id", "string") },
  { area: "ids", name: "connect: null", call: (p) => p.connect(untyped(null)), expect: invalid("sandbox id", "string") },
  { area: "ids", name: "connect: id with a space", call: (p) => p.connect("a b"), expect: invalid("sandbox id", "sandbox ids") },
  { area: "ids", name: "connect: id with a slash", call: (p) => p.connect("sbx/../other"), expect: invalid("sandbox id", "sandbox ids") },
  { area: "ids", name: "destroy: empty id", call: (p) => p.destroy(""), expect: invalid("sandbox id", "sandbox ids") },
  { area: "ids", name: "destroy: undefined", call: (p) => p.destroy(untyped(undefined)), expect: invalid("sandbox id", "string") },
  { area: "encodings", name: "connect: lone surrogate in the id", call: (p) => p.connect(LONE_SURROGATE), expect: invalid("sandbox id", "sandbox ids") },
  // list / reap
  { area: "list/reap", name: "list: label value a number", call: (p) => p.list(untyped({ labels: { team: 1 } })), expect: invalid("list filter", "team") },
  { area: "list/reap", name: "list: empty label key", call: (p) => p.list({ labels: { "": "x" } }), expect: invalid("list filter", "labels") },
  { area: "list/reap", name: "list: null filter", call: (p) => p.list(untyped(null)), expect: invalid("list filter", "Expected object") },
  { area: "list/reap", name: "list: misspelt key (label)", call: (p) => p.list(untyped({ label: { a: "b" } })), expect: invalid("list filter", "label") },
  { area: "list/reap", name: "reap: olderThan \"soon\"", call: (p) => p.reap(untyped({ olderThan: "soon" })), expect: invalid("reap options", "olderThan") },
  { area: "list/reap", name: "reap: olderThan 1e300 ms", call: (p) => p.reap({ olderThan: HUGE_MS }), expect: invalid("reap options", "olderThan") },
  { area: "list/reap", name: "reap: orphaned \"yes\"", call: (p) => p.reap(untyped({ orphaned: "yes" })), expect: invalid("reap options", "orphaned") },
  { area: "list/reap", name: "reap: dryRun 1", call: (p) => p.reap(untyped({ dryRun: 1 })), expect: invalid("reap options", "dryRun") },
  { area: "list/reap", name: "reap: bad label key", call: (p) => p.reap({ labels: { "bad key": "x" } }), expect: invalid("reap options", "labels") },
  { area: "list/reap", name: "reap: misspelt key (olderThn)", call: (p) => p.reap(untyped({ olderThn: 5 })), expect: invalid("reap options", "olderThn") },
  // snapshot refs
  {
    area: "snapshots",
    name: "deleteSnapshot: path-like id",
    call: (p) => p.deleteSnapshot("../snap"),
    expect: unlessCapable("snapshot", invalid("snapshot id", "snapshot"))
  },
  {
    area: "snapshots",
    name: "deleteSnapshot: empty id",
    call: (p) => p.deleteSnapshot(""),
    expect: unlessCapable("snapshot", invalid("snapshot id", "snapshot"))
  },
  {
    area: "snapshots",
    name: "deleteSnapshot: null",
    call: (p) => p.deleteSnapshot(untyped(null)),
    expect: unlessCapable("snapshot", invalid("snapshot id", "snapshot"))
  },
  {
    area: "snapshots",
    name: "deleteSnapshot: a ref whose id is a number",
    call: (p) => p.deleteSnapshot(untyped({ provider: "local", id: 42, createdAt: new Date() })),
    expect: unlessCapable("snapshot", invalid("snapshot id", "snapshot"))
  }
]

// ---------------------------------------------------------------------------------------------------------------
// Sandbox-level: exec / execStream / spawn / files / exposePort / setTimeout / runCode
// ---------------------------------------------------------------------------------------------------------------

type S = Sandbox
/** A command that would leave a trace if it ran: the battery checks afterwards that none of these files exist. */
const trace = (tag: string) => `touch badinput-${tag}`
const exec = (name: string, command: unknown, options: unknown, expect: Expectation, area: Area = "commands"): BadInput<S> => ({
  area,
  name: `exec: ${name}`,
  call: (s) => s.exec(untyped(command), untyped(options)),
  expect
})
const file = (name: string, call: (s: S) => Effect.Effect<unknown, SandboxError, Scope.Scope>, expect: Expectation, area: Area = "paths"): BadInput<S> => ({
  area,
  name,
  call,
  expect
})

export const sandboxInputs: ReadonlyArray<BadInput<S>> = [
  // commands and exec options
  exec("argv with a number", ["touch", 42], undefined, invalid("command", "string")),
  exec("command null", null, undefined, invalid("command", "Expected string")),
  exec("command over 1 MiB", `${trace("big")} ${"x".repeat(1048576)}`, undefined, invalid("command", "1 MiB")),
  exec("options null", trace("optnull"), null, invalid("exec options", "Expected object")),
  exec("options a string", trace("optstr"), "--timeout=5", invalid("exec options", "object")),
  exec("stdin a number", trace("stdin-num"), { stdin: 42 }, invalid("exec options", "stdin")),
  exec("stdin an array of numbers", trace("stdin-arr"), { stdin: [104, 105] }, invalid("exec options", "stdin")),
  exec("env value a number", trace("env-num"), { env: { A: 1 } }, invalid("exec options", "env"), "env"),
  exec("env value over 128 KiB", trace("env-big"), { env: { A: "v".repeat(131073) } }, invalid("exec options", "128 KiB"), "env"),
  exec("env name with a space", trace("env-space"), { env: { "A B": "x" } }, invalid("exec options", "A B"), "env"),
  exec("cwd of 4097 characters", trace("cwd-long"), { cwd: "c".repeat(4097) }, invalid("exec options", "cwd"), "paths"),
  exec("timeout 1e12 ms (31 years)", trace("timeout-huge"), { timeout: 1e12 }, invalid("exec options", "timeout"), "durations"),
  exec("timeout \"-5 seconds\"", trace("timeout-negstr"), { timeout: "-5 seconds" }, invalid("exec options", "timeout"), "durations"),
  exec("timeout as an object", trace("timeout-obj"), { timeout: { seconds: 1 } }, invalid("exec options", "timeout"), "durations"),
  exec("maxOutputBytes 2 GiB", trace("max-big"), { maxOutputBytes: 2 * 1024 ** 3 }, invalid("exec options", "maxOutputBytes")),
  exec("maxOutputBytes 1.5", trace("max-frac"), { maxOutputBytes: 1.5 }, invalid("exec options", "maxOutputBytes")),
  exec("misspelt option (stdinn)", trace("typo"), { stdinn: "x" }, invalid("exec options", "stdinn")),
  exec("lone surrogate in the command", `${trace("surrogate")}-${LONE_SURROGATE}`, undefined, invalid("command", "well-formed"), "encodings"),
  exec("lone surrogate in an env value", trace("env-surrogate"), { env: { A: LONE_SURROGATE } }, invalid("exec options", "well-formed"), "encodings"),
  {
    area: "commands",
    name: "execStream: stdin a number",
    call: (s) => Stream.runDrain(s.execStream(trace("stream-stdin"), untyped({ stdin: 42 }))),
    expect: invalid("exec options", "stdin")
  },
  {
    area: "commands",
    name: "execStream: argv null",
    call: (s) => Stream.runDrain(s.execStream(untyped([null]))),
    expect: invalid("command", "Expected string")
  },
  {
    area: "commands",
    name: "spawn: unsupported option (timeout)",
    call: (s) => s.spawn(trace("spawn-timeout"), untyped({ timeout: 1000 })),
    expect: invalid("spawn options", "timeout")
  },
  {
    area: "paths",
    name: "spawn: cwd with a NUL",
    call: (s) => s.spawn(trace("spawn-cwd"), { cwd: "dir\u0000" }),
    expect: invalid("spawn options", "cwd")
  },
  // paths
  file("files.write: path of 4097 characters", (s) => s.files.write("p".repeat(4097), "x"), invalid("path", "4096")),
  file("files.write: path null", (s) => s.files.write(untyped(null), "x"), invalid("path", "Expected string")),
  file("files.list: path undefined", (s) => s.files.list(untyped(undefined)), invalid("path", "string")),
  file("files.stat: path a number", (s) => s.files.stat(untyped(5)), invalid("path", "string")),
  file("files.readText: NUL in the path", (s) => s.files.readText("a\u0000b"), invalid("path", "NUL")),
  file("files.download: NUL in the directory", (s) => Stream.runDrain(s.files.download("dir\u0000")), invalid("path", "NUL")),
  file("files.read: lone surrogate in the path", (s) => s.files.read(LONE_SURROGATE), invalid("path", "well-formed"), "encodings"),
  file("files.write: lone surrogate in the path", (s) => s.files.write(`badinput-${LONE_SURROGATE}`, "x"), invalid("path", "well-formed"), "encodings"),
  exec("cwd '..' escaping the workspace", trace("cwd-escape"), { cwd: "../.." }, localOnly({ tag: "PermissionDenied" }), "paths"),
  exec("absolute cwd outside the workspace", trace("cwd-abs"), { cwd: "/tmp" }, localOnly({ tag: "PermissionDenied" }), "paths"),
  {
    area: "paths",
    name: "spawn: cwd escaping the workspace",
    call: (s) => s.spawn(trace("spawn-escape"), { cwd: "sub/../../.." }),
    expect: localOnly({ tag: "PermissionDenied" })
  },
  file("files.mkdir: '..' escaping the workspace", (s) => s.files.mkdir("../badinput-mkdir-escape"), localOnly({ tag: "PermissionDenied" })),
  file("files.remove: absolute path outside the workspace", (s) => s.files.remove("/tmp/sandkit-badinput-not-there"), localOnly({ tag: "PermissionDenied" })),
  file("files.read: '..' escaping the workspace", (s) => s.files.read("../../../../../../etc/passwd"), localOnly({ tag: "PermissionDenied" })),
  file("files.write: absolute path outside the workspace", (s) => s.files.write("/etc/badinput-absolute", "x"), localOnly({ tag: "PermissionDenied" })),
  // file data
  file("files.write: data a number", (s) => s.files.write("badinput-num.txt", untyped(42)), invalid("data", "string or bytes"), "file data"),
  file("files.write: data null", (s) => s.files.write("badinput-null.txt", untyped(null)), invalid("data", "string or bytes"), "file data"),
  file("files.write: data an array of numbers", (s) => s.files.write("badinput-arr.txt", untyped([1, 2, 3])), invalid("data", "string or bytes"), "file data"),
  file("files.write: data a plain object", (s) => s.files.write("badinput-obj.txt", untyped({ length: 3 })), invalid("data", "string or bytes"), "file data"),
  file("files.upload: files a number", (s) => s.files.upload("badinput-up", untyped(42)), unlessCapable("bulkTransfer", invalid("files", "iterable")), "file data"),
  file(
    "files.upload: file data a string",
    (s) => s.files.upload("badinput-up", untyped([{ path: "a.txt", data: "text" }])),
    unlessCapable("bulkTransfer", invalid("files", "bytes")),
    "file data"
  ),
  file(
    "files.upload: empty path segment",
    (s) => s.files.upload("badinput-up", [{ path: "a//b.txt", data: new Uint8Array(1) }]),
    unlessCapable("bulkTransfer", invalid("path", "a//b.txt"))
  ),
  file(
    "files.upload: NUL in a file path",
    (s) => s.files.upload("badinput-up", [{ path: "a\u0000.txt", data: new Uint8Array(1) }]),
    unlessCapable("bulkTransfer", invalid("path", "upload path"))
  ),
  file(
    "files.upload: a good file before an escaping one",
    (s) => s.files.upload("badinput-up", [{ path: "ok.txt", data: new Uint8Array(1) }, { path: "../../escape.txt", data: new Uint8Array(1) }]),
    unlessCapable("bulkTransfer", invalid("path", "escape.txt"))
  ),
  // ports
  file("exposePort(-1)", (s) => s.exposePort(-1), invalid("port", "between 1 and 65535"), "ports"),
  file("exposePort(65536)", (s) => s.exposePort(65536), invalid("port", "between 1 and 65535"), "ports"),
  file("exposePort(\"8080\")", (s) => s.exposePort(untyped("8080")), invalid("port", "number"), "ports"),
  file("exposePort(Infinity)", (s) => s.exposePort(Infinity), invalid("port", "port must"), "ports"),
  file("exposePort(null)", (s) => s.exposePort(untyped(null)), invalid("port", "Expected number"), "ports"),
  // setTimeout
  file("setTimeout(NaN)", (s) => s.setTimeout(Number.NaN), invalid("duration", "positive finite duration"), "durations"),
  file("setTimeout(\"soon\")", (s) => s.setTimeout(untyped("soon")), invalid("duration", "positive finite duration"), "durations"),
  file("setTimeout(Infinity)", (s) => s.setTimeout(Infinity), invalid("duration", "positive finite duration"), "durations"),
  file("setTimeout(1e300 ms)", (s) => s.setTimeout(HUGE_MS), invalid("duration", "duration"), "durations"),
  file("setTimeout(null)", (s) => s.setTimeout(untyped(null)), invalid("duration", "positive finite duration"), "durations"),
  // runCode
  file("runCode: unknown language cobol", (s) => s.runCode("DISPLAY 'x'.", { language: "cobol" }), (t) =>
    ({ tag: "Unsupported", capability: t.capabilities.runCode.length === 0 ? "runCode" : "runCode:cobol" }), "runCode"),
  file("runCode: code a number", (s) => s.runCode(untyped(42)), unlessCapable("runCode", invalid("code", "string")), "runCode"),
  file("runCode: NUL in the code", (s) => s.runCode("print(1)\u0000"), unlessCapable("runCode", invalid("code", "NUL")), "runCode"),
  file("runCode: empty context", (s) => s.runCode("print(1)", { context: "" }), invalid("runCode options", "context"), "runCode"),
  file("runCode: negative timeout", (s) => s.runCode("print(1)", { timeout: -1 }), invalid("runCode options", "timeout"), "runCode"),
  file("runCode: misspelt option (lang)", (s) => s.runCode("print(1)", untyped({ lang: "python" })), invalid("runCode options", "lang"), "runCode"),
  file("runCode: lone surrogate in the code", (s) => s.runCode(`print("${LONE_SURROGATE}")`), unlessCapable("runCode", invalid("code", "well-formed")), "encodings")
]
