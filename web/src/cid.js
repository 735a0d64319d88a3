/* A CID as the contracts take it: the 32-byte sha2-256 digest inside a CIDv1 (raw codec), as 0x-hex.
 * Only DataBright's spelling is accepted (multibase "b", base32 lower case), as `databright.cid` writes it. */

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

export function digestOfCid(text) {
  const cid = text.trim();
  if (!cid.startsWith("b")) throw new Error("a CID here starts with b (base32), as `databright` prints it");
  let bits = 0, value = 0;
  const out = [];
  for (const ch of cid.slice(1)) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) throw new Error(`${JSON.stringify(ch)} is not a base32 letter`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  if (out.length !== 36 || out[0] !== 0x01 || out[1] !== 0x55 || out[2] !== 0x12 || out[3] !== 0x20) {
    throw new Error("not a CIDv1 of raw data hashed with sha2-256 (what the store names blobs by)");
  }
  return "0x" + out.slice(4).map((b) => b.toString(16).padStart(2, "0")).join("");
}
