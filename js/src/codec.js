// The front-end half of neuro_widgets/widgets/codec.py: PNG bytes and arrays arrive as binary buffers
// (DataView, ArrayBuffer or typed arrays, depending on the widget manager); never base64.

const TYPED = { uint8: Uint8Array, int32: Int32Array, float32: Float32Array, float64: Float64Array };

/** The bytes of a binary buffer as a Uint8Array (no copy). */
export function bytesOf(buffer) {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError("expected a binary buffer (DataView, ArrayBuffer or typed array)");
}

/** {dtype, shape, data} -> {shape, values: TypedArray, get(i, j, ...)}. */
export function decodeArray(payload) {
  const Typed = TYPED[payload.dtype];
  if (!Typed) throw new TypeError(`unknown array dtype ${payload.dtype}`);
  const bytes = bytesOf(payload.data);
  const copy = bytes.slice(); // aligned copy: typed arrays need byteOffset % itemsize == 0
  const values = new Typed(copy.buffer, 0, copy.byteLength / Typed.BYTES_PER_ELEMENT);
  const shape = payload.shape;
  const expected = shape.reduce((a, b) => a * b, 1);
  if (values.length !== expected) throw new RangeError(`array of shape [${shape}] needs ${expected} values, got ${values.length}`);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { shape, values, get: (...idx) => values[idx.reduce((acc, k, i) => acc + k * strides[i], 0)] };
}

const urls = new WeakMap();

/** An object URL for PNG bytes, made once per buffer object. */
export function pngUrl(buffer) {
  if (!buffer) return "";
  const key = typeof buffer === "object" ? buffer : null;
  if (key && urls.has(key)) return urls.get(key);
  const url = URL.createObjectURL(new Blob([bytesOf(buffer)], { type: "image/png" }));
  if (key) urls.set(key, url);
  return url;
}
