/**
 * Files through the SDK's `files` module. Relative paths resolve against the sandbox's workdir. Bulk upload sends
 * batches of files in one multipart request each; bulk download lists the tree once (`ListDir` with depth) and reads
 * file by file, so only one file is in memory at a time.
 */
import type { DriverFiles, FileData, FileEntry, SandboxError } from "@sandkit/core"
import type { Sandbox as SdkSandbox } from "@e2b/code-interpreter"
import { Effect, Stream } from "effect"
import { fromSdkError, type Secrets } from "./errors.ts"

type EntryInfo = Awaited<ReturnType<SdkSandbox["files"]["getInfo"]>>

export interface FilesContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  readonly resolve: (path: string) => string
}

/** Upload batches: at most this many files or bytes per request. */
const BATCH_FILES = 64
const BATCH_BYTES = 8 * 1024 * 1024
/** Deep enough for any real tree; ListDir walks it server-side in one call. */
const DOWNLOAD_DEPTH = 64

const toEntry = (entry: EntryInfo): FileEntry => ({
  name: entry.name,
  path: entry.path,
  type: entry.type === "dir" ? "directory" : entry.type === "file" ? "file" : entry.type === "symlink" ? "symlink" : "other",
  size: entry.size,
  modifiedAt: entry.modifiedTime
})

export const makeFiles = (ctx: FilesContext): DriverFiles => {
  const run = <A>(operation: string, path: string, f: (absolute: string) => Promise<A>): Effect.Effect<A, SandboxError> =>
    Effect.suspend(() => {
      const absolute = ctx.resolve(path)
      return Effect.tryPromise({
        try: () => f(absolute),
        catch: (error) => fromSdkError(error, { operation, sandboxId: ctx.sandboxId, path, secrets: ctx.secrets })
      })
    })

  const writeBatch = (directory: string, batch: ReadonlyArray<FileData>) =>
    run("files.upload", directory, (dir) =>
      ctx.sdk.files.write(batch.map((file) => ({ path: `${dir.replace(/\/+$/, "")}/${file.path}`, data: toArrayBuffer(file.data) }))))

  return {
    read: (path) => run("files.read", path, (p) => ctx.sdk.files.read(p, { format: "bytes" })),
    write: (path, data) => Effect.asVoid(run("files.write", path, (p) => ctx.sdk.files.write(p, toArrayBuffer(data)))),
    list: (path) => run("files.list", path, async (p) => (await ctx.sdk.files.list(p)).map(toEntry)),
    mkdir: (path) => Effect.asVoid(run("files.mkdir", path, (p) => ctx.sdk.files.makeDir(p))),
    remove: (path) =>
      run("files.remove", path, (p) => ctx.sdk.files.remove(p)).pipe(
        Effect.catchTag("FileNotFound", () => Effect.void)
      ),
    stat: (path) => run("files.stat", path, async (p) => toEntry(await ctx.sdk.files.getInfo(p))),
    upload: (directory, files) =>
      Effect.gen(function*() {
        let batch: Array<FileData> = []
        let bytes = 0
        let count = 0
        const flush = Effect.suspend(() => {
          if (batch.length === 0) return Effect.void
          const sending = batch
          batch = []
          bytes = 0
          return Effect.asVoid(writeBatch(directory, sending))
        })
        yield* Stream.runForEach(files, (file) =>
          Effect.suspend(() => {
            batch.push(file)
            bytes += file.data.byteLength
            count += 1
            return batch.length >= BATCH_FILES || bytes >= BATCH_BYTES ? flush : Effect.void
          }))
        yield* flush
        return count
      }),
    download: (directory) =>
      Stream.unwrap(Effect.gen(function*() {
        const root = yield* run("files.download", directory, async (p) => (await ctx.sdk.files.getInfo(p)).path)
        const entries = yield* run("files.download", directory, (p) => ctx.sdk.files.list(p, { depth: DOWNLOAD_DEPTH }))
        const prefix = root.replace(/\/+$/, "") + "/"
        const regular = entries
          .filter((e) => e.type === "file" && e.path.startsWith(prefix))
          .sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
        return Stream.fromIterable(regular).pipe(
          Stream.mapEffect((entry) =>
            Effect.map(
              run("files.read", entry.path, (p) => ctx.sdk.files.read(p, { format: "bytes" })),
              (data): FileData => ({ path: entry.path.slice(prefix.length), data })
            )
          )
        )
      }))
  }
}

/** The SDK takes `ArrayBuffer | Blob | string | ReadableStream`; copy a view that does not span its whole buffer. */
const toArrayBuffer = (data: Uint8Array): ArrayBuffer =>
  data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer
    ? data.buffer
    : data.slice().buffer as ArrayBuffer
