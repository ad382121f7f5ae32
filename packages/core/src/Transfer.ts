/**
 * Moving whole directories between the host and a sandbox, through Effect's `FileSystem` service (provide
 * `NodeServices.layer` from `@effect/platform-node`, or the Bun / Deno equivalents). Core itself stays free of
 * runtime-specific APIs.
 */
import { Effect, FileSystem, Path, Stream } from "effect"
import type { FileData, Sandbox } from "./Sandbox.ts"
import { ProviderError, type SandboxError } from "./SandboxError.ts"

const hostError = (sandbox: Sandbox, what: string) => (cause: unknown) =>
  new ProviderError({ provider: sandbox.provider, sandboxId: sandbox.id, message: `host file system: ${what}`, cause })

/** Upload every regular file under `localDirectory` to `remoteDirectory`, one file in memory at a time. */
export const uploadDirectory = (sandbox: Sandbox, localDirectory: string, remoteDirectory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const entries = yield* fs.readDirectory(localDirectory, { recursive: true }).pipe(
      Effect.mapError(hostError(sandbox, `cannot read ${localDirectory}`))
    )
    const files: Stream.Stream<FileData, SandboxError> = Stream.fromIterable(entries).pipe(
      Stream.mapEffect((relative) =>
        Effect.gen(function*() {
          const full = path.join(localDirectory, relative)
          const info = yield* fs.stat(full)
          if (info.type !== "File") return undefined
          const data = yield* fs.readFile(full)
          return { path: relative.split(path.sep).join("/"), data }
        }).pipe(Effect.mapError(hostError(sandbox, `cannot read ${relative}`)))
      ),
      Stream.filter((file): file is FileData => file !== undefined)
    )
    return yield* sandbox.files.upload(remoteDirectory, files)
  })

/** Download every regular file under `remoteDirectory` into `localDirectory`; returns the number of files. */
export const downloadDirectory = (sandbox: Sandbox, remoteDirectory: string, localDirectory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    return yield* sandbox.files.download(remoteDirectory).pipe(
      Stream.mapEffect((file) => {
        const target = path.join(localDirectory, ...file.path.split("/"))
        return fs.makeDirectory(path.dirname(target), { recursive: true }).pipe(
          Effect.andThen(fs.writeFile(target, file.data)),
          Effect.mapError(hostError(sandbox, `cannot write ${target}`))
        )
      }),
      Stream.runFold(() => 0, (n) => n + 1)
    )
  })
