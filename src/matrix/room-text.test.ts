import { describe, expect, it } from 'vitest';
import { roomTextSanitiser } from './room-text.ts';

const sanitise = roomTextSanitiser({
  internalHosts: ['http://synapse:8008', 'redis://:secret@redis.svc.example.net:6379/0', 'jwt.example.org', '10.20.30.40:8080', 'http://127.0.0.1:9000'],
});

describe('room text sanitiser', () => {
  it.each([
    ["I could not reach the call's LiveKit authorizer at http://127.0.0.1:9/sfu/get (connect ECONNREFUSED 127.0.0.1:9).", "I could not reach the call's LiveKit authorizer at http://[internal address]/sfu/get (connect ECONNREFUSED [internal address])."],
    ['That failed: request to http://synapse:8008/_matrix/client/v3/login failed', 'That failed: request to http://[internal address]/_matrix/client/v3/login failed'],
    ['could not connect to LiveKit at wss://sfu.cluster.local:7880: timeout', 'could not connect to LiveKit at wss://[internal address]: timeout'],
    ['getaddrinfo ENOTFOUND livekit.internal', 'getaddrinfo ENOTFOUND [internal address]'],
    ['connect ECONNREFUSED redis.svc.example.net:6379', 'connect ECONNREFUSED [internal address]'],
    ['the metadata service 169.254.169.254 answered', 'the metadata service [internal address] answered'],
    ['connect ECONNREFUSED [::1]:7880 and fe80::1 and fd00::5', 'connect ECONNREFUSED [internal address] and [internal address] and [internal address]'],
    ['listening on localhost:18080 and on 10.20.30.40:8080', 'listening on [internal address] and on [internal address]'],
    ['the host jwt.example.org refused', 'the host [internal address] refused'],
  ])('hides internal addresses: %s', (input, output) => {
    expect(sanitise(input)).toBe(output);
  });

  it('keeps Matrix IDs whole, whatever their server', () => {
    const text = 'I cannot receive the media of @alice:localhost, @bob:127.0.0.1:8448 and @carol:jwt.example.org (device ABC) in !room:localhost.';
    expect(sanitise(text)).toBe(text);
    expect(sanitise('@alice:localhost:ALICEDEVICE joined')).toBe('@alice:localhost:ALICEDEVICE joined');
  });

  it('keeps public addresses, durations, versions and plain words', () => {
    for (const text of [
      'Streaming the call (video) to rtmp://a.rtmp.youtube.com/live2/••••',
      'A session requested by @a:example.org is in the call for 1:02:03; 12.5 KiB recorded.',
      'I cannot reach my job queue (Redis) right now; Synapse answered.',
      'See https://element.io and 8.8.8.8 for details; version 1.163.0.',
      'The call lasted 00:10:05 (at 12:30 UTC).',
    ]) expect(sanitise(text)).toBe(text);
  });

  it('hides single-label configured hosts only where they are addresses (with a port or in a URL)', () => {
    expect(sanitise('synapse answered; synapse:8008 refused; http://synapse/x failed')).toBe('synapse answered; [internal address] refused; http://[internal address]/x failed');
  });

  it('hides a URL with credentials in it by its host', () => {
    expect(sanitise('connecting to redis://:pw@10.0.0.3:6379 failed')).toBe('connecting to redis://[internal address] failed');
  });
});
