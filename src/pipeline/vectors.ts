/**
 * Vectors (`JobOutput.vector`, embeddings) as the ledger stores them: the float32 values' bytes
 * in a BLOB, little-endian (the byte order of the platforms Node runs imgpipe on), 4 bytes each.
 */

/** The stored bytes of a vector, without copying. */
export function vectorBytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** The float32 values of stored bytes: a view when aligned (a Float32Array needs 4-byte alignment), else a copy. */
export function vectorOf(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new Error(`a stored vector has ${bytes.byteLength} bytes, not a multiple of 4`);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}
