import { describe, expect, it } from 'vitest';
import { parseDialTarget } from './dial-target.ts';

describe('dial targets', () => {
  it('accepts SIP URIs and phone numbers', () => {
    expect(parseDialTarget('sip:alice@pbx.example.org')).toEqual({ kind: 'uri', uri: 'sip:alice@pbx.example.org', user: 'alice', host: 'pbx.example.org' });
    expect(parseDialTarget('sip:1000@127.0.0.1:5070')).toMatchObject({ kind: 'uri', host: '127.0.0.1' });
    expect(parseDialTarget('+49 30 123-456')).toEqual({ kind: 'number', number: '+4930123456' });
  });

  it('refuses anything else with a sentence saying what is expected', () => {
    for (const bad of ['alice', 'http://x', 'sip:@host', 'sip:a@b:99999', '12', 'sip:a@b c', '+1;drop']) {
      const parsed = parseDialTarget(bad);
      expect('problem' in parsed, bad).toBe(true);
    }
    expect(parseDialTarget('sip:a@b:99999')).toEqual({ problem: 'port 99999 is out of range' });
  });
});
