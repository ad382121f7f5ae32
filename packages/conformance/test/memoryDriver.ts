/**
 * A tiny in-memory `SandboxDriver`, only for testing the runner and the check scaffolding. It runs no command; it is
 * not a provider and must never stand in for one in the conformance suite.
 */
import {
  type Capabilities,
  layerFromDriver,
  type DriverSandbox,
  type SandboxDriver,
  type SandboxInfo,
  SandboxNotFound
} from "@sandkit/core"
import { Effect } from "effect"

export const memoryCapabilities: Capabilities = {
  execStream: false,
  spawn: false,
  stdin: false,
  output: "separate",
  files: false,
  bulkTransfer: false,
  exposePort: false,
  runCode: [],
  setTimeout: false,
  pause: false,
  isolation: "process"
}

export interface MemoryDriver extends SandboxDriver {
  readonly sandboxes: Map<string, SandboxInfo>
}

export const makeMemoryDriver = (): MemoryDriver => {
  const sandboxes = new Map<string, SandboxInfo>()
  let next = 0
  const notFound = (id: string) => new SandboxNotFound({ provider: "memory", sandboxId: id, message: `no sandbox ${id}` })
  const handle = (info: SandboxInfo): DriverSandbox => ({
    info,
    refresh: Effect.suspend(() => {
      const current = sandboxes.get(info.id)
      return current === undefined ? Effect.fail(notFound(info.id)) : Effect.succeed(current)
    }),
    exec: (command) =>
      Effect.succeed({
        exitCode: 0,
        stdout: typeof command === "string" ? command : command.join(" "),
        stderr: "",
        durationMs: 0,
        truncated: false
      })
  })
  return {
    name: "memory",
    capabilities: memoryCapabilities,
    sandboxes,
    create: (spec) =>
      Effect.sync(() => {
        const info: SandboxInfo = {
          id: `mem-${++next}`,
          provider: "memory",
          name: spec.name,
          state: "running",
          labels: spec.labels,
          createdAt: new Date(),
          workdir: "/work"
        }
        sandboxes.set(info.id, info)
        return handle(info)
      }),
    connect: (id) => Effect.suspend(() => {
      const info = sandboxes.get(id)
      return info === undefined ? Effect.fail(notFound(id)) : Effect.succeed(handle(info))
    }),
    list: (filter) =>
      Effect.sync(() =>
        [...sandboxes.values()].filter((info) =>
          Object.entries(filter.labels ?? {}).every(([k, v]) => info.labels[k] === v) &&
          (filter.state === undefined || filter.state === info.state)
        )
      ),
    destroy: (id) => Effect.sync(() => void sandboxes.delete(id))
  }
}

export const memoryLayer = (driver: SandboxDriver = makeMemoryDriver()) => layerFromDriver(Effect.succeed(driver))
