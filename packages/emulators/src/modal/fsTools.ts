/**
 * Modal's filesystem tool protocol. The SDK runs every `sandbox.filesystem` call as an exec of the in-container
 * binary `/__modal/.bin/modal-sandbox-fs-tools` with one JSON argument (`{"ReadFile":{"path":…}}`, `WriteFile` with
 * the bytes on stdin, `ListFiles`, `Stat`, `MakeDirectory`, `Remove`); on failure the tool exits 1 with
 * `{"error_kind","message","detail"}` on stderr. The emulator recognises that exec and carries the command out itself
 * through the local engine's file API, so paths stay inside the sandbox's workspace.
 */
import type { DriverFiles, FileEntry, SandboxError } from "@sandkit/core"
import { Effect, Exit, Cause, Option } from "effect"
import type { ExecRecord } from "./exec.ts"

export const FS_TOOLS_PATH = "/__modal/.bin/modal-sandbox-fs-tools"

const encoder = new TextEncoder()

class ToolError extends Error {
  readonly kind: string
  constructor(kind: string, message: string) {
    super(message)
    this.kind = kind
  }
}

const kindOf = (error: SandboxError): ToolError => {
  switch (error._tag) {
    case "FileNotFound":
      return new ToolError("NotFound", "No such file or directory")
    case "PermissionDenied":
      return new ToolError("PermissionDenied", "Permission denied")
    case "InvalidRequest":
      return /is a directory/.test(error.message)
        ? new ToolError("IsDirectory", "Is a directory")
        : new ToolError("InvalidInput", error.message)
    default:
      return new ToolError("Other", error.message)
  }
}

const run = async <A>(effect: Effect.Effect<A, SandboxError>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const error = Cause.findErrorOption(exit.cause)
  throw Option.isSome(error) ? kindOf(error.value) : new ToolError("Other", Cause.pretty(exit.cause))
}

/** A core `FileEntry` in the tool's JSON shape. */
const entryJson = (entry: FileEntry) => ({
  name: entry.name,
  path: entry.path,
  type: entry.type === "other" ? "file" : entry.type,
  size: entry.size,
  mode: entry.type === "directory" ? 0o40755 : 0o100644,
  permissions: entry.type === "directory" ? "rwxr-xr-x" : "rw-r--r--",
  owner: "root",
  group: "root",
  modified_time: Math.floor((entry.modifiedAt?.getTime() ?? 0) / 1000),
  symlink_target: null
})

const stat = (files: DriverFiles, path: string): Promise<FileEntry | undefined> =>
  run(files.stat(path)).catch((error: unknown) => {
    if (error instanceof ToolError && error.kind === "NotFound") return undefined
    throw error
  })

const parent = (path: string) => path.replace(/\/+[^/]*\/*$/, "") || "/"

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})

/**
 * Carry out the JSON command of one fs-tools exec. Output goes to the record's buffers; the record is finished with
 * exit 0, or 1 and the error JSON on stderr. A `WriteFile` waits for its stdin to be closed.
 */
export const startFsTool = (files: DriverFiles, record: ExecRecord, argument: string | undefined): void => {
  const chunks: Array<Uint8Array> = []
  let closed: (() => void) | undefined
  const stdinClosed = new Promise<void>((resolve) => (closed = resolve))
  record.sink = {
    write: async (data) => {
      chunks.push(data)
    },
    close: async () => closed?.()
  }
  const work = async (): Promise<Uint8Array | undefined> => {
    let parsed: Record<string, unknown>
    try {
      parsed = asRecord(JSON.parse(argument ?? ""))
    } catch {
      throw new ToolError("InvalidInput", "the argument is not a JSON command")
    }
    const [command, raw] = Object.entries(parsed)[0] ?? []
    const args = asRecord(raw)
    const path = typeof args["path"] === "string" ? args["path"] : ""
    if (!path.startsWith("/")) throw new ToolError("InvalidInput", "path must be absolute")
    switch (command) {
      case "ReadFile": {
        const entry = await stat(files, path)
        if (entry === undefined) throw new ToolError("NotFound", "No such file or directory")
        if (entry.type === "directory") throw new ToolError("IsDirectory", "Is a directory")
        return await run(files.read(path))
      }
      case "WriteFile": {
        await stdinClosed
        const size = chunks.reduce((n, c) => n + c.byteLength, 0)
        const data = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          data.set(chunk, offset)
          offset += chunk.byteLength
        }
        if ((await stat(files, path))?.type === "directory") throw new ToolError("IsDirectory", "Is a directory")
        await run(files.write(path, data))
        return undefined
      }
      case "ListFiles": {
        const entry = await stat(files, path)
        if (entry === undefined) throw new ToolError("NotFound", "No such file or directory")
        if (entry.type !== "directory") throw new ToolError("NotDirectory", "Not a directory")
        const entries = [...await run(files.list(path))].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
        return encoder.encode(JSON.stringify(entries.map(entryJson)))
      }
      case "Stat": {
        const entry = await stat(files, path)
        if (entry === undefined) throw new ToolError("NotFound", "No such file or directory")
        return encoder.encode(JSON.stringify(entryJson(entry)))
      }
      case "MakeDirectory": {
        const existing = await stat(files, path)
        if (args["parents"] === false) {
          if (existing !== undefined) throw new ToolError("PathAlreadyExists", "File exists")
          if ((await stat(files, parent(path))) === undefined) throw new ToolError("NotFound", "No such file or directory")
        } else if (existing !== undefined && existing.type !== "directory") {
          throw new ToolError("NotDirectory", "Not a directory")
        }
        await run(files.mkdir(path))
        return undefined
      }
      case "Remove": {
        const existing = await stat(files, path)
        if (existing === undefined) throw new ToolError("NotFound", "No such file or directory")
        if (existing.type === "directory" && args["recursive"] !== true && (await run(files.list(path))).length > 0) {
          throw new ToolError("DirectoryNotEmpty", "Directory not empty")
        }
        await run(files.remove(path))
        return undefined
      }
      case "Watch":
        throw new ToolError("NotSupported", "the emulator does not support filesystem watches")
      default:
        throw new ToolError("InvalidInput", `unknown command ${JSON.stringify(command)}`)
    }
  }
  void work().then(
    (stdout) => {
      if (stdout !== undefined) record.stdout.append(stdout)
      record.finish({ code: 0 })
    },
    (error: unknown) => {
      const tool = error instanceof ToolError ? error : new ToolError("Other", String(error))
      record.stderr.append(encoder.encode(JSON.stringify({ error_kind: tool.kind, message: tool.message, detail: "" })))
      record.finish({ code: 1 })
    }
  )
}
