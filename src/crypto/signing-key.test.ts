import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { addSignature, hasValidSignature, SigningKey } from './signing-key.ts';

// The signing test vectors of the Matrix spec's appendix ("Signing JSON"): this seed, entity
// "domain" and key id "ed25519:1" sign {} and {"one":1,"two":"Two"} to these signatures.
const SPEC_SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';

describe('SigningKey', () => {
  const key = new SigningKey(Buffer.from(SPEC_SEED, 'base64'));

  it('reproduces the spec signatures', () => {
    expect(key.signObject({})).toBe('K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ');
    expect(key.signObject({ one: 1, two: 'Two' })).toBe('KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw');
  });

  it('writes keys in unpadded base64 and names them by their public key', () => {
    expect(key.publicKey).toMatch(/^[A-Za-z0-9+/]{43}$/);
    expect(key.keyId).toBe(`ed25519:${key.publicKey}`);
    // The spec's seed has non-zero padding bits in its last character; the bytes are what count.
    expect(Buffer.from(key.exportSeed(), 'base64')).toEqual(Buffer.from(SPEC_SEED, 'base64'));
  });

  it('adds a signature beside existing ones, ignoring earlier signatures and unsigned data', () => {
    const object = { one: 1, two: 'Two', unsigned: { x: 1 }, signatures: { '@a:b': { 'ed25519:OTHER': 'sig' } } };
    const signed = addSignature(object, '@a:b', key);
    expect(signed.signatures['@a:b']).toEqual({
      'ed25519:OTHER': 'sig',
      [key.keyId]: 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw',
    });
    expect(object.signatures['@a:b']).toEqual({ 'ed25519:OTHER': 'sig' });
    expect(hasValidSignature(signed, '@a:b', key.publicKey, key.publicKey)).toBe(true);
    expect(hasValidSignature({ ...signed, one: 2 }, '@a:b', key.publicKey, key.publicKey)).toBe(false);
    expect(hasValidSignature(signed, '@c:d', key.publicKey, key.publicKey)).toBe(false);
  });

  it('keeps the private key out of its printed and serialised forms', () => {
    const printed = `${JSON.stringify(key)} ${inspect(key)}`;
    expect(printed).not.toContain(SPEC_SEED);
  });
});
