/**
 * Our own minimal protobuf schema for the Modal RPCs the emulator serves, written for this emulator (no SDK or
 * proto code copied): only the messages and fields the sandbox flow of `modal` 0.11.x reads or writes. Field numbers
 * and types are facts of the wire (checked against what the SDK sends); names are ours (camelCase). Fields left out
 * are skipped on decode, which protobuf allows, so the SDK may send more than we read.
 *
 * Every method the emulator knows is listed in `methods` with its service, kind and message types; any other path
 * is answered `UNIMPLEMENTED`.
 */
import protobuf from "protobufjs"

type Fields = Record<string, { readonly type: string; readonly id: number; readonly rule?: "repeated"; readonly keyType?: string }>

const s = (id: number) => ({ type: "string", id })
const rs = (id: number) => ({ type: "string", id, rule: "repeated" as const })
const t = (type: string, id: number) => ({ type, id })
const rt = (type: string, id: number) => ({ type, id, rule: "repeated" as const })
const map = (id: number) => ({ keyType: "string", type: "string", id })

const controlPlane: Record<string, Fields> = {
  Empty: {},
  GenericResult: { status: t("int32", 1), exception: s(2), exitcode: t("int32", 3), traceback: s(4) },
  StringMap: { contents: map(1) },
  SandboxTag: { tagName: s(1), tagValue: s(2) },
  SecretSource: { secretId: s(1), env: t("StringMap", 2) },
  TunnelData: { host: s(1), port: t("uint32", 2), unencryptedHost: s(3), unencryptedPort: t("uint32", 4), containerPort: t("uint32", 5) },
  CommandRouterAccess: { jwt: s(1), url: s(2) },
  SandboxHandleMetadata: { result: t("GenericResult", 1), appId: s(2) },
  // Auth, apps, environments, images
  AuthTokenGetRequest: {},
  AuthTokenGetResponse: { token: s(1) },
  AppGetOrCreateRequest: { appName: s(1), environmentName: s(2), objectCreationType: t("int32", 3) },
  AppGetOrCreateResponse: { appId: s(1) },
  EnvironmentGetOrCreateRequest: { deploymentName: s(1), objectCreationType: t("int32", 2) },
  EnvironmentSettings: { imageBuilderVersion: s(1) },
  EnvironmentMetadata: { name: s(1), settings: t("EnvironmentSettings", 2) },
  EnvironmentGetOrCreateResponse: { environmentId: s(1), metadata: t("EnvironmentMetadata", 2) },
  BaseImage: { imageId: s(1), dockerTag: s(2) },
  Image: { baseImages: rt("BaseImage", 5), dockerfileCommands: rs(6) },
  ImageGetOrCreateRequest: { image: t("Image", 2), appId: s(4), forceBuild: t("bool", 7), builderVersion: s(9) },
  ImageMetadata: { workdir: s(3), imageBuilderVersion: s(5) },
  ImageGetOrCreateResponse: { imageId: s(1), result: t("GenericResult", 2), metadata: t("ImageMetadata", 3) },
  ImageGetByTagRequest: { tag: s(1), environmentName: s(2) },
  ImageGetByTagResponse: { imageId: s(1) },
  ImageFromIdRequest: { imageId: s(1) },
  ImageFromIdResponse: { imageId: s(1), metadata: t("ImageMetadata", 2) },
  // Sandboxes
  PortSpec: { port: t("uint32", 1), unencrypted: t("bool", 2), tunnelType: t("int32", 3) },
  PortSpecs: { ports: rt("PortSpec", 1) },
  NetworkAccess: { networkAccessType: t("int32", 1) },
  Resources: { memoryMb: t("uint32", 2), milliCpu: t("uint32", 3) },
  SandboxDefinition: {
    entrypointArgs: rs(1),
    imageId: s(3),
    secretIds: rs(4),
    resources: t("Resources", 5),
    timeoutSecs: t("uint32", 7),
    workdir: s(8),
    blockNetwork: t("bool", 11),
    openPorts: t("PortSpecs", 20),
    networkAccess: t("NetworkAccess", 22),
    name: s(30),
    idleTimeoutSecs: t("uint32", 33),
    environmentVariables: t("StringMap", 40)
  },
  SandboxCreateV2Request: { appId: s(1), definition: t("SandboxDefinition", 2), tags: rt("SandboxTag", 4), secretSources: rt("SecretSource", 6) },
  SandboxCreateV2Response: {
    sandboxId: s(1),
    tunnels: rt("TunnelData", 2),
    taskId: s(3),
    metadata: t("SandboxHandleMetadata", 4),
    commandRouterAccess: t("CommandRouterAccess", 5)
  },
  SandboxWaitRequest: { sandboxId: s(1), timeout: t("float", 2) },
  SandboxWaitResponse: { result: t("GenericResult", 1), metadata: t("SandboxHandleMetadata", 2) },
  SandboxTerminateRequest: { sandboxId: s(1) },
  SandboxTerminateResponse: { existingResult: t("GenericResult", 1) },
  SandboxGetTaskIdRequest: { sandboxId: s(1), timeout: t("float", 2), waitUntilReady: t("bool", 3) },
  SandboxGetTaskIdResponse: { taskId: s(1), taskResult: t("GenericResult", 2) },
  SandboxGetCommandRouterAccessRequest: { sandboxId: s(1), taskId: s(2) },
  SandboxGetCommandRouterAccessResponse: { jwt: s(1), url: s(2) },
  SandboxGetTunnelsRequest: { sandboxId: s(1), timeout: t("float", 2) },
  SandboxGetTunnelsResponse: { result: t("GenericResult", 1), tunnels: rt("TunnelData", 2) },
  SandboxGetFromNameRequest: { sandboxName: s(1), environmentName: s(2), appName: s(3), includeTerminated: t("bool", 4) },
  SandboxGetFromNameResponse: { sandboxId: s(1), metadata: t("SandboxHandleMetadata", 2) },
  SandboxListRequest: { appId: s(1), beforeTimestamp: t("double", 2), environmentName: s(3), includeFinished: t("bool", 4), tags: rt("SandboxTag", 5) },
  SandboxInfo: {
    id: s(1),
    createdAt: t("double", 3),
    appId: s(5),
    tags: rt("SandboxTag", 6),
    name: s(7),
    imageId: s(8),
    timeoutSecs: t("uint32", 11),
    tunnels: rt("TunnelData", 15),
    metadata: t("SandboxHandleMetadata", 16)
  },
  SandboxListResponse: { sandboxes: rt("SandboxInfo", 1) },
  SandboxTagsSetRequest: { environmentName: s(1), sandboxId: s(2), tags: rt("SandboxTag", 3) },
  SandboxTagsGetRequest: { sandboxId: s(1) },
  SandboxTagsGetResponse: { tags: rt("SandboxTag", 1) },
  SandboxSetNameRequest: { sandboxId: s(1), name: s(2) },
  SandboxCreateConnectTokenRequest: { sandboxId: s(1), userMetadata: s(2), port: t("uint32", 3) },
  SandboxCreateConnectTokenResponse: { url: s(1), token: s(2) },
  // Server-side throttling: google.rpc.Status-shaped details in the `grpc-status-details-bin` trailer.
  Any: { typeUrl: s(1), value: t("bytes", 2) },
  RPCStatus: { code: t("int32", 1), message: s(2), details: rt("Any", 3) },
  RPCRetryPolicy: { retryAfterSecs: t("float", 1) }
}

const commandRouter: Record<string, Fields> = {
  TaskExecStartRequest: {
    taskId: s(1),
    execId: s(2),
    commandArgs: rs(3),
    stdoutConfig: t("int32", 4),
    stderrConfig: t("int32", 5),
    timeoutSecs: t("uint32", 6),
    workdir: s(7),
    secretIds: rs(8),
    ptyInfo: t("PtyInfo", 9),
    env: map(12),
    secretSources: rt("modal.client.SecretSource", 13)
  },
  PtyInfo: { enabled: t("bool", 1) },
  TaskExecStdioReadRequest: { taskId: s(1), execId: s(2), offset: t("uint64", 3), fileDescriptor: t("int32", 4) },
  TaskExecStdioReadResponse: { data: t("bytes", 1) },
  TaskExecWaitRequest: { taskId: s(1), execId: s(2) },
  // Presence matters here: the SDK tells "running" (neither set) from `code: 0`; the encoder writes every field set.
  TaskExecWaitResponse: { code: t("int32", 1), signal: t("int32", 2) },
  TaskExecStdinWriteRequest: { taskId: s(1), execId: s(2), offset: t("uint64", 3), data: t("bytes", 4), eof: t("bool", 5) },
  TaskExecStdinWriteStreamStart: { taskId: s(1), execId: s(2), offset: t("uint64", 3) },
  TaskExecStdinWriteStreamEnd: {},
  TaskExecStdinWriteStreamRequest: { start: t("TaskExecStdinWriteStreamStart", 1), data: t("bytes", 2), end: t("TaskExecStdinWriteStreamEnd", 3) },
  TaskExecStdinStatusRequest: { taskId: s(1), execId: s(2) },
  TaskExecStdinStatusResponse: { numBytesWritten: t("uint64", 1), closed: t("bool", 2) },
  Empty: {}
}

const asNested = (messages: Record<string, Fields>) =>
  Object.fromEntries(Object.entries(messages).map(([name, fields]) => [name, { fields }]))

export const root = protobuf.Root.fromJSON({
  nested: {
    modal: {
      nested: {
        client: { nested: asNested(controlPlane) },
        task_command_router: { nested: asNested(commandRouter) }
      }
    }
  }
})

export const CONTROL_PLANE = "modal.client.ModalClient"
export const COMMAND_ROUTER = "modal.task_command_router.TaskCommandRouter"

export type MethodKind = "unary" | "serverStream" | "clientStream"

export interface MethodSchema {
  readonly service: string
  readonly name: string
  readonly kind: MethodKind
  readonly request: protobuf.Type
  readonly response: protobuf.Type
}

const cp = (name: string, request: string, response: string, kind: MethodKind = "unary"): MethodSchema => ({
  service: CONTROL_PLANE,
  name,
  kind,
  request: root.lookupType(`modal.client.${request}`),
  response: root.lookupType(`modal.client.${response}`)
})

const tcr = (name: string, request: string, response: string, kind: MethodKind = "unary"): MethodSchema => ({
  service: COMMAND_ROUTER,
  name,
  kind,
  request: root.lookupType(`modal.task_command_router.${request}`),
  response: root.lookupType(`modal.task_command_router.${response}`)
})

/** Every method the emulator implements, by its gRPC path (`/package.Service/Method`). */
export const methods: ReadonlyMap<string, MethodSchema> = new Map(
  [
    cp("AuthTokenGet", "AuthTokenGetRequest", "AuthTokenGetResponse"),
    cp("AppGetOrCreate", "AppGetOrCreateRequest", "AppGetOrCreateResponse"),
    cp("EnvironmentGetOrCreate", "EnvironmentGetOrCreateRequest", "EnvironmentGetOrCreateResponse"),
    cp("ImageGetOrCreate", "ImageGetOrCreateRequest", "ImageGetOrCreateResponse"),
    cp("ImageGetByTag", "ImageGetByTagRequest", "ImageGetByTagResponse"),
    cp("ImageFromId", "ImageFromIdRequest", "ImageFromIdResponse"),
    cp("SandboxCreateV2", "SandboxCreateV2Request", "SandboxCreateV2Response"),
    cp("SandboxWaitV2", "SandboxWaitRequest", "SandboxWaitResponse"),
    cp("SandboxTerminateV2", "SandboxTerminateRequest", "SandboxTerminateResponse"),
    cp("SandboxGetTaskIdV2", "SandboxGetTaskIdRequest", "SandboxGetTaskIdResponse"),
    cp("SandboxGetCommandRouterAccess", "SandboxGetCommandRouterAccessRequest", "SandboxGetCommandRouterAccessResponse"),
    cp("SandboxGetTunnelsV2", "SandboxGetTunnelsRequest", "SandboxGetTunnelsResponse"),
    cp("SandboxGetFromNameV2", "SandboxGetFromNameRequest", "SandboxGetFromNameResponse"),
    cp("SandboxGetFromName", "SandboxGetFromNameRequest", "SandboxGetFromNameResponse"),
    cp("SandboxListV2", "SandboxListRequest", "SandboxListResponse"),
    cp("SandboxTagsSetV2", "SandboxTagsSetRequest", "Empty"),
    cp("SandboxTagsGetV2", "SandboxTagsGetRequest", "SandboxTagsGetResponse"),
    cp("SandboxSetName", "SandboxSetNameRequest", "Empty"),
    cp("SandboxCreateConnectTokenV2", "SandboxCreateConnectTokenRequest", "SandboxCreateConnectTokenResponse"),
    tcr("TaskExecStart", "TaskExecStartRequest", "Empty"),
    tcr("TaskExecStdioRead", "TaskExecStdioReadRequest", "TaskExecStdioReadResponse", "serverStream"),
    tcr("TaskExecWait", "TaskExecWaitRequest", "TaskExecWaitResponse"),
    tcr("TaskExecPoll", "TaskExecWaitRequest", "TaskExecWaitResponse"),
    tcr("TaskExecStdinWrite", "TaskExecStdinWriteRequest", "Empty"),
    tcr("TaskExecStdinWriteStream", "TaskExecStdinWriteStreamRequest", "Empty", "clientStream"),
    tcr("TaskExecStdinStatus", "TaskExecStdinStatusRequest", "TaskExecStdinStatusResponse")
  ].map((m) => [`/${m.service}/${m.name}`, m])
)

/** The method names the emulator implements (route names for `faults` and `log`). */
export const implementedMethods: ReadonlyArray<string> = [...methods.values()].map((m) => m.name)

/** `GenericResult.status` values. */
export const GenericStatus = { unspecified: 0, success: 1, failure: 2, terminated: 3, timeout: 4 } as const

/** The gRPC status codes the emulator answers with. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16
} as const

const retryPolicyType = root.lookupType("modal.client.RPCRetryPolicy")
const statusType = root.lookupType("modal.client.RPCStatus")

/** The `grpc-status-details-bin` payload asking the client to retry after `retryAfterSecs` (Modal's throttling). */
export const retryPolicyDetails = (code: number, message: string, retryAfterSecs: number): Uint8Array =>
  statusType.encode(statusType.fromObject({
    code,
    message,
    details: [{
      typeUrl: "type.googleapis.com/modal.client.RPCRetryPolicy",
      value: retryPolicyType.encode(retryPolicyType.fromObject({ retryAfterSecs })).finish()
    }]
  })).finish()

/** Decode to a plain object: defaults filled in, 64-bit integers as numbers, bytes as `Uint8Array`. */
export const decode = (type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> =>
  type.toObject(type.decode(bytes), { longs: Number, defaults: true, arrays: true, objects: true }) as Record<string, unknown>

/** Encode a plain object (every property set is written, zero values included). */
export const encode = (type: protobuf.Type, value: object): Uint8Array => type.encode(type.fromObject(value)).finish()
