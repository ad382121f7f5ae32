/**
 * Wraps a driver's sandbox into the public `Sandbox`: input validation, capability checks, text helpers and the
 * bulk-transfer fallbacks live here once, for every provider.
 */
import { Duration, Effect, Stream } from "effect"
import { hasCapability, type Capabilities, type OptionalCapability } from "../Capabilities.ts"
import type { DriverFiles, DriverSandbox } from "../SandboxDriver.ts"
import type { FileData, FileEntry, Sandbox, SandboxFiles } from "../Sandbox.ts"
import { InvalidRequest, Unsupported, type SandboxError } from "../SandboxError.ts"
import {
  Code,
  Command,
  decodeInput,
  ExecOptions,
  Port,
  PositiveDuration,
  RunCodeOptions,
  SandboxPath,
  SpawnOptions
} from "../SandboxSpec.ts"
import { instrument } from "../Observability.ts"
import { withTransientRetry } from "../Retry.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const toBytes = (data: string | Uint8Array): Uint8Array => typeof data === "string" ? encoder.encode(data) : data

const isFileContent = (data: unknown): data is string | Uint8Array => typeof data === "string" || data instanceof Uint8Array
const isIterable = (u: unknown): u is Iterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function"

/** A relative, `/`-separated path that stays inside the directory it is relative to. */
const isSafeRelativePath = (path: string): boolean =>
  path.length > 0 && !path.includes("\u0000") && !path.startsWith("/") &&
  path.split("/").every((part) => part !== ".." && part !== "")

export const wrapSandbox = (
  provider: string,
  capabilities: Capabilities,
  driver: DriverSandbox,
  destroy: (id: string) => Effect.Effect<void, SandboxError>
): Sandbox => {
  const id = driver.info.id
  const decode = <S extends Parameters<typeof decodeInput>[0]>(schema: S, what: string) => {
    const run = decodeInput(schema, provider, what)
    return (input: unknown) => run(input, id)
  }
  const unsupported = (capability: string) =>
    new Unsupported({
      provider,
      sandboxId: id,
      capability,
      message: `${provider} does not support ${capability}`
    })
  /** The driver's implementation of a capability, or `Unsupported` when it is not declared or not implemented. */
  const need = <A>(capability: OptionalCapability, impl: A | undefined): Effect.Effect<A, Unsupported> =>
    hasCapability(capabilities, capability) && impl !== undefined ? Effect.succeed(impl) : Effect.fail(unsupported(capability))

  const decodeCommand = decode(Command, "command")
  const decodeExec = decode(ExecOptions, "exec options")
  const decodeSpawn = decode(SpawnOptions, "spawn options")
  const decodePath = decode(SandboxPath, "path")
  const decodePort = decode(Port, "port")
  const decodeDuration = decode(PositiveDuration, "duration")
  const decodeRunCode = decode(RunCodeOptions, "runCode options")
  const decodeCode = decode(Code, "code")

  /** Retried per the `transient` schedule, retries counted under `operation`. */
  const retried = <A>(operation: string, effect: Effect.Effect<A, SandboxError>, idempotent = true) =>
    withTransientRetry(effect, { idempotent, context: { provider, operation, sandboxId: id } })
  /** A public operation: a span, a latency sample and, on failure, a failure count. */
  const op = <A>(operation: string, effect: Effect.Effect<A, SandboxError>) =>
    instrument({ provider, operation, sandboxId: id }, effect)

  const files = (): Effect.Effect<DriverFiles, Unsupported> => need("files", driver.files)
  const withPath = <A>(operation: string, path: string, f: (files: DriverFiles, path: string) => Effect.Effect<A, SandboxError>) =>
    op(operation, Effect.flatMap(decodePath(path), (p) => Effect.flatMap(files(), (fs) => retried(operation, f(fs, p)))))

  const badInput = (field: string, message: string) => new InvalidRequest({ provider, sandboxId: id, field, message })
  const badTransferPath = (path: string) =>
    badInput("path", `invalid upload path ${JSON.stringify(path)}: must be relative, without '..' or empty segments`)
  /** One file of an upload, checked before it is written. */
  const checkTransferFile = (file: unknown): Effect.Effect<FileData, InvalidRequest> => {
    if (typeof file !== "object" || file === null) return Effect.fail(badInput("files", "each file to upload must be { path, data }"))
    const { path, data } = file as { readonly path?: unknown; readonly data?: unknown }
    if (typeof path !== "string" || !isSafeRelativePath(path)) return Effect.fail(badTransferPath(String(path)))
    if (!(data instanceof Uint8Array)) return Effect.fail(badInput("files", `file ${JSON.stringify(path)}: data must be bytes (Uint8Array)`))
    return Effect.succeed({ path, data })
  }

  const joinPath = (directory: string, relative: string) => directory.replace(/\/+$/, "") + "/" + relative

  /** Fallback download: walk the tree with `list`, read each regular file (each call retried like any file read). */
  const walk = (fs: DriverFiles, root: string, prefix: string): Stream.Stream<FileData, SandboxError> =>
    Stream.unwrap(
      Effect.map(retried("files.download", fs.list(prefix === "" ? root : joinPath(root, prefix))), (entries) =>
        Stream.fromIterable(entries).pipe(
          Stream.flatMap((entry: FileEntry) => {
            const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`
            if (entry.type === "directory") return walk(fs, root, relative)
            if (entry.type !== "file") return Stream.empty
            return Stream.fromEffect(
              Effect.map(retried("files.download", fs.read(joinPath(root, relative))), (data) => ({ path: relative, data }))
            )
          })
        ))
    )

  const sandboxFiles: SandboxFiles = {
    read: (path) => withPath("files.read", path, (fs, p) => fs.read(p)),
    readText: (path) => withPath("files.readText", path, (fs, p) => Effect.map(fs.read(p), (bytes) => decoder.decode(bytes))),
    write: (path, data) =>
      withPath("files.write", path, (fs, p) =>
        isFileContent(data) ? fs.write(p, toBytes(data)) : Effect.fail(badInput("data", "file data must be a string or bytes (Uint8Array)"))),
    list: (path) => withPath("files.list", path, (fs, p) => fs.list(p)),
    mkdir: (path) => withPath("files.mkdir", path, (fs, p) => fs.mkdir(p)),
    remove: (path) => withPath("files.remove", path, (fs, p) => fs.remove(p)),
    stat: (path) => withPath("files.stat", path, (fs, p) => fs.stat(p)),
    exists: (path) =>
      withPath("files.exists", path, (fs, p) =>
        fs.stat(p).pipe(
          Effect.as(true),
          Effect.catchTag("FileNotFound", () => Effect.succeed(false))
        )),
    upload: (directory, input) =>
      op("files.upload", Effect.gen(function*() {
        const dir = yield* decodePath(directory)
        const fs = yield* need("bulkTransfer", driver.files)
        if (!Stream.isStream(input) && !isIterable(input)) {
          return yield* badInput("files", "files to upload must be an iterable or a Stream of { path, data }")
        }
        // An array is already in memory: check it whole, so a bad entry stops the upload before anything is sent.
        // Iterables and streams are checked as they are consumed (they may be too large to hold).
        if (Array.isArray(input)) yield* Effect.forEach(input, checkTransferFile, { discard: true })
        const source: Stream.Stream<unknown, SandboxError> = Stream.isStream(input)
          ? input as Stream.Stream<unknown, SandboxError>
          : Stream.fromIterable(input as Iterable<unknown>)
        const checked = source.pipe(Stream.mapEffect(checkTransferFile))
        if (fs.upload !== undefined) return yield* fs.upload(dir, checked)
        return yield* checked.pipe(
          Stream.mapEffect((file) => retried("files.upload", fs.write(joinPath(dir, file.path), file.data))),
          Stream.runFold(() => 0, (n) => n + 1)
        )
      })),
    download: (directory) =>
      Stream.unwrap(Effect.gen(function*() {
        const dir = yield* decodePath(directory)
        const fs = yield* need("bulkTransfer", driver.files)
        return fs.download !== undefined ? fs.download(dir) : walk(fs, dir, "")
      }))
  }

  return {
    id,
    provider,
    capabilities,
    info: driver.info,
    refresh: op("refresh", retried("refresh", driver.refresh)),
    exec: (command, options = {}) =>
      op("exec", Effect.gen(function*() {
        const cmd = yield* decodeCommand(command)
        const opts = yield* decodeExec(options)
        if (opts.stdin !== undefined) yield* need("stdin", true)
        return yield* retried("exec", driver.exec(cmd, opts), false)
      })),
    execStream: (command, options = {}) =>
      Stream.unwrap(Effect.gen(function*() {
        const cmd = yield* decodeCommand(command)
        const opts = yield* decodeExec(options)
        const run = yield* need("execStream", driver.execStream)
        if (opts.stdin !== undefined) yield* need("stdin", true)
        return run(cmd, opts)
      })),
    spawn: (command, options = {}) =>
      instrument({ provider, operation: "spawn", sandboxId: id }, Effect.gen(function*() {
        const cmd = yield* decodeCommand(command)
        const opts = yield* decodeSpawn(options)
        const run = yield* need("spawn", driver.spawn)
        const process = yield* run(cmd, opts)
        if (hasCapability(capabilities, "stdin")) return process
        // Standard input is a capability of its own: without it, writing is Unsupported rather than silently lost.
        return { ...process, write: () => Effect.fail(unsupported("stdin")), closeStdin: Effect.fail(unsupported("stdin")) }
      })),
    files: sandboxFiles,
    exposePort: (port) =>
      op("exposePort", Effect.gen(function*() {
        const p = yield* decodePort(port)
        const expose = yield* need("exposePort", driver.exposePort)
        return yield* retried("exposePort", expose(p))
      })),
    runCode: (code, options = {}) =>
      op("runCode", Effect.gen(function*() {
        const opts = yield* decodeRunCode(options)
        const run = yield* need("runCode", driver.runCode)
        yield* decodeCode(code)
        const language = opts.language ?? capabilities.runCode[0]!
        if (!capabilities.runCode.includes(language)) return yield* unsupported(`runCode:${language}`)
        return yield* retried("runCode", run(code, { ...opts, language }), false)
      })),
    setTimeout: (duration) =>
      op("setTimeout", Effect.gen(function*() {
        const d = yield* decodeDuration(duration)
        const set = yield* need("setTimeout", driver.setTimeout)
        return yield* retried("setTimeout", set(Duration.fromInputUnsafe(d)))
      })),
    pause: op("pause", Effect.flatMap(need("pause", driver.pause), (pause) => retried("pause", pause))),
    resume: op("resume", Effect.flatMap(need("pause", driver.resume), (resume) => retried("resume", resume))),
    // Not retried on a reset connection: a second snapshot would be a second copy.
    snapshot: op("snapshot", Effect.flatMap(need("snapshot", driver.snapshot), (snapshot) => retried("snapshot", snapshot, false))),
    destroy: destroy(id)
  }
}
