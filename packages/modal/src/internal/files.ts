/**
 * Files through `sandbox.filesystem` (Modal's filesystem tool, run as an exec in the sandbox). Relative paths resolve
 * against the sandbox's workdir. Bulk transfer uses the core fallbacks (a write per file; list + read per file).
 */
import type { DriverFiles, FileEntry, SandboxError } from "@sandkit/core"
import type { FileInfo, Sandbox as SdkSandbox } from "modal"
import { Effect } from "effect"
import { refine } from "./commands.ts"
import { fromSdkError, type Secrets } from "./errors.ts"

export interface FilesContext {
  readonly sandboxId: string
  readonly sdk: SdkSandbox
  readonly secrets: Secrets
  readonly resolve: (path: string) => string
}

const toEntry = (info: FileInfo): FileEntry => ({
  name: info.name,
  path: info.path,
  type: info.type === "directory" || info.type === "file" || info.type === "symlink" ? info.type : "other",
  size: info.size,
  modifiedAt: new Date(info.modifiedTime * 1000)
})

export const makeFiles = (ctx: FilesContext): DriverFiles => {
  const run = <A>(operation: string, path: string, f: (absolute: string) => Promise<A>): Effect.Effect<A, SandboxError> =>
    Effect.suspend(() => {
      const absolute = ctx.resolve(path)
      return Effect.tryPromise({
        try: () => f(absolute),
        catch: (error) => fromSdkError(error, { operation, sandboxId: ctx.sandboxId, path, secrets: ctx.secrets })
      }).pipe(
        // The SDK reports "the sandbox is unavailable" as NotFoundError: tell a gone sandbox from a router hiccup.
        Effect.catch((error) => refine(ctx, error))
      )
    })
  return {
    read: (path) => run("files.read", path, (p) => ctx.sdk.filesystem.readBytes(p)),
    write: (path, data) => run("files.write", path, (p) => ctx.sdk.filesystem.writeBytes(data, p)),
    list: (path) => run("files.list", path, async (p) => (await ctx.sdk.filesystem.listFiles(p)).map(toEntry)),
    mkdir: (path) => run("files.mkdir", path, (p) => ctx.sdk.filesystem.makeDirectory(p, { createParents: true })),
    remove: (path) =>
      run("files.remove", path, (p) => ctx.sdk.filesystem.remove(p, { recursive: true })).pipe(
        Effect.catchTag("FileNotFound", () => Effect.void)
      ),
    stat: (path) => run("files.stat", path, async (p) => toEntry(await ctx.sdk.filesystem.stat(p)))
  }
}
