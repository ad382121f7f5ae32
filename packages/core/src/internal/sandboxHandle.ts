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
  Command,
  decodeInput,
  ExecOptions,
  Port,
  PositiveDuration,
  RunCodeOptions,
  SandboxPath,
  SpawnOptions
} from "../SandboxSpec.ts"
import { withTransientRetry } from "../Retry.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const toBytes = (data: string | Uint8Array): Uint8Array => typeof data === "string" ? encoder.encode(data) : data

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

  const files = (): Effect.Effect<DriverFiles, Unsupported> => need("files", driver.files)
  const withPath = <A>(path: string, f: (files: DriverFiles, path: string) => Effect.Effect<A, SandboxError>) =>
    Effect.flatMap(decodePath(path), (p) => Effect.flatMap(files(), (fs) => withTransientRetry(f(fs, p))))

  const badTransferPath = (path: string) =>
    new InvalidRequest({
      provider,
      sandboxId: id,
      field: "path",
      message: `invalid upload path ${JSON.stringify(path)}: must be relative, without '..' or empty segments`
    })

  const joinPath = (directory: string, relative: string) => directory.replace(/\/+$/, "") + "/" + relative

  /** Fallback download: walk the tree with `list`, read each regular file (each call retried like any file read). */
  const walk = (fs: DriverFiles, root: string, prefix: string): Stream.Stream<FileData, SandboxError> =>
    Stream.unwrap(
      Effect.map(withTransientRetry(fs.list(prefix === "" ? root : joinPath(root, prefix))), (entries) =>
        Stream.fromIterable(entries).pipe(
          Stream.flatMap((entry: FileEntry) => {
            const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`
            if (entry.type === "directory") return walk(fs, root, relative)
            if (entry.type !== "file") return Stream.empty
            return Stream.fromEffect(
              Effect.map(withTransientRetry(fs.read(joinPath(root, relative))), (data) => ({ path: relative, data }))
            )
          })
        ))
    )

  const sandboxFiles: SandboxFiles = {
    read: (path) => withPath(path, (fs, p) => fs.read(p)),
    readText: (path) => withPath(path, (fs, p) => Effect.map(fs.read(p), (bytes) => decoder.decode(bytes))),
    write: (path, data) => withPath(path, (fs, p) => fs.write(p, toBytes(data))),
    list: (path) => withPath(path, (fs, p) => fs.list(p)),
    mkdir: (path) => withPath(path, (fs, p) => fs.mkdir(p)),
    remove: (path) => withPath(path, (fs, p) => fs.remove(p)),
    stat: (path) => withPath(path, (fs, p) => fs.stat(p)),
    exists: (path) =>
      withPath(path, (fs, p) =>
        fs.stat(p).pipe(
          Effect.as(true),
          Effect.catchTag("FileNotFound", () => Effect.succeed(false))
        )),
    upload: (directory, input) =>
      Effect.gen(function*() {
        const dir = yield* decodePath(directory)
        const fs = yield* need("bulkTransfer", driver.files)
        const source: Stream.Stream<FileData, SandboxError> = Stream.isStream(input)
          ? input as Stream.Stream<FileData, SandboxError>
          : Stream.fromIterable(input as Iterable<FileData>)
        const checked = source.pipe(
          Stream.mapEffect((file) => isSafeRelativePath(file.path) ? Effect.succeed(file) : Effect.fail(badTransferPath(file.path)))
        )
        if (fs.upload !== undefined) return yield* fs.upload(dir, checked)
        return yield* checked.pipe(
          Stream.mapEffect((file) => withTransientRetry(fs.write(joinPath(dir, file.path), file.data))),
          Stream.runFold(() => 0, (n) => n + 1)
        )
      }),
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
    refresh: withTransientRetry(driver.refresh),
    exec: (command, options = {}) =>
      Effect.gen(function*() {
        const cmd = yield* decodeCommand(command)
        const opts = yield* decodeExec(options)
        return yield* withTransientRetry(driver.exec(cmd, opts), { idempotent: false })
      }).pipe(Effect.withSpan("Sandbox.exec", { attributes: { "sandkit.provider": provider, "sandkit.sandbox": id } })),
    execStream: (command, options = {}) =>
      Stream.unwrap(Effect.gen(function*() {
        const cmd = yield* decodeCommand(command)
        const opts = yield* decodeExec(options)
        const run = yield* need("execStream", driver.execStream)
        return run(cmd, opts)
      })),
    spawn: (command, options = {}) =>
      Effect.gen(function*() {
        const cmd = yield* decodeCommand(command)
        const opts = yield* decodeSpawn(options)
        const run = yield* need("spawn", driver.spawn)
        return yield* run(cmd, opts)
      }),
    files: sandboxFiles,
    exposePort: (port) =>
      Effect.gen(function*() {
        const p = yield* decodePort(port)
        const expose = yield* need("exposePort", driver.exposePort)
        return yield* withTransientRetry(expose(p))
      }),
    runCode: (code, options = {}) =>
      Effect.gen(function*() {
        const opts = yield* decodeRunCode(options)
        const run = yield* need("runCode", driver.runCode)
        if (typeof code !== "string" || code.includes("\u0000")) {
          return yield* new InvalidRequest({ provider, sandboxId: id, field: "code", message: "code must be a string without NUL bytes" })
        }
        const language = opts.language ?? capabilities.runCode[0]!
        if (!capabilities.runCode.includes(language)) return yield* unsupported(`runCode:${language}`)
        return yield* withTransientRetry(run(code, { ...opts, language }), { idempotent: false })
      }),
    setTimeout: (duration) =>
      Effect.gen(function*() {
        const d = yield* decodeDuration(duration)
        const set = yield* need("setTimeout", driver.setTimeout)
        return yield* withTransientRetry(set(Duration.fromInputUnsafe(d)))
      }),
    pause: Effect.flatMap(need("pause", driver.pause), (pause) => withTransientRetry(pause)),
    resume: Effect.flatMap(need("pause", driver.resume), (resume) => withTransientRetry(resume)),
    destroy: destroy(id)
  }
}
