// Amounts in base units ⇄ decimal text, EIP-55 checksums (the server is the judge; this only
// helps the user early) and the badge class of a transfer status.

/** Base units (decimal string) as a decimal number of `decimals` places, trailing zeros cut. */
export function formatUnits(base: string, decimals: number): string {
  let value: bigint;
  try {
    value = BigInt(base);
  } catch {
    return base;
  }
  const negative = value < 0n;
  if (negative) value = -value;
  const scale = 10n ** BigInt(decimals);
  const whole = value / scale;
  const frac = (value % scale).toString().padStart(decimals, "0").replace(/0+$/, "");
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}${frac ? "." + frac : ""}`;
}

/** A decimal amount as base units, or null when it is not a positive number with at most `decimals` places. */
export function parseUnits(text: string, decimals: number): string | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.length > decimals) return null;
  const value = BigInt(m[1] ?? "0") * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
  return value > 0n ? value.toString() : null;
}

// Keccak-256 (the original padding, as Ethereum uses), on 64-bit lanes as BigInt.
const RC = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n,
  0x000000000000808bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
  0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
  0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
  0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
  0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
];
const ROT = [
  [0, 36, 3, 41, 18],
  [1, 44, 10, 45, 2],
  [62, 6, 43, 15, 61],
  [28, 55, 25, 21, 56],
  [27, 20, 39, 8, 14],
];
const MASK = (1n << 64n) - 1n;
const rotl = (v: bigint, n: number) => (n === 0 ? v : ((v << BigInt(n)) | (v >> BigInt(64 - n))) & MASK);

function keccakF(a: BigUint64Array): void {
  const lane = (i: number) => a[i] ?? 0n;
  const c = new BigUint64Array(5);
  const b = new BigUint64Array(25);
  for (let round = 0; round < 24; round++) {
    for (let x = 0; x < 5; x++) c[x] = lane(x) ^ lane(x + 5) ^ lane(x + 10) ^ lane(x + 15) ^ lane(x + 20);
    for (let x = 0; x < 5; x++) {
      const d = (c[(x + 4) % 5] ?? 0n) ^ rotl(c[(x + 1) % 5] ?? 0n, 1);
      for (let y = 0; y < 5; y++) a[x + 5 * y] = lane(x + 5 * y) ^ d;
    }
    for (let x = 0; x < 5; x++)
      for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(lane(x + 5 * y), ROT[x]?.[y] ?? 0);
    const bb = (i: number) => b[i] ?? 0n;
    for (let x = 0; x < 5; x++)
      for (let y = 0; y < 5; y++)
        a[x + 5 * y] = bb(x + 5 * y) ^ (~bb(((x + 1) % 5) + 5 * y) & MASK & bb(((x + 2) % 5) + 5 * y));
    a[0] = lane(0) ^ (RC[round] ?? 0n);
  }
}

export function keccak256(data: Uint8Array): Uint8Array {
  const rate = 136;
  const padded = new Uint8Array(Math.ceil((data.length + 1) / rate) * rate);
  padded.set(data);
  padded[data.length] = (padded[data.length] ?? 0) ^ 0x01;
  padded[padded.length - 1] = (padded[padded.length - 1] ?? 0) ^ 0x80;
  const state = new BigUint64Array(25);
  const view = new DataView(padded.buffer);
  for (let off = 0; off < padded.length; off += rate) {
    for (let i = 0; i < rate / 8; i++) state[i] = (state[i] ?? 0n) ^ view.getBigUint64(off + i * 8, true);
    keccakF(state);
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) outView.setBigUint64(i * 8, state[i] ?? 0n, true);
  return out;
}

/** The EIP-55 spelling of a 0x-address (any case), or null when it is not 20 bytes of hex. */
export function toChecksum(address: string): string | null {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return null;
  const lower = address.slice(2).toLowerCase();
  const hash = keccak256(new TextEncoder().encode(lower));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const nibble = ((hash[i >> 1] ?? 0) >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    const ch = lower.charAt(i);
    out += nibble >= 8 ? ch.toUpperCase() : ch;
  }
  return out;
}

/** Whether `address` is spelled exactly in its EIP-55 checksum. */
export function isChecksummed(address: string): boolean {
  return toChecksum(address) === address;
}

export function statusClass(status: string): string {
  if (status === "CONFIRMED") return "badge ok";
  if (status === "FAILED") return "badge bad";
  return "badge warn";
}

export function short(hex: string | null | undefined, keep = 10): string {
  if (!hex) return "—";
  return hex.length > keep * 2 ? `${hex.slice(0, keep)}…${hex.slice(-6)}` : hex;
}
