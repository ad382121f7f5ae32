/**
 * Recognisable fake keys and a scanner that looks for them in text and files: the key itself, its random part, the
 * `Bearer <key>` header form and its base64 / base64url forms (at every byte alignment, so a key encoded inside a
 * longer value, like an `id:secret` pair, is found too).
 */
import { randomBytes } from "node:crypto"
import { readdir, readFile, stat } from "node:fs/promises"
import { join } from "node:path"

/** The credential variables of every cloud adapter (`layerConfig`), each with a fake value that says what it is. */
export const makeFakeKeys = (): Readonly<Record<string, string>> => {
  const random = () => randomBytes(12).toString("hex")
  return {
    E2B_API_KEY: `e2b_SANDKITFAKE_${random()}`,
    DAYTONA_API_KEY: `dtn_SANDKITFAKE_${random()}`,
    MODAL_TOKEN_ID: `ak-SANDKITFAKE_${random()}`,
    MODAL_TOKEN_SECRET: `as-SANDKITFAKE_${random()}`,
    RUNLOOP_API_KEY: `ak_SANDKITFAKE_${random()}`
  }
}

export interface Needle {
  /** What it is, for the report: `E2B_API_KEY (base64, offset 1)`; never the value. */
  readonly label: string
  readonly text: string
}

/** The part of base64(prefix + key) that depends on key bytes only, for a key starting `offset` bytes into a value. */
const base64Core = (key: string, offset: number): string => {
  const bytes = Buffer.concat([Buffer.alloc(offset, 0x20), Buffer.from(key)])
  const encoded = bytes.toString("base64")
  const start = Math.ceil(offset / 3) * 4
  const end = Math.floor(bytes.length / 3) * 4
  return encoded.slice(start, end)
}

/** Every form of `key` worth looking for. */
export const needlesFor = (name: string, key: string): ReadonlyArray<Needle> => {
  const random = key.slice(key.lastIndexOf("_") + 1)
  const needles: Array<Needle> = [
    { label: name, text: key },
    { label: `${name} (Bearer header)`, text: `Bearer ${key}` }
  ]
  if (random.length >= 16 && random !== key) needles.push({ label: `${name} (random part)`, text: random })
  for (const offset of [0, 1, 2]) {
    const core = base64Core(key, offset)
    needles.push({ label: `${name} (base64, offset ${offset})`, text: core })
    const url = core.replaceAll("+", "-").replaceAll("/", "_")
    if (url !== core) needles.push({ label: `${name} (base64url, offset ${offset})`, text: url })
  }
  return needles
}

export interface Finding {
  /** Where: a command's output, a file, an error rendering. */
  readonly source: string
  /** 1-based line within the source. */
  readonly line: number
  readonly needle: string
}

/** Scans texts and files for the needles, and counts what it scanned. */
export class SecretScanner {
  readonly needles: ReadonlyArray<Needle>
  readonly findings: Array<Finding> = []
  lines = 0
  bytes = 0
  files = 0
  texts = 0

  constructor(keys: Readonly<Record<string, string>>) {
    this.needles = Object.entries(keys).flatMap(([name, key]) => needlesFor(name, key))
  }

  /** Scan `text` (a command's output, an error rendering) from `source`; returns the findings it added. */
  scanText(source: string, text: string): ReadonlyArray<Finding> {
    this.texts++
    return this.scan(source, text)
  }

  /** Scan one file's content. */
  async scanFile(path: string): Promise<ReadonlyArray<Finding>> {
    const content = await readFile(path, "utf8")
    this.files++
    return this.scan(path, content)
  }

  private scan(source: string, text: string): ReadonlyArray<Finding> {
    const found: Array<Finding> = []
    const lines = text.split("\n")
    this.lines += lines.length
    this.bytes += Buffer.byteLength(text)
    lines.forEach((line, index) => {
      for (const needle of this.needles) {
        if (line.includes(needle.text)) found.push({ source, line: index + 1, needle: needle.label })
      }
    })
    this.findings.push(...found)
    return found
  }

  /** Scan every file under `dir`, recursively. */
  async scanDir(dir: string): Promise<ReadonlyArray<Finding>> {
    const found: Array<Finding> = []
    for (const entry of await readdir(dir)) {
      const path = join(dir, entry)
      found.push(...((await stat(path)).isDirectory() ? await this.scanDir(path) : await this.scanFile(path)))
    }
    return found
  }

  summary(): string {
    return `scanned ${this.lines} lines in ${this.texts} outputs/renderings and ${this.files} files, ${this.bytes} bytes; ` +
      `secrets found: ${this.findings.length}`
  }
}
