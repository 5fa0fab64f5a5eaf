import { describe, expect, it } from 'vitest';
import { canonicalJson, signingPayload } from './canonical-json.ts';

describe('canonicalJson', () => {
  // The examples of the Matrix spec's "Canonical JSON" appendix, input and expected output.
  it.each([
    [{}, '{}'],
    [{ one: 1, two: 'Two' }, '{"one":1,"two":"Two"}'],
    [{ b: '2', a: '1' }, '{"a":"1","b":"2"}'],
    [
      {
        auth: {
          success: true,
          mxid: '@john.doe:example.com',
          profile: {
            display_name: 'John Doe',
            three_pids: [
              { medium: 'email', address: 'john.doe@example.org' },
              { medium: 'msisdn', address: '123456789' },
            ],
          },
        },
      },
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    [{ a: '日本語' }, '{"a":"日本語"}'],
    [{ 本: 2, 日: 1 }, '{"日":1,"本":2}'],
    [JSON.parse('{"a": "\\u65E5"}'), '{"a":"日"}'],
    [{ a: null }, '{"a":null}'],
    [{ a: -0, b: 1e10 }, '{"a":0,"b":10000000000}'],
  ])('spec example %#', (input, expected) => {
    expect(canonicalJson(input)).toBe(expected);
  });

  it('sorts by code point, not by UTF-16 unit (an astral character sorts after U+FFFD)', () => {
    expect(canonicalJson({ '\u{1F600}': 1, '\uFFFD': 2 })).toBe('{"\uFFFD":2,"\u{1F600}":1}');
  });

  it('escapes only what JSON requires', () => {
    expect(canonicalJson({ s: 'a"b\\c\n\u0001é' })).toBe('{"s":"a\\"b\\\\c\\n\\u0001é"}');
  });

  it('refuses numbers that have no canonical form', () => {
    expect(() => canonicalJson({ a: { b: 1.5 } })).toThrow(/\$\.a\.b as canonical JSON: 1\.5 is not an integer/);
    expect(() => canonicalJson({ a: 2 ** 53 })).toThrow(/not an integer in the canonical JSON range/);
    expect(() => canonicalJson([undefined])).toThrow(/\$\[0\] as canonical JSON: a value of type undefined has no JSON form/);
  });

  it('leaves signatures and unsigned out of the signed bytes', () => {
    expect(signingPayload({ b: 1, signatures: { x: {} }, unsigned: { age: 1 }, a: [1, 2] })).toBe('{"a":[1,2],"b":1}');
  });
});
