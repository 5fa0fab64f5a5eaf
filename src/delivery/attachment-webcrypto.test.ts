// The encrypted attachment checked by an implementation that is not ours: WebCrypto
// (globalThis.crypto.subtle), fed only the EncryptedFile JSON as a receiving client gets it. The
// WebCrypto path is first pinned to published answers (NIST SP 800-38A F.5.5, FIPS 180-2 "abc"),
// so a pass cannot come from two wrong implementations agreeing.
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { attachmentEncryptor, type EncryptedFile } from './attachment-crypto.ts';

const subtle = globalThis.crypto.subtle;
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: ArrayBuffer) => Buffer.from(b).toString('hex');
/** The spec's unpadded base64, decoded by the platform's forgiving decoder (atob), not Buffer. */
const fromUnpaddedBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** What a client does with an EncryptedFile: hash check, then AES-CTR with a 64-bit counter. */
async function webCryptoDecrypt(ciphertext: Uint8Array<ArrayBuffer>, file: EncryptedFile): Promise<Uint8Array> {
  const digest = new Uint8Array(await subtle.digest('SHA-256', ciphertext));
  expect(btoa(String.fromCharCode(...digest)).replace(/=+$/, '')).toBe(file.hashes.sha256);
  const key = await subtle.importKey('jwk', file.key, { name: 'AES-CTR' }, false, ['decrypt']);
  const counter = fromUnpaddedBase64(file.iv);
  expect(counter.length).toBe(16);
  return new Uint8Array(await subtle.decrypt({ name: 'AES-CTR', counter, length: 64 }, key, ciphertext));
}

describe('encrypted attachments, decrypted with WebCrypto', () => {
  it('WebCrypto gives the published answers (AES-256-CTR and SHA-256 known-answer vectors)', async () => {
    // NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt, all four blocks.
    const key = await subtle.importKey('raw', hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4'), 'AES-CTR', false, ['encrypt', 'decrypt']);
    const counter = hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
    const plain = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710');
    const expected = '601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6';
    expect(toHex(await subtle.encrypt({ name: 'AES-CTR', counter, length: 64 }, key, plain))).toBe(expected);
    expect(toHex(await subtle.decrypt({ name: 'AES-CTR', counter, length: 64 }, key, hex(expected)))).toBe(Buffer.from(plain).toString('hex'));
    // FIPS 180-2, SHA-256("abc").
    expect(toHex(await subtle.digest('SHA-256', new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('decrypts what the recorder uploads, from the EncryptedFile alone', async () => {
    // Over a MiB in uneven chunks, not a multiple of the 16-byte block: the counter runs over many blocks.
    const plain = Buffer.alloc(1_048_576 + 37);
    for (let i = 0; i < plain.length; i++) plain[i] = (i * 31 + (i >> 9)) & 0xff;
    const { stream, file } = attachmentEncryptor();
    const ciphertext = await buffer(Readable.from([plain.subarray(0, 1000), plain.subarray(1000, 700_001), plain.subarray(700_001)]).pipe(stream));
    const described = JSON.parse(JSON.stringify(await file('mxc://localhost/webcrypto'))) as EncryptedFile;
    expect(described).toMatchObject({ v: 'v2', key: { alg: 'A256CTR', kty: 'oct', ext: true } });
    const decrypted = await webCryptoDecrypt(new Uint8Array(ciphertext), described);
    expect(Buffer.from(decrypted).equals(plain)).toBe(true);
  });

  it('a changed byte is caught by the hash WebCrypto computes', async () => {
    const { stream, file } = attachmentEncryptor();
    const ciphertext = await buffer(Readable.from([Buffer.from('hello, recording')]).pipe(stream));
    ciphertext[3]! ^= 0x40;
    const digest = new Uint8Array(await subtle.digest('SHA-256', new Uint8Array(ciphertext)));
    expect(btoa(String.fromCharCode(...digest)).replace(/=+$/, '')).not.toBe((await file('mxc://x/y')).hashes.sha256);
  });
});
