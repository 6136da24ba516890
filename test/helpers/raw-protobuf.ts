/**
 * Hand-made protobuf bytes, so a test can send what the schema's own encoder
 * would not (64-bit and negative varints in 32-bit fields, unknown field
 * numbers, truncated bodies).
 */

/** A varint of any 64-bit value (negative numbers as their two's complement, as protobuf writes them). */
export function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

/** A field key: field number and wire type (0 varint, 2 length-delimited). */
export const fieldKey = (no: number, wire: number): number[] => varint(BigInt((no << 3) | wire));

/** A length-delimited field (an embedded message, bytes or a string). */
export const lengthDelimited = (no: number, body: number[]): number[] => [...fieldKey(no, 2), ...varint(BigInt(body.length)), ...body];
