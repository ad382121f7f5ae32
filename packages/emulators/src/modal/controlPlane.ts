/**
 * The control plane (`modal.client.ModalClient`): token exchange, apps, environments, images and the V2 sandbox
 * calls (create, wait, terminate, task id, router access, tunnels, by name, list by tags, tags, name, connect tokens).
 * Every call but `AuthTokenGet` must carry an auth token this emulator issued; `AuthTokenGet` checks the Modal token
 * id and secret.
 */
import { posix } from "node:path"
import { QuotaReached } from "../Registry.ts"
import { ExecRecord, runEngine, startProcess } from "./exec.ts"
import { type CallContext, GrpcError, type Handler, type Message } from "./grpc.ts"
import { getOrCreate, runSetup, setupOf } from "./images.ts"
import { Code, GenericStatus } from "./schema.ts"
import { type GenericResult, makeJwt, type ModalRegistry, type ModalSandbox, type ModalState, randomId, type Tag, type World } from "./state.ts"

export interface ControlPlaneOptions {
  /** Accepted credentials; `undefined` accepts any non-empty id and secret. */
  readonly tokenId?: string | undefined
  readonly tokenSecret?: string | undefined
  readonly imageBuilderVersion: string
  /** Page size of `SandboxListV2`. */
  readonly pageSize: number
  /** Lifetime of the JWTs handed out, in seconds. */
  readonly jwtLifetimeSecs: number
  /** `https://127.0.0.1:<port>`: where the SDK finds the command router. */
  readonly routerUrl: () => string
  /** `http://127.0.0.1:<port>` of the port proxy (connect tokens). */
  readonly proxyUrl: () => string
}

const asRecord = (u: unknown): Record<string, unknown> => (typeof u === "object" && u !== null ? u as Record<string, unknown> : {})
const str = (u: unknown): string => (typeof u === "string" ? u : "")
const header = (call: CallContext, name: string): string => {
  const value = call.metadata[name]
  return Array.isArray(value) ? value[0] ?? "" : value ?? ""
}

const tagsOf = (u: unknown): Array<Tag> =>
  (Array.isArray(u) ? u : []).map(asRecord).map((t) => ({ tagName: str(t["tagName"]), tagValue: str(t["tagValue"]) }))

const stringMap = (u: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(asRecord(asRecord(u)["contents"]))) out[k] = String(v)
  return out
}

/** Environment from secret sources: inline `env` maps (named secrets are not emulated). */
export const envOf = (sources: unknown): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const source of Array.isArray(sources) ? sources.map(asRecord) : []) Object.assign(env, stringMap(source["env"]))
  return env
}

/** A path the client sends: inside the workspace as is, anything else taken relative to the workspace. */
export const hostPath = (home: string, path: string): string => {
  const joined = path === home || path.startsWith(home + "/") ? path : posix.join(home, path)
  return joined.length > 1 ? joined.replace(/\/+$/, "") : joined
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })

export const controlPlane = (registry: ModalRegistry, world: World, options: ControlPlaneOptions): Map<string, Handler> => {
  const credentials = (call: CallContext) => {
    const version = header(call, "x-modal-libmodal-version")
    if (version !== "") world.clientVersions.add(version)
    const id = header(call, "x-modal-token-id")
    const secret = header(call, "x-modal-token-secret")
    if (id === "" || secret === "") throw new GrpcError(Code.UNAUTHENTICATED, "missing Modal credentials")
    if ((options.tokenId !== undefined && id !== options.tokenId) || (options.tokenSecret !== undefined && secret !== options.tokenSecret)) {
      throw new GrpcError(Code.UNAUTHENTICATED, "Token ID or secret is invalid")
    }
  }
  const authenticated = (call: CallContext) => {
    credentials(call)
    if (!world.authTokens.has(header(call, "x-modal-auth-token"))) throw new GrpcError(Code.UNAUTHENTICATED, "invalid or expired auth token")
  }
  const unary = (handle: (request: Message, call: CallContext) => Promise<object> | object, auth = authenticated): Handler => ({
    kind: "unary",
    handle: async (request, call) => {
      auth(call)
      return await handle(request, call)
    }
  })

  const live = (id: string): ModalSandbox | undefined => registry.get(id)
  const known = (id: string) => {
    const sandbox = live(id)
    const tombstone = world.tombstones.get(id)
    if (sandbox === undefined && tombstone === undefined) throw new GrpcError(Code.NOT_FOUND, `Sandbox ${id} not found`)
    return { sandbox, tombstone }
  }
  const appOf = (environment: string, name: string) => world.apps.get(`${environment || "main"}/${name}`)
  const running = (id: string): ModalSandbox => {
    const sandbox = live(id)
    if (sandbox !== undefined) return sandbox
    if (world.tombstones.has(id)) throw new GrpcError(Code.FAILED_PRECONDITION, `Sandbox ${id} has already finished`)
    throw new GrpcError(Code.NOT_FOUND, `Sandbox ${id} not found`)
  }
  const tunnels = (sandbox: ModalSandbox) =>
    sandbox.ext.ports.map((p) => ({
      host: "127.0.0.1",
      port: p.port,
      containerPort: p.port,
      ...(p.unencrypted ? { unencryptedHost: "127.0.0.1", unencryptedPort: p.port } : {})
    }))
  const info = (id: string, state: { appId: string; createdAt: number; name: string | undefined; tags: ReadonlyArray<Tag> }, result?: GenericResult) => ({
    id,
    createdAt: state.createdAt,
    appId: state.appId,
    tags: state.tags,
    name: state.name ?? "",
    metadata: { appId: state.appId, ...(result === undefined ? {} : { result }) }
  })

  const create = async (request: Message): Promise<Record<string, unknown>> => {
    const appId = str(request["appId"])
    if (!world.appNames.has(appId)) throw new GrpcError(Code.NOT_FOUND, `App ${appId} not found`)
    const definition = asRecord(request["definition"])
    const imageId = str(definition["imageId"])
    if (!world.images.has(imageId)) throw new GrpcError(Code.NOT_FOUND, `Image ${imageId} not found`)
    const name = str(definition["name"]) || undefined
    if (name !== undefined && registry.list().some((s) => s.ext.appId === appId && s.ext.name === name)) {
      throw new GrpcError(Code.ALREADY_EXISTS, `A running Sandbox named '${name}' already exists in the App`)
    }
    const setup = setupOf(world, imageId)
    const env = { ...setup.env, ...stringMap(definition["environmentVariables"]), ...envOf(request["secretSources"]) }
    const access = asRecord(definition["networkAccess"])
    const network = definition["blockNetwork"] !== true && access["networkAccessType"] !== 2
    const timeoutSecs = Number(definition["timeoutSecs"]) || 300
    const idle = Number(definition["idleTimeoutSecs"]) || undefined
    const ports = (Array.isArray(asRecord(definition["openPorts"])["ports"]) ? asRecord(definition["openPorts"])["ports"] as Array<unknown> : [])
      .map(asRecord).map((p) => ({ port: Number(p["port"]), unencrypted: p["unencrypted"] === true }))
    const taskId = `ta-${randomId(22)}`
    let sandbox: ModalSandbox
    try {
      sandbox = await registry.create({
        template: imageId,
        env,
        network,
        timeoutMs: timeoutSecs * 1000,
        ext: (base): ModalState => ({
          taskId,
          appId,
          imageId,
          routerJwt: makeJwt({ task: taskId, sandbox: base.id }, options.jwtLifetimeSecs),
          createdAt: world.nextCreatedAt(),
          timeoutSecs,
          idleTimeoutSecs: idle,
          workdir: hostPath(base.home, str(definition["workdir"]) || setup.workdir),
          name,
          tags: tagsOf(request["tags"]),
          ports,
          execs: new Map(),
          connectTokens: new Map(),
          result: undefined
        })
      })
    } catch (error) {
      if (error instanceof QuotaReached) {
        const retryAfter = typeof error.failure.retryAfter === "number" ? error.failure.retryAfter : undefined
        throw new GrpcError(Code.RESOURCE_EXHAUSTED, error.failure.message ?? "quota reached", retryAfter)
      }
      throw error
    }
    world.tasks.set(taskId, sandbox.id)
    try {
      if (sandbox.ext.workdir !== sandbox.home) await runEngine(sandbox.engine.files!.mkdir(sandbox.ext.workdir))
      const failure = await runSetup(sandbox.engine, setup, sandbox.ext.workdir)
      if (failure !== undefined) throw new GrpcError(Code.FAILED_PRECONDITION, `image setup failed: ${failure}`)
    } catch (error) {
      await registry.destroy(sandbox.id)
      throw error
    }
    const entrypoint = Array.isArray(definition["entrypointArgs"]) ? definition["entrypointArgs"].map(String) : []
    if (entrypoint.length > 0) startEntrypoint(sandbox, entrypoint)
    return {
      sandboxId: sandbox.id,
      taskId,
      tunnels: tunnels(sandbox),
      metadata: { appId },
      commandRouterAccess: { jwt: sandbox.ext.routerJwt, url: options.routerUrl() }
    }
  }

  /** A sandbox with a command ends when the command does, with its exit code. */
  const startEntrypoint = (sandbox: ModalSandbox, argv: ReadonlyArray<string>) => {
    const record = new ExecRecord("entrypoint")
    startProcess(sandbox.engine, record, argv, { cwd: sandbox.ext.workdir, env: {}, timeoutSecs: 0 }).then(
      async () => {
        const exit = await record.waitExit().catch(() => undefined)
        if (exit === undefined || registry.get(sandbox.id) === undefined) return
        sandbox.ext.result = { status: GenericStatus.success, exitcode: exit.code ?? 128 + (exit.signal ?? 9) }
        await registry.destroy(sandbox.id)
      },
      async (error: unknown) => {
        sandbox.ext.result = { status: GenericStatus.failure, exception: String(error) }
        await registry.destroy(sandbox.id)
      }
    )
  }

  const handlers: Record<string, Handler> = {
    AuthTokenGet: unary(() => {
      const token = makeJwt({ sub: "modal-emulator" }, options.jwtLifetimeSecs)
      world.authTokens.add(token)
      return { token }
    }, credentials),
    AppGetOrCreate: unary((request) => {
      const environment = str(request["environmentName"]) || "main"
      const name = str(request["appName"])
      if (name === "") throw new GrpcError(Code.INVALID_ARGUMENT, "app name is required")
      const existing = appOf(environment, name)
      if (existing !== undefined) return { appId: existing }
      if (request["objectCreationType"] !== 1) throw new GrpcError(Code.NOT_FOUND, `App '${name}' not found`)
      const appId = `ap-${randomId(22)}`
      world.apps.set(`${environment}/${name}`, appId)
      world.appNames.set(appId, { name, environment })
      return { appId }
    }),
    EnvironmentGetOrCreate: unary((request) => ({
      environmentId: "en-emulator",
      metadata: { name: str(request["deploymentName"]) || "main", settings: { imageBuilderVersion: options.imageBuilderVersion } }
    })),
    ImageGetOrCreate: unary((request) => getOrCreate(world, registry.engine, request)),
    ImageGetByTag: unary((request) => {
      const tag = str(request["tag"])
      const imageId = world.published.get(`${str(request["environmentName"]) || "main"}/${tag.includes(":") ? tag : `${tag}:latest`}`)
      if (imageId === undefined) throw new GrpcError(Code.NOT_FOUND, `Image '${tag}' not found`)
      return { imageId }
    }),
    ImageFromId: unary((request) => {
      const imageId = str(request["imageId"])
      if (!world.images.has(imageId)) throw new GrpcError(Code.NOT_FOUND, `Could not find image with ID ${imageId}`)
      return { imageId, metadata: { workdir: setupOf(world, imageId).workdir } }
    }),
    SandboxCreateV2: unary((request, call) => {
      // A create retried with the same idempotency key answers the first attempt's sandbox.
      const key = header(call, "x-idempotency-key")
      const earlier = key === "" ? undefined : world.creates.get(key)
      if (earlier !== undefined) return earlier
      const created = create(request)
      if (key !== "") {
        world.creates.set(key, created)
        created.catch(() => world.creates.delete(key))
      }
      return created
    }),
    SandboxWaitV2: unary(async (request, call) => {
      const id = str(request["sandboxId"])
      const { sandbox } = known(id)
      const timeout = Math.min(55, Math.max(0, Number(request["timeout"]) || 0))
      if (sandbox !== undefined && timeout > 0) await world.waitForEnd(id, timeout * 1000, call.signal)
      const tombstone = world.tombstones.get(id)
      return { ...(tombstone === undefined ? {} : { result: tombstone.result }), metadata: { appId: tombstone?.appId ?? sandbox?.ext.appId ?? "" } }
    }),
    SandboxTerminateV2: unary(async (request) => {
      const id = str(request["sandboxId"])
      const { sandbox, tombstone } = known(id)
      if (sandbox !== undefined) await registry.destroy(id)
      return tombstone === undefined ? {} : { existingResult: tombstone.result }
    }),
    SandboxGetTaskIdV2: unary(async (request, call) => {
      const id = str(request["sandboxId"])
      const { sandbox, tombstone } = known(id)
      if (tombstone !== undefined) return { taskResult: tombstone.result }
      const wait = Math.min(55, Number(request["timeout"]) || 0) * 1000
      if (sandbox !== undefined && !registry.isReady(sandbox) && wait > 0) {
        await sleep(Math.min(wait, sandbox.readyAt - Date.now()), call.signal)
      }
      return sandbox !== undefined && registry.isReady(sandbox) ? { taskId: sandbox.ext.taskId } : {}
    }),
    SandboxGetCommandRouterAccess: unary((request) => {
      const sandbox = running(str(request["sandboxId"]))
      return { jwt: sandbox.ext.routerJwt, url: options.routerUrl() }
    }),
    SandboxGetTunnelsV2: unary((request) => {
      const { sandbox, tombstone } = known(str(request["sandboxId"]))
      return sandbox !== undefined ? { tunnels: tunnels(sandbox) } : { result: tombstone!.result, tunnels: [] }
    }),
    SandboxGetFromNameV2: unary((request) => {
      const appId = appOf(str(request["environmentName"]), str(request["appName"]))
      const name = str(request["sandboxName"])
      const notFound = new GrpcError(Code.NOT_FOUND, `Sandbox '${name}' not found`)
      if (appId === undefined) throw notFound
      const match = registry.list().find((s) => s.ext.appId === appId && s.ext.name === name)
      if (match !== undefined) return { sandboxId: match.id, metadata: { appId } }
      if (request["includeTerminated"] === true) {
        const finished = [...world.tombstones.values()].filter((t) => t.appId === appId && t.name === name).at(-1)
        if (finished !== undefined) return { sandboxId: finished.id, metadata: { appId, result: finished.result } }
      }
      throw notFound
    }),
    // The SDK falls back to the V1 lookup when the V2 one finds nothing; the emulator runs V2 sandboxes only.
    SandboxGetFromName: unary((request) => {
      throw new GrpcError(Code.NOT_FOUND, `Sandbox '${str(request["sandboxName"])}' not found`)
    }),
    SandboxListV2: unary((request) => {
      const appId = str(request["appId"])
      const environment = str(request["environmentName"])
      const before = Number(request["beforeTimestamp"]) || Number.POSITIVE_INFINITY
      const wanted = tagsOf(request["tags"])
      const inScope = (app: string) =>
        appId !== "" ? app === appId : environment === "" || (world.appNames.get(app)?.environment ?? "main") === environment
      const rows = [
        ...registry.list().map((s) => ({ ...info(s.id, s.ext), tagList: s.ext.tags })),
        ...(request["includeFinished"] === true ? [...world.tombstones.values()].map((t) => ({ ...info(t.id, { ...t, tags: [] }, t.result), tagList: [] as ReadonlyArray<Tag> })) : [])
      ].filter((row) =>
        inScope(row.appId) && row.createdAt < before &&
        wanted.every((w) => row.tagList.some((t) => t.tagName === w.tagName && t.tagValue === w.tagValue))
      )
      rows.sort((a, b) => b.createdAt - a.createdAt)
      return { sandboxes: rows.slice(0, options.pageSize).map(({ tagList: _, ...row }) => row) }
    }),
    SandboxTagsSetV2: unary((request) => {
      const sandbox = running(str(request["sandboxId"]))
      const tags = tagsOf(request["tags"])
      if (tags.some((t) => t.tagName === "")) throw new GrpcError(Code.INVALID_ARGUMENT, "tag names must not be empty")
      sandbox.ext.tags = tags
      return {}
    }),
    SandboxTagsGetV2: unary((request) => ({ tags: running(str(request["sandboxId"])).ext.tags })),
    SandboxSetName: unary((request) => {
      const sandbox = running(str(request["sandboxId"]))
      const name = str(request["name"])
      if (sandbox.ext.name !== undefined) throw new GrpcError(Code.FAILED_PRECONDITION, "the Sandbox already has a name")
      if (registry.list().some((s) => s.ext.appId === sandbox.ext.appId && s.ext.name === name)) {
        throw new GrpcError(Code.ALREADY_EXISTS, `A running Sandbox named '${name}' already exists in the App`)
      }
      sandbox.ext.name = name
      return {}
    }),
    SandboxCreateConnectTokenV2: unary((request) => {
      const sandbox = running(str(request["sandboxId"]))
      const port = Number(request["port"]) || 8080
      const id = randomId(16)
      const token = randomId(40)
      sandbox.ext.connectTokens.set(id, { port, token })
      return { url: `${options.proxyUrl()}/connect/${id}`, token }
    })
  }
  return new Map(Object.entries(handlers))
}
