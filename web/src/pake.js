// Phone side of the speakerd pairing protocol, byte-compatible with daemon/control/pake.py
// and the Python `spake2` package (SPAKE2 on Ed25519, side A). The setup code never leaves
// this module: only the SPAKE2 message, the confirmation MAC and the sealed hello are sent.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

const Point = ed25519.Point;
const L = Point.Fn.ORDER;
const enc = new TextEncoder();
// M and N of python-spake2's Ed25519 parameters (arbitrary_element(b"M"/b"N")); a test on
// the Python side checks these bytes against the installed package.
const M = Point.fromHex('15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312');
const N = Point.fromHex('f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3');
const ID_PHONE = enc.encode('speakerd-phone');
const ID_DEVICE = enc.encode('speakerd-device');
const PROTOCOL = enc.encode('speakerd-pair/v1');

export class PakeError extends Error {}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const beInt = (bytes) => bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
const u32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

export function b64e(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
export function b64d(text) {
  if (typeof text !== 'string') throw new PakeError('field is not base64url');
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - text.length % 4) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function randomScalar() {
  // uniform in 1..L-1 by rejection (python-spake2 draws 0..L-1; 0 has negligible chance)
  for (;;) {
    const buf = crypto.getRandomValues(new Uint8Array(32));
    buf[31] &= 0x1f;
    const n = beInt(buf);
    if (n > 0n && n < L) return n;
  }
}

function passwordScalar(pw) {
  return beInt(hkdf(sha256, pw, new Uint8Array(0), enc.encode('SPAKE2 pw'), 48)) % L;
}

function sessionKeys(shared, sessionId, msgA, msgB) {
  const parts = [PROTOCOL, enc.encode(sessionId), msgA, msgB];
  const transcript = sha256(concat(...parts.flatMap((p) => [u32(p.length), p])));
  const label = (l) => hkdf(sha256, shared, transcript, concat(PROTOCOL, enc.encode('|' + l)), 32);
  return { transcript, confirm: label('confirm-phone'), p2d: label('p2d'), d2p: label('d2p') };
}

function seal(key, aad, payload) {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const body = enc.encode(JSON.stringify(payload));
  return b64e(concat(nonce, chacha20poly1305(key, nonce, aad).encrypt(body)));
}

function open(key, aad, sealed) {
  const raw = b64d(sealed);
  if (raw.length < 28) throw new PakeError('sealed message too short');
  let body;
  try {
    body = chacha20poly1305(key, raw.subarray(0, 12), aad).decrypt(raw.subarray(12));
  } catch {
    throw new PakeError('the speaker could not prove it knows the code');
  }
  return JSON.parse(new TextDecoder().decode(body));
}

/** One pairing attempt: `message` for step 1, `finish()` for step 2, `openWelcome()`. */
export class PhoneSession {
  constructor(code) {
    this._pw = enc.encode(code);
    this._w = passwordScalar(this._pw);
    this._x = randomScalar();
    const X = Point.BASE.multiply(this._x).add(M.multiply(this._w));
    this._xBytes = X.toBytes();
    this.message = concat(enc.encode('A'), this._xBytes);
    this._keys = null;
  }

  finish(sessionId, msgB, hello) {
    if (msgB.length !== 33 || msgB[0] !== 0x42) throw new PakeError('device pake message rejected');
    const yBytes = msgB.subarray(1);
    let Y;
    try {
      Y = Point.fromBytes(yBytes);
    } catch {
      throw new PakeError('device pake message rejected');
    }
    if (Y.is0() || !Y.isTorsionFree()) throw new PakeError('device pake message rejected');
    const K = Y.subtract(N.multiply(this._w)).multiply(this._x);
    const shared = sha256(concat(sha256(this._pw), sha256(ID_PHONE), sha256(ID_DEVICE),
      this._xBytes, yBytes, K.toBytes()));
    const keys = sessionKeys(shared, sessionId, this.message, msgB);
    this._keys = keys;
    const confirm = hmac(sha256, keys.confirm, keys.transcript);
    const aad = concat(keys.transcript, enc.encode('|hello'));
    return { confirm: b64e(confirm), hello: seal(keys.p2d, aad, hello) };
  }

  openWelcome(sealed) {
    if (!this._keys) throw new PakeError('pairing not finished');
    return open(this._keys.d2p, concat(this._keys.transcript, enc.encode('|welcome')), sealed);
  }
}
