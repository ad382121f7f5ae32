/**
 * `@sandkit/modal`: Modal sandboxes (gVisor containers) as a Sandkit provider, through the official `modal` SDK (0.x).
 *
 * ```ts
 * Effect.provide(program, ModalProvider.layerConfig())   // MODAL_TOKEN_ID / MODAL_TOKEN_SECRET from the environment
 * Effect.provide(program, ModalProvider.layer({ tokenId: Redacted.make(id), tokenSecret: Redacted.make(secret) }))
 * ```
 *
 * OpenHands' defaults: a sandbox lives 60 minutes unless its spec says otherwise, the ports in `encryptedPorts` are
 * opened as encrypted tunnels, re-attaching works by id or by name, and a sandbox is terminated when its scope
 * closes unless it was attached to (`findOrCreate`) or created to be kept (`createDetached`). The user's Modal
 * profile (`~/.modal.toml`) is never read: see `internal/client.ts` for the precedence.
 */
import type { Capabilities, DriverSandbox, ResolvedSpec, SandboxDriver, SandboxError, SandboxInfo } from "@sandkit/core"
import { InvalidRequest, isTransient, makeProvider, RetryPolicy, SandboxNotFound, SandboxProvider, toMillis, Unsupported, joinSandboxPath } from "@sandkit/core"
import type { App, Image, Sandbox as SdkSandbox, SandboxCreateParams } from "modal"
import { Config, Effect, Layer, Option, type Scope } from "effect"
import { makeClient } from "./internal/client.ts"
import { type ModalOptions, resolveConfig, wholeSecondsMs } from "./internal/config.ts"
import { pollState } from "./internal/commands.ts"
import { fromSdkError, PROVIDER } from "./internal/errors.ts"
import {
  CREATE_TAG,
  CREATED_TAG,
  type Deps,
  EXPIRES_TAG,
  IMAGE_TAG,
  infoOf,
  NAME_TAG,
  openSandbox,
  probeWorkdir,
  WORKDIR_TAG
} from "./internal/sandbox.ts"

export type { ModalOptions } from "./internal/config.ts"
export { DEFAULT_APP_NAME, DEFAULT_IMAGE, DEFAULT_LIFETIME, DEFAULT_SERVER_URL } from "./internal/config.ts"
export { PINNED_PROFILE, withPinnedEnvironment } from "./internal/client.ts"
export { decodeRetryAfter, fromSdkError, redact } from "./internal/errors.ts"

export const capabilities: Capabilities = {
  execStream: true,
  spawn: true,
  stdin: true,
  output: "separate",
  files: true,
  bulkTransfer: true,
  exposePort: true,
  runCode: [],
  setTimeout: false,
  pause: false,
  template: true,
  isolation: "container"
}

/** Named sizes as Modal resource requests. */
export const sizes = {
  small: { cpu: 1, memoryMiB: 2048 },
  medium: { cpu: 2, memoryMiB: 4096 },
  large: { cpu: 4, memoryMiB: 8192 },
  xlarge: { cpu: 8, memoryMiB: 16384 }
} as const

const unsupported = (capability: string, message: string) => new Unsupported({ provider: PROVIDER, capability, message })

/** The SDK's create parameters for a spec (everything but the app and the image). */
const createParams = (spec: ResolvedSpec, lifetimeMs: number, tags: Record<string, string>, encryptedPorts: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    if (spec.resources?.diskGiB !== undefined) {
      return yield* unsupported("resources.diskGiB", "Modal sandboxes do not take a disk size")
    }
    const resources = spec.size !== undefined ? sizes[spec.size] : spec.resources
    const params: SandboxCreateParams = {
      timeoutMs: lifetimeMs,
      ...(spec.lifetime?.idleTimeout === undefined ? {} : { idleTimeoutMs: wholeSecondsMs(toMillis(spec.lifetime.idleTimeout)) }),
      ...(resources?.cpu === undefined ? {} : { cpu: resources.cpu }),
      ...(resources?.memoryMiB === undefined ? {} : { memoryMiB: resources.memoryMiB }),
      ...(spec.env === undefined ? {} : { env: { ...spec.env } }),
      ...(spec.network?.outbound === false ? { blockNetwork: true } : {}),
      ...(encryptedPorts.length === 0 ? {} : { encryptedPorts: [...encryptedPorts] }),
      // Modal's sandbox name, unique among the app's running sandboxes, is what finds a sandbox whose create answer
      // was lost: the user's name (which `connect` looks up), else a hidden one of ours (≤ 64 chars, [A-Za-z0-9._-]).
      name: spec.name ?? `sandkit-${globalThis.crypto.randomUUID()}`,
      tags
    }
    return params
  })

/** Build the driver. No network call until the first operation; the SDK's handles are released with the scope. */
export const make = (options: ModalOptions): Effect.Effect<SandboxDriver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config = resolveConfig(options)
    const client = makeClient(config)
    const deps: Deps = { config }
    /**
     * SDK handles by sandbox, released (`detach`: their router connections close) when the layer closes. A destroyed
     * sandbox's handles are only forgotten (their idle connections close on their own), so a caller still holding one
     * gets `SandboxNotFound`, not a closed-client error.
     */
    const opened = new Map<string, Set<SdkSandbox>>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const handles of opened.values()) for (const sdk of handles) sdk.detach()
        opened.clear()
        client.close()
      })
    )
    const call = <A>(operation: string, f: () => Promise<A>, sandboxId?: string): Effect.Effect<A, SandboxError> =>
      Effect.tryPromise({ try: f, catch: (error) => fromSdkError(error, { operation, sandboxId, secrets: config.secrets }) })

    /** Idempotent get-or-create calls: retried here under the core `transient` schedule (a create is not retried by core). */
    const retried = <A>(effect: Effect.Effect<A, SandboxError>) =>
      Effect.gen(function*() {
        const policy = yield* RetryPolicy
        return yield* Effect.retry(effect, { schedule: policy.transient, while: isTransient })
      })

    // The App and the built images are looked up once (retried here: the core does not retry a create).
    let app: App | undefined
    const appOf: Effect.Effect<App, SandboxError> = Effect.suspend(() =>
      app !== undefined
        ? Effect.succeed(app)
        : retried(call("app", () => client.apps.fromName(config.appName, { createIfMissing: true, ...(config.environment === undefined ? {} : { environment: config.environment }) }))).pipe(
          Effect.tap((found) => Effect.sync(() => (app = found)))
        )
    )
    const images = new Map<string, Image>()
    const imageOf = (tag: string, forApp: App): Effect.Effect<Image, SandboxError> =>
      Effect.suspend(() => {
        const built = images.get(tag)
        if (built !== undefined) return Effect.succeed(built)
        return retried(call("image", () => client.images.fromRegistry(tag).build(forApp))).pipe(Effect.tap((image) => Effect.sync(() => images.set(tag, image))))
      })
    /** A published image (`template`): looked up by name each time (it may be re-published). */
    const templateOf = (name: string) =>
      call("template", () => client.images.fromName(name, config.environment === undefined ? {} : { environment: config.environment })).pipe(
        Effect.catchIf(
          (error) => error._tag === "ProviderError" && /not found/i.test(error.message),
          (error) => Effect.fail(new InvalidRequest({ provider: PROVIDER, field: "template", message: `modal: no published image named ${JSON.stringify(name)}`, cause: error.cause }))
        )
      )

    const attach = (sdk: SdkSandbox, info: SandboxInfo): DriverSandbox => {
      let handles = opened.get(sdk.sandboxId)
      if (handles === undefined) opened.set(sdk.sandboxId, handles = new Set())
      handles.add(sdk)
      return openSandbox(deps, sdk, info)
    }

    const terminate = (sdk: SdkSandbox) => Effect.ignore(call("destroy", () => sdk.terminate(), sdk.sandboxId))

    /**
     * A create whose every answer was lost (reset after the server made it, deadline, unavailable) may have left a
     * running sandbox nothing names. Find it by the name sent with the request and terminate it, but only if it
     * carries this request's `CREATE_TAG` (a same-named sandbox of someone else's stays). A refusal (throttling,
     * quota, invalid) made nothing, so there is nothing to look for.
     */
    const destroyLostCreate = (error: SandboxError, name: string | undefined, nonce: string): Effect.Effect<void> => {
      if (error._tag !== "ProviderUnavailable" || name === undefined) return Effect.void
      const environment = config.environment === undefined ? {} : { environment: config.environment }
      return Effect.gen(function*() {
        const found = yield* retried(call("create", () => client.sandboxes.fromName(config.appName, name, environment)))
        const tags = yield* retried(call("tags", () => found.getTags(), found.sandboxId))
        if (tags[CREATE_TAG] !== nonce) return
        yield* retried(call("destroy", () => found.terminate(), found.sandboxId))
        found.detach()
      }).pipe(Effect.ignore)
    }

    const create = (spec: ResolvedSpec): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const lifetimeMs = wholeSecondsMs(spec.lifetime?.maxLifetime === undefined ? config.defaultLifetimeMs : toMillis(spec.lifetime.maxLifetime))
        const image = spec.template ?? spec.image ?? config.image
        const now = Date.now()
        // A workdir known in advance goes to Modal and into the tags at once; otherwise it is probed after create.
        const known = config.workdir === undefined ? undefined : joinSandboxPath(config.workdir, spec.cwd ?? ".")
        const tags: Record<string, string> = {
          ...spec.labels,
          ...(known === undefined ? {} : { [WORKDIR_TAG]: known }),
          [CREATED_TAG]: String(now),
          [EXPIRES_TAG]: String(now + lifetimeMs),
          [IMAGE_TAG]: image,
          [CREATE_TAG]: globalThis.crypto.randomUUID(),
          ...(spec.name === undefined ? {} : { [NAME_TAG]: spec.name })
        }
        const params = { ...yield* createParams(spec, lifetimeMs, tags, config.encryptedPorts), ...(known === undefined ? {} : { workdir: known }) }
        const forApp = yield* appOf
        const built = yield* (spec.template !== undefined ? retried(templateOf(spec.template)) : imageOf(image, forApp))
        // The SDK re-sends this one RPC with the same idempotency key on transient failures (see internal/client.ts).
        const sdk = yield* call("create", () => client.sandboxes.create(forApp, built, params)).pipe(
          Effect.tapError((error) => destroyLostCreate(error, params.name, tags[CREATE_TAG]!))
        )
        if (known !== undefined) return attach(sdk, { ...infoOf(sdk.sandboxId, tags), createdAt: new Date(now) })
        // From here a sandbox exists: any failure (or interruption) terminates it.
        return yield* Effect.gen(function*() {
          const workdir = yield* probeWorkdir(deps, sdk, spec.cwd)
          const all = { ...tags, [WORKDIR_TAG]: workdir }
          yield* call("tags", () => sdk.setTags(all), sdk.sandboxId)
          return attach(sdk, { ...infoOf(sdk.sandboxId, all), createdAt: new Date(now) })
        }).pipe(Effect.onError(() => terminate(sdk)))
      })

    /** By id, or by name within the app when no sandbox has that id. */
    const lookup = (idOrName: string): Effect.Effect<SdkSandbox, SandboxError> =>
      Effect.gen(function*() {
        const byId = yield* call("connect", () => client.sandboxes.fromId(idOrName), idOrName)
        const code = yield* Effect.promise(() => pollState(byId))
        if (code === null) return byId
        if (code === -1 && /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(idOrName)) {
          const byName = yield* call("connect", () => client.sandboxes.fromName(config.appName, idOrName, config.environment === undefined ? {} : { environment: config.environment }), idOrName)
          if ((yield* Effect.promise(() => pollState(byName))) === null) return byName
        }
        return yield* new SandboxNotFound({ provider: PROVIDER, sandboxId: idOrName, message: `modal sandbox ${idOrName} does not exist or is no longer running` })
      })

    /** The tags of a listed (running) sandbox; `SandboxNotFound` if it ended meanwhile. */
    const tagsOf = (sdk: SdkSandbox) =>
      call("tags", () => sdk.getTags(), sdk.sandboxId).pipe(
        Effect.catchIf(
          (e) => e._tag === "ProviderError" && e.status === 9,
          () => Effect.fail(new SandboxNotFound({ provider: PROVIDER, sandboxId: sdk.sandboxId, message: `modal sandbox ${sdk.sandboxId} is no longer running` }))
        )
      )

    const connect = (idOrName: string): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const sdk = yield* lookup(idOrName)
        const tags = yield* tagsOf(sdk)
        const workdir = tags[WORKDIR_TAG] ?? (yield* probeWorkdir(deps, sdk, undefined))
        return attach(sdk, infoOf(sdk.sandboxId, { ...tags, [WORKDIR_TAG]: workdir }))
      })

    const list: SandboxDriver["list"] = (filter) =>
      Effect.gen(function*() {
        // Modal lists running sandboxes only.
        if (filter.state !== undefined && filter.state !== "running") return []
        const forApp = yield* appOf
        const found = yield* call("list", async () => {
          const out: Array<SdkSandbox> = []
          for await (const sdk of client.sandboxes.list({ appId: forApp.appId, ...(filter.labels === undefined ? {} : { tags: { ...filter.labels } }) })) out.push(sdk)
          return out
        })
        const infos = yield* Effect.forEach(found, (sdk) =>
          tagsOf(sdk).pipe(
            Effect.map((tags) => Option.some(infoOf(sdk.sandboxId, tags))),
            // Ended between the list and the tag lookup: no longer listed.
            Effect.catchTag("SandboxNotFound", () => Effect.succeed(Option.none()))
          ), { concurrency: 8 })
        return infos.flatMap((o) => Option.isSome(o) ? [o.value] : []).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      })

    const destroy = (id: string): Effect.Effect<void, SandboxError> =>
      Effect.gen(function*() {
        const sdk = yield* call("destroy", () => client.sandboxes.fromId(id), id)
        yield* call("destroy", () => sdk.terminate(), id).pipe(Effect.catchTag("SandboxNotFound", () => Effect.void))
        opened.delete(id)
      })

    const driver: SandboxDriver = { name: PROVIDER, capabilities, create, connect, list, destroy }
    return driver
  })

/** The Modal provider as a `SandboxProvider` layer (the SDK's handles are released when the layer is). */
export const layer = (options: ModalOptions): Layer.Layer<SandboxProvider> =>
  Layer.effect(SandboxProvider, Effect.map(make(options), makeProvider))

/**
 * Options from the environment: `MODAL_TOKEN_ID` and `MODAL_TOKEN_SECRET` (required, kept `Redacted`), and
 * optionally `MODAL_ENVIRONMENT` and `MODAL_SERVER_URL`. Anything else comes from `extra`. `~/.modal.toml` is not read.
 */
export const layerConfig = (
  extra: Omit<ModalOptions, "tokenId" | "tokenSecret" | "environment" | "serverUrl"> = {}
): Layer.Layer<SandboxProvider, Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const tokenId = yield* Config.Redacted("MODAL_TOKEN_ID")
    const tokenSecret = yield* Config.Redacted("MODAL_TOKEN_SECRET")
    const optional = (name: string) => Config.String(name).pipe(Config.option, Config.map(Option.getOrUndefined))
    const environment = yield* optional("MODAL_ENVIRONMENT")
    const serverUrl = yield* optional("MODAL_SERVER_URL")
    return layer({ ...extra, tokenId, tokenSecret, environment, serverUrl })
  }))
