/**
 * Files through the SDK's `fs` module: reads and writes are the toolbox's bulk transfers of one file, `upload`
 * sends many files per request and `download` walks the tree and fetches files in batches, so a large tree never
 * sits in memory whole. Relative paths resolve against the sandbox's work dir here, before the call.
 */
import type { DriverFiles, FileData, FileEntry, SandboxError } from "@sandkit/core"
import { joinSandboxPath } from "@sandkit/core"
import type { FileInfo, Sandbox as SdkSandbox } from "@daytonaio/sdk"
import { Effect, Stream } from "effect"
import { Buffer } from "node:buffer"
import type { Secrets } from "./config.ts"
import { fromSdkError } from "./errors.ts"

export interface FilesContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  readonly workdir: Effect.Effect<string, SandboxError>
}

/** Per upload request: at most this many files or bytes (whichever comes first). */
const UPLOAD_BATCH_FILES = 64
const UPLOAD_BATCH_BYTES = 16 * 1024 * 1024
/** Per download request. */
const DOWNLOAD_BATCH_FILES = 32

const typeOf = (info: FileInfo): FileEntry["type"] =>
  info.isDir ? "directory" : info.mode?.startsWith("L") === true ? "symlink" : "file"

const entryOf = (info: FileInfo, path: string): FileEntry => {
  const modified = new Date(info.modTime ?? info.modifiedAt ?? Number.NaN)
  return {
    name: info.name,
    path,
    type: typeOf(info),
    size: info.size,
    modifiedAt: Number.isNaN(modified.getTime()) ? undefined : modified
  }
}

const bytesOf = (data: Uint8Array): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength)

export const makeFiles = (ctx: FilesContext): DriverFiles => {
  /** Run `f` on the absolute path; failures name `path` as the user gave it. */
  const on = <A>(operation: string, path: string, f: (absolute: string) => Promise<A>) =>
    Effect.flatMap(ctx.workdir, (workdir) => {
      const absolute = joinSandboxPath(workdir, path)
      return Effect.tryPromise({
        try: () => f(absolute),
        catch: (error) => fromSdkError(error, { operation, sandboxId: ctx.sandboxId, path: absolute, secrets: ctx.secrets })
      })
    })

  const list = (path: string) =>
    on("files.list", path, async (absolute) =>
      (await ctx.sdk.fs.listFiles(absolute)).map((info) => entryOf(info, joinSandboxPath(absolute, info.name))))

  const uploadBatch = (directory: string, batch: ReadonlyArray<FileData>) =>
    on("files.upload", directory, (absolute) =>
      ctx.sdk.fs.uploadFiles(batch.map((file) => ({ source: Buffer.from(file.data), destination: joinSandboxPath(absolute, file.path) }))))

  /** Every regular file under `absolute`, with its path relative to `root`. */
  const walk = (root: string, relative: string): Stream.Stream<string, SandboxError> =>
    Stream.unwrap(Effect.map(list(relative === "" ? root : `${root}/${relative}`), (entries) =>
      Stream.fromIterable(entries).pipe(
        Stream.flatMap((entry) => {
          const path = relative === "" ? entry.name : `${relative}/${entry.name}`
          if (entry.type === "directory") return walk(root, path)
          return entry.type === "file" ? Stream.make(path) : Stream.empty
        })
      )))

  return {
    read: (path) => on("files.read", path, async (absolute) => bytesOf(await ctx.sdk.fs.downloadFile(absolute))),
    write: (path, data) => on("files.write", path, (absolute) => ctx.sdk.fs.uploadFile(Buffer.from(data), absolute)),
    list,
    mkdir: (path) => on("files.mkdir", path, (absolute) => ctx.sdk.fs.createFolder(absolute, "755")),
    remove: (path) =>
      on("files.remove", path, (absolute) => ctx.sdk.fs.deleteFile(absolute, true)).pipe(
        Effect.catchTag("FileNotFound", () => Effect.void)
      ),
    stat: (path) => on("files.stat", path, async (absolute) => entryOf(await ctx.sdk.fs.getFileDetails(absolute), absolute)),
    upload: (directory, files) =>
      files.pipe(
        Stream.rechunk(UPLOAD_BATCH_FILES),
        Stream.chunks,
        Stream.flatMap((chunk) => {
          // Split a chunk further so that no request carries more than the byte budget.
          const batches: Array<Array<FileData>> = [[]]
          let bytes = 0
          for (const file of chunk) {
            if (bytes + file.data.byteLength > UPLOAD_BATCH_BYTES && batches[batches.length - 1]!.length > 0) {
              batches.push([])
              bytes = 0
            }
            batches[batches.length - 1]!.push(file)
            bytes += file.data.byteLength
          }
          return Stream.fromIterable(batches.filter((b) => b.length > 0))
        }),
        Stream.mapEffect((batch) => Effect.as(uploadBatch(directory, batch), batch.length)),
        Stream.runFold(() => 0, (n, count) => n + count)
      ),
    download: (directory) =>
      Stream.unwrap(Effect.map(ctx.workdir, (workdir) => {
        const root = joinSandboxPath(workdir, directory)
        return walk(root, "").pipe(
          Stream.rechunk(DOWNLOAD_BATCH_FILES),
          Stream.chunks,
          Stream.mapEffect((paths) =>
            on("files.download", directory, async () => {
              const results = await ctx.sdk.fs.downloadFiles(paths.map((p) => ({ source: `${root}/${p}` })))
              return results.map((result, i): FileData => {
                if (result.error !== undefined || !(result.result instanceof Uint8Array)) {
                  throw Object.assign(new Error(result.error ?? "no data"), result.errorDetails ?? {})
                }
                return { path: paths[i]!, data: bytesOf(result.result) }
              })
            })
          ),
          Stream.flatMap(Stream.fromIterable)
        )
      }))
  }
}
