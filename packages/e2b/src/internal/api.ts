/**
 * The control plane, through the SDK's own typed API client (`ApiClient`, the one `Sandbox.create` uses) with its
 * 429 retries off. Calling it directly rather than through `Sandbox.create` & co. keeps the reply's status and
 * `Retry-After` header, which the SDK's error classes drop; each call is exactly one HTTP request, so the core
 * `transient` schedule alone decides the attempt count and honours the server's `Retry-After`.
 */
import type { SandboxError } from "@sandkit/core"
import { ApiClient, ConnectionConfig, type components } from "e2b"
import { Effect } from "effect"
import type { ResolvedConfig } from "./config.ts"
import { type ErrorContext, fromSdkError, fromStatus } from "./errors.ts"

export type Connection = components["schemas"]["Sandbox"]
export type Detail = components["schemas"]["SandboxDetail"]
export type NewSandbox = components["schemas"]["NewSandboxV2"]

interface Reply {
  readonly response: Response
  readonly error?: unknown
}

export interface ListQuery {
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly state?: ReadonlyArray<"running" | "paused"> | undefined
}

export interface Api {
  readonly create: (body: NewSandbox) => Effect.Effect<Connection, SandboxError>
  /** Connect (resumes a paused sandbox). `SandboxNotFound` when it is gone. */
  readonly connect: (id: string, timeoutSeconds?: number) => Effect.Effect<Connection, SandboxError>
  readonly info: (id: string) => Effect.Effect<Detail, SandboxError>
  /** Every page. */
  readonly list: (query: ListQuery) => Effect.Effect<ReadonlyArray<Detail>, SandboxError>
  /** False when the sandbox did not exist. */
  readonly kill: (id: string) => Effect.Effect<boolean, SandboxError>
  readonly setTimeout: (id: string, seconds: number) => Effect.Effect<void, SandboxError>
  /** False when it was already paused. */
  readonly pause: (id: string) => Effect.Effect<boolean, SandboxError>
}

const messageOf = (reply: Reply): string => {
  const error = reply.error
  if (typeof error === "string" && error !== "") return error
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    return (error as { message: string }).message
  }
  return reply.response.statusText
}

/** The SDK's encoding of the metadata filter: one `k=v&k2=v2` string, each part URI-encoded. */
export const encodeMetadata = (metadata: Readonly<Record<string, string>>): string =>
  new URLSearchParams(Object.entries(metadata).map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)])).toString()

export const makeApi = (config: ResolvedConfig): Api => {
  const client = new ApiClient(new ConnectionConfig(config.connection)).api
  const ctx = (operation: string, sandboxId?: string): ErrorContext => ({ operation, sandboxId, secrets: config.secrets })

  /** One request; a non-2xx reply other than the `accept`ed statuses becomes a tagged error. */
  const call = <R extends Reply>(
    context: ErrorContext,
    send: (signal: AbortSignal) => Promise<R>,
    accept: ReadonlyArray<number> = []
  ): Effect.Effect<R, SandboxError> =>
    Effect.tryPromise({
      try: (signal) => send(AbortSignal.any([signal, AbortSignal.timeout(config.requestTimeoutMs)])),
      catch: (error) => fromSdkError(error, context)
    }).pipe(
      Effect.flatMap((reply) =>
        reply.response.ok || accept.includes(reply.response.status)
          ? Effect.succeed(reply)
          : Effect.fail(fromStatus(reply.response.status, messageOf(reply), context, reply.response.headers.get("retry-after")))
      )
    )

  const page = (query: ListQuery, nextToken: string | undefined) =>
    call(ctx("list"), (signal) =>
      client.GET("/v2/sandboxes", {
        signal,
        params: {
          query: {
            ...(query.metadata === undefined || Object.keys(query.metadata).length === 0
              ? {}
              : { metadata: encodeMetadata(query.metadata) }),
            ...(query.state === undefined ? {} : { state: [...query.state] }),
            ...(nextToken === undefined ? {} : { nextToken })
          }
        }
      }))

  return {
    create: (body) =>
      Effect.map(call(ctx("create"), (signal) => client.POST("/v2/sandboxes", { body, signal })), (r) => r.data!),
    connect: (id, timeoutSeconds) =>
      Effect.map(
        call(ctx("connect", id), (signal) =>
          client.POST("/v2/sandboxes/{sandboxID}/connect", {
            params: { path: { sandboxID: id } },
            body: timeoutSeconds === undefined ? {} : { timeout: timeoutSeconds },
            signal
          })),
        (r) => r.data!
      ),
    info: (id) =>
      Effect.map(
        call(ctx("info", id), (signal) => client.GET("/sandboxes/{sandboxID}", { params: { path: { sandboxID: id } }, signal })),
        (r) => r.data!
      ),
    list: (query) =>
      Effect.gen(function*() {
        const all: Array<Detail> = []
        let token: string | undefined
        do {
          const reply = yield* page(query, token)
          all.push(...(reply.data ?? []))
          const next = reply.response.headers.get("x-next-token")
          token = next === null || next === "" ? undefined : next
        } while (token !== undefined)
        return all
      }),
    kill: (id) =>
      Effect.map(
        call(ctx("destroy", id), (signal) => client.DELETE("/sandboxes/{sandboxID}", { params: { path: { sandboxID: id } }, signal }), [404]),
        (r) => r.response.status !== 404
      ),
    setTimeout: (id, seconds) =>
      Effect.asVoid(call(ctx("setTimeout", id), (signal) =>
        client.POST("/sandboxes/{sandboxID}/timeout", { params: { path: { sandboxID: id } }, body: { timeout: seconds }, signal }))),
    pause: (id) =>
      Effect.map(
        call(ctx("pause", id), (signal) =>
          client.POST("/sandboxes/{sandboxID}/pause", { params: { path: { sandboxID: id } }, body: {}, signal }), [409]),
        (r) => r.response.status !== 409
      )
  }
}
