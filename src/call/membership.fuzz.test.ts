// Property-based fuzzing of call memberships as members write them: legacy call.member state and
// sticky rtc.member contents, mostly well-formed with fields swapped for anything, parsed by
// js-sdk's CallMembership (what MatrixRTCSession hands us) and then read by our call-members,
// connection plan and transport discovery. Nothing of ours may throw but its own clear error.
import fc from 'fast-check';
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { CallMembership } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RecorderError } from '../errors.ts';
import { membersWithoutTransport, planConnections } from '../rtc/connection-plan.ts';
import { CALL_MEMBER_EVENT, isOwnDelayedLeave, membershipError, RTC_MEMBER_EVENT } from '../rtc/own-membership.ts';
import { advertisedAuthorizers, discoverOwnTransport, isLivekitTransport } from '../rtc/transports.ts';
import { callFocusSelection, callMembers } from './call-members.ts';

const RUNS = 10_000;
const log = pino({ level: 'silent' });
// js-sdk prints every refused membership at debug.
(sdkLogger as unknown as { setLevel(level: string): void }).setLevel('silent');

/** Mostly the expected value, sometimes anything at all. */
const mostly = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 15, arbitrary: good }, { weight: 1, arbitrary: fc.anything() });
const users = fc.constantFrom('@alice:hs', '@bob:hs', '@recorder-call:hs', '@x:y');
const url = fc.oneof(
  fc.constantFrom('https://sfu.example.org', 'https://sfu.example.org/', 'http://127.0.0.1:18080', 'https://', 'ftp://x', 'javascript:alert(1)', '', 'https://[::1]:443/'),
  fc.webUrl(),
  fc.string(),
);
const transport = fc.record({ type: mostly(fc.constant('livekit')), livekit_service_url: mostly(url), livekit_alias: mostly(fc.string()) }, { requiredKeys: [] });
const transports = fc.array(mostly(transport), { maxLength: 3 });

const legacyContent = fc.record(
  {
    application: mostly(fc.constant('m.call')),
    call_id: mostly(fc.constant('')),
    scope: mostly(fc.constant('m.room')),
    device_id: mostly(fc.constantFrom('DEV1', 'DEV2', '')),
    created_ts: mostly(fc.integer({ min: 0, max: 2 ** 42 })),
    expires: mostly(fc.integer({ min: -1, max: 2 ** 31 })),
    focus_active: mostly(fc.record({ type: mostly(fc.constant('livekit')), focus_selection: mostly(fc.constantFrom('oldest_membership', 'multi_sfu', 'other')) }, { requiredKeys: ['type'] })),
    foci_preferred: mostly(transports),
    membershipID: mostly(fc.string()),
  },
  // A field left out is one of the mutations too, now and then.
  { requiredKeys: ['application', 'call_id', 'scope', 'device_id', 'focus_active', 'foci_preferred'] },
);

const stickyContent = (sender: string) =>
  fc.record(
    {
      slot_id: mostly(fc.constantFrom('m.call#ROOM', 'm.call#ROOM', 'm.call#ROOM', 'm.call#', 'x#y', 'm.call')),
      application: mostly(fc.record({ type: mostly(fc.constant('m.call')) })),
      member: mostly(fc.record({ id: mostly(fc.uuid()), user_id: mostly(fc.constant(sender)), device_id: mostly(fc.constantFrom('DEV1', '')) })),
      transports: mostly(fc.record({ published: mostly(transports), can_subscribe: mostly(fc.array(fc.string(), { maxLength: 2 })) })),
      versions: mostly(fc.constant([])),
      msc4354_sticky_key: mostly(fc.uuid()),
    },
    { requiredKeys: ['slot_id', 'application', 'member', 'transports', 'versions'] },
  );

const membershipEvent = users.chain((sender) =>
  fc.record({
    sender: fc.constant(sender),
    sticky: fc.boolean(),
    id: fc.string({ minLength: 1, maxLength: 8 }).map((s) => `$${s}`),
    ts: fc.integer({ min: 0, max: 2 ** 42 }),
    legacy: legacyContent,
    stickyContent: stickyContent(sender),
  }),
);

type MembershipEvent = typeof membershipEvent extends fc.Arbitrary<infer T> ? T : never;

async function parseMembership(e: MembershipEvent): Promise<CallMembership | undefined> {
  const event = {
    getId: () => e.id,
    getSender: () => e.sender,
    getTs: () => e.ts,
    getType: () => (e.sticky ? RTC_MEMBER_EVENT : CALL_MEMBER_EVENT),
    getContent: () => (e.sticky ? e.stickyContent : e.legacy),
  };
  try {
    return await CallMembership.parseFromEvent(event as never);
  } catch {
    return undefined; // js-sdk refused the content: MatrixRTCSession leaves such a membership out too
  }
}

describe('fuzzing call membership contents', () => {
  it(`call members and the connection plan are read from any memberships js-sdk accepts (${RUNS} cases)`, async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(membershipEvent, { minLength: 1, maxLength: 4 }), fc.anything(), async (events, oldestContent) => {
        const memberships = (await Promise.all(events.map(parseMembership))).filter((m): m is CallMembership => m !== undefined);
        accepted += memberships.length;
        const sticky = new Set(events.filter((e) => e.sticky).map((e) => e.id));
        const members = callMembers(memberships, { userId: '@recorder-call:hs' }, sticky);
        for (const m of members) {
          expect(typeof m.identity).toBe('string');
          expect(m.userId).not.toBe('@recorder-call:hs');
          expect(m.serviceUrl === undefined || typeof m.serviceUrl === 'string').toBe(true);
        }
        const plan = planConnections('https://own.example.org/', members);
        expect(plan.filter((c) => c.own)).toHaveLength(1);
        for (const c of plan) expect(c.serviceUrl.endsWith('/')).toBe(false);
        expect(membersWithoutTransport(members).every((m) => !m.serviceUrl)).toBe(true);
        expect(['multi_sfu', 'oldest_membership']).toContain(callFocusSelection(oldestContent as never));
      }),
      { numRuns: RUNS },
    );
    // The generators must reach our code, not only js-sdk's refusals.
    expect(accepted).toBeGreaterThan(RUNS / 2);
    console.info(`memberships js-sdk accepted and we read: ${accepted}`);
  }, 60_000);

  it(`our delayed leave is recognised in any listed delayed event without throwing (${RUNS} cases)`, () => {
    const me = { userId: '@recorder-call:hs', deviceId: 'DEV1', memberId: 'mid' };
    const listed = fc.record(
      { room_id: mostly(fc.constant('!r:hs')), type: mostly(fc.constantFrom(CALL_MEMBER_EVENT, RTC_MEMBER_EVENT)), state_key: fc.anything(), content: fc.anything(), delay: fc.anything() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(listed, fc.constantFrom('legacy', 'sticky'), (e, kind) => {
        expect(typeof isOwnDelayedLeave(e as never, '!r:hs', me, kind as 'legacy' | 'sticky')).toBe('boolean');
      }),
      { numRuns: RUNS },
    );
  });

  it(`a membership manager failure of any shape becomes a clear error (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ errcode: fc.anything(), httpStatus: fc.anything(), data: fc.anything(), message: fc.anything() }, { requiredKeys: [] })), (thrown) => {
        const err = membershipError(thrown);
        expect(err).toBeInstanceOf(RecorderError);
        expect(err.message).toMatch(/^publishing the call membership failed/);
        expect(err.userMessage).toMatch(/^I could not publish my call membership: \S/);
      }),
      { numRuns: RUNS },
    );
  });

  it(`transport discovery takes any transports endpoint and .well-known answer (${RUNS} cases)`, async () => {
    const answer = (good: fc.Arbitrary<unknown>) => fc.oneof(good.map((v) => ({ ok: true as const, v })), fc.anything().map((v) => ({ ok: true as const, v })), fc.constant({ ok: false as const, v: undefined }));
    await fc.assert(
      fc.asyncProperty(
        answer(transports),
        answer(fc.record({ 'org.matrix.msc4143.rtc_foci': mostly(transports) }, { requiredKeys: [] })),
        fc.option(fc.constant('https://configured.example.org'), { nil: undefined }),
        async (endpoint, wellKnown, configured) => {
          const port = {
            rtcTransports: async () => (endpoint.ok ? (endpoint.v as unknown[]) : Promise.reject(new Error('HTTP 404'))),
            clientWellKnown: async () => (wellKnown.ok ? (wellKnown.v as Record<string, unknown>) : Promise.reject(new Error('HTTP 404'))),
          };
          const advertised = await advertisedAuthorizers(port, configured);
          for (const u of advertised) expect(u).toMatch(/^https?:\/\/./);
          try {
            const { transport } = await discoverOwnTransport(port, configured, log);
            expect(transport.livekit_service_url === configured || isLivekitTransport(transport)).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(RecorderError);
            expect((err as RecorderError).errcode).toBe('MRR_NO_SFU');
            expect((err as RecorderError).userMessage).toMatch(/could not find a LiveKit SFU.*transports endpoint.*well-known/);
          }
        },
      ),
      { numRuns: RUNS },
    );
  }, 60_000);
});
