/**
 * Images. `ImageGetOrCreate` receives Dockerfile commands (`FROM <tag>` or `FROM base` on a parent image, then
 * `RUN`/`ENV`/`WORKDIR`/…). There is no image file system here: the registry tag is accepted and the host system
 * stands in for it. The commands are checked once at build time in a scratch local sandbox (a failing `RUN` is a
 * failed build, as on Modal) and replayed in every sandbox created from the image: `ENV` becomes the sandbox's
 * environment, `WORKDIR` its default directory, `RUN` runs in it before it is handed out. Other instructions are
 * accepted and ignored.
 */
import type { DriverSandbox, SandboxDriver } from "@sandkit/core"
import { Effect } from "effect"
import { posix } from "node:path"
import { GrpcError, type Message } from "./grpc.ts"
import { Code, GenericStatus } from "./schema.ts"
import { randomId, type ImageRecord, type World } from "./state.ts"

export interface ImageSetup {
  readonly env: Readonly<Record<string, string>>
  /** The container path of the default directory (`/` when no `WORKDIR`). */
  readonly workdir: string
  readonly run: ReadonlyArray<string>
}

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})

/** `KEY=value KEY2="v 2"` or the legacy `KEY value`. */
const parseEnv = (rest: string): Array<[string, string]> => {
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+(.*)$/.exec(rest)
  if (legacy !== null && !rest.includes("=")) return [[legacy[1]!, legacy[2]!]]
  const out: Array<[string, string]> = []
  for (const match of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const raw = match[2]!
    out.push([match[1]!, raw.startsWith("\"") ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw])
  }
  return out
}

/** The steps of an image and its parents, parents first. */
export const setupOf = (world: World, imageId: string): ImageSetup => {
  const chain: Array<ImageRecord> = []
  for (let id: string | undefined = imageId; id !== undefined;) {
    const image = world.images.get(id)
    if (image === undefined) break
    chain.unshift(image)
    id = image.base
  }
  const env: Record<string, string> = {}
  const run: Array<string> = []
  let workdir = "/"
  for (const image of chain) {
    for (const line of image.commands) {
      const instruction = line.trim().split(/\s+/)[0] ?? ""
      const rest = line.trim().slice(instruction.length).trim()
      switch (instruction.toUpperCase()) {
        case "RUN":
          run.push(rest)
          break
        case "ENV":
          for (const [k, v] of parseEnv(rest)) env[k] = v
          break
        case "WORKDIR":
          workdir = posix.resolve(workdir, rest)
          break
      }
    }
  }
  return { env, workdir, run }
}

/** Run the image's `RUN` steps in `engine`, from `cwd`; the first failure is returned as text. */
export const runSetup = async (engine: DriverSandbox, setup: ImageSetup, cwd: string): Promise<string | undefined> => {
  for (const command of setup.run) {
    const result = await Effect.runPromise(Effect.result(engine.exec(["/bin/sh", "-c", command], { cwd, env: { ...setup.env } })))
    if (result._tag === "Failure") return `${command}: ${result.failure.message}`
    if (result.success.exitCode !== 0) {
      return `${command}: exit code ${result.success.exitCode}\n${(result.success.stdout + result.success.stderr).slice(-2000)}`
    }
  }
  return undefined
}

/** `ImageGetOrCreate`: the same commands on the same base give the same image; a failing `RUN` fails the build. */
export const getOrCreate = async (world: World, engine: SandboxDriver, request: Message): Promise<object> => {
  const image = asRecord(request["image"])
  const lines = Array.isArray(image["dockerfileCommands"]) ? image["dockerfileCommands"].map(String) : []
  const first = lines[0]?.trim() ?? ""
  if (!/^FROM\s+\S+/i.test(first)) throw new GrpcError(Code.INVALID_ARGUMENT, "the first Dockerfile command must be FROM")
  const fromBase = /^FROM\s+base$/i.test(first)
  const bases = Array.isArray(image["baseImages"]) ? image["baseImages"].map(asRecord) : []
  const base = fromBase ? String(bases.find((b) => b["dockerTag"] === "base")?.["imageId"] ?? "") : undefined
  if (base !== undefined && !world.images.has(base)) throw new GrpcError(Code.NOT_FOUND, `base image ${base} not found`)
  const commands = lines.slice(1)
  const key = JSON.stringify({ base, from: fromBase ? undefined : first, commands })
  const existing = world.imageKeys.get(key)
  if (existing !== undefined && request["forceBuild"] !== true) {
    return { imageId: existing, result: { status: GenericStatus.success }, metadata: { workdir: setupOf(world, existing).workdir } }
  }
  const imageId = `im-${randomId(22)}`
  world.images.set(imageId, { imageId, base, commands })
  const setup = setupOf(world, imageId)
  let failure: string | undefined
  if (setup.run.length > 0) {
    // A scratch sandbox checks the build; every sandbox from the image replays it.
    const scratch = await Effect.runPromise(Effect.result(engine.create({ labels: { "sandkit.emulated": imageId }, network: { outbound: true } })))
    if (scratch._tag === "Failure") {
      failure = scratch.failure.message
    } else {
      const sandbox = scratch.success
      try {
        failure = await runSetup(sandbox, setup, sandbox.info.workdir)
      } finally {
        await Effect.runPromise(Effect.ignore(engine.destroy(sandbox.info.id)))
      }
    }
  }
  if (failure !== undefined) {
    world.images.delete(imageId)
    return { imageId, result: { status: GenericStatus.failure, exception: failure } }
  }
  world.imageKeys.set(key, imageId)
  return { imageId, result: { status: GenericStatus.success }, metadata: { workdir: setup.workdir } }
}
