import { describe, expect, it } from 'vitest';
import { decodeGoStruct, GoDecodeError, type GoStruct } from './go-json.ts';

const STRUCT: GoStruct = { room: 'string', slot_id: 'string', openid_token: { access_token: 'string', expires_in: 'int' } };
const decode = (body: string) => decodeGoStruct(body, STRUCT);
const fails = (body: string) => expect(() => decode(body), body).toThrow(GoDecodeError);

// Expected outcomes are those of Go 1.26's json.Decoder with DisallowUnknownFields decoding into such a
// struct (checked by running it on these bodies).
describe('Go struct decoding', () => {
  it('reads the first JSON value and ignores what follows it', () => {
    expect(decode('  {"room":"!r"} and then anything {')).toEqual({ room: '!r' });
    expect(decode('null garbage')).toEqual({});
  });

  it('fails on no value, a value that is not an object, or broken JSON', () => {
    for (const body of ['', '  \n', '[]', '"room"', '42', 'true', '{"room":"!r"', '{"room" "!r"}', '{"room":"!r"]']) fails(body);
  });

  it('matches keys case-insensitively, with the long s and the Kelvin sign folding like Go', () => {
    expect(decode('{"ROOM":"a","\u017FLOT_ID":"b","OpenID_Token":{"access_to\u212Aen":"c"}}')).toEqual({
      room: 'a',
      slot_id: 'b',
      openid_token: { access_token: 'c' },
    });
  });

  it('rejects unknown keys at any depth', () => {
    fails('{"room":"a","surprise":1}');
    fails('{"openid_token":{"access_token":"a","matrix_server_name":"b"}}');
    fails('{"__proto__":{}}');
  });

  it('accepts only int64 literals for int fields and only strings for string fields', () => {
    expect(decode('{"openid_token":{"expires_in":-3600}}')).toEqual({ openid_token: { expires_in: -3600 } });
    expect(decode('{"openid_token":{"expires_in":9223372036854775807}}')).toMatchObject({ openid_token: {} });
    for (const n of ['1.0', '1e3', '1.5', '9223372036854775808', '"3600"', 'true']) fails(`{"openid_token":{"expires_in":${n}}}`);
    for (const v of ['1', 'true', '{}', '[]']) fails(`{"room":${v}}`);
    fails('{"openid_token":"token"}');
  });

  it('leaves null fields at their zero value and merges a struct given twice under different case', () => {
    expect(decode('{"room":"a","ROOM":null,"openid_token":null}')).toEqual({ room: 'a' });
    expect(decode('{"openid_token":{"access_token":"a"},"OPENID_TOKEN":{"expires_in":1}}')).toEqual({
      openid_token: { access_token: 'a', expires_in: 1 },
    });
  });

  it('replaces lone surrogates with U+FFFD', () => {
    expect(decode('{"room":"a\\ud800b"}')).toEqual({ room: 'a\ufffdb' });
  });
});
