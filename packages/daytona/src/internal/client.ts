/**
 * The SDK client, and the two places where the adapter reaches past the SDK's public surface (pinned to
 * `@daytonaio/sdk` 0.218.0; each is checked when the client is built and fails loudly if the SDK changed):
 *
 * 1. **Create without waiting.** `Daytona.create` posts the sandbox and then waits for `started` on its own timers,
 *    with no way to learn the new sandbox's id before the wait ends. The adapter posts through the SDK's own
 *    generated API client (`daytona.sandboxApi.createSandbox`, the call `create` makes) and waits itself, under the
 *    core `readiness` schedule, so a slow start ends in `StartupTimeout` with the half-created sandbox deleted.
 * 2. **No transport retries.** The SDK wraps axios in a retry that replays a request up to twice after a connection
 *    failure; the adapter swaps the adapter of the SDK's axios instances for plain axios so that the core
 *    `transient` schedule alone decides how many attempts are made.
 *
 * The client is disposed (event socket closed) when the layer's scope closes.
 */
import { Daytona, Image, type Sandbox as SdkSandbox } from "@daytonaio/sdk"
import { Effect, type Scope } from "effect"
import type { ResolvedConfig } from "./config.ts"
import { fromSdkError } from "./errors.ts"
import type { SandboxError } from "@sandkit/core"

/** The request body of `POST /sandbox` (the fields the adapter sets). */
export interface CreateBody {
  readonly name?: string
  readonly snapshot?: string
  readonly buildInfo?: { readonly dockerfileContent: string }
  readonly user?: string
  readonly env: Readonly<Record<string, string>>
  readonly labels: Readonly<Record<string, string>>
  readonly public?: boolean
  readonly target?: string
  readonly cpu?: number
  readonly memory?: number
  readonly disk?: number
  readonly autoStopInterval?: number
  readonly ttlMinutes?: number
  readonly networkBlockAll?: boolean
}

/** The fields of a sandbox record the adapter reads. */
export interface SandboxRecord {
  readonly id: string
  readonly name?: string
  readonly state?: string
  readonly errorReason?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly snapshot?: string
  readonly createdAt?: string
  readonly autoDestroyAt?: string
}

interface AxiosLike {
  readonly defaults: { adapter?: unknown }
}

interface SandboxApiLike {
  readonly createSandbox: (body: CreateBody, organizationId?: string, options?: { readonly timeout?: number }) => Promise<{ readonly data: SandboxRecord }>
  readonly axios?: AxiosLike
}

/** axios' own adapter list, without the SDK's retry wrapper. */
const PLAIN_ADAPTERS = ["xhr", "http", "fetch"]

/** An axios instance (a function with `defaults`). */
const hasDefaults = (u: unknown): u is AxiosLike =>
  (typeof u === "object" || typeof u === "function") && u !== null && typeof (u as { defaults?: unknown }).defaults === "object"

export interface Client {
  readonly daytona: Daytona
  /** `POST /sandbox`: one request, the record as answered (any state). */
  readonly create: (body: CreateBody) => Effect.Effect<SandboxRecord, SandboxError>
  /** The SDK's object for a sandbox (`GET /sandbox/{id}`), with transport retries off. */
  readonly get: (id: string) => Effect.Effect<SdkSandbox, SandboxError>
  /** Switch off the SDK's transport retries on a sandbox object (its toolbox calls). */
  readonly plain: (sandbox: SdkSandbox) => SdkSandbox
  /** `Dockerfile` content for an image reference (what `Daytona.create({ image })` sends). */
  readonly dockerfile: (image: string) => string
}

/** Build the SDK client in the current scope; it is disposed when the scope closes. */
export const makeClient = (config: ResolvedConfig): Effect.Effect<Client, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const daytona = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Daytona({ ...config.sdk }),
        catch: (error) => fromSdkError(error, { operation: "client", secrets: config.secrets })
      }),
      (client) => Effect.promise(() => client[Symbol.asyncDispose]().catch(() => undefined))
    )
    const api = (daytona as unknown as { readonly sandboxApi?: SandboxApiLike }).sandboxApi
    if (api === undefined || typeof api.createSandbox !== "function" || !hasDefaults(api.axios)) {
      return yield* Effect.die(new Error("@sandkit/daytona: this @daytonaio/sdk version has no sandboxApi.createSandbox; use 0.218.x"))
    }
    api.axios.defaults.adapter = PLAIN_ADAPTERS
    const plain = (sandbox: SdkSandbox): SdkSandbox => {
      const axios = (sandbox as unknown as { readonly axiosInstance?: unknown }).axiosInstance
      if (hasDefaults(axios)) axios.defaults.adapter = PLAIN_ADAPTERS
      return sandbox
    }
    const client: Client = {
      daytona,
      create: (body) =>
        Effect.tryPromise({
          try: () => api.createSandbox(body, undefined, { timeout: config.requestTimeoutMs }),
          catch: (error) => fromSdkError(error, { operation: "create", secrets: config.secrets })
        }).pipe(Effect.map((response) => response.data)),
      get: (id) =>
        Effect.tryPromise({
          try: () => daytona.get(id),
          catch: (error) => fromSdkError(error, { operation: "get", sandboxId: id, secrets: config.secrets })
        }).pipe(Effect.map(plain)),
      plain,
      dockerfile: (image) => Image.base(image).dockerfile
    }
    return client
  })
