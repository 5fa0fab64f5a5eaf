import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { attachmentEncryptor, decryptAttachment } from './attachment-crypto.ts';

describe('encrypted attachments', () => {
  it('round-trips and describes the file as the spec asks', async () => {
    const plain = Buffer.from('a recording, '.repeat(10_000));
    const { stream, file } = attachmentEncryptor();
    const ciphertext = await buffer(Readable.from([plain.subarray(0, 5000), plain.subarray(5000)]).pipe(stream));
    const described = await file('mxc://localhost/abc');
    expect(ciphertext.equals(plain)).toBe(false);
    expect(decryptAttachment(ciphertext, described).equals(plain)).toBe(true);
    expect(described.key).toMatchObject({ kty: 'oct', alg: 'A256CTR', ext: true, key_ops: ['encrypt', 'decrypt'] });
    expect(Buffer.from(described.iv, 'base64').subarray(8).equals(Buffer.alloc(8))).toBe(true);
    expect(described.iv).not.toContain('=');
  });

  it('refuses a ciphertext that does not match its hash', async () => {
    const { stream, file } = attachmentEncryptor();
    const ciphertext = await buffer(Readable.from([Buffer.from('hello')]).pipe(stream));
    ciphertext[0]! ^= 1;
    const described = await file('mxc://x/y');
    expect(() => decryptAttachment(ciphertext, described)).toThrow(/sha256/);
  });
});
