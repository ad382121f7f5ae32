/**
 * Files. Bytes go through `upload_file` (multipart) and `download_file` (raw), so any byte survives; Runloop has
 * no listing or metadata calls, so `list`, `stat`, `mkdir`, `remove` and the tree walk of a bulk download are one
 * small shell command each (GNU `find`, as in Runloop's Ubuntu images). Relative paths resolve against the workdir.
 */
import type { DriverFiles, FileData, FileEntry, SandboxError } from "@sandkit/core"
import { FileNotFound, ProviderError, joinSandboxPath } from "@sandkit/core"
import { toFile } from "@runloop/api-client"
import { Effect, Stream } from "effect"
import { call, transfer } from "./api.ts"
import { type CommandContext, exec } from "./commands.ts"
import { PROVIDER } from "./errors.ts"
import { quote } from "./spec.ts"

/** Exit statuses of the helper scripts. */
const ENOENT = 44
const ENOTDIR = 45

export interface FilesContext extends CommandContext {
  /** A failure of a file call: a devbox that is gone → `SandboxNotFound`, else a 404 → `FileNotFound(path)`. */
  readonly refineFile: (path: string) => (error: SandboxError) => Effect.Effect<never, SandboxError>
}

const typeOf = (code: string): FileEntry["type"] =>
  code === "f" ? "file" : code === "d" ? "directory" : code === "l" ? "symlink" : "other"

/** `%y\t%s\t%T@` (then `\t%f` for listings) records, NUL-terminated. */
const parseEntries = (output: string, base: string, named: boolean): Array<FileEntry> =>
  output.split("\u0000").filter((r) => r !== "").map((record) => {
    const [type = "", size = "0", mtime = "0", ...rest] = record.split("\t")
    const name = named ? rest.join("\t") : base.split("/").filter((p) => p !== "").at(-1) ?? "/"
    const seconds = Number(mtime)
    return {
      name,
      path: named ? joinSandboxPath(base, name) : base,
      type: typeOf(type),
      size: Number(size),
      modifiedAt: Number.isFinite(seconds) ? new Date(seconds * 1000) : undefined
    }
  })

export const makeFiles = (ctx: FilesContext): DriverFiles => {
  const resolve = (path: string) => joinSandboxPath(ctx.paths.workdir, path)

  /** Run a helper script; ENOENT → `FileNotFound(path)`, anything else non-zero → `ProviderError`. */
  const shell = (operation: string, path: string, text: string): Effect.Effect<string, SandboxError> =>
    Effect.flatMap(exec(ctx, text, {}), (result): Effect.Effect<string, SandboxError> => {
      if (result.exitCode === 0) return Effect.succeed(result.stdout)
      if (result.exitCode === ENOENT) {
        return Effect.fail(new FileNotFound({ provider: PROVIDER, sandboxId: ctx.devboxId, path, message: `runloop ${operation}: ${path} does not exist` }))
      }
      const why = result.exitCode === ENOTDIR ? "not a directory" : result.stderr.trim().slice(0, 300) || `exit status ${result.exitCode}`
      return Effect.fail(new ProviderError({ provider: PROVIDER, sandboxId: ctx.devboxId, message: `runloop ${operation} ${path}: ${why}` }))
    })

  const exists = (p: string) => `p=${quote(p)}; if [ ! -e "$p" ] && [ ! -L "$p" ]; then exit ${ENOENT}; fi`

  const read = (path: string) =>
    call(ctx.config, "files.read", ctx.devboxId, async (client, options) => {
      const response = await client.devboxes.downloadFile(ctx.devboxId, { path: resolve(path) }, options)
      return new Uint8Array(await response.arrayBuffer())
    }, transfer(ctx.config)).pipe(Effect.catch(ctx.refineFile(path)))

  const upload = (path: string, data: Uint8Array) =>
    call(ctx.config, "files.write", ctx.devboxId, async (client, options) =>
      client.devboxes.uploadFile(ctx.devboxId, { path: resolve(path), file: await toFile(data, path.split("/").at(-1) || "file") }, options), transfer(ctx.config))

  const mkdir = (path: string) => Effect.asVoid(shell("files.mkdir", path, `mkdir -p -- ${quote(resolve(path))}`))

  const write = (path: string, data: Uint8Array): Effect.Effect<void, SandboxError> =>
    upload(path, data).pipe(
      Effect.catch(ctx.refineFile(path)),
      // A devbox whose upload does not create parent directories: create them, then once more.
      Effect.catchTag("FileNotFound", () => Effect.andThen(mkdir(joinSandboxPath(resolve(path), "..")), Effect.catch(upload(path, data), ctx.refineFile(path)))),
      Effect.asVoid
    )

  const list = (path: string) =>
    Effect.map(
      shell("files.list", path, `${exists(resolve(path))}; if [ ! -d "$p" ]; then exit ${ENOTDIR}; fi; find "$p" -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%T@\\t%f\\0'`),
      (out) => parseEntries(out, resolve(path), true)
    )

  const stat = (path: string) =>
    Effect.flatMap(shell("files.stat", path, `${exists(resolve(path))}; find "$p" -maxdepth 0 -printf '%y\\t%s\\t%T@\\0'`), (out): Effect.Effect<FileEntry, SandboxError> => {
      const entry = parseEntries(out, resolve(path), false)[0]
      return entry === undefined
        ? Effect.fail(new ProviderError({ provider: PROVIDER, sandboxId: ctx.devboxId, message: `runloop files.stat ${path}: no answer` }))
        : Effect.succeed(entry)
    })

  /** Paths resolve against the workdir, which a devbox opened while suspended learns on first use. */
  const once = <A extends ReadonlyArray<unknown>, B>(f: (...args: A) => Effect.Effect<B, SandboxError>) => (...args: A) =>
    Effect.andThen(ctx.ready, Effect.suspend(() => f(...args)))

  return {
    read: once(read),
    write: once(write),
    list: once(list),
    mkdir: once(mkdir),
    stat: once(stat),
    remove: once((path: string) => Effect.asVoid(shell("files.remove", path, `rm -rf -- ${quote(resolve(path))}`))),
    download: (directory) =>
      Stream.unwrap(Effect.andThen(ctx.ready, Effect.suspend(() => Effect.map(
        shell("files.download", directory, `${exists(resolve(directory))}; find "$p" -type f -printf '%P\\0'`),
        (out) => {
          const paths = out.split("\u0000").filter((p) => p !== "").sort()
          return Stream.fromIterable(paths).pipe(
            Stream.mapEffect((relative) =>
              Effect.map(read(joinSandboxPath(resolve(directory), relative)), (data): FileData => ({ path: relative, data }))
            )
          )
        }
      ))))
  }
}
