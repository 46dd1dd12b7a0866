// Why this exists: Bazel 4-7 speak REAPI 2.0 only and refuse a server whose advertised range
// starts above it; buildbox-casd 1.4.x advertises low_api_version 2.1 yet serves Bazel 7's
// 2.0-style calls without error. The bridge lowers the advertised low end in the
// GetCapabilities answer and nothing else.
//
// The rewrite works on the wire bytes of ServerCapabilities, field by field, so that every
// other field (including ones this project's protos do not know) passes through unchanged.

/** REAPI's ServerCapabilities.low_api_version (a build.bazel.semver.SemVer message). */
const LOW_API_VERSION_FIELD = 4;
const SEMVER_MAJOR_FIELD = 1;
const SEMVER_MINOR_FIELD = 2;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

export interface ApiVersion {
  major: number;
  minor: number;
}

/** The REAPI version Bazel 4-7 speak. */
export const REAPI_2_0: ApiVersion = { major: 2, minor: 0 };

function readVarint(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < bytes.length && i < offset + 10; i++) {
    const byte = bytes[i] as number;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new Error('truncated or overlong varint');
}

function writeVarint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** The end offset of one field's value, starting at `offset` (just after its tag). */
function skipValue(bytes: Uint8Array, wireType: number, offset: number): number {
  switch (wireType) {
    case WIRE_VARINT:
      return readVarint(bytes, offset).next;
    case WIRE_FIXED64:
      return offset + 8;
    case WIRE_FIXED32:
      return offset + 4;
    case WIRE_LENGTH_DELIMITED: {
      const { value, next } = readVarint(bytes, offset);
      return next + value;
    }
    default:
      throw new Error(`unsupported wire type ${wireType}`);
  }
}

interface Field {
  number: number;
  wireType: number;
  /** The whole field, tag included. */
  start: number;
  end: number;
  /** Where the value starts: after the tag, and after the length of a length-delimited field. */
  payloadStart: number;
}

function* fields(bytes: Uint8Array): Generator<Field> {
  let offset = 0;
  while (offset < bytes.length) {
    const start = offset;
    const tag = readVarint(bytes, offset);
    const wireType = tag.value % 8;
    const number = Math.floor(tag.value / 8);
    let payloadStart = tag.next;
    if (wireType === WIRE_LENGTH_DELIMITED) payloadStart = readVarint(bytes, tag.next).next;
    const end = skipValue(bytes, wireType, tag.next);
    if (end > bytes.length) throw new Error('field runs past the end of the message');
    yield { number, wireType, start, end, payloadStart };
    offset = end;
  }
}

/** Decodes a SemVer message's major and minor (absent fields are 0, as proto3 says). */
export function decodeSemVer(bytes: Uint8Array): ApiVersion {
  const version = { major: 0, minor: 0 };
  for (const field of fields(bytes)) {
    if (field.wireType !== WIRE_VARINT) continue;
    const { value } = readVarint(bytes, field.payloadStart);
    if (field.number === SEMVER_MAJOR_FIELD) version.major = value;
    if (field.number === SEMVER_MINOR_FIELD) version.minor = value;
  }
  return version;
}

function encodeSemVerField(fieldNumber: number, version: ApiVersion): number[] {
  const body: number[] = [];
  if (version.major)
    body.push(...writeVarint(SEMVER_MAJOR_FIELD * 8 + WIRE_VARINT), ...writeVarint(version.major));
  if (version.minor)
    body.push(...writeVarint(SEMVER_MINOR_FIELD * 8 + WIRE_VARINT), ...writeVarint(version.minor));
  return [...writeVarint(fieldNumber * 8 + WIRE_LENGTH_DELIMITED), ...writeVarint(body.length), ...body];
}

function newer(a: ApiVersion, b: ApiVersion): boolean {
  return a.major !== b.major ? a.major > b.major : a.minor > b.minor;
}

/**
 * A ServerCapabilities message whose low_api_version is at most `floor`: when the server
 * advertises a higher low end, that field is replaced; every other byte is kept as it was.
 * Returns the input itself when nothing needed to change (no low_api_version, or one at or
 * below `floor`). Throws on bytes that are not a protobuf message.
 */
export function lowerLowApiVersion(message: Uint8Array, floor: ApiVersion = REAPI_2_0): Uint8Array {
  const parts: Uint8Array[] = [];
  let changed = false;
  let copiedUpTo = 0;
  for (const field of fields(message)) {
    if (field.number !== LOW_API_VERSION_FIELD || field.wireType !== WIRE_LENGTH_DELIMITED) continue;
    const low = decodeSemVer(message.subarray(field.payloadStart, field.end));
    if (!newer(low, floor)) continue;
    parts.push(
      message.subarray(copiedUpTo, field.start),
      Uint8Array.from(encodeSemVerField(field.number, floor)),
    );
    copiedUpTo = field.end;
    changed = true;
  }
  if (!changed) return message;
  parts.push(message.subarray(copiedUpTo));
  return Buffer.concat(parts);
}

/**
 * The same for a whole gRPC response body (length-prefixed messages, as on the wire).
 * Compressed messages pass unchanged (the bridge never asks for compression, and casd sends
 * none unasked). Returns `body` itself when nothing changed.
 */
export function lowerLowApiVersionInGrpcBody(body: Buffer, floor: ApiVersion = REAPI_2_0): Buffer {
  const out: Buffer[] = [];
  let changed = false;
  let offset = 0;
  while (offset + 5 <= body.length) {
    const compressed = body[offset] !== 0;
    const length = body.readUInt32BE(offset + 1);
    const end = offset + 5 + length;
    if (end > body.length) break;
    const message = body.subarray(offset + 5, end);
    const rewritten = compressed ? message : lowerLowApiVersion(message, floor);
    if (rewritten !== message) changed = true;
    const prefix = Buffer.alloc(5);
    prefix[0] = body[offset] as number;
    prefix.writeUInt32BE(rewritten.length, 1);
    out.push(prefix, Buffer.from(rewritten));
    offset = end;
  }
  if (!changed) return body;
  out.push(body.subarray(offset));
  return Buffer.concat(out);
}
