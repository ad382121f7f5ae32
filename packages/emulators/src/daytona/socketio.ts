/**
 * The smallest socket.io (v4, engine.io protocol 4) server the Daytona SDK's event channel accepts, over the
 * WebSocket transport only: the open packet, the namespace CONNECT handshake (with the token check), pings, and
 * server-pushed events (`sandbox.state.updated`, `sandbox.created`). Without it the SDK keeps reconnecting and
 * a client that forgets to dispose never exits; with it the SDK unrefs the socket and the process can end.
 */
import type { WebSocket } from "ws"

export interface EventHubOptions {
  /** Accept only this token in the CONNECT packet (`auth: { token }`). Default: any non-empty token. */
  readonly token?: string | undefined
  /** Milliseconds between server pings. Default 25 000 (socket.io's). */
  readonly pingIntervalMs?: number
}

const randomSid = () => {
  const bytes = new Uint8Array(12)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
}

/** Connected, handshaken clients; `emit` pushes an event to each. */
export class EventHub {
  private readonly clients = new Set<WebSocket>()
  private readonly options: EventHubOptions
  /** Events sent, by name (tests assert on counts). */
  readonly sent = new Map<string, number>()

  constructor(options: EventHubOptions = {}) {
    this.options = options
  }

  get size(): number {
    return this.clients.size
  }

  /** Serve one WebSocket: open packet, handshake, pings; closed sockets leave the hub. */
  accept(socket: WebSocket): void {
    const sid = randomSid()
    const pingIntervalMs = this.options.pingIntervalMs ?? 25_000
    socket.send(`0${JSON.stringify({ sid, upgrades: [], pingInterval: pingIntervalMs, pingTimeout: 20_000, maxPayload: 1_000_000 })}`)
    const ping = setInterval(() => socket.send("2"), pingIntervalMs)
    ;(ping as { unref?: () => void }).unref?.()
    socket.on("message", (raw, isBinary) => {
      if (isBinary) return
      const packet = raw.toString()
      if (packet.startsWith("40")) {
        const token = this.tokenOf(packet.slice(2))
        const wanted = this.options.token
        if (token === undefined || token === "" || (wanted !== undefined && token !== wanted)) {
          socket.send(`44${JSON.stringify({ message: "Unauthorized" })}`)
          return
        }
        this.clients.add(socket)
        socket.send(`40${JSON.stringify({ sid: randomSid() })}`)
      } else if (packet === "41") {
        this.clients.delete(socket)
      } else if (packet === "2") {
        socket.send("3")
      }
    })
    socket.once("close", () => {
      clearInterval(ping)
      this.clients.delete(socket)
    })
    socket.on("error", () => undefined)
  }

  /** `42["name", payload]` to every connected client. */
  emit(name: string, payload: unknown): void {
    this.sent.set(name, (this.sent.get(name) ?? 0) + 1)
    const packet = `42${JSON.stringify([name, payload])}`
    for (const client of this.clients) if (client.readyState === client.OPEN) client.send(packet)
  }

  /** Drop every client (they see a transport close). */
  closeAll(): void {
    for (const client of this.clients) client.terminate()
    this.clients.clear()
  }

  private tokenOf(json: string): string | undefined {
    if (json === "") return undefined
    try {
      const auth = JSON.parse(json) as { token?: unknown }
      return typeof auth.token === "string" ? auth.token : undefined
    } catch {
      return undefined
    }
  }
}
