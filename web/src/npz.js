/* Reading a canonical dataset (`databright.datasets.canonical`: an uncompressed .npz with `x` and `y`)
 * in the browser, from the bytes the store returned, so the dashboard relays them without parsing.
 *
 * A .npz is a ZIP archive of .npy files. numpy writes its members with ZIP64 size fields, so the
 * sizes and offsets are taken from the central directory (and its ZIP64 extra field where a size
 * reads 0xFFFFFFFF), never from the local headers. Only stored (uncompressed) members are read:
 * that is the canonical form, and anything else is refused with a sentence.
 */

const TYPES = {"<f4": Float32Array, "<f8": Float64Array, "|u1": Uint8Array, "<u1": Uint8Array, "<i4": Int32Array,
               "<i8": BigInt64Array, "|i1": Int8Array, "<i2": Int16Array, "<u2": Uint16Array, "|b1": Uint8Array};

function members(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { end = i; break; }
  }
  if (end < 0) throw new Error("not a .npz archive (no ZIP directory)");
  let count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (offset === 0xffffffff || count === 0xffff) {  // ZIP64 end of central directory, found by its locator
    const locator = end - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) throw new Error("broken ZIP64 archive");
    const end64 = Number(view.getBigUint64(locator + 8, true));
    count = Number(view.getBigUint64(end64 + 32, true));
    offset = Number(view.getBigUint64(end64 + 48, true));
  }
  const out = {};
  for (let n = 0; n < count; n++) {
    if (view.getUint32(offset, true) !== 0x02014b50) throw new Error("broken ZIP directory");
    const method = view.getUint16(offset + 10, true);
    let size = view.getUint32(offset + 24, true);
    let compressed = view.getUint32(offset + 20, true);
    const nameLength = view.getUint16(offset + 28, true), extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    let local = view.getUint32(offset + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    let extra = offset + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {  // the ZIP64 field holds, in order, only the sizes that read 0xFFFFFFFF
      const id = view.getUint16(extra, true), length = view.getUint16(extra + 2, true);
      if (id === 1) {
        let at = extra + 4;
        if (size === 0xffffffff) { size = Number(view.getBigUint64(at, true)); at += 8; }
        if (compressed === 0xffffffff) { compressed = Number(view.getBigUint64(at, true)); at += 8; }
        if (local === 0xffffffff) { local = Number(view.getBigUint64(at, true)); }
      }
      extra += 4 + length;
    }
    if (method !== 0) throw new Error(`${name} is compressed (method ${method}): not a canonical dataset`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    out[name] = bytes.subarray(start, start + size);
    offset = extraEnd + commentLength;
  }
  return out;
}

function npy(bytes, name) {
  const magic = String.fromCharCode(...bytes.subarray(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new Error(`${name} is not a .npy array`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header), shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape) throw new Error(`${name}: unreadable .npy header`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${name} is in Fortran order: not canonical`);
  const Type = TYPES[descr[1]];
  if (!Type) throw new Error(`${name}: dtype ${descr[1]} is not one a dataset uses`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const start = headerStart + headerLength;
  const raw = bytes.slice(start, start + count * Type.BYTES_PER_ELEMENT);  // a copy: typed arrays need alignment
  return {dtype: descr[1], shape: dims, data: new Type(raw.buffer)};
}

/** {x, y} of a canonical dataset, each {dtype, shape, data}. */
export function readDataset(bytes) {
  const found = members(bytes);
  if (!found["x.npy"] || !found["y.npy"]) throw new Error("not a canonical dataset: no x and y arrays");
  return {x: npy(found["x.npy"], "x"), y: npy(found["y.npy"], "y")};
}
