/** A msgpack cursor over encoded bytes (snapshot-bytes.ts): reads headers and skips values without decoding them. */
export class Reader {
  pos = 0
  constructor(private readonly b: Uint8Array) {}

  mapHeader(): number | undefined {
    return this.header(0x80, 0xde, 0xdf)
  }

  arrayHeader(): number | undefined {
    return this.header(0x90, 0xdc, 0xdd)
  }

  /** A map's or an array's length: fix type `fix` to `fix + 15`, or the 16- and 32-bit types. */
  private header(fix: number, type16: number, type32: number): number | undefined {
    const t = this.b[this.pos]
    if (t === undefined) return undefined
    if (t >= fix && t <= fix + 0x0f) {
      this.pos++
      return t & 0x0f
    }
    if (t === type16) return this.u16At(this.pos + 1, 3)
    if (t === type32) return this.u32At(this.pos + 1, 5)
    return undefined
  }

  isKey(key: Uint8Array): boolean {
    if (this.pos + key.length > this.b.length) return false
    for (let i = 0; i < key.length; i++) if (this.b[this.pos + i] !== key[i]) return false
    return true
  }

  /** Skips `n` values; false when the bytes end first or hold an unknown type. Bounded by the input's length. */
  skip(n: number): boolean {
    const b = this.b
    let pending = n
    while (pending > 0) {
      if (this.pos >= b.length) return false
      const t = b[this.pos]!
      pending--
      if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) this.pos += 1
      else if (t <= 0x8f) {
        this.pos += 1
        pending += 2 * (t & 0x0f)
      } else if (t <= 0x9f) {
        this.pos += 1
        pending += t & 0x0f
      } else if (t <= 0xbf) this.pos += 1 + (t & 0x1f)
      else {
        switch (t) {
          case 0xc4:
          case 0xd9:
            this.pos += 2 + (b[this.pos + 1] ?? 0)
            break
          case 0xc5:
          case 0xda:
            this.pos += 3 + this.u16(this.pos + 1)
            break
          case 0xc6:
          case 0xdb:
            this.pos += 5 + this.u32(this.pos + 1)
            break
          case 0xc7:
            this.pos += 3 + (b[this.pos + 1] ?? 0)
            break
          case 0xc8:
            this.pos += 4 + this.u16(this.pos + 1)
            break
          case 0xc9:
            this.pos += 6 + this.u32(this.pos + 1)
            break
          case 0xca:
            this.pos += 5
            break
          case 0xcb:
            this.pos += 9
            break
          case 0xcc:
          case 0xd0:
            this.pos += 2
            break
          case 0xcd:
          case 0xd1:
            this.pos += 3
            break
          case 0xce:
          case 0xd2:
            this.pos += 5
            break
          case 0xcf:
          case 0xd3:
            this.pos += 9
            break
          case 0xd4:
            this.pos += 3
            break
          case 0xd5:
            this.pos += 4
            break
          case 0xd6:
            this.pos += 6
            break
          case 0xd7:
            this.pos += 10
            break
          case 0xd8:
            this.pos += 18
            break
          case 0xdc:
            pending += this.u16(this.pos + 1)
            this.pos += 3
            break
          case 0xdd:
            pending += this.u32(this.pos + 1)
            this.pos += 5
            break
          case 0xde:
            pending += 2 * this.u16(this.pos + 1)
            this.pos += 3
            break
          case 0xdf:
            pending += 2 * this.u32(this.pos + 1)
            this.pos += 5
            break
          default:
            return false // 0xc1: never used
        }
      }
      // Every value takes at least a byte: a count larger than the bytes left is malformed (and would loop long).
      if (pending > b.length - this.pos) return false
    }
    return this.pos <= b.length
  }

  private u16(at: number): number {
    return ((this.b[at] ?? 0) << 8) | (this.b[at + 1] ?? 0)
  }

  private u32(at: number): number {
    return (
      (((this.b[at] ?? 0) << 24) |
        ((this.b[at + 1] ?? 0) << 16) |
        ((this.b[at + 2] ?? 0) << 8) |
        (this.b[at + 3] ?? 0)) >>>
      0
    )
  }

  private u16At(at: number, header: number): number | undefined {
    if (at + 2 > this.b.length) return undefined
    const n = this.u16(at)
    this.pos += header
    return n
  }

  private u32At(at: number, header: number): number | undefined {
    if (at + 4 > this.b.length) return undefined
    const n = this.u32(at)
    this.pos += header
    return n
  }
}
