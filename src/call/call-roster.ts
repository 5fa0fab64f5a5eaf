// Everyone the session records and waits for: the memberships js-sdk reads (legacy state events
// and sticky rtc.member events alike), plus, in encrypted Matrix 2.0 calls, the members whose
// membership this device cannot decrypt but whose media key names them (unreadable-members.ts).
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { callMembers, stickyMembershipEventIds, type CallMember } from './call-members.ts';
import type { UnreadableMembers } from './unreadable-members.ts';

export class CallRoster {
  readonly #session: MatrixRTCSession;
  readonly #own: { userId: string };
  readonly #unreadable: UnreadableMembers | undefined;

  constructor(session: MatrixRTCSession, own: { userId: string }, unreadable?: UnreadableMembers) {
    this.#session = session;
    this.#own = own;
    this.#unreadable = unreadable;
  }

  /** Memberships js-sdk can read, without our own call user's. */
  readable(): CallMember[] {
    return callMembers(this.#session.memberships, this.#own, stickyMembershipEventIds(this.#session.room));
  }

  members(): CallMember[] {
    const readable = this.readable();
    return this.#unreadable ? [...readable, ...this.#unreadable.members(readable)] : readable;
  }

  memberFor(identity: string): CallMember | undefined {
    return this.members().find((m) => m.identity === identity);
  }

  /** Calls `listener` on every membership change, readable or not. */
  onChange(listener: () => void): () => void {
    this.#session.on(MatrixRTCSessionEvent.MembershipsChanged, listener);
    const offUnreadable = this.#unreadable?.onChange(listener);
    return () => {
      this.#session.off(MatrixRTCSessionEvent.MembershipsChanged, listener);
      offUnreadable?.();
    };
  }
}
